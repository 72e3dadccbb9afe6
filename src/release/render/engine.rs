//! The template engine: a chart's templates compiled once into a minijinja environment with the Helm
//! functions, executed in Helm's order against one release's values.

use std::collections::BTreeMap;

use minijinja::Environment;
use minijinja::value::Value;

use super::RenderError;
use super::functions;
use crate::release::chart::Chart;

/// Release facts the templates can read as `Release.*` (Helm's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseInfo {
    /// `Release.Name`.
    pub name: String,
    /// `Release.Namespace`.
    pub namespace: String,
    /// `Release.Service`: the tool that manages the release; the charts print it as the
    /// `app.kubernetes.io/managed-by` label.
    pub service: String,
}

impl ReleaseInfo {
    /// A release managed by ikp.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        ReleaseInfo {
            name: name.into(),
            namespace: namespace.into(),
            service: "ikp".to_owned(),
        }
    }
}

/// The text each template rendered to, before splitting into documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFiles {
    /// Manifest templates by path inside the chart (`templates/service.yaml`), `<no value>` removed.
    pub manifests: BTreeMap<String, String>,
    /// What `templates/NOTES.txt` rendered to, if the chart has one.
    pub notes: Option<String>,
}

const NOTES_PATH: &str = "templates/NOTES.txt";

/// A chart's templates, compiled and ready to render any number of releases.
pub struct ChartEngine {
    env: Environment<'static>,
    chart: Value,
    /// Templates that produce output, in Helm's execution order (deepest path first, then reverse
    /// byte order), which decides whose error is reported when several fail.
    execution_order: Vec<String>,
}

impl std::fmt::Debug for ChartEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartEngine")
            .field("execution_order", &self.execution_order)
            .finish_non_exhaustive()
    }
}

impl ChartEngine {
    /// Compiles every template of `chart`; a syntax error names the template and line.
    pub fn new(chart: &Chart) -> Result<Self, RenderError> {
        let mut env = Environment::new();
        env.set_debug(false);
        // Helm keeps a template's final newline; trimming happens later, per document.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        functions::install(&mut env);
        for file in &chart.templates {
            env.add_template_owned(file.path.clone(), file.source.clone())
                .map_err(|source| RenderError::Template {
                    template: format!("{}/{}", chart.metadata.name, file.path),
                    message: describe_template_error(&source),
                })?;
        }
        let mut execution_order: Vec<String> = chart
            .templates
            .iter()
            .map(|file| file.path.clone())
            .filter(|path| !is_partial(path))
            .collect();
        execution_order.sort_by(|a, b| {
            let depth = |p: &str| p.matches('/').count();
            depth(b).cmp(&depth(a)).then_with(|| b.cmp(a))
        });
        let chart_value = Value::from_pairs([
            ("Name", Value::from(chart.metadata.name.clone())),
            ("Version", Value::from(chart.metadata.version.clone())),
            (
                "AppVersion",
                Value::from(chart.metadata.app_version.clone().unwrap_or_default()),
            ),
            (
                "Description",
                Value::from(chart.metadata.description.clone().unwrap_or_default()),
            ),
        ]);
        Ok(ChartEngine {
            env,
            chart: chart_value,
            execution_order,
        })
    }

    /// Renders every template for one release. `values` is the merged value tree.
    pub fn render(
        &self,
        chart_name: &str,
        release: &ReleaseInfo,
        values: &serde_json::Value,
    ) -> Result<RenderedFiles, RenderError> {
        let values = template_value(values);
        let release_value = Value::from_pairs([
            ("Name", Value::from(release.name.clone())),
            ("Namespace", Value::from(release.namespace.clone())),
            ("Service", Value::from(release.service.clone())),
            ("IsInstall", Value::from(true)),
            ("IsUpgrade", Value::from(false)),
            ("Revision", Value::from(1_i64)),
        ]);
        let root = Value::from_pairs([
            ("Values", values.clone()),
            ("Chart", self.chart.clone()),
            ("Release", release_value.clone()),
        ]);
        let context = Value::from_pairs([
            ("Values", values),
            ("Chart", self.chart.clone()),
            ("Release", release_value),
            ("root", root),
        ]);
        let mut manifests = BTreeMap::new();
        let mut notes = None;
        for path in &self.execution_order {
            let template = self
                .env
                .get_template(path)
                .map_err(|source| RenderError::Template {
                    template: format!("{chart_name}/{path}"),
                    message: describe_template_error(&source),
                })?;
            let text = template
                .render(&context)
                .map_err(|source| RenderError::Template {
                    template: format!("{chart_name}/{path}"),
                    message: describe_template_error(&source),
                })?;
            // Go templates print a missing value as "<no value>" and Helm deletes every such text.
            let text = if text.contains("<no value>") {
                text.replace("<no value>", "")
            } else {
                text
            };
            if path == NOTES_PATH {
                notes = Some(text);
            } else {
                manifests.insert(path.clone(), text);
            }
        }
        Ok(RenderedFiles { manifests, notes })
    }
}

/// Files whose name starts with `_` hold helpers and never produce output.
pub(super) fn is_partial(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with('_'))
}

/// One line for a minijinja error: what went wrong and where (template and line).
fn describe_template_error(error: &minijinja::Error) -> String {
    let mut message = match error.detail() {
        Some(detail) => detail.to_owned(),
        None => error.kind().to_string(),
    };
    if let Some(name) = error.name() {
        message.push_str(&format!(" (at {name}"));
        if let Some(line) = error.line() {
            message.push_str(&format!(" line {line}"));
        }
        message.push(')');
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        if let Some(inner) = inner.downcast_ref::<minijinja::Error>() {
            let inner_message = describe_template_error(inner);
            if !message.contains(&inner_message) {
                message.push_str(": ");
                message.push_str(&inner_message);
            }
            break;
        }
        source = inner.source();
    }
    message
}

/// The values tree as template values: null becomes undefined, so that reading a field of it fails
/// as Helm's "nil pointer evaluating" does, while printing it gives nothing; float64 and int64
/// stay distinct so they print as Go prints them.
fn template_value(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::UNDEFINED,
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(int) = n.as_i64() {
                Value::from(int)
            } else if let Some(uint) = n.as_u64() {
                Value::from(uint)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            Value::from(items.iter().map(template_value).collect::<Vec<_>>())
        }
        serde_json::Value::Object(map) => Value::from_pairs(
            map.iter()
                .map(|(key, item)| (key.clone(), template_value(item))),
        ),
    }
}
