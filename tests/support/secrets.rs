//! The secret scan of the test suite: every log line and error message an `ikp` process writes during
//! the tests is checked for the fixtures' secrets (private keys, WireGuard keys, Secret values, tokens).
//!
//! Two layers:
//! - [`checked_output`] / [`check_text`] assert at once that a process's stderr (its logs and error
//!   messages; stdout is the command's product, e.g. a rendered Secret, and may hold keys) or an HTTP
//!   error body holds none, and keep a copy under [`log_dir`];
//! - the `secret_scan` test (run again by `make test` after the whole suite) scans every file under
//!   [`log_dir`] and `target/serve-test-logs/` (where each `ikp serve` of the tests logs), so a process
//!   whose output was not checked inline is still covered.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;

/// Strings planted in fixtures and tests that must never be logged.
pub const SENTINELS: &[&str] = &[
    "SENTINEL-SECRET-VALUE-7c2e",
    "U0VOVElORUwtU0VDUkVULVZBTFVFLTdjMmU=",
    "SENTINEL-SA-TOKEN-3f9a",
    "SENTINEL-WG-PRIVATE-KEY-91d4",
    "SENTINEL-KUBE-TOKEN",
    "SENTINEL-NOT-BASE64",
    "SENTINEL-KEY",
    "PRIVATE KEY-----",
];

/// Where checked outputs are kept: `target/test-logs/`.
pub fn log_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-logs")
}

/// Where `ikp serve` processes of the tests log.
pub fn serve_log_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/serve-test-logs")
}

/// Every secret of the fixtures, each with its encodings a log could carry: the sentinels; every private
/// key file under `tests/fixtures/` and `examples/` (its base64 body lines, and the base64 of the whole
/// file as `--set ...privateKey=` takes it); `tests/fixtures/tunnel/*.b64`; the Secret `data` values of
/// the serve fixtures, encoded and decoded.
pub fn fixture_secrets() -> &'static [String] {
    static SECRETS: OnceLock<Vec<String>> = OnceLock::new();
    SECRETS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out: Vec<String> = SENTINELS.iter().map(|s| (*s).to_owned()).collect();
        let mut files = Vec::new();
        for dir in ["tests/fixtures", "examples"] {
            walk(&root.join(dir), &mut files);
        }
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            if text.contains("PRIVATE KEY-----") {
                out.push(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()));
                out.extend(
                    text.lines()
                        .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
                        .map(str::to_owned),
                );
            }
            if file.extension().is_some_and(|e| e == "b64") {
                let encoded = text.trim().to_owned();
                if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(&encoded) {
                    let decoded = String::from_utf8_lossy(&decoded).into_owned();
                    out.extend(
                        decoded
                            .lines()
                            .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
                            .map(str::to_owned),
                    );
                }
                out.push(encoded);
            }
            if file.parent().is_some_and(|p| p.ends_with("fixtures/serve"))
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
            {
                secret_values(&json, &mut out);
            }
        }
        out.retain(|s| s.len() >= 12);
        out.sort();
        out.dedup();
        out
    })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The `data` values (base64 and decoded) of every Secret in a create request.
fn secret_values(json: &serde_json::Value, out: &mut Vec<String>) {
    for container in json["container"].as_array().into_iter().flatten() {
        for secret in container["secrets"].as_array().into_iter().flatten() {
            for value in secret["data"]
                .as_object()
                .into_iter()
                .flat_map(|d| d.values())
            {
                let Some(encoded) = value.as_str() else {
                    continue;
                };
                out.push(encoded.to_owned());
                if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) {
                    let decoded = String::from_utf8_lossy(&decoded).into_owned();
                    // Certificates are public; only the distinctive parts of other values count.
                    if !decoded.contains("CERTIFICATE") {
                        out.push(decoded);
                    }
                }
            }
        }
    }
}

/// The secrets `text` contains, by index into [`fixture_secrets`] (never the secret itself, so a failing
/// assertion does not print it).
pub fn secrets_in(text: &str) -> Vec<usize> {
    fixture_secrets()
        .iter()
        .enumerate()
        .filter(|(_, secret)| text.contains(secret.as_str()))
        .map(|(i, _)| i)
        .collect()
}

/// Keeps `text` under [`log_dir`] and asserts it holds no fixture secret. `what` names the process or
/// answer in the failure message.
pub fn check_text(what: &str, text: &str) {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = log_dir();
    let _ = std::fs::create_dir_all(&dir);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let crate_name = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let file = dir.join(format!("{crate_name}-{}-{n}.log", std::process::id()));
    let _ = std::fs::write(&file, format!("# {what}\n{text}"));
    let found = secrets_in(text);
    assert!(
        found.is_empty(),
        "{what} wrote secret material (fixture secrets #{found:?} of support::secrets::fixture_secrets); kept in {}",
        file.display()
    );
}

/// Checks the stderr of a finished `ikp` process (see [`check_text`]) and returns the output.
pub fn checked_output(what: &str, output: Output) -> Output {
    check_text(what, &String::from_utf8_lossy(&output.stderr));
    output
}
