//! The render pipeline: chart + release name + value layers → composed values → validation →
//! rendered, read-back and checked manifests. `ikp render`, `apply`, `diff` and `serve` all go
//! through [`Renderer::render`], so what is applied is exactly what `render` prints.

use std::time::{Duration, Instant};

use std::sync::OnceLock;

use crate::release::chart::Chart;
use crate::release::render::{
    ChartEngine, ReleaseInfo, RenderError, RenderedRelease, check_rendered, render_release,
};
use crate::release::values::{
    ChartKind, ValidationErrors, ValueLayers, Values, ValuesError, compose_over, parse_defaults,
    validate,
};

/// Helm's longest release name (names of objects get suffixes appended).
pub(crate) const MAX_RELEASE_NAME: usize = 53;

/// Why a release could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The release name breaks Helm's rules.
    #[error("release name {name:?}: {rule}")]
    InvalidReleaseName {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The value layers could not be merged.
    #[error(transparent)]
    Values(#[from] ValuesError),
    /// The values break the chart's rules (every problem is listed).
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    /// The chart's templates do not compile.
    #[error("chart {chart}: {error}")]
    Chart {
        /// The chart's name.
        chart: String,
        /// What failed (part of the message, so not also chained as `source()`).
        error: RenderError,
    },
    /// Rendering or the check of the rendered objects failed.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Checks a release name against Helm's rules: at most 53 characters, a DNS-1123 subdomain.
pub(crate) fn validate_release_name(name: &str) -> Result<(), PipelineError> {
    if name.is_empty() {
        return Err(PipelineError::InvalidReleaseName {
            name: name.to_owned(),
            rule: "must not be empty".to_owned(),
        });
    }
    if name.len() > MAX_RELEASE_NAME {
        return Err(PipelineError::InvalidReleaseName {
            name: name.to_owned(),
            rule: format!(
                "is {} characters long; at most {MAX_RELEASE_NAME} are allowed",
                name.len()
            ),
        });
    }
    if !crate::k8s::syntax::is_dns1123_subdomain(name) {
        return Err(PipelineError::InvalidReleaseName {
            name: name.to_owned(),
            rule: "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (a DNS-1123 subdomain)".to_owned(),
        });
    }
    Ok(())
}

/// The built-in chart `name` (gateway or bastion), compiled once per process: `ikp golden check`
/// renders it for every case, and compiling its templates and reading its defaults cost more than
/// a render.
pub fn builtin_renderer(name: &str) -> Option<&'static Renderer> {
    static GATEWAY: OnceLock<Option<Renderer>> = OnceLock::new();
    static BASTION: OnceLock<Option<Renderer>> = OnceLock::new();
    let cell = match name {
        "gateway" => &GATEWAY,
        "bastion" => &BASTION,
        _ => return None,
    };
    cell.get_or_init(|| {
        crate::release::chart::builtin(name).and_then(|chart| Renderer::new(chart).ok())
    })
    .as_ref()
}

/// A release, rendered and checked.
#[derive(Debug, Clone)]
pub struct Release {
    /// The chart's name (the `# Source:` prefix).
    pub chart_name: String,
    /// Release name and namespace.
    pub release: ReleaseInfo,
    /// The merged values, with their origins.
    pub values: Values,
    /// The manifests in output order, and the notes.
    pub rendered: RenderedRelease,
}

/// Where the time of one [`Renderer::render_timed`] went, phase by phase (`ikp render` prints it
/// when `IKP_TIMINGS` is set). A phase that was not reached stays zero.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PhaseTimings {
    /// Checking the release name, composing the value layers and validating the values (the
    /// values schema included).
    pub values: Duration,
    /// Executing the templates.
    pub render: Duration,
    /// Splitting the rendered files into documents, reading each back as YAML, ordering them and
    /// checking each object.
    pub checks: Duration,
}

/// Runs `step`, adding how long it took to `slot` when there is one; without a slot it only runs
/// `step` (no clock is read), so untimed callers pay nothing.
pub fn timed<T>(slot: Option<&mut Duration>, step: impl FnOnce() -> T) -> T {
    match slot {
        None => step(),
        Some(slot) => {
            let start = Instant::now();
            let result = step();
            *slot += start.elapsed();
            result
        }
    }
}

/// A chart compiled once, ready to render releases.
#[derive(Debug)]
pub struct Renderer {
    chart: Chart,
    engine: ChartEngine,
    /// The chart's `values.yaml`, read once.
    defaults: serde_json::Map<String, serde_json::Value>,
}

impl Renderer {
    /// Compiles the chart's templates.
    pub fn new(chart: Chart) -> Result<Self, PipelineError> {
        let engine = ChartEngine::new(&chart).map_err(|error| PipelineError::Chart {
            chart: chart.metadata.name.clone(),
            error,
        })?;
        let defaults = parse_defaults(&chart.values_yaml)?;
        Ok(Renderer {
            chart,
            engine,
            defaults,
        })
    }

    /// The chart being rendered.
    pub fn chart(&self) -> &Chart {
        &self.chart
    }

    /// Composes the values, validates them and the release name (for the gateway and bastion
    /// charts; other chart directories get the object checks only), renders and checks every
    /// document.
    pub fn render(
        &self,
        release_name: &str,
        namespace: &str,
        layers: &ValueLayers,
    ) -> Result<Release, PipelineError> {
        self.render_timed(release_name, namespace, layers, None)
    }

    /// [`Renderer::render`], adding the time of each phase to `timings` when given.
    pub fn render_timed(
        &self,
        release_name: &str,
        namespace: &str,
        layers: &ValueLayers,
        mut timings: Option<&mut PhaseTimings>,
    ) -> Result<Release, PipelineError> {
        let values = timed(
            timings.as_deref_mut().map(|t| &mut t.values),
            || -> Result<Values, PipelineError> {
                validate_release_name(release_name)?;
                let values = compose_over(&self.defaults, layers)?;
                if let Ok(kind) = self.chart.metadata.name.parse::<ChartKind>() {
                    validate(kind, release_name, &values)?;
                }
                Ok(values)
            },
        )?;
        let release = ReleaseInfo::new(release_name, namespace);
        let chart_name = self.chart.metadata.name.as_str();
        let files = timed(timings.as_deref_mut().map(|t| &mut t.render), || {
            self.engine.render(chart_name, &release, &values.tree)
        })?;
        let rendered = timed(timings.map(|t| &mut t.checks), || {
            check_rendered(chart_name, files, &values.tree)
        })?;
        Ok(Release {
            chart_name: self.chart.metadata.name.clone(),
            release,
            values,
            rendered,
        })
    }

    /// Renders an already composed value tree (the step after validation).
    pub fn render_values(
        &self,
        release: &ReleaseInfo,
        values: &serde_json::Value,
    ) -> Result<RenderedRelease, RenderError> {
        render_release(&self.engine, &self.chart.metadata.name, release, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fullname_is_what_the_charts_helper_prints() {
        use crate::release::values::validate::fullname;
        use crate::release::values::{ChartKind, SetKind};
        let long_override = format!("{}-b", "a".repeat(62));
        let cases: [(&str, Option<&str>, Option<&str>); 6] = [
            ("rel", None, None),
            ("my-gateway-x", None, None),
            ("rel", Some("gw"), None),
            ("gw-1", Some("gw"), None),
            ("rel", None, Some("custom-name")),
            ("rel", Some("gw"), Some(long_override.as_str())),
        ];
        for kind in [ChartKind::Gateway, ChartKind::Bastion] {
            let chart = crate::release::chart::builtin(kind.name()).expect("chart");
            let renderer = Renderer::new(chart).expect("compiles");
            for (release, name_override, fullname_override) in cases {
                let mut layers = ValueLayers::new();
                let sets = match kind {
                    // No NodePort Service: its longer name would refuse the longest case.
                    ChartKind::Gateway => vec![
                        "service.port=null".to_owned(),
                        format!(
                            "ssh.publicKey={}",
                            include_str!("../../tests/fixtures/tunnel/id_ed25519.pub").trim()
                        ),
                    ],
                    ChartKind::Bastion => vec![
                        "tunnel.gateway.host=gw.example.org".to_owned(),
                        format!(
                            "tunnel.gateway.ssh.privateKey={}",
                            include_str!("../../tests/fixtures/tunnel/id_ed25519.b64").trim()
                        ),
                        "tunnel.service.targetHost=svc".to_owned(),
                    ],
                };
                for set in sets {
                    layers.push_set(SetKind::Set, &set);
                }
                if let Some(name) = name_override {
                    layers.push_set(SetKind::Set, &format!("nameOverride={name}"));
                }
                if let Some(full) = fullname_override {
                    layers.push_set(SetKind::Set, &format!("fullnameOverride={full}"));
                }
                let rendered = renderer.render(release, "ns", &layers).expect("renders");
                let names: Vec<&str> = rendered
                    .rendered
                    .manifests
                    .iter()
                    .filter(|m| m.kind == "Deployment")
                    .filter_map(|m| m.object["metadata"]["name"].as_str())
                    .collect();
                let name = name_override.unwrap_or(kind.name());
                let expected = fullname(release, name, fullname_override).expect("no cut");
                assert_eq!(
                    names,
                    [expected.as_str()],
                    "{kind} {release} {name_override:?} {fullname_override:?}"
                );
            }
        }
    }

    #[test]
    fn release_names_follow_helm() {
        validate_release_name("msoff").unwrap();
        validate_release_name("my.rel.v1").unwrap();
        validate_release_name(&"a".repeat(53)).unwrap();
        assert!(validate_release_name(&"a".repeat(54)).is_err());
        assert!(validate_release_name("My_Release").is_err());
        assert!(validate_release_name("-a").is_err());
        assert!(validate_release_name("").is_err());
    }
}
