//! What the suite's `ikp` processes wrote for people to read — CLI stderr (logs and `error:` lines), the
//! `ikp serve` logs and the bodies of its error replies — kept under `target/test-logs/` so that
//! `tests/secret_leaks.rs`, which `make test` runs after the whole suite, can check that none of it holds
//! a secret of the fixtures. `make test` empties the directory first, so the check sees one run.
//!
//! Layout: `target/test-logs/cli/<test binary>-<pid>.log` (one block per recorded command: a `==` header
//! with the test's label and exit code, then the command's stderr) and `target/test-logs/serve/` (see
//! `tests/serve_common`). Command lines are not written: they may carry a private key on purpose.

use std::io::Write;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Mutex;

/// Serialises appends of one test binary's threads to its file.
static APPEND: Mutex<()> = Mutex::new(());

/// `target/test-logs/<kind>`, created if missing.
pub fn dir(kind: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-logs")
        .join(kind);
    std::fs::create_dir_all(&dir).expect("create target/test-logs");
    dir
}

/// Appends the stderr of one finished `ikp` command to this test binary's CLI log. `label` says which
/// test ran it (never the command line itself).
pub fn record(label: &str, output: &Output) {
    record_stderr(label, output.status.code(), &output.stderr);
}

/// Like [`record`], for a command whose exit code and stderr the caller has separately.
pub fn record_stderr(label: &str, code: Option<i32>, stderr: &[u8]) {
    let path = dir("cli").join(format!(
        "{}-{}.log",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let mut block = format!("== {label} (exit {code:?})\n").into_bytes();
    block.extend_from_slice(stderr);
    if !block.ends_with(b"\n") {
        block.push(b'\n');
    }
    let _turn = APPEND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(&block))
        .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
}
