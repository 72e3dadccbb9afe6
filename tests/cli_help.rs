//! The examples at the end of every command's `--help` work as printed.
//!
//! Every command is found by walking the `Commands:` sections of `ikp --help` and its subcommands'
//! (src/cli/examples_tests.rs checks, on clap's command tree, that each has examples and that each
//! example parses). Each example runs with `bash -euo pipefail` in a scratch directory holding copies of
//! `examples/` and `golden/` and a `config.ini` (config.sample.ini), which is also `HOME` (with the
//! directories the completion examples write to), with `ikp` first on `PATH` and
//! every kubeconfig (`$KUBECONFIG`, `staging.yaml`, `remote.yaml`) naming an API server on a closed
//! local port. An example passes when it exits 0, or — one that needs a cluster — when its error is
//! the refused connection (so its arguments were accepted: a usage or values error says otherwise). `ikp serve` without
//! `--check-config` serves until stopped, so it is only parsed (by the unit test), not run.
//!
//! Relies on no API server: the point is that the cluster commands get as far as calling one.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn ikp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ikp"))
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every command's words (`[]`, `["render"]`, `["golden", "check"]`, ...) with its `--help` text.
fn command_helps() -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    let mut queue = vec![Vec::<String>::new()];
    while let Some(words) = queue.pop() {
        let out = ikp().args(&words).arg("--help").output().expect("run ikp");
        assert!(out.status.success(), "ikp {words:?} --help failed");
        let help = String::from_utf8(out.stdout).expect("utf-8 help");
        for sub in support::examples::subcommands(&help) {
            let mut sub_words = words.clone();
            sub_words.push(sub);
            queue.push(sub_words);
        }
        found.push((words, help));
    }
    found
}

/// A kubeconfig whose contexts (`unreachable`, the current one, and `staging`) name an API server on a
/// local port nothing listens on.
fn unreachable_kubeconfig() -> String {
    // Bound and released: the port is closed, and no other test holds it for long.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: unreachable\n\
         clusters:\n- name: closed\n  cluster:\n    server: https://127.0.0.1:{port}\n\
         users:\n- name: nobody\n  user:\n    token: not-a-token\n\
         contexts:\n\
         - name: unreachable\n  context:\n    cluster: closed\n    user: nobody\n\
         - name: staging\n  context:\n    cluster: closed\n    user: nobody\n"
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The scratch directory the examples run in, and the `PATH` that puts this build's `ikp` first.
fn scratch() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&repo().join("examples"), &dir.path().join("examples"));
    copy_dir(&repo().join("golden"), &dir.path().join("golden"));
    std::fs::copy(
        repo().join("config.sample.ini"),
        dir.path().join("config.ini"),
    )
    .expect("config.ini");
    let kubeconfig = unreachable_kubeconfig();
    for name in ["kubeconfig.yaml", "staging.yaml", "remote.yaml"] {
        std::fs::write(dir.path().join(name), &kubeconfig).expect("kubeconfig");
    }
    // Where the completion and man examples write, in the scratch HOME.
    for home_dir in [
        ".local/share/bash-completion/completions",
        ".zfunc",
        ".config/fish/completions",
    ] {
        std::fs::create_dir_all(dir.path().join(home_dir)).expect("home dir");
    }
    let bin: PathBuf = PathBuf::from(env!("CARGO_BIN_EXE_ikp"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (dir, path)
}

#[test]
fn every_help_example_runs_or_fails_only_on_the_unreachable_cluster() {
    let helps = command_helps();
    // The walk reached nested commands.
    assert!(
        helps.iter().any(|(words, _)| words == &["golden", "check"]),
        "{:?}",
        helps.iter().map(|(w, _)| w).collect::<Vec<_>>()
    );
    let (dir, path) = scratch();
    let mut ran = 0;
    let mut failures = Vec::new();
    for (words, help) in &helps {
        let examples = support::examples::examples(help).unwrap_or_default();
        for example in examples {
            if example.starts_with("ikp serve") && !example.contains("--check-config") {
                continue;
            }
            let out = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &example])
                .current_dir(dir.path())
                .env("PATH", &path)
                .env("HOME", dir.path())
                .env("KUBECONFIG", dir.path().join("kubeconfig.yaml"))
                .env_remove("KUBERNETES_SERVICE_HOST")
                .env_remove("KUBERNETES_SERVICE_PORT")
                .env_remove("CONFIG_FILE_PATH")
                .output()
                .expect("run bash");
            support::logs::record(&format!("help example of ikp {}", words.join(" ")), &out);
            ran += 1;
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Not the exit code: `ikp diff` exits 2 on every error, a refused connection included.
            let cluster_refused = stderr.contains("cannot reach the Kubernetes API server")
                || stderr.contains("Connection refused");
            if !out.status.success() && !cluster_refused {
                failures.push(format!("{example}\n  exit {}: {stderr}", out.status));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "examples that fail:\n{}",
        failures.join("\n")
    );
    assert!(ran >= helps.len(), "only {ran} examples ran");
}

#[test]
fn cluster_examples_fail_on_the_cluster_not_on_their_arguments() {
    // The rule above, shown on one command: a cluster command that cannot reach the API server names
    // the connection; the same command with a bad flag is a usage error (exit 2) instead.
    let (dir, path) = scratch();
    let run = |args: &[&str]| {
        let out = ikp()
            .args(args)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("KUBECONFIG", dir.path().join("kubeconfig.yaml"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .expect("run ikp");
        support::logs::record("cluster example rule", &out);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&["status", "msoff", "-n", "myservice"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach the Kubernetes API server"),
        "{stderr}"
    );
    let (code, stderr) = run(&["status", "msoff", "--output", "csv"]);
    assert_eq!(code, Some(2), "{stderr}");
}
