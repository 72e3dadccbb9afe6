//! `ikp show values|chart|readme CHART` prints the built-in chart's files byte for byte.

use std::path::Path;

fn ikp() -> assert_cmd::Command {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_ikp"))
}

#[test]
fn show_prints_the_chart_files_byte_for_byte() {
    let charts = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts");
    for chart in ["gateway", "bastion"] {
        for (what, file) in [
            ("values", "values.yaml"),
            ("chart", "Chart.yaml"),
            ("readme", "README.md"),
        ] {
            let expected = std::fs::read(charts.join(chart).join(file)).expect("chart file");
            let output = ikp().args(["show", what, chart]).output().expect("run");
            assert!(output.status.success(), "show {what} {chart}");
            assert_eq!(output.stdout, expected, "show {what} {chart}");
        }
    }
}

#[test]
fn show_of_an_unknown_chart_is_a_usage_error_naming_it() {
    let output = ikp()
        .args(["show", "values", "gatway"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("gatway") && err.contains("gateway"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
