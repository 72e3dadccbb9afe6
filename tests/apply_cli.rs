//! The `ikp status|list|history|uninstall` commands through the binary, against the test control plane,
//! and the flag handling of `apply`/`diff` that needs no cluster.
//!
//! Releases are installed with the library (`ikp::deploy::apply_release`) from a small plan; the commands
//! under test then read and delete them through the real binary and kubeconfig.

mod support;

use assert_cmd::Command;
use ikp::deploy::{self, ApplyOptions, PlanMeta, ReleasePlan, RenderedManifest};
use support::cluster::TestCluster;

fn ikp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ikp"))
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A two-object release: a ConfigMap and a Service (ClusterIP, no node port, so tests never collide).
fn small_plan(release: &str, namespace: &str) -> ReleasePlan {
    let manifests = [
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {release}-cm\ndata:\n  A: \"1\"\n"),
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {release}-svc\nspec:\n  ports:\n    - port: 80\n  \
             selector:\n    app: {release}\n"
        ),
    ]
    .map(|yaml| RenderedManifest::from_yaml("small/templates/x.yaml", &yaml).expect("fixture YAML"));
    let meta = PlanMeta {
        name: release.to_owned(),
        namespace: namespace.to_owned(),
        chart_name: "small".into(),
        chart_version: "0.1.0".into(),
        app_version: None,
        values_digest: "0123456789abcdef".into(),
    };
    ReleasePlan::from_manifests(meta, &manifests, None).expect("valid manifests")
}

#[test]
fn apply_help_lists_the_release_flags() {
    let output = ikp().args(["apply", "--help"]).output().expect("run");
    assert!(output.status.success());
    let help = stdout_of(&output);
    for flag in [
        "--dry-run",
        "--wait",
        "--timeout",
        "--atomic",
        "--force-conflicts",
        "--force-recreate",
        "--create-namespace",
        "--history-max",
        "--rollback-on-failure",
        "--take-ownership",
        "--server-side",
        "--force-replace",
        "--description",
        "--kubeconfig",
        "--kube-context",
        "--namespace",
        "--set",
    ] {
        assert!(help.contains(flag), "apply --help lacks {flag}:\n{help}");
    }
}

/// Helm 4 flags ikp has no equivalent for, and bad values of the ones it has, are usage errors naming the
/// flag, the value and what is expected, before any cluster call (the kubeconfig does not exist).
#[test]
fn helm4_flags_without_an_equivalent_are_refused_with_the_reason() {
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["--server-side=false"],
            &["--server-side=false", "server-side apply"],
        ),
        (
            &["--force-replace"],
            &["--force-replace", "--force-recreate"],
        ),
        (
            &["--wait=watch"],
            &["\"watch\"", "watcher, legacy or hookOnly"],
        ),
        (
            &["--description", "two\nlines"],
            &["--description", "one line"],
        ),
        (&["--history-max=-1"], &["--history-max", "-1"]),
    ];
    for (flags, expected) in cases {
        let output = ikp()
            .args([
                "apply",
                "rel",
                "gateway",
                "--set",
                "ssh.publicKey=ssh-ed25519 AAAA",
            ])
            .args(flags)
            .args(["--kubeconfig", "/nonexistent/ikp-kubeconfig"])
            .output()
            .expect("run");
        let err = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{flags:?}: {err}");
        for word in expected {
            assert!(err.contains(word), "{flags:?}: {err}");
        }
    }
}

#[test]
fn bad_timeout_is_a_usage_error_naming_the_value() {
    let output = ikp()
        .args(["uninstall", "rel", "--timeout", "5 minutes"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let err = stderr_of(&output);
    assert!(err.contains("5 minutes") && err.contains("90s"), "{err}");
}

#[test]
fn missing_kubeconfig_is_a_one_line_error_naming_the_path() {
    let output = ikp()
        .args([
            "status",
            "rel",
            "--kubeconfig",
            "/nonexistent/ikp-kubeconfig",
        ])
        .env_remove("KUBECONFIG")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert!(err.contains("/nonexistent/ikp-kubeconfig"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// status, history, list and uninstall of an installed release, then a second uninstall.
///
/// Relies on: SSA of ConfigMaps and Services; list of ConfigMaps by label selector across namespaces.
#[tokio::test]
async fn status_history_list_and_uninstall_through_the_binary() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-cli").await else {
        return;
    };
    let client = cluster.client();
    let plan = small_plan("cli", ns.name());
    for _ in 0..2 {
        deploy::apply_release(&client, &plan, &ApplyOptions::default(), &mut ())
            .await
            .expect("apply");
    }

    let status = cluster
        .ikp()
        .args(["status", "cli", "-n", ns.name()])
        .output()
        .expect("status");
    assert!(status.status.success(), "{}", stderr_of(&status));
    let text = stdout_of(&status);
    assert!(
        text.contains("REVISION: 2") && text.contains("STATUS: deployed"),
        "{text}"
    );
    assert!(text.contains("CHART: small-0.1.0"), "{text}");
    assert!(
        text.contains(&format!("ConfigMap {}/cli-cm: ready", ns.name())),
        "{text}"
    );

    let history = cluster
        .ikp()
        .args(["history", "cli", "-n", ns.name()])
        .output()
        .expect("history");
    let text = stdout_of(&history);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[0].starts_with("1  ") && rows[0].contains("superseded") && rows[0].contains("install"),
        "{text}"
    );
    assert!(
        rows[1].starts_with("2  ")
            && rows[1].contains("deployed")
            && rows[1].contains("sha256:0123456789ab"),
        "{text}"
    );

    let list = cluster.ikp().args(["list", "-A"]).output().expect("list");
    let text = stdout_of(&list);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().take(5).collect::<Vec<_>>()
                == ["cli", ns.name(), "2", "deployed", "small-0.1.0"]),
        "{text}"
    );
    let list_ns = cluster
        .ikp()
        .args(["list", "-n", ns.name()])
        .output()
        .expect("list");
    assert_eq!(
        stdout_of(&list_ns).lines().count(),
        2,
        "{}",
        stdout_of(&list_ns)
    );

    // -o json: the documented field names, read back through serde_json.
    let json_of = |args: &[&str]| -> serde_json::Value {
        let output = cluster.ikp().args(args).output().expect("run");
        assert!(output.status.success(), "{args:?}: {}", stderr_of(&output));
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    let status = json_of(&["status", "cli", "-n", ns.name(), "-o", "json"]);
    assert_eq!(status["name"], "cli");
    assert_eq!(status["revision"], 2);
    assert_eq!(status["status"], "deployed");
    assert_eq!(status["chart"], "small");
    assert_eq!(status["chartVersion"], "0.1.0");
    assert_eq!(status["objects"][0]["kind"], "ConfigMap");
    assert_eq!(status["objects"][0]["state"], "ready");
    let history = json_of(&["history", "cli", "-n", ns.name(), "-o", "json"]);
    let revisions: Vec<u64> = history
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["revision"].as_u64().expect("number"))
        .collect();
    assert_eq!(revisions, [1, 2]);
    assert_eq!(history[1]["valuesDigest"], "0123456789abcdef");
    let list = json_of(&["list", "-n", ns.name(), "-o", "json"]);
    assert_eq!(list[0]["name"], "cli");
    assert_eq!(list[0]["manager"], "ikp");
    let yaml = cluster
        .ikp()
        .args(["history", "cli", "-n", ns.name(), "-o", "yaml"])
        .output()
        .expect("run");
    let from_yaml =
        ikp::compat::readback::read_document(&String::from_utf8_lossy(&yaml.stdout)).expect("YAML");
    assert_eq!(from_yaml, history);

    let uninstall = cluster
        .ikp()
        .args([
            "uninstall",
            "cli",
            "-n",
            ns.name(),
            "--wait",
            "--timeout",
            "30s",
        ])
        .output()
        .expect("uninstall");
    assert!(uninstall.status.success(), "{}", stderr_of(&uninstall));
    assert!(
        stdout_of(&uninstall).contains("2 objects deleted"),
        "{}",
        stdout_of(&uninstall)
    );
    let progress = stderr_of(&uninstall);
    assert!(
        progress.contains(&format!("ConfigMap {}/cli-cm deleted", ns.name())),
        "{progress}"
    );

    let again = cluster
        .ikp()
        .args(["uninstall", "cli", "-n", ns.name()])
        .output()
        .expect("uninstall");
    assert_eq!(again.status.code(), Some(1));
    let err = stderr_of(&again);
    assert!(
        err.contains("release \"cli\" not found") && err.contains(ns.name()),
        "{err}"
    );

    let status = cluster
        .ikp()
        .args(["status", "cli", "-n", ns.name()])
        .output()
        .expect("status");
    assert_eq!(status.status.code(), Some(1));
    assert!(
        stderr_of(&status).contains("not found"),
        "{}",
        stderr_of(&status)
    );
}
