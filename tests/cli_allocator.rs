//! Every `ikp` command allocates with mimalloc (`#[global_allocator]` in `src/main.rs`), the one-shot
//! `render` as much as the long-running `serve`.
//!
//! Relies on: mimalloc's own `MIMALLOC_SHOW_STATS` option, which makes it print its statistics to
//! stderr (a line with `peak rss`) when a process that allocated with it exits; linked in but never
//! called, it prints nothing, nor does the C library's allocator.

use std::process::Command;

#[test]
fn every_command_allocates_with_mimalloc() {
    for args in [
        &[
            "render",
            "r",
            "gateway",
            "--set-file",
            "ssh.publicKey=examples/id_ed25519.pub",
        ][..],
        &["golden", "check", "golden"],
        &["serve", "--help"],
        &["--version"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_ikp"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("MIMALLOC_SHOW_STATS", "1")
            .output()
            .expect("run ikp");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "ikp {args:?}: {stderr}");
        assert!(
            stderr.contains("peak rss"),
            "ikp {args:?} printed no mimalloc statistics: {stderr}"
        );
    }
}
