//! `ikp render` through the binary: built-in charts from any directory, Helm's flags, exit codes,
//! a closed pipe, and secrets kept out of stderr.

#[path = "support/logs.rs"]
mod test_logs;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ikp(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run ikp");
    test_logs::record(args.first().copied().unwrap_or_default(), &output);
    output
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn public_key_flag() -> String {
    format!("ssh.publicKey={}", example("id_ed25519.pub").display())
}

fn bastion_key_flag() -> String {
    let b64 = std::fs::read_to_string(example("id_ed25519.b64")).expect("example key");
    format!("tunnel.gateway.ssh.privateKey={}", b64.trim())
}

/// `ikp render msoff gateway --set-file ssh.publicKey=<example key> EXTRA...`
fn render_gateway(dir: &Path, extra: &[&str]) -> Output {
    let key = public_key_flag();
    let mut args = vec!["render", "msoff", "gateway", "--set-file", key.as_str()];
    args.extend_from_slice(extra);
    ikp(dir, &args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn builtin_chart_renders_from_any_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let out = render_gateway(scratch.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("---\n# Source: gateway/templates/configMap.yaml\n"));
    assert!(stdout.ends_with("name: msoff-gateway\n"));
    assert!(stdout.contains("app.kubernetes.io/managed-by: ikp"));
    assert_eq!(stdout.matches("\n---\n").count(), 3, "{stdout}");
}

#[test]
fn a_directory_named_like_the_chart_wins() {
    let scratch = tempfile::tempdir().unwrap();
    let chart = scratch.path().join("gateway");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: custom\nversion: 9.9.9\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ Release.Name }}-local\ndata:\n  version: \"{{ Chart.Version }}\"\n",
    )
    .unwrap();
    let out = render_gateway(scratch.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // `# Source:` names the chart from Chart.yaml, not the directory.
    assert!(
        stdout.starts_with("---\n# Source: custom/templates/cm.yaml\n"),
        "{stdout}"
    );
    assert!(stdout.contains("name: msoff-local"), "{stdout}");
    assert!(stdout.contains("version: \"9.9.9\""), "{stdout}");
}

#[test]
fn usage_errors_exit_2_and_render_errors_exit_1_without_output() {
    let scratch = tempfile::tempdir().unwrap();
    let out = ikp(scratch.path(), &["render", "a", "gateway", "extra"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ikp(
        scratch.path(),
        &["render", "msoff", "gateway", "--no-such-flag"],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = ikp(scratch.path(), &["render", "msoff", "gateway"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("ssh.publicKey"),
        "{}",
        text(&out.stderr)
    );
    let out = ikp(scratch.path(), &["render", "msoff", "no-such-chart"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no-such-chart"));
}

#[test]
fn closed_stdout_is_not_an_error() {
    let scratch = tempfile::tempdir().unwrap();
    // Enough documents that the output does not fit in a pipe buffer.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args([
            "render",
            "msoff",
            "gateway",
            "--set-file",
            &public_key_flag(),
            "--set",
        ])
        .arg(format!("ssh.userName={}", "u".repeat(32)))
        .current_dir(scratch.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 3];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("read");
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert_eq!(&first, b"---");
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn show_only_output_dir_and_notes() {
    let scratch = tempfile::tempdir().unwrap();
    let out = render_gateway(
        scratch.path(),
        &[
            "-s",
            "templates/deployment.yaml",
            "-s",
            "templates/configMap.yaml",
        ],
    );
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let deployment = stdout.find("kind: Deployment").unwrap();
    let config_map = stdout.find("kind: ConfigMap").unwrap();
    assert!(deployment < config_map, "flag order");

    let out = render_gateway(scratch.path(), &["--output-dir", "out", "--release-name"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("wrote out/msoff/gateway/templates/configMap.yaml\n"));
    assert!(text(&out.stdout).ends_with("\n\n"));
    let written = std::fs::read_to_string(
        scratch
            .path()
            .join("out/msoff/gateway/templates/service.yaml"),
    )
    .unwrap();
    assert_eq!(
        written
            .matches("# Source: gateway/templates/service.yaml")
            .count(),
        2
    );

    let out = render_gateway(
        scratch.path(),
        &[
            "--notes",
            "--dry-run",
            "--create-namespace",
            "--skip-tests",
            "--include-crds",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\nNOTES:\nThe gateway msoff-gateway runs sshd"));
}

#[test]
fn secrets_stay_out_of_debug_and_redacted_output() {
    let scratch = tempfile::tempdir().unwrap();
    let key = bastion_key_flag();
    let secret = key.split_once('=').unwrap().1.to_owned();
    let args = [
        "render",
        "msoff",
        "bastion",
        "--set",
        "tunnel.gateway.host=gw.example.org",
        "--set",
        &key,
        "--set",
        "tunnel.service.targetHost=echo.default.svc",
        "--debug",
        "--redact-secrets",
    ];
    let out = ikp(scratch.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stderr.contains("COMPUTED VALUES"), "{stderr}");
    assert!(stderr.contains("gatewayPort: 8181"), "{stderr}");
    assert!(
        !stderr.contains(&secret[..40]),
        "private key in --debug output"
    );
    assert!(
        !stdout.contains(&secret[..40]),
        "private key in redacted output"
    );
    assert!(
        stdout.contains("SSH_PRIVATE_KEY: redacted:sha256:"),
        "{stdout}"
    );
}

#[test]
fn help_lists_helm_flags() {
    let scratch = tempfile::tempdir().unwrap();
    let out = ikp(scratch.path(), &["render", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--namespace",
        "--set-file",
        "--show-only",
        "--output-dir",
        "--redact-secrets",
        "--notes",
    ] {
        assert!(help.contains(flag), "missing {flag} in help");
    }
}

/// A chart directory that is neither gateway nor bastion gets no values validation, so the object
/// check is what stops a bad render; its error names the document, the field and the values key.
#[test]
fn object_check_errors_name_document_field_and_values_key() {
    let scratch = tempfile::tempdir().unwrap();
    let chart = scratch.path().join("custom");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: custom\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "port: 80\nkey: abc\n").unwrap();
    std::fs::write(
        chart.join("templates/svc.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ Release.Name }}-svc\nspec:\n  ports:\n    - port: {{ Values.port }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ Release.Name }}\ndata:\n  KEY: {{ Values.key }}\n",
    )
    .unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--set", "port=99999"],
            "Service \"r-svc\" field spec.ports[0].port: 99999 is not a port number (1-65535) (from values: port)",
        ),
        (
            &["--set-json", "port=80.5"],
            "field spec.ports[0].port: invalid type: floating point `80.5`",
        ),
        (
            &["--set", "key=off"],
            "ConfigMap \"r\" field data.KEY: invalid type: boolean `false`, expected a string (from values: key)",
        ),
        (
            &["--set", "key=a: b"],
            "YAML parse error on custom/templates/svc.yaml (document 2): line 6",
        ),
    ];
    for (flags, wanted) in cases {
        let mut args = vec!["render", "r", "./custom"];
        args.extend_from_slice(flags);
        let out = ikp(scratch.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        assert!(out.stdout.is_empty(), "{flags:?} printed output");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(wanted), "{flags:?}: {stderr}");
    }
    let out = ikp(scratch.path(), &["render", "r", "./custom"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `ikp render msoff gateway ...` with `IKP_TIMINGS` set to `value`, or removed for `None`.
fn render_gateway_with_timings(dir: &Path, value: Option<&str>, extra: &[&str]) -> Output {
    let key = public_key_flag();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ikp"));
    command
        .args(["render", "msoff", "gateway", "--set-file", key.as_str()])
        .args(extra)
        .current_dir(dir);
    match value {
        Some(value) => command.env("IKP_TIMINGS", value),
        None => command.env_remove("IKP_TIMINGS"),
    };
    let output = command.output().expect("run ikp");
    test_logs::record("render", &output);
    output
}

#[test]
fn ikp_timings_prints_one_line_of_phases_after_the_output() {
    let scratch = tempfile::tempdir().unwrap();
    let plain = render_gateway_with_timings(scratch.path(), None, &[]);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    assert!(plain.stderr.is_empty(), "{}", text(&plain.stderr));
    // Set but empty counts as unset.
    let empty = render_gateway_with_timings(scratch.path(), Some(""), &[]);
    assert!(empty.stderr.is_empty(), "{}", text(&empty.stderr));
    assert_eq!(empty.stdout, plain.stdout);

    let timed = render_gateway_with_timings(scratch.path(), Some("1"), &[]);
    assert!(timed.status.success(), "{}", text(&timed.stderr));
    assert_eq!(timed.stdout, plain.stdout, "the output must not change");
    let stderr = text(&timed.stderr);
    let line = stderr
        .strip_prefix("ikp timings: ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("not one timings line: {stderr:?}"));
    assert!(!line.contains('\n'), "more than one line: {stderr:?}");
    let phases: Vec<(&str, u128)> = line
        .split(' ')
        .map(|field| {
            let (name, value) = field.split_once('=').expect("name=value");
            let micros = value.strip_suffix("us").expect("microseconds");
            (name, micros.parse().expect("a whole number"))
        })
        .collect();
    let names: Vec<&str> = phases.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        ["load", "values", "render", "checks", "output", "main"]
    );
    // The phases are parts of `main`, and rendering a chart takes some time in every one of the
    // pipeline's phases.
    let parts: u128 = phases[..5].iter().map(|(_, micros)| micros).sum();
    assert!(parts <= phases[5].1, "{line}");
    for (name, micros) in &phases[1..4] {
        assert!(*micros > 0, "{name} took no time: {line}");
    }
}

#[test]
fn ikp_timings_prints_nothing_for_a_failed_render() {
    let scratch = tempfile::tempdir().unwrap();
    let out = render_gateway_with_timings(scratch.path(), Some("1"), &["--set", "ssh.port=x"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("ikp timings"), "{stderr}");
}
