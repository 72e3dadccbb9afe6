//! Replays every reference case captured from real Helm (`tests/fixtures/helm-cases/`, a copy of
//! the project's shared reference) through the built `ikp` binary:
//! - `match`: exit 0 and stdout (and the `out/` files of `--output-dir`) byte-identical to Helm's
//!   after `app.kubernetes.io/managed-by: Helm` becomes `ikp`;
//! - `reject` and `error`: a non-zero exit, an error on stderr, and nothing on stdout.
//!
//! Each case runs in a scratch directory holding the case's input files and copies of
//! `charts/gateway` and `charts/bastion`, so `gateway` and `./gateway/` both name a chart directory.

#[path = "support/logs.rs"]
mod test_logs;

use std::path::{Path, PathBuf};
use std::process::Command;

const MANAGED_BY_HELM: &str = "app.kubernetes.io/managed-by: Helm";
const MANAGED_BY_IKP: &str = "app.kubernetes.io/managed-by: ikp";

/// Files of a case directory that describe Helm's run rather than feed it.
const CASE_METADATA: &[&str] = &[
    "cmd", "desc", "expect", "stdout", "stderr", "exit", "rev", "out",
];

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm-cases")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create scratch dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if !root.is_dir() {
        return found;
    }
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(root).expect("under root").to_owned());
            }
        }
    }
    found.sort();
    found
}

struct Outcome {
    name: String,
    failure: Option<String>,
}

fn run_case(case: &Path) -> Outcome {
    let name = case
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fail = |why: String| Outcome {
        name: name.clone(),
        failure: Some(why),
    };
    let cmd = std::fs::read_to_string(case.join("cmd")).expect("cmd file");
    let expect = std::fs::read_to_string(case.join("expect")).expect("expect file");
    let expect = expect.trim();
    let mut args: Vec<&str> = cmd.lines().collect();
    if args.first() != Some(&"template") {
        return fail(format!("cmd does not start with `template`: {args:?}"));
    }
    args[0] = "render";

    let scratch = tempfile::tempdir().expect("scratch dir");
    for entry in std::fs::read_dir(case).expect("case dir") {
        let entry = entry.expect("dir entry");
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if CASE_METADATA.contains(&file_name.as_str()) {
            continue;
        }
        let target = scratch.path().join(&file_name);
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy case file");
        }
    }
    let charts = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts");
    copy_tree(&charts.join("gateway"), &scratch.path().join("gateway"));
    copy_tree(&charts.join("bastion"), &scratch.path().join("bastion"));

    let output = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(&args)
        .current_dir(scratch.path())
        .output()
        .expect("run ikp");
    test_logs::record("helm reference case", &output);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();

    match expect {
        "match" => {
            if !output.status.success() {
                return fail(format!("expected success, got {}: {stderr}", output.status));
            }
            let wanted = std::fs::read_to_string(case.join("stdout"))
                .expect("stdout file")
                .replace(MANAGED_BY_HELM, MANAGED_BY_IKP);
            if stdout != wanted {
                let diff = similar::TextDiff::from_lines(&wanted, &stdout)
                    .unified_diff()
                    .header("helm", "ikp")
                    .to_string();
                return fail(format!("stdout differs:\n{diff}"));
            }
            let expected_out = case.join("out");
            let expected_files = files_under(&expected_out);
            let written = files_under(&scratch.path().join("out"));
            if expected_files != written {
                return fail(format!(
                    "--output-dir files differ: helm wrote {expected_files:?}, ikp wrote {written:?}"
                ));
            }
            for file in expected_files {
                let wanted = std::fs::read_to_string(expected_out.join(&file))
                    .expect("expected out file")
                    .replace(MANAGED_BY_HELM, MANAGED_BY_IKP);
                let got = std::fs::read_to_string(scratch.path().join("out").join(&file))
                    .expect("written out file");
                if wanted != got {
                    return fail(format!("out/{} differs", file.display()));
                }
            }
        }
        "reject" | "error" => {
            if output.status.success() {
                return fail(format!("expected failure ({expect}), got exit 0"));
            }
            if !stdout.is_empty() {
                return fail(format!("expected nothing on stdout, got:\n{stdout}"));
            }
            if stderr.trim().is_empty() {
                return fail("expected an error message on stderr".to_owned());
            }
        }
        other => return fail(format!("unknown expectation {other:?}")),
    }
    Outcome {
        name,
        failure: None,
    }
}

/// Runs every case whose `expect` is one of `kinds` and fails with a summary of all mismatches.
fn replay(kinds: &[&str]) {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("fixtures")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.join("cmd").is_file())
        .filter(|path| {
            let expect = std::fs::read_to_string(path.join("expect")).unwrap_or_default();
            kinds.contains(&expect.trim())
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "expected reference cases for {kinds:?}, found {}",
        cases.len()
    );
    let outcomes: Vec<Outcome> = cases.iter().map(|case| run_case(case)).collect();
    let failures: Vec<&Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    for outcome in &failures {
        eprintln!(
            "FAIL {}: {}",
            outcome.name,
            outcome.failure.as_deref().unwrap_or_default()
        );
    }
    eprintln!(
        "{kinds:?}: {} cases: {} passed, {} failed",
        outcomes.len(),
        outcomes.len() - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} reference cases failed",
        failures.len()
    );
}

/// Helm's output is valid: ikp prints the same bytes.
#[test]
fn match_cases_are_byte_identical_to_helm() {
    replay(&["match"]);
}

/// Helm fails too: ikp fails with an error and prints nothing.
#[test]
fn error_cases_fail_without_output() {
    replay(&["error"]);
}

/// Helm renders something wrong: ikp refuses before printing anything.
#[test]
fn reject_cases_fail_before_printing() {
    replay(&["reject"]);
}
