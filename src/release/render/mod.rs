//! Rendering: minijinja templates with Helm-compatible functions, Helm's output framing and ordering,
//! and the check that every rendered document is a valid Kubernetes object.
//!
//! [`render_release`] is the whole step from a merged value tree to checked, ordered manifests; the
//! submodules are its parts. Nothing here performs I/O or talks to a cluster.

pub mod engine;
pub mod functions;
pub mod manifest;
pub mod objects;
pub mod redact;
pub mod stamp;
mod strict;

pub use engine::{ChartEngine, ReleaseInfo};
pub use manifest::Manifest;

/// A release rendered, read back and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedRelease {
    /// The documents in output order (template path, then kind install order).
    pub manifests: Vec<Manifest>,
    /// `NOTES.txt` as rendered, if the chart has one.
    pub notes: Option<String>,
}

/// Why a release could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A template failed to compile or to execute.
    #[error("template {template}: {message}")]
    Template {
        /// `<chart>/templates/<file>`.
        template: String,
        /// What failed, with the line of the template.
        message: String,
    },
    /// A rendered document is not YAML.
    #[error(transparent)]
    Yaml(Box<YamlDocumentError>),
    /// A rendered document is not a valid Kubernetes object.
    #[error(transparent)]
    InvalidObject(Box<InvalidObjectError>),
}

/// A rendered document that is not YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("YAML parse error on {template} (document {document}): {message}{context}")]
pub struct YamlDocumentError {
    /// `<chart>/templates/<file>`.
    pub template: String,
    /// 1-based index of the document within that template's output.
    pub document: usize,
    /// 1-based line within the document.
    pub line: usize,
    /// The parser's message (with its line).
    pub message: String,
    /// The offending rendered line (`; the line reads: ...`), left out for Secrets.
    pub context: String,
}

/// A rendered document that is not a valid Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{template}: {kind} {name:?} field {field}: {message}{origin}")]
pub struct InvalidObjectError {
    /// `<chart>/templates/<file>`.
    pub template: String,
    /// The document's kind.
    pub kind: String,
    /// Its `metadata.name`, if any.
    pub name: String,
    /// The bad field's path.
    pub field: String,
    /// The rule it breaks.
    pub message: String,
    /// ` (from values: ...)` when the values keys are known.
    pub origin: String,
}

/// Renders a release: executes the templates, splits and reads every document as Kubernetes would,
/// orders them as Helm does, and checks each against its API type. Nothing partial is returned.
pub(super) fn render_release(
    engine: &ChartEngine,
    chart_name: &str,
    release: &ReleaseInfo,
    values: &serde_json::Value,
) -> Result<RenderedRelease, RenderError> {
    let files = engine.render(chart_name, release, values)?;
    check_rendered(chart_name, files, values)
}

/// The step of [`render_release`] after template execution: splits the rendered files into
/// documents, reads each back as Kubernetes would, orders them as Helm does and checks each
/// against its API type (`values` are the ones rendered, to name the keys behind a bad field).
pub(super) fn check_rendered(
    chart_name: &str,
    files: engine::RenderedFiles,
    values: &serde_json::Value,
) -> Result<RenderedRelease, RenderError> {
    let mut manifests = manifest::collect_documents(chart_name, &files.manifests);
    let mut document_index = 0;
    let mut previous_source = String::new();
    for manifest in &mut manifests {
        if manifest.source != previous_source {
            previous_source = manifest.source.clone();
            document_index = 0;
        }
        document_index += 1;
        let object = crate::compat::readback::read_document(&manifest.content).map_err(|err| {
            let line_text = manifest.content.lines().nth(err.line.saturating_sub(1));
            let context = match line_text {
                Some(text) if !looks_like_secret(&manifest.content) => {
                    format!("; the line reads: {}", text.trim())
                }
                _ => String::new(),
            };
            RenderError::Yaml(Box::new(YamlDocumentError {
                template: manifest.source.clone(),
                document: document_index,
                line: err.line,
                message: err.message.clone(),
                context,
            }))
        })?;
        manifest.kind = object
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        manifest.object = object;
    }
    manifest::sort_by_kind(&mut manifests);
    for manifest in &manifests {
        if manifest.object.is_null() {
            // A document of comments only creates nothing; kubectl skips it too.
            continue;
        }
        objects::check_object(&manifest.object, values).map_err(|problem| {
            let secret = manifest.kind == "Secret";
            let message = if secret && problem.field.starts_with("data") {
                "must be base64 text (the value is not shown: it is Secret data)".to_owned()
            } else {
                problem.message
            };
            let origin = if problem.values_keys.is_empty() {
                String::new()
            } else {
                format!(" (from values: {})", problem.values_keys.join(", "))
            };
            RenderError::InvalidObject(Box::new(InvalidObjectError {
                template: manifest.source.clone(),
                kind: manifest.kind.clone(),
                name: manifest
                    .object
                    .pointer("/metadata/name")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                field: if problem.field.is_empty() {
                    "(document)".to_owned()
                } else {
                    problem.field
                },
                message,
                origin,
            }))
        })?;
    }
    Ok(RenderedRelease {
        manifests,
        notes: files.notes,
    })
}

fn looks_like_secret(content: &str) -> bool {
    content.lines().any(|line| line.trim() == "kind: Secret")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::chart;
    use crate::release::values::{SetKind, ValueLayers, compose};
    use serde_json::Value;

    /// The merged values for `--set` arguments, through the values layer.
    fn values(chart: &chart::Chart, sets: &[&str]) -> Value {
        let mut layers = ValueLayers::new();
        for arg in sets {
            layers.push_set(SetKind::Set, arg);
        }
        compose(&chart.values_yaml, &layers).expect("compose").tree
    }

    fn fixture(case: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/helm-cases/{case}/stdout",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).expect("fixture").replace(
            "app.kubernetes.io/managed-by: Helm",
            "app.kubernetes.io/managed-by: ikp",
        )
    }

    fn render(chart_name: &str, release: &str, values: &Value) -> Result<String, RenderError> {
        let chart = chart::builtin(chart_name).expect("chart");
        let engine = ChartEngine::new(&chart).expect("engine");
        let rendered = render_release(
            &engine,
            chart_name,
            &ReleaseInfo::new(release, "default"),
            values,
        )?;
        Ok(manifest::format_stream(&rendered.manifests))
    }

    const RSA_PUB: &str = include_str!("../../../tests/fixtures/helm-cases/keys/id_rsa.pub");
    const RSA_B64: &str = include_str!("../../../tests/fixtures/helm-cases/keys/id_rsa.b64");

    #[test]
    fn seed_gateway_matches_helm() {
        let chart = chart::builtin("gateway").unwrap();
        let key = format!("ssh.publicKey={}", RSA_PUB.trim_end());
        let values_001 = values(&chart, &[&key]);
        assert_eq!(
            render("gateway", "msoff", &values_001).unwrap(),
            fixture("001-seed-gateway-publickey")
        );
        let values_002 = values(
            &chart,
            &[
                &key,
                "tunnel.service.sourcePort=8181",
                "tunnel.service.sourceNodePort=30181",
            ],
        );
        assert_eq!(
            render("gateway", "msoff", &values_002).unwrap(),
            fixture("002-seed-gateway-tunnel")
        );
    }

    #[test]
    fn seed_bastion_matches_helm() {
        let chart = chart::builtin("bastion").unwrap();
        let key = format!("tunnel.gateway.ssh.privateKey={}", RSA_B64.trim_end());
        let values = values(
            &chart,
            &[
                "tunnel.gateway.host=131.154.98.96",
                &key,
                "tunnel.service.gatewayPort=8181",
                "tunnel.service.targetHost=mlaas-inference-service-hep-predictor-00001.mlaas.svc.cluster.local",
                "tunnel.service.targetPort=80",
            ],
        );
        assert_eq!(
            render("bastion", "msoff", &values).unwrap(),
            fixture("003-seed-bastion")
        );
    }

    #[test]
    fn missing_public_key_is_an_object_error_naming_the_field() {
        let chart = chart::builtin("gateway").unwrap();
        let values = values(&chart, &["ssh.publicKey=null"]);
        let err = render("gateway", "msoff", &values).unwrap_err();
        assert!(
            matches!(&err, RenderError::InvalidObject(e) if e.field == "data.PUBLIC_KEY"),
            "{err}"
        );
    }

    /// The render path (chart, values, render, pipeline) must stay free of async and cluster code:
    /// no `tokio` or `kube` paths, and no module that uses them.
    #[test]
    fn render_path_does_not_use_tokio_or_kube() {
        let forbidden = regex::Regex::new(
            r"\b(tokio|kube|kube_client|kube_runtime|axum|hyper)::|use\s+(tokio|kube|axum|hyper)\b|crate::(k8s::client|plugin|deploy)\b",
        )
        .unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut pending = vec![
            root.join("release"),
            root.join("compat"),
            root.join("k8s").join("syntax.rs"),
        ];
        let mut checked = 0;
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    pending.push(entry.unwrap().path());
                }
                continue;
            }
            if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (number, line) in text.lines().enumerate() {
                    assert!(
                        !forbidden.is_match(line),
                        "{}:{}: the render path reaches an async or cluster crate: {line}",
                        path.display(),
                        number + 1
                    );
                }
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} source files checked");
    }
}
