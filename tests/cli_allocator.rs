//! Which allocator an `ikp` process runs on (`src/allocator.rs`): mimalloc for `serve` and
//! `golden`, the C library's for the one-shot commands.
//!
//! Relies on: mimalloc's own `MIMALLOC_SHOW_STATS` option, which makes it print its statistics to
//! stderr (a line with `peak rss`) when a process that allocated with it exits; linked in but never
//! called, it prints nothing, nor does the C library's allocator.

use std::path::Path;
use std::process::Command;

/// Runs `ikp` with `args` and `MIMALLOC_SHOW_STATS=1`; returns whether mimalloc's statistics were
/// printed, with the stderr.
fn runs_on_mimalloc(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MIMALLOC_SHOW_STATS", "1")
        .output()
        .expect("run ikp");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "ikp {args:?}: {stderr}");
    (stderr.contains("peak rss"), stderr)
}

#[test]
fn serve_and_golden_run_on_mimalloc() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    for args in [
        &["golden", "check", golden.to_str().expect("UTF-8 path")][..],
        &["serve", "--help"],
    ] {
        let (mimalloc, stderr) = runs_on_mimalloc(args);
        assert!(
            mimalloc,
            "ikp {args:?} printed no mimalloc statistics: {stderr}"
        );
    }
}

#[test]
fn one_shot_commands_run_on_the_c_librarys_allocator() {
    for args in [
        &[
            "render",
            "r",
            "gateway",
            "--set-file",
            "ssh.publicKey=examples/id_ed25519.pub",
        ][..],
        &["show", "values", "bastion"],
        &["--version"],
    ] {
        let (mimalloc, stderr) = runs_on_mimalloc(args);
        assert!(
            !mimalloc,
            "ikp {args:?} printed mimalloc statistics: {stderr}"
        );
    }
}
