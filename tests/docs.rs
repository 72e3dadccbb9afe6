//! The user documentation, followed literally: every shell block of `README.md` and `deploy/README.md` is run,
//! every `config.ini` snippet is checked with `ikp serve --check-config`, and the example chart of
//! `docs/charts.md` is built and rendered. A doc change that breaks a command fails here.
//!
//! How the blocks are run:
//! - each ```` ```sh ```` block runs with `bash -euo pipefail` in a scratch directory that holds copies of
//!   `examples/` and `golden/`, with the crate's `ikp` first on `PATH`; blocks run in document order and see
//!   the files earlier blocks wrote (the key pair of `ikp keygen`, ...);
//! - a block whose first line is `# not run by the README test: <reason>` is not run (it needs a Docker
//!   engine, kubectl, a reachable gateway, or is the test suite itself); the test lists those blocks by
//!   their first command, so marking another block fails until it is added to the list here;
//! - `cargo run --release --` runs as that same `ikp`; `GATEWAY_HOST` and `SERVICE_HOST` are set to example
//!   names; the README's namespace `tcp-tunnel` becomes the test's own namespace (the shared test cluster
//!   must not hold fixed names);
//! - each ```` ```ini ```` block is written to `config.ini` (what the README calls it) and must pass
//!   `ikp serve --config config.ini --check-config`, with the tunnel's private key in the environment
//!   (`TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY`, the throwaway key of `examples/`), where the README puts it;
//! - `deploy/README.md` runs with `config.ini` = the one in `deploy/interlink-with-ikp.yaml`'s ConfigMap and
//!   `remote.yaml` = a kubeconfig of a ServiceAccount bound to the ClusterRoles of `deploy/` (the file its
//!   step 2 makes).
//!
//! Relies on, from the test control plane: server-side apply of the gateway chart (`ikp apply` in the
//! README), RBAC with SelfSubjectAccessReview and the TokenRequest API (`--check-config --connect` in
//! deploy/README.md).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::cluster::TestCluster;
use support::identity::{OFFLOAD_ROLES, RemoteIdentity, TUNNEL_ROLES};

const NOT_RUN_MARKER: &str = "# not run by the README test:";

/// A fenced code block of a markdown file.
#[derive(Debug)]
struct Block {
    /// The info string (`sh`, `ini`, ...).
    lang: String,
    /// The content, the fence's indentation removed.
    text: String,
    /// 1-based line of the opening fence.
    line: usize,
    /// The last non-blank line before the fence.
    before: String,
}

fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    let mut before = String::new();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            if !line.trim().is_empty() {
                before = line.trim().to_owned();
            }
            continue;
        };
        let indent = line.len() - trimmed.len();
        let mut text = String::new();
        for (_, inner) in lines.by_ref() {
            if inner.trim_start().starts_with("```") {
                break;
            }
            let cut = inner.len() - inner.trim_start().len();
            text.push_str(&inner[cut.min(indent)..]);
            text.push('\n');
        }
        blocks.push(Block {
            lang: info.trim().to_owned(),
            text,
            line: index + 1,
            before: std::mem::take(&mut before),
        });
    }
    blocks
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A scratch directory where a document's commands run.
struct Workspace {
    dir: tempfile::TempDir,
    bin: PathBuf,
    env: Vec<(String, String)>,
    namespace: Option<String>,
}

impl Workspace {
    fn new(env: Vec<(String, String)>, namespace: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&repo().join("examples"), &dir.path().join("examples"));
        copy_dir(&repo().join("golden"), &dir.path().join("golden"));
        let bin = dir.path().join(".bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ikp"), bin.join("ikp")).expect("symlink");
        Workspace {
            dir,
            bin,
            env,
            namespace,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        command
            .current_dir(self.path())
            .env("PATH", path)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs a shell block as the documentation states it, with the substitutions of the module docs.
    fn run_shell(&self, doc: &str, block: &Block) -> Output {
        let mut script = block.text.replace("cargo run --release --", "ikp");
        if let Some(ns) = &self.namespace {
            script = script.replace("tcp-tunnel", ns);
        }
        let out = self
            .command("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .output()
            .expect("run bash");
        support::logs::record(&format!("{doc}:{}", block.line), &out);
        assert!(
            out.status.success(),
            "{doc}:{}: block failed ({}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            block.line,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Writes `config.ini` and checks it as `ikp serve --check-config` does.
    fn check_ini(&self, doc: &str, line: usize, ini: &str) {
        std::fs::write(self.path().join("config.ini"), ini).expect("write config.ini");
        let out = self
            .command("ikp")
            .args(["serve", "--config", "config.ini", "--check-config"])
            .output()
            .expect("run ikp");
        support::logs::record(&format!("{doc}:{line} serve --check-config"), &out);
        assert!(
            out.status.success(),
            "{doc}:{line}: config snippet fails --check-config:\n{ini}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs every block of `doc`; returns the first command line of each block marked not run.
fn follow(doc: &str, workspace: &Workspace) -> Vec<String> {
    let mut not_run = Vec::new();
    for block in fenced_blocks(&read(doc)) {
        match block.lang.as_str() {
            "sh" => {
                if let Some(first) = block.text.lines().next()
                    && first.starts_with(NOT_RUN_MARKER)
                {
                    let reason = first[NOT_RUN_MARKER.len()..].trim();
                    assert!(!reason.is_empty(), "{doc}:{}: no reason given", block.line);
                    let command = block
                        .text
                        .lines()
                        .nth(1)
                        .unwrap_or_default()
                        .trim()
                        .to_owned();
                    not_run.push(command);
                    continue;
                }
                workspace.run_shell(doc, &block);
            }
            "ini" => workspace.check_ini(doc, block.line, &block.text),
            other => panic!(
                "{doc}:{}: a ```{other} block: tests/docs.rs runs ```sh and checks ```ini blocks; \
                 use one of those or teach it the new kind",
                block.line
            ),
        }
    }
    not_run
}

#[tokio::test]
async fn readme_commands_run_as_written() {
    let Some((cluster, ns)) = TestCluster::with_namespace("readme").await else {
        return;
    };
    let workspace = Workspace::new(
        vec![
            ("GATEWAY_HOST".into(), "gw.example.org".into()),
            (
                "SERVICE_HOST".into(),
                "web.default.svc.cluster.local".into(),
            ),
            (
                "TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY".into(),
                read("examples/id_ed25519.b64").trim().to_owned(),
            ),
            (
                "KUBECONFIG".into(),
                cluster.kubeconfig().display().to_string(),
            ),
        ],
        Some(ns.name().to_owned()),
    );
    let not_run = follow("README.md", &workspace);
    assert_eq!(
        not_run,
        vec![
            "make test",
            "nc -zv ${GATEWAY_HOST} 30181 && curl \"http://${GATEWAY_HOST}:30181/\"",
            "ikp list --all -n myservice            # Helm releases show MANAGER helm",
            "mkdir -p ~/.local/share/bash-completion/completions    # bash, with the bash-completion package",
        ],
        "README.md blocks marked not run"
    );
    // The blocks did what they say: keygen wrote the key pair the later blocks use, `ikp apply` installed
    // the gateway, and `golden update` found the golden files current.
    assert!(
        workspace
            .path()
            .join("private/ssh/id_ed25519.pub")
            .is_file()
    );
    let out = cluster
        .ikp()
        .args(["status", "interlink", "-n", ns.name()])
        .output()
        .expect("ikp status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let golden_changed = Command::new("diff")
        .args(["-r", "golden"])
        .arg(repo().join("golden"))
        .current_dir(workspace.path())
        .output()
        .expect("diff");
    assert!(
        golden_changed.status.success(),
        "`ikp golden update golden/` changed the golden files:\n{}",
        String::from_utf8_lossy(&golden_changed.stdout)
    );
}

/// The `config.ini` of the ConfigMap in `deploy/interlink-with-ikp.yaml`.
fn deploy_config_ini() -> String {
    let text = read("deploy/interlink-with-ikp.yaml");
    ikp::compat::readback::read_documents(&text)
        .expect("deploy/interlink-with-ikp.yaml is YAML")
        .into_iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "ikp-config")
        .and_then(|d| d["data"]["config.ini"].as_str().map(str::to_owned))
        .expect("deploy/interlink-with-ikp.yaml has the ikp-config ConfigMap with config.ini")
}

#[tokio::test]
async fn deploy_readme_commands_run_as_written() {
    let Some((cluster, ns)) = TestCluster::with_namespace("deploy-readme").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES, TUNNEL_ROLES]).await;
    let workspace = Workspace::new(Vec::new(), None);
    std::fs::write(workspace.path().join("config.ini"), deploy_config_ini()).expect("config.ini");
    std::fs::copy(identity.kubeconfig(), workspace.path().join("remote.yaml"))
        .expect("remote.yaml");
    let not_run = follow("deploy/README.md", &workspace);
    assert_eq!(
        not_run,
        vec![
            "docker build -t ikp:dev .",
            "kubectl --context remote apply -f deploy/remote-rbac.yaml -f deploy/remote-rbac-tcp-tunnel.yaml",
            "kubectl apply -f deploy/interlink-with-ikp.yaml",
        ],
        "deploy/README.md blocks marked not run"
    );
}

/// A file of the example chart of docs/charts.md: (`helm` or `ikp` or both, path, content).
fn chart_files() -> Vec<(Option<String>, String, String)> {
    fenced_blocks(&read("docs/charts.md"))
        .into_iter()
        .filter_map(|block| {
            let marker = block
                .before
                .strip_prefix("<!-- chart-file:")?
                .strip_suffix("-->")?
                .trim()
                .to_owned();
            Some(match marker.split_once(' ') {
                Some((flavour, path)) => (Some(flavour.to_owned()), path.to_owned(), block.text),
                None => (None, marker, block.text),
            })
        })
        .collect()
}

fn write_chart(dir: &Path, flavour: &str) {
    let files = chart_files();
    assert!(
        files.len() >= 6,
        "docs/charts.md lost its chart-file blocks"
    );
    for (only, path, text) in files {
        if only.as_deref().is_none_or(|f| f == flavour) {
            let target = dir.join(&path);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(target, text).expect("write chart file");
        }
    }
}

#[test]
fn charts_page_example_renders_and_its_helm_twin_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let ikp_chart = root.path().join("ikp/demo");
    let helm_chart = root.path().join("helm/demo");
    write_chart(&ikp_chart, "ikp");
    write_chart(&helm_chart, "helm");

    let expected = fenced_blocks(&read("docs/charts.md"))
        .into_iter()
        .find(|b| {
            b.before
                .starts_with("<!-- render-output: ikp render web ./demo")
        })
        .expect("docs/charts.md has the render-output block")
        .text;
    let out = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(["render", "web", "./demo"])
        .current_dir(root.path().join("ikp"))
        .output()
        .expect("ikp render");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let out = Command::new(env!("CARGO_BIN_EXE_ikp"))
        .args(["render", "web", "./demo"])
        .current_dir(root.path().join("helm"))
        .output()
        .expect("ikp render");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("demo/templates/_helpers.tpl:1:")
            && stderr.contains("Helm Go-template syntax")
            && stderr.contains("docs/charts.md"),
        "{stderr}"
    );
}

/// `benches/vs-helm.sh` called `../shared/tools/install-helm.sh`, which a clone of the repository lacks.
#[test]
fn vs_helm_script_takes_helm_from_the_environment_only() {
    let script = read("benches/vs-helm.sh");
    assert!(
        !script.contains("../shared") && !script.contains("install-helm"),
        "benches/vs-helm.sh refers to files outside the repository"
    );
    // A PATH with nothing but what the script needs before it looks for helm.
    let bin = tempfile::tempdir().unwrap();
    let which = |program: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
            .unwrap_or_else(|| panic!("{program} on PATH"))
    };
    std::os::unix::fs::symlink(which("dirname"), bin.path().join("dirname")).unwrap();
    let out = Command::new(which("bash"))
        .arg(repo().join("benches/vs-helm.sh"))
        .env_remove("HELM")
        .env("PATH", bin.path())
        .env("IKP", env!("CARGO_BIN_EXE_ikp"))
        .output()
        .expect("run vs-helm.sh");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set HELM=/path/to/helm"), "{stderr}");
}

/// The whole script with `helm` found on `PATH` and a relative `IKP=` (the README's
/// `IKP=target/dist/ikp` once failed because the script times in a scratch directory), for both charts.
/// The `helm` here is a stand-in that answers `template <release> ./helm-<chart> FLAGS` with ikp's own
/// output for `render <release> <chart> FLAGS`, so only the script's plumbing is tested.
#[test]
fn vs_helm_script_runs_with_helm_on_path_and_a_relative_ikp() {
    let bin = tempfile::tempdir().unwrap();
    let fake_helm = bin.path().join("helm");
    std::fs::write(
        &fake_helm,
        format!(
            "#!/bin/sh\nif [ \"$1\" = version ]; then echo v0.0.0-stand-in; exit 0; fi\n\
             release=\"$2\"; chart=\"${{3#./helm-}}\"; shift 3\n\
             {} render \"$release\" \"$chart\" \"$@\" | sed 's/managed-by: ikp/managed-by: Helm/'\n",
            env!("CARGO_BIN_EXE_ikp")
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &fake_helm,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // Run from the binary's directory with `IKP=ikp`: a path relative to where the script is started.
    let ikp = Path::new(env!("CARGO_BIN_EXE_ikp"));
    let out = Command::new("bash")
        .arg(repo().join("benches/vs-helm.sh"))
        .current_dir(ikp.parent().expect("binary directory"))
        .env_remove("HELM")
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("IKP", ikp.file_name().expect("binary name"))
        .env("PAIRS", "2")
        .env_remove("CHARTS")
        .output()
        .expect("run vs-helm.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for chart in ["gateway", "bastion"] {
        assert!(
            stdout.contains(&format!("{chart}: seed example, 2 pairs")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("{chart}: where ikp's time goes")),
            "{stdout}"
        );
    }
    assert_eq!(stdout.matches("identical output").count(), 2, "{stdout}");
    assert_eq!(
        stdout.matches("helm template (v0.0.0-stand-in)").count(),
        2,
        "{stdout}"
    );
    for row in [
        "| wall per process, median |",
        "| wall per process, p90 |",
        "| peak RSS, median |",
        "| process start+exit (median wall - median main) |",
        "| values |",
        "| render |",
        "| checks |",
        "| output |",
    ] {
        assert_eq!(stdout.matches(row).count(), 2, "{row}: {stdout}");
    }
}

/// The quick start once said a fresh machine needs only "the Rust toolchain". The versions it names must
/// follow `Cargo.toml`'s `rust-version` and the control plane modules' `go` directives, and it must name
/// every other tool `make test` runs.
#[test]
fn readme_prerequisites_follow_the_build_files() {
    let readme = read("README.md");
    // Words joined by single spaces, whatever the line breaks.
    let quick_start = readme[readme.find("## Quick start").expect("Quick start section")
        ..readme.find("## The tunnel").expect("next section")]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let cargo = read("Cargo.toml");
    let rust = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version")
        .trim_matches('"');
    assert!(
        quick_start.contains(&format!("Rust toolchain ({rust} or newer")),
        "README quick start does not name Rust {rust}"
    );
    for module in ["k8s", "etcd", "kwok"] {
        let go_mod = read(&format!("tests/cluster/{module}/go.mod"));
        let go = go_mod
            .lines()
            .find_map(|l| l.strip_prefix("go "))
            .expect("go directive");
        let minor: String = go.split('.').take(2).collect::<Vec<_>>().join(".");
        assert!(
            quick_start.contains(&format!("Go {minor} or newer")),
            "README quick start does not name Go {minor} (tests/cluster/{module}/go.mod says go {go})"
        );
    }
    for tool in [
        "C compiler",
        "`rustfmt`",
        "`clippy`",
        "`make`",
        "`openssl`",
        "`python3`",
        "GB of free disk",
    ] {
        assert!(
            quick_start.contains(tool),
            "README quick start does not name {tool}"
        );
    }
}

#[test]
fn fenced_blocks_keep_list_indentation_out() {
    let blocks = fenced_blocks(
        "1. Step\n\n   ```sh\n   ikp keygen \\\n     -f x\n   ```\ntext\n```ini\n[a]\n```\n",
    );
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].lang, "sh");
    assert_eq!(blocks[0].text, "ikp keygen \\\n  -f x\n");
    assert_eq!(blocks[0].line, 3);
    assert_eq!(blocks[1].before, "text");
    assert_eq!(blocks[1].text, "[a]\n");
}
