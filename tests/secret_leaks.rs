//! No log line or error message of the test suite holds a secret of the fixtures.
//!
//! Run by `make test` as a second `cargo test` step, after the whole suite (this target has `test = false`
//! in Cargo.toml, so a plain `cargo test` does not run it before or beside the tests whose output it
//! reads). It scans everything under `target/test-logs/`: the `ikp serve` logs and error-reply bodies
//! (`tests/serve_common`) and the stderr of the `ikp` commands the tests record (`tests/support/logs.rs`).
//!
//! The secrets come from the fixture files themselves, never from a copy here:
//! - every PEM private key under `tests/fixtures/` and `examples/` (each base64 line of its body) and every
//!   `*.b64` file holding one (the base64 text, in 64-character pieces, so any 127 consecutive characters
//!   of it are caught);
//! - the Secret data of the serve fixtures (`tests/fixtures/serve/*.json`, base64 and decoded), their
//!   service-account tokens, and WireGuard `PrivateKey = …` values;
//! - the sentinels tests plant (`SENTINEL-…` tokens in `tests/**/*.rs`: Secret values, bearer tokens,
//!   kubeconfig tokens, WireGuard keys). The PEM armour (`-----BEGIN … PRIVATE KEY-----`) is not a secret
//!   and not looked for: an error message may name it to say what a key should look like.
//!
//! Values shorter than [`MIN_SECRET_LEN`] are left out (a one-letter Secret value would match any log).
//! A finding names the log file, the line and which fixture secret it is — never the secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// Shorter values are not secrets worth a finding (and would match everywhere).
const MIN_SECRET_LEN: usize = 12;
/// The pieces a base64-encoded key is cut into.
const CHUNK: usize = 64;

/// One secret value and where it comes from (printed instead of the value).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Needle {
    value: String,
    origin: String,
}

/// What a scan looked at and found.
#[derive(Debug, Default)]
struct Report {
    files: usize,
    lines: usize,
    /// `path:line: origin` of every hit.
    findings: Vec<String>,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every regular file under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Adds `value` (trimmed) unless it is too short or already there.
fn add(needles: &mut Vec<Needle>, value: &str, origin: String) {
    let value = value.trim();
    if value.len() >= MIN_SECRET_LEN && !needles.iter().any(|n| n.value == value) {
        needles.push(Needle {
            value: value.to_owned(),
            origin,
        });
    }
}

/// The base64 lines of every PEM private key in `text` (indentation and YAML block markers ignored).
fn pem_body_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN") && line.contains("PRIVATE KEY-----") {
            inside = true;
        } else if line.starts_with("-----END") {
            inside = false;
        } else if inside && !line.is_empty() {
            out.push(line.to_owned());
        }
    }
    out
}

/// Base64 text cut into [`CHUNK`]-character pieces (the last one only if long enough).
fn chunks(text: &str) -> Vec<&str> {
    let text = text.trim();
    (0..text.len())
        .step_by(CHUNK)
        .map(|at| &text[at..(at + CHUNK).min(text.len())])
        .collect()
}

/// The private keys of `dirs`: PEM files (any text file with a PEM private key in it) and `*.b64`
/// files whose decoded text is one.
fn private_key_needles(needles: &mut Vec<Needle>, dirs: &[PathBuf]) {
    for path in dirs.iter().flat_map(|d| files_under(d)) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let name = relative(&path);
        for (i, line) in pem_body_lines(&text).iter().enumerate() {
            add(needles, line, format!("{name}: private key line {}", i + 2));
        }
        if path.extension().is_some_and(|e| e == "b64")
            && let Ok(decoded) = STANDARD.decode(text.trim())
            && String::from_utf8_lossy(&decoded).contains("PRIVATE KEY-----")
        {
            for (i, piece) in chunks(&text).into_iter().enumerate() {
                add(
                    needles,
                    piece,
                    format!("{name}: base64 private key, piece {}", i + 1),
                );
            }
            for (i, line) in pem_body_lines(&String::from_utf8_lossy(&decoded))
                .iter()
                .enumerate()
            {
                add(
                    needles,
                    line,
                    format!("{name}: decoded private key line {}", i + 2),
                );
            }
        }
    }
}

/// WireGuard private keys (`PrivateKey = …`) in `text`.
fn wireguard_keys(text: &str) -> Vec<String> {
    text.split("PrivateKey = ")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| c.is_whitespace() || c == '"' || c == '\\')
                .next()
        })
        .map(str::to_owned)
        .collect()
}

/// Secret data, service-account tokens and WireGuard keys of a serve fixture (a `/create` body).
fn json_needles(needles: &mut Vec<Needle>, value: &Value, name: &str, key: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if (k == "secrets" || k == "projectedvolumemaps")
                    && let Some(items) = v.as_array()
                {
                    for item in items {
                        for field in ["data", "stringData"] {
                            for (data_key, data) in item[field].as_object().into_iter().flatten() {
                                let Some(text) = data.as_str() else { continue };
                                if k == "projectedvolumemaps" && data_key != "token" {
                                    continue;
                                }
                                let origin = format!("{name}: {k} {field}.{data_key}");
                                add(needles, text, origin.clone());
                                if field == "data"
                                    && k == "secrets"
                                    && let Ok(plain) = STANDARD.decode(text)
                                {
                                    add(
                                        needles,
                                        &String::from_utf8_lossy(&plain),
                                        format!("{origin} (decoded)"),
                                    );
                                }
                            }
                        }
                    }
                }
                json_needles(needles, v, name, k);
            }
        }
        Value::Array(items) => {
            for item in items {
                json_needles(needles, item, name, key);
            }
        }
        Value::String(text) => {
            for wg in wireguard_keys(text) {
                add(needles, &wg, format!("{name}: WireGuard key in {key}"));
            }
        }
        _ => {}
    }
}

/// `SENTINEL-…` tokens and WireGuard keys planted by the test sources under `dir` (not this file).
fn planted_needles(needles: &mut Vec<Needle>, dir: &Path) {
    let this = Path::new(file!())
        .file_name()
        .expect("this file has a name");
    for path in files_under(dir) {
        if path.extension().is_none_or(|e| e != "rs") || path.file_name() == Some(this) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let name = relative(&path);
        // WireGuard keys first: a planted key is named as one even when it is also a sentinel.
        for wg in wireguard_keys(&text) {
            add(needles, &wg, format!("{name}: planted WireGuard key"));
        }
        for (at, _) in text.match_indices("SENTINEL-") {
            let token: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            add(needles, &token, format!("{name}: planted sentinel"));
        }
    }
}

/// Every secret of the repository's fixtures and test sources.
fn fixture_needles() -> Vec<Needle> {
    let mut needles = Vec::new();
    private_key_needles(
        &mut needles,
        &[repo().join("tests/fixtures"), repo().join("examples")],
    );
    for path in files_under(&repo().join("tests/fixtures/serve")) {
        let text = std::fs::read_to_string(&path).expect("read serve fixture");
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", relative(&path)));
        json_needles(&mut needles, &value, &relative(&path), "");
    }
    planted_needles(&mut needles, &repo().join("tests"));
    needles
}

/// Scans every file under `dir` line by line for every needle.
fn scan(dir: &Path, needles: &[Needle]) -> Report {
    let mut report = Report::default();
    for path in files_under(dir) {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        report.files += 1;
        let text = String::from_utf8_lossy(&bytes);
        for (number, line) in text.lines().enumerate() {
            report.lines += 1;
            for needle in needles.iter().filter(|n| line.contains(n.value.as_str())) {
                report.findings.push(format!(
                    "{}:{}: {}",
                    relative(&path),
                    number + 1,
                    needle.origin
                ));
            }
        }
    }
    report
}

#[test]
fn no_log_line_or_error_message_of_the_suite_holds_a_fixture_secret() {
    let needles = fixture_needles();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for needle in &needles {
        let kind = if needle.origin.contains("private key") {
            "private-key pieces"
        } else if needle.origin.contains("WireGuard") {
            "WireGuard keys"
        } else if needle.origin.contains("sentinel") {
            "planted sentinels"
        } else {
            "Secret values and tokens"
        };
        *kinds.entry(kind).or_default() += 1;
    }
    assert!(
        kinds.len() >= 4,
        "the fixtures no longer yield every kind of secret: {kinds:?}"
    );
    let logs = repo().join("target/test-logs");
    let report = scan(&logs, &needles);
    println!(
        "secret scan: {} secrets ({kinds:?}) over {} files, {} lines under {}",
        needles.len(),
        report.files,
        report.lines,
        relative(&logs)
    );
    assert!(
        report.files > 0 && report.lines > 0,
        "nothing to scan under {}: run the test suite first (`make test` does both)",
        logs.display()
    );
    assert!(
        report.findings.is_empty(),
        "{} log line(s) hold a fixture secret:\n{}",
        report.findings.len(),
        report.findings.join("\n")
    );
}

/// A fixture key planted in the middle of a log line is caught and named by file, line and origin; the
/// finding does not contain the key; a clean log yields nothing; an empty directory scans nothing.
#[test]
fn the_scanner_catches_a_planted_fixture_key() {
    let needles = fixture_needles();
    let key_file = repo().join("tests/fixtures/tunnel/id_ed25519.b64");
    let b64 = std::fs::read_to_string(&key_file).expect("key fixture");
    let pem = String::from_utf8(STANDARD.decode(b64.trim()).expect("base64")).expect("utf-8");
    let body_line = pem_body_lines(&pem)[1].clone();

    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(scan(dir.path(), &needles).files, 0);
    std::fs::create_dir_all(dir.path().join("serve")).expect("mkdir");
    std::fs::write(
        dir.path().join("serve/clean.log"),
        "INFO created pod\nWARN retrying\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("serve/leaky.log"),
        format!("INFO one\nDEBUG body: {{\"key\": \"{body_line}\"}}\nINFO three\nERROR {b64}"),
    )
    .expect("write");
    let report = scan(dir.path(), &needles);
    assert_eq!((report.files, report.lines), (2, 6));
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.contains("serve/leaky.log:2: ") && f.contains("private key line")),
        "{:?}",
        report.findings
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.contains("serve/leaky.log:4: ")
                && f.contains("id_ed25519.b64: base64 private key")),
        "{:?}",
        report.findings
    );
    assert!(report.findings.iter().all(|f| !f.contains("clean.log")));
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.contains(&body_line) && !f.contains(b64.trim())),
        "a finding must not print the secret"
    );
}

/// Each kind of fixture secret is found where it is: the serve fixtures' Secret value (base64 and
/// decoded) and token, a planted WireGuard key, a bearer-token sentinel.
#[test]
fn fixture_secrets_of_every_kind_are_collected() {
    let needles = fixture_needles();
    let origins = |value_part: &str| -> Vec<String> {
        needles
            .iter()
            .filter(|n| n.value.contains(value_part))
            .map(|n| n.origin.clone())
            .collect()
    };
    let microservice: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/serve/microservice-pod.json"))
            .expect("fixture"),
    )
    .expect("json");
    let secret_data = microservice["container"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["secrets"].as_array().into_iter().flatten())
        .filter_map(|s| s["data"].as_object())
        .flat_map(|d| d.values())
        .filter_map(Value::as_str)
        .next()
        .expect("the microservice fixture has Secret data")
        .to_owned();
    assert!(!origins(&secret_data).is_empty(), "{secret_data:?}");
    let decoded = String::from_utf8(STANDARD.decode(&secret_data).expect("base64")).expect("utf-8");
    assert!(
        origins(&decoded).iter().any(|o| o.contains("(decoded)")),
        "decoded Secret value"
    );
    assert!(
        needles.iter().any(|n| n.origin.contains("WireGuard")),
        "WireGuard keys"
    );
    assert!(
        needles
            .iter()
            .any(|n| n.origin.contains("projectedvolumemaps data.token")),
        "service-account token"
    );
    assert!(
        needles
            .iter()
            .any(|n| n.origin.contains("tests/serve_http.rs: planted sentinel")),
        "bearer token sentinel"
    );
    assert!(
        needles.iter().all(|n| n.value.len() >= MIN_SECRET_LEN),
        "short values are left out"
    );
}
