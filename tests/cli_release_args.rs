//! The release arguments `render`, `apply` and `diff` share (one flag group, one resolver), through
//! the binary: the same chart/name/values rules everywhere, with Helm's per-command default for a
//! missing release name (`template`: `release-name`; `install`: required).

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ikp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run ikp")
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
