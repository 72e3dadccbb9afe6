//! `ikp render`: the flags of `helm template`, the output of `helm template`.
//!
//! Everything is rendered and checked before the first byte is written, so an error never leaves
//! half a manifest on stdout.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use super::values_args::ValuesArgs;
use ikp::chart;
use ikp::pipeline::{Release, Renderer};
use ikp::render::manifest::{self, Manifest};
use ikp::render::redact::{redact_secret_document, redact_values};
use ikp::render::toyaml::{YamlNode, to_yaml};

/// Flags of `ikp render` (Helm's names, so a `helm template` command line works with `template`
/// replaced by `render`).
#[derive(Debug, clap::Args)]
pub struct RenderCmd {
    /// `[NAME] CHART`: the release name (default `release-name`) and a chart directory or the
    /// name of a built-in chart (gateway, bastion).
    #[arg(value_name = "[NAME] CHART", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    /// Namespace of the release.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
    /// Values flags (`-f`, `--set`, ...).
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Only print the documents of templates matching this path glob (`templates/service.yaml`);
    /// repeatable, printed in flag order.
    #[arg(short = 's', long = "show-only", value_name = "PATH")]
    pub show_only: Vec<String>,
    /// Write each template's documents to `DIR/<chart>/templates/<file>` instead of stdout.
    #[arg(long = "output-dir", value_name = "DIR")]
    pub output_dir: Option<String>,
    /// With `--output-dir`: put the files under `DIR/<release name>/`.
    #[arg(long = "release-name")]
    pub use_release_name: bool,
    /// Release name to use when NAME is not given (a literal name).
    #[arg(long = "name-template", value_name = "NAME")]
    pub name_template: Option<String>,
    /// Generate the release name (`<chart>-<unix time>`) when NAME is not given.
    #[arg(short = 'g', long = "generate-name")]
    pub generate_name: bool,
    /// Print the computed values (secrets masked) to stderr.
    #[arg(long = "debug")]
    pub debug: bool,
    /// Accepted for Helm compatibility: render never touches a cluster.
    #[arg(
        long = "dry-run",
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client"
    )]
    pub dry_run: Option<String>,
    /// Accepted for Helm compatibility (no effect on rendering).
    #[arg(long = "create-namespace")]
    pub create_namespace: bool,
    /// Accepted for Helm compatibility (the charts have no tests).
    #[arg(long = "skip-tests")]
    pub skip_tests: bool,
    /// Accepted for Helm compatibility (the charts have no CRDs).
    #[arg(long = "include-crds")]
    pub include_crds: bool,
    /// Other `helm template` flags, accepted so Helm command lines work; they change nothing here.
    #[command(flatten)]
    pub helm_compat: HelmCompatFlags,
    /// Replace the values of Secret `data`/`stringData` with a marker and a short hash.
    #[arg(long = "redact-secrets")]
    pub redact_secrets: bool,
    /// Print the chart's NOTES.txt after the manifests, as `helm install` does.
    #[arg(long = "notes")]
    pub notes: bool,
}

/// `helm template` flags with no effect on these charts (no hooks, CRDs, capabilities checks or
/// cluster access), accepted so that a Helm command line works unchanged.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HelmCompatFlags {
    /// Accepted for Helm compatibility (the charts do not read `.Capabilities`).
    #[arg(long = "kube-version", value_name = "VERSION", hide = true)]
    pub kube_version: Option<String>,
    /// Accepted for Helm compatibility (the charts do not read `.Capabilities`).
    #[arg(
        short = 'a',
        long = "api-versions",
        value_name = "VERSION",
        hide = true
    )]
    pub api_versions: Vec<String>,
    /// Accepted for Helm compatibility (the charts have no hooks).
    #[arg(long = "no-hooks", hide = true)]
    pub no_hooks: bool,
    /// Accepted for Helm compatibility (the charts have no CRDs).
    #[arg(long = "skip-crds", hide = true)]
    pub skip_crds: bool,
    /// Accepted for Helm compatibility (`.Release.IsUpgrade` is not read).
    #[arg(long = "is-upgrade", hide = true)]
    pub is_upgrade: bool,
    /// Accepted for Helm compatibility (rendering never contacts a cluster).
    #[arg(long = "validate", hide = true)]
    pub validate: bool,
    /// Accepted for Helm compatibility (ikp always checks objects against their API types).
    #[arg(long = "disable-openapi-validation", hide = true)]
    pub disable_openapi_validation: bool,
    /// Accepted for Helm compatibility (values are always validated).
    #[arg(long = "skip-schema-validation", hide = true)]
    pub skip_schema_validation: bool,
    /// Accepted for Helm compatibility (nothing is installed).
    #[arg(long = "wait", hide = true)]
    pub wait: bool,
    /// Accepted for Helm compatibility (nothing is installed).
    #[arg(long = "atomic", hide = true)]
    pub atomic: bool,
    /// Accepted for Helm compatibility (nothing is installed).
    #[arg(long = "timeout", value_name = "DURATION", hide = true)]
    pub timeout: Option<String>,
    /// Accepted for Helm compatibility.
    #[arg(long = "devel", hide = true)]
    pub devel: bool,
    /// Accepted for Helm compatibility.
    #[arg(long = "description", value_name = "TEXT", hide = true)]
    pub description: Option<String>,
}

/// Release name and chart argument from the positional arguments.
fn name_and_chart(cmd: &RenderCmd) -> anyhow::Result<(Option<String>, String)> {
    match cmd.args.as_slice() {
        [chart] => Ok((None, chart.clone())),
        [name, chart] => Ok((Some(name.clone()), chart.clone())),
        _ => anyhow::bail!("expected [NAME] CHART"),
    }
}

fn release_name(
    cmd: &RenderCmd,
    given: Option<String>,
    chart_name: &str,
) -> anyhow::Result<String> {
    if let Some(name) = given {
        return Ok(name);
    }
    if let Some(template) = &cmd.name_template {
        anyhow::ensure!(
            !template.contains("{{"),
            "--name-template {template:?}: only a literal name is supported (no template functions)"
        );
        return Ok(template.clone());
    }
    if cmd.generate_name {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        return Ok(format!("{chart_name}-{seconds}"));
    }
    Ok("release-name".to_owned())
}

fn build_release(cmd: &RenderCmd, base: Option<&Path>) -> anyhow::Result<Release> {
    let (given_name, chart_arg) = name_and_chart(cmd)?;
    let chart = match base {
        Some(dir) if dir.join(&chart_arg).is_dir() => chart::load_dir(&dir.join(&chart_arg))?,
        _ => chart::resolve(&chart_arg)?,
    };
    let name = release_name(cmd, given_name, &chart.metadata.name)?;
    let mut values = cmd.values.clone();
    if let Some(dir) = base {
        for file in &mut values.values {
            if file.as_os_str() != "-" && file.is_relative() {
                *file = dir.join(&*file);
            }
        }
    }
    let mut layers = values.to_layers()?;
    if let Some(dir) = base {
        layers.set_file_base(dir.to_owned());
    }
    let renderer = Renderer::new(chart)?;
    let release = renderer.render(&name, &cmd.namespace, &layers)?;
    Ok(release)
}

/// What one render produces: the stdout text and, for `--output-dir`, the files to write.
struct RenderOutput {
    stdout: String,
    files: Vec<manifest::OutputFile>,
}

/// Renders everything the command asks for without writing anything. `base` is the directory
/// that relative chart, `-f` and `--set-file` paths are taken from (default: the current one).
fn produce(cmd: &RenderCmd, base: Option<&Path>) -> anyhow::Result<RenderOutput> {
    let release = build_release(cmd, base)?;
    if cmd.debug {
        let masked = redact_values(&release.values.tree);
        let yaml = YamlNode::from_json(&masked)
            .map(|node| to_yaml(&node))
            .unwrap_or_default();
        // Diagnostics only: a closed stderr must not stop the render.
        let _ = writeln!(
            std::io::stderr(),
            "COMPUTED VALUES (secrets masked):\n{yaml}\n"
        );
    }
    let mut manifests: Vec<Manifest> = release.rendered.manifests.clone();
    if cmd.redact_secrets {
        for manifest in &mut manifests {
            manifest.content = redact_secret_document(&manifest.content);
        }
    }
    let show_only = !cmd.show_only.is_empty();
    if show_only {
        manifests = manifest::select_show_only(&manifests, &cmd.show_only)?;
    }
    if let Some(dir) = &cmd.output_dir {
        let release_dir = cmd
            .use_release_name
            .then_some(release.release.name.as_str());
        let (files, stdout) = manifest::output_dir_files(&manifests, dir, release_dir);
        return Ok(RenderOutput { stdout, files });
    }
    let mut stdout = if show_only {
        manifest::format_framed(&manifests)
    } else {
        manifest::format_stream(&manifests)
    };
    if cmd.notes
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

/// Renders a command whose relative paths are taken from `base` and returns what it would print
/// (used by `ikp golden`); `--output-dir` is not allowed there.
pub fn render_in_dir(cmd: &RenderCmd, base: &Path) -> anyhow::Result<String> {
    anyhow::ensure!(
        cmd.output_dir.is_none(),
        "--output-dir cannot be used in a golden case"
    );
    Ok(produce(cmd, Some(base))?.stdout)
}

/// Runs `ikp render`.
pub fn run(cmd: RenderCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let output = produce(&cmd, None)?;
    for file in &output.files {
        let path = Path::new(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create directory {}", parent.display()))?;
        }
        std::fs::write(path, &file.content)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    out.write_all(output.stdout.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
