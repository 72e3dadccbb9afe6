//! `ikp serve --check-config`: it must refuse every configuration `ikp serve` would then refuse (kubeconfig,
//! context, names), print a plain-text summary, and with `--connect` name each permission the remote
//! identity lacks.
//!
//! The `--connect` tests rely on, from the test control plane: RBAC authorization, SelfSubjectAccessReview
//! answering for the caller's own token, and the TokenRequest API (through `support::identity`).

mod support;

use std::path::Path;
use std::process::Output;

use support::cluster::TestCluster;
use support::identity::{OFFLOAD_ROLES, RemoteIdentity, TUNNEL_ROLES};

fn check_config(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ikp"));
    command
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .arg("serve")
        .arg("--check-config")
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run ikp serve --check-config");
    support::logs::record("serve --check-config", &output);
    output
}

/// Base64 of the throwaway private key of `examples/`, as `gateway_ssh_private_key` wants it.
fn private_key_base64() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/id_ed25519.b64"))
        .expect("examples/id_ed25519.b64")
        .trim()
        .to_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A kubeconfig with one context `remote` for a server nothing listens on (`--check-config` without
/// `--connect` never connects).
fn offline_kubeconfig(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:1\"}\n\
         users:\n- name: u\n  user: {token: not-a-real-token}\ncontexts:\n- name: remote\n  context: {cluster: c, user: u}\n\
         current-context: remote\n",
    )
    .expect("write kubeconfig");
    path
}

/// The sample config, unchanged, passed the check and then failed in `serve` because its kubeconfig path
/// does not exist.
#[test]
fn check_config_loads_the_kubeconfig_of_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.sample.ini");
    let out = check_config(dir.path(), &["--config", sample.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("private/k8s/kubeconfig.yaml"), "{stderr}");
    // With a kubeconfig that exists, the same sample passes.
    let kubeconfig = offline_kubeconfig(dir.path());
    let out = check_config(
        dir.path(),
        &[
            "--config",
            sample.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("remote server: https://127.0.0.1:1"),
        "{stdout}"
    );
}

/// `context = nonexistent-ctx` passed the check.
#[test]
fn check_config_rejects_a_context_the_kubeconfig_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = offline_kubeconfig(dir.path());
    let out = check_config(
        dir.path(),
        &["--kubeconfig", kubeconfig.to_str().unwrap()],
        &[("K8S_CONTEXT", "nonexistent-ctx")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("nonexistent-ctx"), "{stderr}");
}

/// `bastion_namespace = Bad_NS` passed the check, then every tunnel `/create` got 502.
#[test]
fn check_config_rejects_a_bad_bastion_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = offline_kubeconfig(dir.path());
    let config = dir.path().join("config.ini");
    std::fs::write(&config, "[tcp_tunnel]\nbastion_namespace = Bad_NS\n").unwrap();
    let out = check_config(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("tcp_tunnel.bastion_namespace") && stderr.contains("Bad_NS"),
        "{stderr}"
    );
}

#[test]
fn check_config_summary_is_plain_text_with_the_tunnel_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key = private_key_base64();
    let kubeconfig = offline_kubeconfig(dir.path());
    let out = check_config(
        dir.path(),
        &["--kubeconfig", kubeconfig.to_str().unwrap()],
        &[
            ("TCP_TUNNEL_ENABLED", "true"),
            ("TCP_TUNNEL_GATEWAY_HOST", "gw.example.org"),
            ("TCP_TUNNEL_GATEWAY_PORT", "30222"),
            ("TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY", &key),
            ("LOG_FORMAT", "json"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "tcp tunnel: on",
        "tcp tunnel gateway: gw.example.org:30222",
        "log format: json",
        "node selector: none",
        "remote context: the kubeconfig's current-context",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    assert!(!stdout.contains(&key[..40]), "{stdout}");
    assert!(
        !stdout.contains('{') && !stdout.contains("Some("),
        "{stdout}"
    );
}

/// Runs `--check-config --connect` with the tunnel on as `identity`.
fn connect_as(dir: &Path, identity: &RemoteIdentity, bastion_ns: &str) -> Output {
    let key = private_key_base64();
    check_config(
        dir,
        &[
            "--connect",
            "--kubeconfig",
            identity.kubeconfig().to_str().unwrap(),
        ],
        &[
            ("TCP_TUNNEL_ENABLED", "true"),
            ("TCP_TUNNEL_GATEWAY_HOST", "gw.example.org"),
            ("TCP_TUNNEL_GATEWAY_PORT", "30222"),
            ("TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY", &key),
            ("TCP_TUNNEL_BASTION_NAMESPACE", bastion_ns),
        ],
    )
}

#[tokio::test]
async fn check_config_connect_passes_with_the_documented_roles() {
    let Some((cluster, ns)) = TestCluster::with_namespace("check-connect-all").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES, TUNNEL_ROLES]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = connect_as(dir.path(), &identity, ns.name());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(!stdout.contains("missing permission"), "{stdout}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("permissions: "))
        .unwrap_or_else(|| panic!("no permissions line:\n{stdout}"));
    let counts: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(counts[1], counts[3], "{summary}");
}

/// The documented roles once lacked `patch services`, which only showed as a 502 on the first tunnelled
/// `/create`; the check names it before the plugin starts.
#[tokio::test]
async fn check_config_connect_names_the_one_missing_permission() {
    let Some((cluster, ns)) = TestCluster::with_namespace("check-connect-one").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy_without(
        &cluster,
        &ns,
        &[OFFLOAD_ROLES, TUNNEL_ROLES],
        Some(("patch", "services")),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = connect_as(dir.path(), &identity, ns.name());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let missing: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("missing permission: "))
        .collect();
    assert_eq!(
        missing,
        vec!["missing permission: patch services in all namespaces"],
        "{stdout}"
    );
}
