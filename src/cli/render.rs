//! `ikp render`: the flags of `helm template`, the output of `helm template`.
//!
//! Everything is rendered and checked before the first byte is written, so an error never leaves
//! half a manifest on stdout. `apply --dry-run=client` prints through [`emit`] too.
//!
//! With the environment variable `IKP_TIMINGS` set to a non-empty value, a successful `ikp render`
//! writes one line to stderr after its output: where the process spent its time ([`Timings`]),
//! e.g. `ikp timings: load=310us values=123us render=456us checks=78us output=90us main=1100us`.
//! `load` is reading the chart (its `values.yaml` parsed) and the value files and compiling the
//! templates; `values`, `render` and `checks` are the pipeline's phases ([`PhaseTimings`]);
//! `output` is laying out and writing stdout; `main` is all of `main`, from its first line to this
//! line, so an outside wall-clock time minus `main` is the cost of starting and ending the process.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::args::{DryRunMode, NamePolicy, OutputArgs, ReleaseArgs, ReleaseRequest, compile};
use ikp::compat::toyaml::{YamlNode, to_yaml};
use ikp::release::pipeline::{PhaseTimings, Release, timed};
use ikp::release::render::manifest::{self, Manifest};
use ikp::release::render::redact::{redact_secret_document, redact_values};

/// The examples of `ikp render --help` (run by tests/cli_help.rs).
const EXAMPLES: &str = "\
Examples:
  # The gateway chart, release msoff, with the tunnel's public key from a file
  ikp render msoff gateway --set-file ssh.publicKey=examples/id_ed25519.pub

  # Only the Services, with the tunnel's port 8181 exposed as node port 30181
  ikp render msoff gateway --set-file ssh.publicKey=examples/id_ed25519.pub \\
    --set tunnel.service.sourcePort=8181 --set tunnel.service.sourceNodePort=30181 \\
    -s templates/service.yaml

  # The bastion chart, one file per template under out/bastion/templates/
  ikp render msoff bastion -n myservice --set tunnel.gateway.host=gw.example.org \\
    --set-file tunnel.gateway.ssh.privateKey=examples/id_ed25519.b64 \\
    --set tunnel.service.targetHost=web.default.svc.cluster.local --output-dir out

  # The computed values (secrets masked) on stderr and the chart's notes after the manifests
  ikp render gateway --set-file ssh.publicKey=examples/id_ed25519.pub --debug --notes";

/// Flags of `ikp render` (Helm's names, so a `helm template` command line works with `template`
/// replaced by `render`).
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLES)]
pub(super) struct RenderCmd {
    /// The release, chart and values.
    #[command(flatten)]
    release: ReleaseArgs,
    /// What to print.
    #[command(flatten)]
    output: OutputArgs,
    /// Accepted for Helm compatibility (client, server, none; also true/false): render never
    /// touches a cluster.
    #[arg(
        long = "dry-run",
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client"
    )]
    dry_run: Option<DryRunMode>,
    /// Accepted for Helm compatibility (no effect on rendering).
    #[arg(long = "create-namespace")]
    create_namespace: bool,
    /// Other `helm template` flags, accepted so Helm command lines work; they change nothing here.
    #[command(flatten)]
    helm_compat: HelmCompatFlags,
}

/// `helm template` flags with no effect on these charts (no hooks, CRDs, capabilities checks or
/// cluster access), accepted so that a Helm command line works unchanged.
#[derive(Debug, Clone, Default, clap::Args)]
struct HelmCompatFlags {
    /// Accepted for Helm compatibility (the charts do not read `.Capabilities`).
    #[arg(long = "kube-version", value_name = "VERSION", hide = true)]
    kube_version: Option<String>,
    /// Accepted for Helm compatibility (the charts do not read `.Capabilities`).
    #[arg(
        short = 'a',
        long = "api-versions",
        value_name = "VERSION",
        hide = true
    )]
    api_versions: Vec<String>,
    /// Accepted for Helm compatibility (the charts have no hooks).
    #[arg(long = "no-hooks", hide = true)]
    no_hooks: bool,
    /// Accepted for Helm compatibility (the charts have no CRDs).
    #[arg(long = "skip-crds", hide = true)]
    skip_crds: bool,
    /// Accepted for Helm compatibility (`.Release.IsUpgrade` is not read).
    #[arg(long = "is-upgrade", hide = true)]
    is_upgrade: bool,
    /// Accepted for Helm compatibility (rendering never contacts a cluster).
    #[arg(long = "validate", hide = true)]
    validate: bool,
    /// Accepted for Helm compatibility (ikp always checks objects against their API types).
    #[arg(long = "disable-openapi-validation", hide = true)]
    disable_openapi_validation: bool,
    /// Accepted for Helm compatibility (values are always validated).
    #[arg(long = "skip-schema-validation", hide = true)]
    skip_schema_validation: bool,
    /// Accepted for Helm compatibility (nothing is installed).
    #[arg(long = "wait", hide = true)]
    wait: bool,
    /// Accepted for Helm compatibility (nothing is installed).
    #[arg(long = "atomic", hide = true)]
    atomic: bool,
    /// Accepted for Helm compatibility (nothing is installed).
    #[arg(long = "timeout", value_name = "DURATION", hide = true)]
    timeout: Option<String>,
    /// Accepted for Helm compatibility.
    #[arg(long = "devel", hide = true)]
    devel: bool,
    /// Accepted for Helm compatibility.
    #[arg(long = "description", value_name = "TEXT", hide = true)]
    description: Option<String>,
}

/// The environment variable that asks `ikp render` for its [`Timings`] line.
const TIMINGS_VAR: &str = "IKP_TIMINGS";

/// Where one `ikp render` process spent its time (see the module documentation).
#[derive(Debug)]
pub(crate) struct Timings {
    /// The first line of `main`.
    started: Instant,
    /// Resolving the chart, reading the value files, compiling the templates, parsing the chart's
    /// `values.yaml`.
    load: Duration,
    /// Values, template execution and checks.
    pipeline: PhaseTimings,
    /// Laying out the documents and writing (and flushing) stdout.
    output: Duration,
}

impl Timings {
    /// Timings counted from `started` (the first line of `main`), if `IKP_TIMINGS` asks for them.
    pub(super) fn from_env(started: Instant) -> Option<Timings> {
        std::env::var_os(TIMINGS_VAR)
            .filter(|value| !value.is_empty())
            .map(|_| Timings {
                started,
                load: Duration::ZERO,
                pipeline: PhaseTimings::default(),
                output: Duration::ZERO,
            })
    }

    /// The `ikp timings: ...` line, `main` being the time since `started` until now.
    pub(crate) fn line(&self) -> String {
        let micros = |d: Duration| d.as_micros();
        format!(
            "ikp timings: load={}us values={}us render={}us checks={}us output={}us main={}us",
            micros(self.load),
            micros(self.pipeline.values),
            micros(self.pipeline.render),
            micros(self.pipeline.checks),
            micros(self.output),
            micros(self.started.elapsed()),
        )
    }
}

/// What one render produces: the stdout text and, for `--output-dir`, the files to write.
pub(super) struct RenderOutput {
    /// What goes to stdout.
    stdout: String,
    /// What `--output-dir` writes.
    files: Vec<manifest::OutputFile>,
}

impl RenderOutput {
    /// Writes the files, then the stdout text.
    pub(super) fn write(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        for file in &self.files {
            let path = Path::new(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create directory {}", parent.display()))?;
            }
            std::fs::write(path, &file.content)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        out.write_all(self.stdout.as_bytes())?;
        Ok(())
    }
}

/// `--debug`: the computed values, secrets masked, on stderr.
pub(super) fn print_computed_values(release: &Release) {
    let masked = redact_values(&release.values.tree);
    let yaml = YamlNode::from_json(&masked)
        .map(|node| to_yaml(&node))
        .unwrap_or_default();
    // Diagnostics only: a closed stderr must not stop the command.
    let _ = writeln!(
        std::io::stderr(),
        "COMPUTED VALUES (secrets masked):\n{yaml}\n"
    );
}

/// Lays out a rendered release's documents as `helm template` prints them, under the output flags;
/// `manifests` are the release's documents, possibly edited (stamped by `apply --dry-run=client`).
/// They are copied only when a flag edits or selects them.
pub(super) fn emit(
    release: &Release,
    manifests: &[Manifest],
    output: &OutputArgs,
) -> anyhow::Result<RenderOutput> {
    if output.debug {
        print_computed_values(release);
    }
    let redacted: Vec<Manifest>;
    let mut manifests = manifests;
    if output.redact_secrets {
        redacted = manifests
            .iter()
            .map(|manifest| Manifest {
                content: redact_secret_document(&manifest.content),
                ..manifest.clone()
            })
            .collect();
        manifests = &redacted;
    }
    let selected: Vec<Manifest>;
    let show_only = !output.show_only.is_empty();
    if show_only {
        selected = manifest::select_show_only(manifests, &output.show_only)?;
        manifests = &selected;
    }
    if let Some(dir) = &output.output_dir {
        let release_dir = output
            .use_release_name
            .then_some(release.release.name.as_str());
        let (files, stdout) = manifest::output_dir_files(manifests, dir, release_dir);
        return Ok(RenderOutput { stdout, files });
    }
    let mut stdout = if show_only {
        manifest::format_framed(manifests)
    } else {
        manifest::format_stream(manifests)
    };
    if output.notes
        && let Some(notes) = release.rendered.notes.as_deref()
    {
        let notes = manifest::trim_space(notes);
        if !notes.is_empty() {
            stdout.push_str(&format!("\nNOTES:\n{notes}\n"));
        }
    }
    Ok(RenderOutput {
        stdout,
        files: Vec::new(),
    })
}

/// Renders everything the command asks for without writing anything. `base` is the directory
/// that relative chart, `-f` and `--set-file` paths are taken from (default: the current one).
/// With `timings`, each phase's time is added to it. The release comes back with the output, for
/// the caller to keep or drop.
fn produce(
    cmd: &RenderCmd,
    base: Option<&Path>,
    mut timings: Option<&mut Timings>,
) -> anyhow::Result<(RenderOutput, Release)> {
    let (request, renderer) = timed(
        timings.as_deref_mut().map(|t| &mut t.load),
        || -> anyhow::Result<_> {
            let ReleaseRequest {
                name,
                namespace,
                chart,
                layers,
            } = cmd.release.resolve(NamePolicy::TemplateDefault, base)?;
            Ok(((name, namespace, layers), compile(chart)?))
        },
    )?;
    let (name, namespace, layers) = request;
    let release = renderer.render_timed(
        &name,
        &namespace,
        &layers,
        timings.as_deref_mut().map(|t| &mut t.pipeline),
    )?;
    let output = timed(timings.map(|t| &mut t.output), || {
        emit(&release, &release.rendered.manifests, &cmd.output)
    })?;
    Ok((output, release))
}

/// Renders a command whose relative paths are taken from `base` and returns what it would print
/// (used by `ikp golden`); `--output-dir` is not allowed there.
pub(super) fn render_in_dir(cmd: &RenderCmd, base: &Path) -> anyhow::Result<String> {
    anyhow::ensure!(
        cmd.output.output_dir.is_none(),
        "--output-dir cannot be used in a golden case"
    );
    Ok(produce(cmd, Some(base), None)?.0.stdout)
}

/// Runs `ikp render`; with `timings`, adds each phase's time to it (stdout is flushed within
/// `output`).
pub(super) fn run(
    cmd: RenderCmd,
    out: &mut dyn Write,
    mut timings: Option<&mut Timings>,
) -> anyhow::Result<ExitCode> {
    let (output, release) = produce(&cmd, None, timings.as_deref_mut())?;
    // The process exits after this command: freeing the release's trees one node at a time would
    // cost more than rendering them took, and the kernel takes the memory back at exit anyway.
    std::mem::forget(release);
    timed(timings.map(|t| &mut t.output), || -> anyhow::Result<()> {
        output.write(out)?;
        out.flush()?;
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
