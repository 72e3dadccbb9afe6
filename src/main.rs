//! The `ikp` binary: parses the command line, runs the command and turns its outcome into an exit
//! code, in one place for every command.
//!
//! Exit codes: 0 success; 1 a values, render or cluster error; 2 a usage error. `ikp diff` follows
//! `kubectl diff` instead: 0 no changes, 1 changes, 2 any error. A closed stdout (`ikp ... | head`)
//! is success: the reader has what it wanted.
//!
//! The process starts at [`main`], called by the C runtime, not through Rust's own start-up
//! (`#![no_main]`): that reads `/proc/self/maps` to find the main thread's stack and sets up a
//! stack-overflow handler with its own signal stack, some 0.2 ms of an `ikp render` process that
//! takes little more than 3. What of it matters here is done by [`main`] instead.
// A test build keeps libtest's own `main` (the harness of the unit tests in `cli`).
#![cfg_attr(not(test), no_main)]
#![deny(unsafe_code)]

#[cfg_attr(test, allow(dead_code))]
mod argv;
mod cli;

use std::io::Write as _;
use std::process::ExitCode;

/// mimalloc, for every command: a bastion render takes a quarter less time on it than on glibc's
/// allocator in process (`cargo bench --bench render`), and a whole `ikp render` process a fifth less
/// than on musl's (the Dockerfile's build), whose allocator also takes one lock for all the threads
/// of `ikp serve`. Peak RSS of a musl `ikp render`: 3.0 MiB (2.7 on musl's allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The process entry point. Before the command runs, as Rust's start-up would: SIGPIPE is ignored,
/// so that writing to a closed pipe is an error the command handles (a closed stdout is success)
/// instead of a silent kill; and a closed standard descriptor is opened on `/dev/null`, so that no
/// file the command opens can become its stdout. The arguments are read from `argv` ([`argv`] says
/// why). `process::exit` flushes stdout. A panic (a bug) still prints its message and exits with 101.
#[cfg(not(test))]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: setting a signal's disposition to SIG_IGN runs no code of ours in a signal handler;
    // no other thread exists yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    open_closed_stdio();
    // SAFETY: the C runtime passes `main` its `argc` strings in `argv`, valid for the process.
    let args = unsafe { argv::from_c_main(argc, argv) };
    let code = std::panic::catch_unwind(|| run(args)).map_or(101, exit_status);
    std::process::exit(code)
}

/// Opens `/dev/null` on whichever of descriptors 0, 1 and 2 is closed: `open` returns the lowest
/// free descriptor, so while it returns one of them, that one was closed and stays open on
/// `/dev/null`; the first other descriptor is closed again.
#[cfg(not(test))]
fn open_closed_stdio() {
    use std::os::fd::{AsRawFd as _, IntoRawFd as _};
    let dev_null = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
    };
    while let Ok(file) = dev_null() {
        if file.as_raw_fd() > 2 {
            break;
        }
        // Kept open: it is now that standard stream.
        let _ = file.into_raw_fd();
    }
}

/// The number the process exits with for `code` (the commands' codes are 0 to 255).
#[cfg(not(test))]
fn exit_status(code: ExitCode) -> i32 {
    (0..=u8::MAX)
        .find(|candidate| ExitCode::from(*candidate) == code)
        .map_or(1, i32::from)
}

/// Parses the command line `args` (program name first) and runs the command.
#[cfg_attr(test, allow(dead_code))]
fn run(args: Vec<std::ffi::OsString>) -> ExitCode {
    // `IKP_TIMINGS`' `main=` starts here.
    let started = std::time::Instant::now();
    // A TAB in a shell with `ikp completion`'s script: print the candidates and exit.
    cli::answer_completion_request(&args);
    let cli = match cli::Cli::parse_args(args) {
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
