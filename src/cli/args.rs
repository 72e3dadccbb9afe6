//! The release arguments `render`, `apply` and `diff` share, and the one place they are resolved.
//!
//! Two stages: clap fills [`ReleaseArgs`] with what was typed; [`ReleaseArgs::resolve`] turns it into
//! a [`ReleaseRequest`] — which chart, which release name, which value layers — so every command
//! follows the same rules. The one rule Helm itself gives two answers to, a missing release name, is
//! the caller's [`NamePolicy`].

use std::path::{Path, PathBuf};

use ikp::release::chart::{self, Chart, ChartOrigin};
use ikp::release::pipeline::{self, Release, Renderer};
use ikp::release::values::{SetKind, ValueLayers, ValuesError, limits};

use super::UsageError;

/// Default namespace, as with kubectl and Helm when the kubeconfig names none.
pub(super) const DEFAULT_NAMESPACE: &str = "default";

/// The release name `helm template` uses when none is given.
const TEMPLATE_RELEASE_NAME: &str = "release-name";

/// Values flags, exactly as `helm template` takes them. Helm applies them by type, not by
/// position: `-f` files, then `--set-json`, `--set`, `--set-string`, `--set-file`,
/// `--set-literal` (each type in the order given).
#[derive(Debug, Clone, Default, clap::Args)]
struct ValuesArgs {
    /// Values file (YAML); repeatable, comma-separated lists allowed, `-` reads stdin.
    #[arg(
        short = 'f',
        long = "values",
        value_name = "FILE",
        value_delimiter = ','
    )]
    values: Vec<PathBuf>,
    /// Set values: `key=value[,key=value]`, typed like Helm (`true`, `null`, ints, else strings).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Set string values: `key=value[,key=value]`, never converted.
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    set_string: Vec<String>,
    /// Set JSON values: `key=JSON[,key=JSON]` (numbers become floats, as in Helm).
    #[arg(long = "set-json", value_name = "KEY=JSON")]
    set_json: Vec<String>,
    /// Set values from files: `key=path[,key=path]`, read verbatim (relative to the current directory).
    #[arg(long = "set-file", value_name = "KEY=PATH")]
    set_file: Vec<String>,
    /// Set one literal string value: `key=value`; everything after the first `=`, commas included.
    #[arg(long = "set-literal", value_name = "KEY=VALUE")]
    set_literal: Vec<String>,
}

impl ValuesArgs {
    /// Reads the `-f` files (a missing file is an error naming it) and collects the flags into
    /// layers. Relative `-f` and `--set-file` paths are taken from `base` when given (a golden
    /// case's directory), else from the current directory.
    fn to_layers(&self, base: Option<&Path>) -> Result<ValueLayers, ValuesError> {
        let mut layers = ValueLayers::new();
        if let Some(dir) = base {
            layers.set_file_base(dir.to_owned());
        }
        for file in &self.values {
            // Reads are bounded: `-f /dev/zero` fails after 5 MiB instead of filling memory.
            let contents = if file.as_os_str() == "-" {
                limits::read_limited(std::io::stdin().lock()).map_err(|error| {
                    ValuesError::ValuesFileRead {
                        file: "stdin".into(),
                        error,
                    }
                })?
            } else {
                let path = match base {
                    Some(dir) if file.is_relative() => dir.join(file),
                    _ => file.clone(),
                };
                limits::read_file_limited(&path).map_err(|error| ValuesError::ValuesFileRead {
                    file: path.display().to_string(),
                    error,
                })?
            };
            layers.push_values_file(file.clone(), contents)?;
        }
        let groups = [
            (SetKind::Json, &self.set_json),
            (SetKind::Set, &self.set),
            (SetKind::String, &self.set_string),
            (SetKind::File, &self.set_file),
            (SetKind::Literal, &self.set_literal),
        ];
        for (kind, args) in groups {
            for arg in args {
                layers.push_set(kind, arg);
            }
        }
        Ok(layers)
    }
}

/// The release and chart to render: what `render`, `apply` and `diff` all take.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct ReleaseArgs {
    /// `[NAME] CHART`: the release name and a chart directory or the name of a built-in chart
    /// (gateway, bastion). `render` names a release left unnamed `release-name`; `apply` and
    /// `diff` need NAME, `--generate-name` or `--name-template`.
    #[arg(value_name = "[NAME] CHART", num_args = 1..=2, required = true)]
    args: Vec<String>,
    /// Namespace of the release.
    #[arg(short = 'n', long = "namespace", value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    /// Release name to use when NAME is not given (a literal name).
    #[arg(long = "name-template", value_name = "NAME")]
    name_template: Option<String>,
    /// Generate the release name (`<chart>-<unix time>`) when NAME is not given.
    #[arg(short = 'g', long = "generate-name")]
    generate_name: bool,
    /// Values flags (`-f`, `--set`, ...).
    #[command(flatten)]
    values: ValuesArgs,
}

/// What a command does with a release left unnamed, following the Helm command it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NamePolicy {
    /// `helm template`: the release is called `release-name`.
    TemplateDefault,
    /// `helm install`: a name is required, unless `--generate-name` or `--name-template` gives one.
    Required,
}

/// A release resolved from [`ReleaseArgs`]: ready to render.
#[derive(Debug)]
pub(super) struct ReleaseRequest {
    /// The release name.
    pub(super) name: String,
    /// The release namespace.
    pub(super) namespace: String,
    /// The chart.
    pub(super) chart: Chart,
    /// The user's value layers.
    pub(super) layers: ValueLayers,
}

impl ReleaseArgs {
    /// Resolves the chart, the release name and the value layers. Relative chart, `-f` and
    /// `--set-file` paths are taken from `base` when given, else from the current directory.
    pub(super) fn resolve(
        &self,
        policy: NamePolicy,
        base: Option<&Path>,
    ) -> anyhow::Result<ReleaseRequest> {
        let (given_name, chart_arg) = match self.args.as_slice() {
            [chart] => (None, chart),
            [name, chart] => (Some(name), chart),
            _ => anyhow::bail!("expected [NAME] CHART"),
        };
        let chart = match base {
            Some(dir) if dir.join(chart_arg).is_dir() => chart::load_dir(&dir.join(chart_arg))?,
            _ => chart::resolve(chart_arg)?,
        };
        let name = match given_name {
            Some(name) => name.clone(),
            None => self.default_name(policy, &chart.metadata.name)?,
        };
        Ok(ReleaseRequest {
            name,
            namespace: self.namespace.clone(),
            chart,
            layers: self.values.to_layers(base)?,
        })
    }

    /// The name of a release given without NAME: `--name-template`, `--generate-name`, else what
    /// the policy says.
    fn default_name(&self, policy: NamePolicy, chart_name: &str) -> anyhow::Result<String> {
        if let Some(template) = &self.name_template {
            anyhow::ensure!(
                !template.contains("{{"),
                "--name-template {template:?}: only a literal name is supported (no template functions)"
            );
            return Ok(template.clone());
        }
        if self.generate_name {
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            return Ok(format!("{chart_name}-{seconds}"));
        }
        match policy {
            NamePolicy::TemplateDefault => Ok(TEMPLATE_RELEASE_NAME.to_owned()),
            NamePolicy::Required => Err(UsageError(
                "a release name is required: pass NAME CHART, --generate-name or --name-template"
                    .to_owned(),
            )
            .into()),
        }
    }
}

impl ReleaseRequest {
    /// Renders the release through the render pipeline (values composed and validated, objects
    /// checked); never calls a cluster.
    pub(super) fn render(self) -> anyhow::Result<Release> {
        let renderer = compile(self.chart)?;
        Ok(renderer.render(&self.name, &self.namespace, &self.layers)?)
    }
}

/// A compiled chart: a built-in chart's pipeline, compiled once per process and shared (`ikp golden
/// check` renders one for every case), or a chart directory's own.
pub(super) enum CompiledChart {
    /// A built-in chart.
    Shared(&'static Renderer),
    /// A chart directory.
    Own(Box<Renderer>),
}

impl std::ops::Deref for CompiledChart {
    type Target = Renderer;

    fn deref(&self) -> &Renderer {
        match self {
            CompiledChart::Shared(renderer) => renderer,
            CompiledChart::Own(renderer) => renderer,
        }
    }
}

/// Compiles `chart`, or takes the process's compiled copy of a built-in chart.
pub(super) fn compile(chart: Chart) -> anyhow::Result<CompiledChart> {
    if matches!(chart.origin, ChartOrigin::Embedded)
        && let Some(renderer) = pipeline::builtin_renderer(&chart.metadata.name)
    {
        return Ok(CompiledChart::Shared(renderer));
    }
    Ok(CompiledChart::Own(Box::new(Renderer::new(chart)?)))
}

/// What `--dry-run` simulates; Helm's values, including its `true`/`false` spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum DryRunMode {
    /// Print the objects that would be applied, as `render` does; no cluster call (also `true`).
    #[value(alias = "true")]
    Client,
    /// Send every object to the API server with `dryRun=All` and report its verdict; nothing is stored.
    Server,
    /// No dry run (also `false`).
    #[value(alias = "false")]
    None,
}

/// The flags that choose what a rendered release prints: `render`'s, also taken by `apply` (where
/// they shape the `--dry-run=client` output, or are refused with the reason when they cannot apply).
#[derive(Debug, Clone, Default, clap::Args)]
pub(super) struct OutputArgs {
    /// Only print the documents of templates matching this path glob (`templates/service.yaml`);
    /// repeatable, printed in flag order.
    #[arg(short = 's', long = "show-only", value_name = "PATH")]
    pub(super) show_only: Vec<String>,
    /// Write each template's documents to `DIR/<chart>/templates/<file>` instead of stdout.
    #[arg(long = "output-dir", value_name = "DIR")]
    pub(super) output_dir: Option<String>,
    /// With `--output-dir`: put the files under `DIR/<release name>/`.
    #[arg(long = "release-name")]
    pub(super) use_release_name: bool,
    /// Print the computed values (secrets masked) to stderr.
    #[arg(long = "debug")]
    pub(super) debug: bool,
    /// Print the chart's NOTES.txt after the manifests, as `helm install` does.
    #[arg(long = "notes")]
    pub(super) notes: bool,
    /// Replace the values of Secret `data`/`stringData` with a marker and a short hash.
    #[arg(long = "redact-secrets")]
    pub(super) redact_secrets: bool,
    /// Accepted for Helm compatibility (the charts have no tests).
    #[arg(long = "skip-tests")]
    pub(super) skip_tests: bool,
    /// Accepted for Helm compatibility (the charts have no CRDs).
    #[arg(long = "include-crds")]
    pub(super) include_crds: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        release: ReleaseArgs,
    }

    fn probe(args: &[&str]) -> ReleaseArgs {
        Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied()))
            .expect("parse")
            .release
    }

    #[test]
    fn values_flags_parse_and_keep_order() {
        let release = probe(&[
            "gateway",
            "--set-string",
            "a=S",
            "--set",
            "a=1",
            "-f",
            "x.yaml,y.yaml",
            "--values",
            "z.yaml",
            "--set",
            "b=2",
            "--set-literal",
            "c=1,2",
        ]);
        let values = release.values;
        assert_eq!(values.set, vec!["a=1", "b=2"]);
        assert_eq!(values.set_string, vec!["a=S"]);
        assert_eq!(values.set_literal, vec!["c=1,2"]);
        assert_eq!(
            values.values,
            vec![
                PathBuf::from("x.yaml"),
                PathBuf::from("y.yaml"),
                PathBuf::from("z.yaml")
            ]
        );
    }

    #[test]
    fn missing_values_file_names_the_path() {
        let args = ValuesArgs {
            values: vec![PathBuf::from("/nonexistent/values.yaml")],
            ..Default::default()
        };
        let err = args.to_layers(None).expect_err("missing");
        assert!(
            err.to_string().contains("/nonexistent/values.yaml"),
            "{err}"
        );
    }

    #[test]
    fn unnamed_release_follows_the_command_policy() {
        let request = probe(&["gateway"])
            .resolve(NamePolicy::TemplateDefault, None)
            .expect("template default");
        assert_eq!(request.name, "release-name");
        let err = probe(&["gateway"])
            .resolve(NamePolicy::Required, None)
            .expect_err("install needs a name");
        assert!(err.to_string().contains("--generate-name"), "{err}");
        for policy in [NamePolicy::TemplateDefault, NamePolicy::Required] {
            let named = probe(&["--name-template", "lit", "gateway"])
                .resolve(policy, None)
                .expect("literal template");
            assert_eq!(named.name, "lit");
            let generated = probe(&["-g", "bastion"])
                .resolve(policy, None)
                .expect("generated");
            assert!(generated.name.starts_with("bastion-"), "{}", generated.name);
            let given = probe(&["rel", "gateway", "-n", "ns"])
                .resolve(policy, None)
                .expect("given");
            assert_eq!(
                (given.name.as_str(), given.namespace.as_str()),
                ("rel", "ns")
            );
        }
    }

    #[test]
    fn relative_paths_are_taken_from_the_base_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("v.yaml"), "ssh:\n  userName: from-file\n").expect("v");
        let key = include_str!("../../examples/id_ed25519.pub");
        std::fs::write(dir.path().join("k.pub"), key).expect("k");
        let request = probe(&[
            "rel",
            "gateway",
            "-f",
            "v.yaml",
            "--set-file",
            "ssh.publicKey=k.pub",
        ])
        .resolve(NamePolicy::Required, Some(dir.path()))
        .expect("resolve");
        let release = request.render().expect("render");
        assert_eq!(release.values.tree["ssh"]["userName"], "from-file");
        assert_eq!(release.values.tree["ssh"]["publicKey"], key);
    }
}
