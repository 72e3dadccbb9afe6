//! The release arguments `render`, `apply` and `diff` share (one flag group, one resolver), through
//! the binary: the same chart/name/values rules everywhere, with Helm's per-command default for a
//! missing release name (`template`: `release-name`; `install`: required).

#[path = "support/logs.rs"]
mod test_logs;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ikp(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run ikp");
    test_logs::record(args.first().copied().unwrap_or_default(), &output);
    output
}

fn key_flag() -> String {
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/id_ed25519.pub");
    format!("ssh.publicKey={}", key.display())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn render_dry_run_bogus_is_rejected_like_apply() {
    let key = key_flag();
    for command in ["render", "apply"] {
        let output = ikp(&[
            command,
            "msoff",
            "gateway",
            "--set-file",
            &key,
            "--dry-run=bogus",
        ]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command}: {}",
            stderr(&output)
        );
        let err = stderr(&output);
        assert!(
            err.starts_with("error: ")
                && err.contains("'bogus'")
                && err.contains("client, server, none"),
            "{command}: {err}"
        );
        assert!(output.stdout.is_empty(), "{command} printed output");
    }
}

#[test]
fn render_accepts_every_dry_run_value_helm_accepts() {
    let key = key_flag();
    let plain = ikp(&["render", "msoff", "gateway", "--set-file", &key]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    for mode in [
        "--dry-run",
        "--dry-run=client",
        "--dry-run=server",
        "--dry-run=none",
        "--dry-run=true",
        "--dry-run=false",
    ] {
        let output = ikp(&["render", "msoff", "gateway", "--set-file", &key, mode]);
        assert!(output.status.success(), "{mode}: {}", stderr(&output));
        assert_eq!(output.stdout, plain.stdout, "{mode} changed the output");
    }
}

#[test]
fn unnamed_release_is_release_name_in_render_and_required_in_apply_and_diff() {
    let key = key_flag();
    let render = ikp(&["render", "gateway", "--set-file", &key]);
    assert!(render.status.success(), "{}", stderr(&render));
    assert!(
        String::from_utf8_lossy(&render.stdout).contains("name: release-name-gateway"),
        "{}",
        String::from_utf8_lossy(&render.stdout)
    );
    for command in ["apply", "diff"] {
        let output = ikp(&[command, "gateway", "--set-file", &key]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command}: {}",
            stderr(&output)
        );
        let err = stderr(&output);
        assert!(
            err.starts_with("error: a release name is required") && err.contains("--generate-name"),
            "{command}: {err}"
        );
    }
}

fn bastion_flags() -> Vec<String> {
    let b64 = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/id_ed25519.b64"),
    )
    .expect("example key");
    [
        "--set=tunnel.gateway.host=gw.example.org".to_owned(),
        format!("--set=tunnel.gateway.ssh.privateKey={}", b64.trim()),
        "--set=tunnel.service.targetHost=svc.ns.svc".to_owned(),
    ]
    .into()
}

/// What `apply --dry-run=client` adds to `render --redact-secrets` output with the same flags: only
/// lines of the tracking metadata (`annotations:` and the `ikp.io/release-*` entries, or a tracking
/// label the chart did not set).
fn added_lines(render: &str, dry_run: &str) -> Vec<String> {
    let diff = similar::TextDiff::from_lines(render, dry_run);
    let mut added = Vec::new();
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Equal => {}
            similar::ChangeTag::Delete => panic!("apply --dry-run=client dropped {change:?}"),
            similar::ChangeTag::Insert => added.push(change.value().trim_end().to_owned()),
        }
    }
    added
}

#[test]
fn apply_dry_run_client_prints_render_output_plus_tracking_metadata() {
    let key = format!("--set-file={}", key_flag());
    let charts: [(&str, Vec<String>); 2] = [("gateway", vec![key]), ("bastion", bastion_flags())];
    let tracking = regex::Regex::new(
        r#"^ +(annotations:|ikp\.io/release-name: msoff|ikp\.io/release-namespace: "0123"|app\.kubernetes\.io/(instance: msoff|managed-by: ikp))$"#,
    )
    .expect("regex");
    for (chart, flags) in charts {
        let mut args: Vec<String> = ["msoff", chart, "-n", "0123"].map(String::from).into();
        args.extend(flags);
        let run = |command: &str, extra: &[&str]| {
            let mut all: Vec<&str> = vec![command];
            all.extend(args.iter().map(String::as_str));
            all.extend(extra);
            let output = ikp(&all);
            assert!(output.status.success(), "{all:?}: {}", stderr(&output));
            String::from_utf8(output.stdout).expect("utf-8")
        };
        let plain = run("render", &[]);
        let redacted = run("render", &["--redact-secrets"]);
        let dry_run = run("apply", &["--dry-run=client"]);
        let added = added_lines(&redacted, &dry_run);
        let documents = plain.matches("\n---\n").count() + 1;
        // Every document gets the two annotations under a new `annotations:` key.
        assert_eq!(added.len(), 3 * documents, "{chart}: {added:#?}");
        for line in &added {
            assert!(tracking.is_match(line), "{chart}: unexpected line {line:?}");
        }
        // Secret data is never printed.
        if chart == "bastion" {
            let b64 = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/id_ed25519.b64"),
            )
            .expect("key");
            assert!(!dry_run.contains(b64.trim()), "private key printed");
            assert_ne!(plain, redacted, "the bastion has Secret data to redact");
        }
    }
}

#[test]
fn apply_takes_the_render_printing_flags_with_dry_run_client() {
    let key = format!("--set-file={}", key_flag());
    let scratch = tempfile::tempdir().expect("tempdir");
    let out_dir = scratch.path().join("out");
    let out_dir = out_dir.to_str().expect("utf-8 path");
    let output = ikp(&[
        "apply",
        "msoff",
        "gateway",
        &key,
        "--dry-run=client",
        "--debug",
        "--notes",
        "--redact-secrets",
        "--skip-tests",
        "--include-crds",
        "--output-dir",
        out_dir,
        "--release-name",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("COMPUTED VALUES"),
        "{}",
        stderr(&output)
    );
    let written =
        std::fs::read_to_string(Path::new(out_dir).join("msoff/gateway/templates/service.yaml"))
            .expect("--output-dir --release-name wrote the service");
    assert!(written.contains("ikp.io/release-name: msoff"), "{written}");

    let shown = ikp(&[
        "apply",
        "msoff",
        "gateway",
        &key,
        "--dry-run=client",
        "-s",
        "templates/service.yaml",
        "--notes",
    ]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("# Source: gateway/templates/service.yaml")
            && !text.contains("templates/deployment.yaml")
            && text.contains("\nNOTES:\n"),
        "{text}"
    );
}

#[test]
fn apply_refuses_show_only_and_output_dir_unless_dry_run_client() {
    let key = format!("--set-file={}", key_flag());
    for (flag, value) in [("-s", "templates/service.yaml"), ("--output-dir", "out")] {
        for mode in [None, Some("--dry-run=server")] {
            let mut args = vec!["apply", "msoff", "gateway", key.as_str(), flag, value];
            args.extend(mode);
            let output = ikp(&args);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{args:?}: {}",
                stderr(&output)
            );
            let err = stderr(&output);
            assert!(
                err.starts_with("error: ")
                    && err.contains("--dry-run=client")
                    && err.contains(if flag == "-s" { "--show-only" } else { flag }),
                "{args:?}: {err}"
            );
        }
    }
    // The harmless ones pass the flag check and stop at the cluster connection.
    let output = ikp(&[
        "apply",
        "msoff",
        "gateway",
        &key,
        "--debug",
        "--notes",
        "--redact-secrets",
        "--skip-tests",
        "--include-crds",
        "--release-name",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("/nonexistent/kubeconfig"),
        "{}",
        stderr(&output)
    );
}
