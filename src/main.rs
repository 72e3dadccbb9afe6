//! The `ikp` binary: parses the command line, runs the command and turns its outcome into an exit
//! code, in one place for every command.
//!
//! Exit codes: 0 success; 1 a values, render or cluster error; 2 a usage error. `ikp diff` follows
//! `kubectl diff` instead: 0 no changes, 1 changes, 2 any error. A closed stdout (`ikp ... | head`)
//! is success: the reader has what it wanted.
#![forbid(unsafe_code)]

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `IKP_TIMINGS`' `main=` starts here.
    let started = std::time::Instant::now();
    // A TAB in a shell with `ikp completion`'s script: print the candidates and exit.
    cli::answer_completion_request();
    let cli = match cli::Cli::parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let failure = cli.failure_code();
    let mut timings = cli.timings(started);
    let mut out = std::io::stdout().lock();
    let result = cli.run(&mut out, timings.as_mut()).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => {
            if let Some(timings) = timings {
                // Diagnostics only: a closed stderr must not fail the command.
                let _ = writeln!(std::io::stderr(), "{}", timings.line());
            }
            code
        }
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // Nothing more can be done if stderr is gone too.
            let _ = writeln!(std::io::stderr(), "error: {}", cli::error_line(&err));
            cli::exit_code_of(&err, failure)
        }
    }
}
