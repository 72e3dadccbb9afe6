//! `ikp <command> ... | head -0`: every command that prints ends quietly with success when its stdout
//! is a pipe whose reader is already gone — no panic, no `error:` line, exit 0 (for `diff`, its
//! "changes found" 1).
//!
//! Each command is spawned with stdout the write end of a pipe whose read end was closed before the
//! start, so the first write fails with EPIPE.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::cluster::TestCluster;

/// Runs `ikp args...` in `dir` with a stdout nobody reads.
fn run_with_closed_stdout(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut command = Command::new(env!("CARGO_BIN_EXE_ikp"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("spawn ikp")
}

/// Asserts that a run against a closed stdout ended as a success: no panic, no error line.
fn assert_quiet_success(args: &[&str], output: &Output, allowed_codes: &[i32]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.lines().any(|l| l.starts_with("error")),
        "ikp {args:?} | head -0 printed an error:\n{stderr}"
    );
    let code = output.status.code();
    assert!(
        code.is_some_and(|c| allowed_codes.contains(&c)),
        "ikp {args:?} | head -0 exited {:?}:\n{stderr}",
        output.status
    );
}

fn repo_path(relative: &str) -> String {
    format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"))
}

/// Every command that prints without a cluster.
#[test]
fn closed_stdout_is_success_for_every_local_command() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let key = format!("ssh.publicKey={}", repo_path("examples/id_ed25519.pub"));
    let golden_copy = scratch.path().join("golden");
    std::fs::create_dir(&golden_copy).expect("mkdir");
    let case = golden_copy.join("gw");
    std::fs::create_dir(&case).expect("mkdir");
    std::fs::copy(
        repo_path("examples/id_ed25519.pub"),
        case.join("id_ed25519.pub"),
    )
    .expect("copy key");
    std::fs::write(
        case.join("args"),
        "msoff\ngateway\n--set-file\nssh.publicKey=id_ed25519.pub\n",
    )
    .expect("args");
    let kubeconfig = scratch.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
    )
    .expect("kubeconfig");
    let kubeconfig_arg = kubeconfig.display().to_string();
    let golden_arg = golden_copy.display().to_string();

    let commands: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["--version"],
        vec!["render", "--help"],
        vec!["render", "msoff", "gateway", "--set-file", &key],
        vec!["render", "msoff", "gateway", "--set-file", &key, "--notes"],
        vec![
            "render",
            "msoff",
            "gateway",
            "--set-file",
            &key,
            "-s",
            "templates/service.yaml",
        ],
        vec![
            "apply",
            "msoff",
            "gateway",
            "--set-file",
            &key,
            "--dry-run=client",
        ],
        vec!["schema", "gateway"],
        vec!["keygen", "-f", "k"],
        vec!["golden", "update", &golden_arg],
        vec!["golden", "check", &golden_arg],
        vec![
            "serve",
            "--check-config",
            "--socket-address",
            "http://127.0.0.1",
            "--socket-port",
            "8099",
            "--kubeconfig",
            &kubeconfig_arg,
        ],
    ];
    for args in &commands {
        let output = run_with_closed_stdout(scratch.path(), args, &[]);
        assert_quiet_success(args, &output, &[0]);
    }
    // The commands above did their work although nobody read their output.
    assert!(scratch.path().join("k").is_file() && scratch.path().join("k.pub").is_file());
    assert!(case.join("expected.yaml").is_file());
}

/// The cluster commands, against the test control plane.
///
/// Relies on: server-side apply and dry-run of ConfigMaps; list of ConfigMaps by label selector;
/// delete of ConfigMaps.
#[tokio::test]
async fn closed_stdout_is_success_for_every_cluster_command() {
    let Some((cluster, ns)) = TestCluster::with_namespace("closed-stdout").await else {
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let chart = scratch.path().join("small");
    std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: small\nversion: 0.1.0\n",
    )
    .expect("Chart.yaml");
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ Release.Name }}-cm\ndata:\n  A: {{ Values.a | default(\"1\") | quote }}\n",
    )
    .expect("template");
    std::fs::write(chart.join("templates/NOTES.txt"), "installed\n").expect("notes");
    let ns = ns.name();
    let env = [("KUBECONFIG", cluster.kubeconfig())];
    let steps: Vec<(Vec<&str>, &[i32])> = vec![
        (vec!["diff", "rel", "small", "-n", ns], &[1]),
        (vec!["apply", "rel", "small", "-n", ns], &[0]),
        (
            vec!["apply", "rel", "small", "-n", ns, "--dry-run=server"],
            &[0],
        ),
        (vec!["diff", "rel", "small", "-n", ns], &[0]),
        (vec!["diff", "rel", "small", "-n", ns, "--set", "a=2"], &[1]),
        (vec!["status", "rel", "-n", ns], &[0]),
        (vec!["history", "rel", "-n", ns], &[0]),
        (vec!["list", "-n", ns], &[0]),
        (vec!["list", "-A"], &[0]),
        (vec!["uninstall", "rel", "-n", ns], &[0]),
    ];
    for (args, codes) in &steps {
        let output = run_with_closed_stdout(scratch.path(), args, &env);
        assert_quiet_success(args, &output, codes);
    }
    // The uninstall went through although its report was never read.
    let output = run_with_closed_stdout(scratch.path(), &["status", "rel", "-n", ns], &env);
    assert_eq!(output.status.code(), Some(1));
}
