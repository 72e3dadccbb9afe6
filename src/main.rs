//! The `ikp` binary: parses the command line and dispatches to the library.
//!
//! Exit codes: 0 success; 1 a values, render or cluster error (for `diff`: changes found);
//! 2 a usage error (for `diff`: an error).
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
