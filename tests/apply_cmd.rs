//! `ikp apply` and `ikp diff` through the binary: the real charts rendered by the render pipeline, applied
//! to the project's test control plane (etcd + kube-apiserver v1.36 + controller-manager + scheduler + kwok).
//!
//! Node ports 30401–30420 are reserved for this file (other test files use other ranges: a port stays
//! allocated until the namespace of a finished test is gone).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use ikp::deploy::{RevisionStatus, inventory};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Api;
use kube::api::{Patch, PatchParams};
use support::cluster::TestCluster;

/// Throwaway key pair of the Helm reference corpus (`reference/helm/keys`, id_ed25519); it protects nothing.
const PUBLIC_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKb+Ny6AabMc+bhMQqBVWV/v8ufuGZTK6pVkEbKAhDTW helm-ref-test-ed25519";
/// `base64 --wrap 0` of the private half of [`PUBLIC_KEY`].
const PRIVATE_KEY_B64: &str = "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KYjNCbGJuTnphQzFyWlhrdGRqRUFBQUFBQkc1dmJtVUFBQUFFYm05dVpRQUFBQUFBQUFBQkFBQUFNd0FBQUF0emMyZ3RaVwpReU5UVXhPUUFBQUNDbS9qY3VnR216SFBtNFRFS2dWVmxmNy9MbjdobVV5dXFWWkJHeWdJUTAxZ0FBQUpqTk9RMjV6VGtOCnVRQUFBQXR6YzJndFpXUXlOVFV4T1FBQUFDQ20vamN1Z0dtekhQbTRURUtnVlZsZjcvTG43aG1VeXVxVlpCR3lnSVEwMWcKQUFBRUREc1UyYnV5NDFkbVBqakNTMTlCRndkaU53YnBOTTVEVUlFKzFzSld3SnlLYitOeTZBYWJNYytiaE1RcUJWV1Yvdgo4dWZ1R1pUSzZwVmtFYktBaERUV0FBQUFGV2hsYkcwdGNtVm1MWFJsYzNRdFpXUXlOVFV4T1E9PQotLS0tLUVORCBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K";

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `ikp <verb> <release> gateway -n <ns> --set ssh.publicKey=... --set service.port=<port>` plus `extra`.
fn gateway_args(verb: &str, release: &str, ns: &str, port: u16, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [verb, release, "gateway", "-n", ns, "--set"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("ssh.publicKey={PUBLIC_KEY}"));
    args.push("--set".into());
    args.push(format!("service.port={port}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Install, no-op re-apply, `kubectl edit`-style drift: `diff` exits 0, then 1 showing the drift, a plain
/// apply names the conflict and the flag, `--force-conflicts` fixes it, and `diff` exits 0 again.
///
/// Relies on: SSA (create, no-op, conflicts between an Apply manager and an Update manager, force);
/// `dryRun=All`; ownership moving to the updater on a merge PATCH.
#[tokio::test]
async fn apply_diff_drift_and_forced_reapply_through_the_binary() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-cmd").await else {
        return;
    };
    let ns = ns;
    let install = cluster
        .ikp()
        .args(gateway_args("apply", "cmd", ns.name(), 30401, &[]))
        .output()
        .expect("apply");
    assert!(install.status.success(), "{}", stderr_of(&install));
    let out = stdout_of(&install);
    assert!(out.contains("revision 1 deployed"), "{out}");
    assert!(
        out.contains("NOTES:"),
        "NOTES.txt is printed after an apply: {out}"
    );
    assert!(stderr_of(&install).contains(&format!(
        "Deployment.apps {}/cmd-gateway created",
        ns.name()
    )));

    let noop = cluster
        .ikp()
        .args(gateway_args("apply", "cmd", ns.name(), 30401, &[]))
        .output()
        .expect("apply");
    assert!(noop.status.success(), "{}", stderr_of(&noop));
    assert!(stderr_of(&noop).contains("unchanged") && !stderr_of(&noop).contains(" configured"));

    let diff = cluster
        .ikp()
        .args(gateway_args("diff", "cmd", ns.name(), 30401, &[]))
        .output()
        .expect("diff");
    assert_eq!(
        diff.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&diff),
        stderr_of(&diff)
    );
    assert!(stdout_of(&diff).is_empty(), "{}", stdout_of(&diff));

    let configmaps: Api<ConfigMap> = Api::namespaced(cluster.client(), ns.name());
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    configmaps
        .patch(
            "cmd-gateway",
            &edit,
            &Patch::Merge(serde_json::json!({"data": {"USER_NAME": "mallory"}})),
        )
        .await
        .expect("edit");

    let diff = cluster
        .ikp()
        .args(gateway_args("diff", "cmd", ns.name(), 30401, &[]))
        .output()
        .expect("diff");
    assert_eq!(diff.status.code(), Some(1), "{}", stderr_of(&diff));
    let text = stdout_of(&diff);
    assert!(
        text.contains("-  USER_NAME: mallory") && text.contains("+  USER_NAME: interlink-user"),
        "{text}"
    );
    assert!(text.contains("--force-conflicts"), "{text}");

    // The same answer as JSON: the ConfigMap, its action and changed field, read back through serde.
    let diff_json = cluster
        .ikp()
        .args(gateway_args(
            "diff",
            "cmd",
            ns.name(),
            30401,
            &["-o", "json"],
        ))
        .output()
        .expect("diff");
    assert_eq!(
        diff_json.status.code(),
        Some(1),
        "{}",
        stderr_of(&diff_json)
    );
    let view: serde_json::Value = serde_json::from_slice(&diff_json.stdout).expect("JSON");
    let changed = view["changed"].as_array().expect("changed");
    assert_eq!(changed.len(), 1, "{view}");
    assert_eq!(changed[0]["kind"], "ConfigMap");
    assert_eq!(changed[0]["name"], "cmd-gateway");
    assert_eq!(changed[0]["action"], "update");
    assert_eq!(changed[0]["fields"], serde_json::json!(["data.USER_NAME"]));
    assert!(
        changed[0]["diff"]
            .as_str()
            .is_some_and(|d| d.contains("+  USER_NAME: interlink-user")),
        "{view}"
    );
    assert!(!view["unchanged"].as_array().expect("unchanged").is_empty());

    let refused = cluster
        .ikp()
        .args(gateway_args("apply", "cmd", ns.name(), 30401, &[]))
        .output()
        .expect("apply");
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr_of(&refused);
    assert!(
        err.contains(".data.USER_NAME")
            && err.contains("kubectl-edit")
            && err.contains("--force-conflicts"),
        "{err}"
    );

    let forced = cluster
        .ikp()
        .args(gateway_args(
            "apply",
            "cmd",
            ns.name(),
            30401,
            &["--force-conflicts"],
        ))
        .output()
        .expect("apply");
    assert!(forced.status.success(), "{}", stderr_of(&forced));
    let diff = cluster
        .ikp()
        .args(gateway_args("diff", "cmd", ns.name(), 30401, &[]))
        .output()
        .expect("diff");
    assert_eq!(
        diff.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&diff),
        stderr_of(&diff)
    );
}

/// `diff` exits 2 on an error (here: the release namespace's API refuses nothing, but the values are bad).
#[test]
fn diff_exits_2_on_error() {
    let output = StdCommand::new(env!("CARGO_BIN_EXE_ikp"))
        .args([
            "diff",
            "rel",
            "gateway",
            "--set",
            "service.port=99999",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
}

/// Invalid values fail before any cluster call: the kubeconfig points nowhere, yet the error is about the
/// value.
#[test]
fn invalid_values_fail_before_contacting_the_cluster() {
    let output = StdCommand::new(env!("CARGO_BIN_EXE_ikp"))
        .args([
            "apply",
            "rel",
            "gateway",
            "--set",
            "service.port=99999",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert!(
        err.contains("service.port") && err.contains("99999"),
        "{err}"
    );
    assert!(
        !err.contains("kubeconfig"),
        "no cluster access was attempted: {err}"
    );
}

/// `--dry-run=client` prints the objects with Secret data redacted (`--redact-secrets` markers), without
/// any cluster.
#[test]
fn client_dry_run_prints_redacted_objects_without_a_cluster() {
    let key = PRIVATE_KEY_B64;
    let output = StdCommand::new(env!("CARGO_BIN_EXE_ikp"))
        .args([
            "apply",
            "bas",
            "bastion",
            "--dry-run",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "--set",
            "tunnel.gateway.host=10.0.0.1",
            "--set",
            "tunnel.service.targetHost=svc.ns.svc.cluster.local",
            "--set",
        ])
        .arg(format!("tunnel.gateway.ssh.privateKey={key}"))
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let out = stdout_of(&output);
    assert!(
        out.contains("kind: Secret") && out.contains("SSH_PRIVATE_KEY: redacted:sha256:"),
        "{out}"
    );
    assert!(!out.contains(key), "{out}");
    assert!(out.contains("ikp.io/release-name: bas"), "{out}");
}

/// `--dry-run=server` reports the server's verdict per object and creates nothing.
///
/// Relies on: `dryRun=All` SSA not persisting anything.
#[tokio::test]
async fn server_dry_run_through_the_binary_creates_nothing() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-cmd-dry").await else {
        return;
    };
    let output = cluster
        .ikp()
        .args(gateway_args(
            "apply",
            "dry",
            ns.name(),
            30402,
            &["--dry-run=server"],
        ))
        .output()
        .expect("apply");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let out = stdout_of(&output);
    assert_eq!(out.matches("created (server dry run)").count(), 4, "{out}");
    let services: Api<Service> = Api::namespaced(cluster.client(), ns.name());
    assert!(
        services
            .get_opt("dry-gateway")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        inventory::load(&cluster.client(), ns.name(), "dry")
            .await
            .expect("load")
            .is_none()
    );
}

/// A process killed with SIGKILL while `--wait`ing (objects applied, revision pending, old objects not yet
/// pruned) leaves a state the next apply converges from: no "in progress" error, the Service the killed
/// revision added and the new one drops is pruned, the killed revision is marked failed.
///
/// Relies on: the scheduler leaving a pod requesting 64 CPUs unscheduled (the kwok node has 32), so the
/// wait cannot finish before the kill; SSA and delete as elsewhere.
#[tokio::test]
async fn killed_apply_converges_on_the_next_apply() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-cmd-kill").await else {
        return;
    };
    let install = cluster
        .ikp()
        .args(gateway_args("apply", "kill", ns.name(), 30403, &[]))
        .output()
        .expect("apply");
    assert!(install.status.success(), "{}", stderr_of(&install));

    let stuck = gateway_args(
        "apply",
        "kill",
        ns.name(),
        30403,
        &[
            "--set",
            "tunnel.service.sourcePort=8181",
            "--set",
            "tunnel.service.sourceNodePort=30404",
            "--set",
            "resources.requests.cpu=64",
            "--set",
            "resources.limits.cpu=64",
            "--wait",
            "--timeout",
            "2m",
        ],
    );
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_ikp"))
        .args(&stuck)
        .env("KUBECONFIG", cluster.kubeconfig())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let started = Instant::now();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("read stderr");
        let waiting = line.contains("waiting for");
        seen.push(line);
        if waiting || started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.contains("waiting for")),
        "never reached the wait: {seen:?}"
    );

    let services: Api<Service> = Api::namespaced(cluster.client(), ns.name());
    assert!(
        services
            .get_opt("kill-gateway-30404")
            .await
            .expect("get")
            .is_some()
    );
    let record = inventory::load_existing(&cluster.client(), ns.name(), "kill")
        .await
        .expect("inventory");
    assert_eq!(
        record.latest().map(|r| r.status),
        Some(RevisionStatus::Pending)
    );

    let converge = cluster
        .ikp()
        .args(gateway_args(
            "apply",
            "kill",
            ns.name(),
            30403,
            &["--wait", "--timeout", "60s"],
        ))
        .output()
        .expect("apply");
    assert!(converge.status.success(), "{}", stderr_of(&converge));
    assert!(
        stdout_of(&converge).contains("revision 3 deployed"),
        "{}",
        stdout_of(&converge)
    );
    assert!(
        stderr_of(&converge).contains(&format!("Service {}/kill-gateway-30404 pruned", ns.name()))
    );
    assert!(
        services
            .get_opt("kill-gateway-30404")
            .await
            .expect("get")
            .is_none()
    );
    let record = inventory::load_existing(&cluster.client(), ns.name(), "kill")
        .await
        .expect("inventory");
    let statuses: Vec<RevisionStatus> = record.revisions.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![
            RevisionStatus::Superseded,
            RevisionStatus::Failed,
            RevisionStatus::Deployed
        ]
    );
}

/// `--wait` through the binary prints progress and succeeds when kwok runs the pod; the timeout names the
/// blocker.
///
/// Relies on: the Deployment controller, scheduler and kwok making a Deployment available; the scheduler's
/// `FailedScheduling` event for a pod that fits no node.
#[tokio::test]
async fn wait_progress_and_timeout_through_the_binary() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-cmd-wait").await else {
        return;
    };
    let ok = cluster
        .ikp()
        .args(gateway_args(
            "apply",
            "w",
            ns.name(),
            30405,
            &["--wait", "--timeout", "90s"],
        ))
        .output()
        .expect("apply");
    assert!(ok.status.success(), "{}", stderr_of(&ok));
    assert!(
        stderr_of(&ok).contains(&format!(
            "Deployment.apps {}/w-gateway ready after",
            ns.name()
        )),
        "{}",
        stderr_of(&ok)
    );

    let timeout = cluster
        .ikp()
        .args(gateway_args(
            "apply",
            "w",
            ns.name(),
            30405,
            &[
                "--set",
                "resources.requests.cpu=64",
                "--set",
                "resources.limits.cpu=64",
                "--wait",
                "--timeout",
                "6s",
            ],
        ))
        .output()
        .expect("apply");
    assert_eq!(timeout.status.code(), Some(1));
    let err = stderr_of(&timeout);
    assert!(err.contains("timed out after 6s"), "{err}");
    assert!(
        err.contains(&format!("Deployment.apps {}/w-gateway", ns.name())),
        "{err}"
    );
    assert!(
        err.contains("FailedScheduling") && err.contains("Insufficient cpu"),
        "{err}"
    );
}
