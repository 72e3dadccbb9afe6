//! Values error messages as data: each `tests/values_errors/<case>.args` is one `ikp render` run
//! (its arguments one per line, `#` lines are comments, paths relative to that folder), and
//! `tests/snapshots/values_errors__<case>.snap` is exactly what it prints on stderr, with its exit
//! status. The chart defaults are the built-in charts' own `values.yaml`.
//!
//! A new case without a snapshot fails (insta writes `<case>.snap.new` beside it for review);
//! `cargo insta review` or `INSTA_UPDATE=always` accepts it.

#[path = "support/logs.rs"]
mod test_logs;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

const CASES: &str = "tests/values_errors";

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(CASES)
        .expect("cases folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "args"))
        .collect();
    cases.sort();
    cases
}

fn arguments(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case)
        .expect("args file")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_case_prints_its_snapshot() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(true);
    settings.set_omit_expression(true);
    let _guard = settings.bind_to_scope();
    for case in cases {
        let name = case
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let output = Command::cargo_bin("ikp")
            .expect("binary")
            .current_dir(CASES)
            .arg("render")
            .args(arguments(&case))
            .output()
            .expect("runs");
        test_logs::record(&name, &output);
        // A values error prints nothing on stdout; a case that renders says so in its snapshot
        // (the golden files pin what it prints).
        let printed = if output.stdout.is_empty() {
            ""
        } else {
            "stdout: the rendered manifests\n"
        };
        let report = format!(
            "exit: {}\n{printed}{}",
            output
                .status
                .code()
                .map_or("signal".into(), |c| c.to_string()),
            String::from_utf8_lossy(&output.stderr)
        );
        insta::assert_snapshot!(name, report);
    }
}
