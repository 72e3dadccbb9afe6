//! One error style for every command: a failing `ikp` prints one line on stderr, starting `error: `,
//! in which no clause (the text between `: ` separators) appears twice, and exits with the
//! documented code. The command lines are data: `tests/fixtures/cli/failing-commands.txt`.

#[path = "support/logs.rs"]
mod test_logs;

use std::path::Path;
use std::process::{Command, Stdio};

/// The clauses of an error line that appear more than once (`a: b: a` → `a`).
fn repeated_clauses(line: &str) -> Vec<String> {
    let clauses: Vec<&str> = line.split(": ").map(str::trim).collect();
    let mut repeated = Vec::new();
    for (index, clause) in clauses.iter().enumerate() {
        // Short clauses ("line 3", a key name) may legitimately recur in different roles.
        if clause.len() >= 12
            && clauses[index + 1..].contains(clause)
            && !repeated.contains(&(*clause).to_owned())
        {
            repeated.push((*clause).to_owned());
        }
    }
    repeated
}

struct Placeholders {
    key: String,
    key_b64: String,
    kubeconfig_unreachable: String,
    chart: String,
}

impl Placeholders {
    fn create(dir: &Path) -> Placeholders {
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
             contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
        )
        .expect("kubeconfig");
        let chart = dir.join("small");
        std::fs::create_dir_all(chart.join("templates")).expect("chart dir");
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: small\nversion: 0.1.0\n",
        )
        .expect("Chart.yaml");
        std::fs::write(
            chart.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ Release.Name }}-cm\n",
        )
        .expect("template");
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        Placeholders {
            key: examples.join("id_ed25519.pub").display().to_string(),
            key_b64: std::fs::read_to_string(examples.join("id_ed25519.b64"))
                .expect("example key")
                .trim()
                .to_owned(),
            kubeconfig_unreachable: kubeconfig.display().to_string(),
            chart: chart.display().to_string(),
        }
    }

    fn expand(&self, word: &str) -> String {
        word.replace("$KUBECONFIG_UNREACHABLE", &self.kubeconfig_unreachable)
            .replace("$KEY_B64", &self.key_b64)
            .replace("$KEY", &self.key)
            .replace("$CHART", &self.chart)
    }
}

#[test]
fn repeated_clauses_are_found() {
    assert_eq!(
        repeated_clauses(
            "error: cannot read nope.pub (for ssh.publicKey): No such file: cannot read nope.pub (for ssh.publicKey)"
        ),
        vec!["cannot read nope.pub (for ssh.publicKey)"]
    );
    assert!(repeated_clauses("error: --set #1: key \"foo\" has no value").is_empty());
}

#[test]
fn every_failing_command_prints_one_error_line_without_repeated_clauses() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let placeholders = Placeholders::create(scratch.path());
    let corpus = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cli/failing-commands.txt"),
    )
    .expect("corpus");
    let mut failures = Vec::new();
    let mut cases = 0;
    for line in corpus.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        cases += 1;
        let mut words = line.split(' ').filter(|w| !w.is_empty()).peekable();
        let mut env = Vec::new();
        while let Some(word) = words.next_if(|w| w.contains('=') && !w.starts_with('-')) {
            let (name, value) = word.split_once('=').expect("NAME=value");
            env.push((name.to_owned(), placeholders.expand(value)));
        }
        let expected_code: i32 = words
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no exit code in {line:?}"));
        let args: Vec<String> = words.map(|w| placeholders.expand(w)).collect();
        let output = Command::new(env!("CARGO_BIN_EXE_ikp"))
            .args(&args)
            .current_dir(scratch.path())
            .env_remove("KUBECONFIG")
            .env_remove("CONFIG_FILE_PATH")
            .envs(env)
            .stdin(Stdio::null())
            .output()
            .expect("run ikp");
        test_logs::record("failing command corpus", &output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let problem = if output.status.code() != Some(expected_code) {
            Some(format!(
                "exit {:?}, expected {expected_code}",
                output.status.code()
            ))
        } else if lines.len() != 1 {
            Some(format!("{} lines on stderr", lines.len()))
        } else if !lines[0].starts_with("error: ") {
            Some("stderr does not start with `error: `".to_owned())
        } else if let Some(path) = args
            .iter()
            .find(|arg| arg.starts_with('/') && lines[0].matches(arg.as_str()).count() > 1)
        {
            Some(format!("names {path} more than once"))
        } else {
            let repeated = repeated_clauses(lines[0]);
            (!repeated.is_empty()).then(|| format!("repeated clauses {repeated:?}"))
        };
        if let Some(problem) = problem {
            failures.push(format!("{line}\n  {problem}\n  stderr: {stderr}"));
        }
    }
    assert!(cases >= 30, "only {cases} cases read");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_tunnel_host_error_names_the_setting_not_a_sample_release() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let placeholders = Placeholders::create(scratch.path());
    let output = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args([
            "serve",
            "--check-config",
            "--kubeconfig",
            &placeholders.kubeconfig_unreachable,
            "--socket-address",
            "http://127.0.0.1",
            "--socket-port",
            "8099",
        ])
        .env_remove("CONFIG_FILE_PATH")
        .env("TCP_TUNNEL_ENABLED", "true")
        .env("TCP_TUNNEL_GATEWAY_HOST", "bad_host!")
        .env("TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY", &placeholders.key_b64)
        .output()
        .expect("run ikp");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("tcp_tunnel") && err.contains("bad_host!") && !err.contains("00000000"),
        "{err}"
    );
}

#[test]
fn missing_kubeconfig_names_the_path_once() {
    let output = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(["status", "rel", "--kubeconfig", "/nonexistent/ikp-kc"])
        .output()
        .expect("run ikp");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(err.matches("/nonexistent/ikp-kc").count(), 1, "{err}");
}
