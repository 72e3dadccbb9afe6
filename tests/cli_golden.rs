//! `ikp golden` through the binary: the repository's own golden cases, and the exit codes, diffs
//! and summary users' CI relies on.

use std::path::Path;
use std::process::{Command, Output};

fn ikp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run ikp")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn repository_golden_files_are_current() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let out = ikp(&["golden", "check", golden.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("golden: 3 passed, 0 failed, 0 missing"),
        "{stdout}"
    );
}

#[test]
fn missing_and_changed_expected_files_fail_with_a_diff() {
    let root = tempfile::tempdir().unwrap();
    let case = root.path().join("gw");
    std::fs::create_dir_all(&case).unwrap();
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/id_ed25519.pub");
    std::fs::copy(&key, case.join("key.pub")).unwrap();
    std::fs::write(case.join("values.yaml"), "ssh:\n  userName: from-file\n").unwrap();
    std::fs::write(
        case.join("args"),
        "msoff\ngateway\n-f\nvalues.yaml\n--set-file\nssh.publicKey=key.pub\n",
    )
    .unwrap();
    let dir = root.path().to_str().unwrap();

    let out = ikp(&["golden", "check", dir]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("golden: 0 passed, 0 failed, 1 missing"));

    let out = ikp(&["golden", "update", dir]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = std::fs::read_to_string(case.join("expected.yaml")).unwrap();
    assert!(expected.contains("USER_NAME: from-file"), "{expected}");

    let out = ikp(&["golden", "check", dir]);
    assert!(out.status.success(), "{}", text(&out.stdout));

    std::fs::write(case.join("values.yaml"), "ssh:\n  userName: changed\n").unwrap();
    let out = ikp(&["golden", "check", dir]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("-  USER_NAME: from-file"), "{stdout}");
    assert!(stdout.contains("+  USER_NAME: changed"), "{stdout}");
    assert!(
        stdout.contains("golden: 0 passed, 1 failed, 0 missing"),
        "{stdout}"
    );
}

/// `update` once wrote a failed render (`ERROR: ...`) as the expected output, and `check` passed from
/// then on.
#[test]
fn golden_update_refuses_a_failed_render() {
    let root = tempfile::tempdir().unwrap();
    let bad = root.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("args"), "msoff\ngateway\n--bogus\n").unwrap();
    let dir = root.path().to_str().unwrap();
    let out = ikp(&["golden", "update", dir]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad: "), "{stderr}");
    assert!(stderr.contains("--bogus"), "{stderr}");
    assert!(!bad.join("expected.yaml").exists());
}

#[test]
fn golden_check_reports_a_render_error_as_a_failure() {
    let root = tempfile::tempdir().unwrap();
    // An expected file as an older `update` would have written it for a failing render.
    std::fs::write(root.path().join("args"), "msoff\nbastion\n").unwrap();
    std::fs::write(
        root.path().join("expected.yaml"),
        "ERROR: tunnel.gateway.host is required\n",
    )
    .unwrap();
    let out = ikp(&["golden", "check", root.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(render error: "), "{stdout}");
    assert!(stdout.contains("tunnel.gateway.host"), "{stdout}");
    assert!(
        stdout.contains("golden: 0 passed, 1 failed, 0 missing"),
        "{stdout}"
    );
}

#[test]
fn a_directory_without_cases_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let out = ikp(&["golden", "check", root.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no golden case"));
}
