//! `ikp keygen` through the binary: files, modes, refusal to overwrite, and the pasted flags
//! (which never contain the private key unless asked).

#[path = "support/logs.rs"]
mod test_logs;

use std::process::{Command, Output};

fn ikp(dir: &std::path::Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run ikp");
    test_logs::record(args.first().copied().unwrap_or_default(), &output);
    output
}

#[test]
fn ed25519_pair_and_flags_that_render() {
    let dir = tempfile::tempdir().unwrap();
    let out = ikp(dir.path(), &["keygen", "-f", "private/ssh/id_ed25519"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let private = std::fs::read_to_string(dir.path().join("private/ssh/id_ed25519")).unwrap();
    let public = std::fs::read_to_string(dir.path().join("private/ssh/id_ed25519.pub")).unwrap();
    assert!(public.starts_with("ssh-ed25519 "));
    let body_line = private.lines().nth(1).unwrap();
    assert!(!stdout.contains(body_line), "private key printed");
    assert!(
        stdout.contains("--set-file ssh.publicKey=private/ssh/id_ed25519.pub"),
        "{stdout}"
    );
    assert!(
        stdout.contains("privateKey=\"$(base64 -w0 private/ssh/id_ed25519)\""),
        "{stdout}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("private/ssh/id_ed25519"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The printed gateway flag works as is.
    let render = ikp(
        dir.path(),
        &[
            "render",
            "msoff",
            "gateway",
            "--set-file",
            "ssh.publicKey=private/ssh/id_ed25519.pub",
        ],
    );
    assert!(
        render.status.success(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );

    let again = ikp(dir.path(), &["keygen", "-f", "private/ssh/id_ed25519"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("private/ssh/id_ed25519")).unwrap(),
        private
    );
    let forced = ikp(
        dir.path(),
        &["keygen", "-f", "private/ssh/id_ed25519", "--force"],
    );
    assert!(forced.status.success());
    assert_ne!(
        std::fs::read_to_string(dir.path().join("private/ssh/id_ed25519")).unwrap(),
        private
    );
}

#[test]
fn private_key_flag_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = ikp(dir.path(), &["keygen", "-f", "k", "--print-private-key"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = stdout.lines().find(|l| l.contains("privateKey=")).unwrap();
    let value = line
        .split("privateKey=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let decoded = base64_decode(value);
    assert!(decoded.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
}

#[test]
fn rsa_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = ikp(
        dir.path(),
        &["keygen", "--type", "rsa", "--bits", "2048", "-f", "id_rsa"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(dir.path().join("id_rsa.pub")).unwrap();
    assert!(public.starts_with("ssh-rsa "));
    let small = ikp(
        dir.path(),
        &["keygen", "--type", "rsa", "--bits", "1024", "-f", "small"],
    );
    assert_eq!(small.status.code(), Some(1));
}

fn base64_decode(text: &str) -> String {
    use base64::Engine as _;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap(),
    )
    .unwrap()
}

#[cfg(unix)]
#[test]
fn keygen_refuses_a_dangling_symlink_instead_of_writing_the_key_to_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target-of-link");
    std::os::unix::fs::symlink(&target, dir.path().join("id_ed25519")).unwrap();
    for args in [
        &["keygen", "-f", "id_ed25519"][..],
        &["keygen", "-f", "id_ed25519", "--force"][..],
    ] {
        let out = ikp(dir.path(), args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("symbolic link"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            !target.exists(),
            "private key written through the link: {args:?}"
        );
        assert!(!dir.path().join("id_ed25519.pub").exists());
    }
}

#[test]
fn ed25519_refuses_bits_instead_of_ignoring_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = ikp(
        dir.path(),
        &["keygen", "-t", "ed25519", "-b", "2048", "-f", "k"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: -b/--bits 2048") && err.contains("-t rsa"),
        "{err}"
    );
    assert!(!dir.path().join("k").exists(), "a key was written");
}

#[test]
fn bastion_flags_name_gateway_port_and_target_port() {
    let dir = tempfile::tempdir().unwrap();
    let out = ikp(dir.path(), &["keygen", "-f", "k"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--set tunnel.gateway.host=GATEWAY_HOST",
        "--set tunnel.service.gatewayPort=8181",
        "--set tunnel.service.targetHost=SERVICE_HOST",
        "--set tunnel.service.targetPort=80",
    ] {
        assert!(stdout.contains(flag), "{flag} missing:\n{stdout}");
    }
}
