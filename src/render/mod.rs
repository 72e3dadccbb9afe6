//! Rendering: minijinja templates with Helm-compatible functions, Helm's output framing and ordering,
//! and the check that every rendered document is a valid Kubernetes object.
//!
//! [`render_release`] is the whole step from a merged value tree to checked, ordered manifests; the
//! submodules are its parts. Nothing here performs I/O or talks to a cluster.

pub mod engine;
pub mod functions;
pub mod gofmt;
pub mod manifest;
pub mod objects;
pub mod reader;
pub mod redact;
pub mod toyaml;
pub mod yaml11;

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
    #[error(
        "YAML parse error on {template} (document {document}, line {line}): {message}{context}"
    )]
    Yaml {
        /// `<chart>/templates/<file>`.
        template: String,
        /// 1-based index of the document within that template's output.
        document: usize,
        /// 1-based line within the document.
        line: usize,
        /// The parser's message.
        message: String,
        /// The offending rendered line (`; the line reads: ...`), left out for Secrets.
        context: String,
    },
    /// A rendered document is not a valid Kubernetes object.
    #[error("{template}: {kind} {name:?} field {field}: {message}{origin}")]
    InvalidObject {
        /// `<chart>/templates/<file>`.
        template: String,
        /// The document's kind.
        kind: String,
        /// Its `metadata.name`, if any.
        name: String,
        /// The bad field's path.
        field: String,
        /// The rule it breaks.
        message: String,
        /// ` (set by values key ...)` when the values key is known.
        origin: String,
    },
}

/// Renders a release: executes the templates, splits and reads every document as Kubernetes would,
/// orders them as Helm does, and checks each against its API type. Nothing partial is returned.
pub fn render_release(
    engine: &ChartEngine,
    chart_name: &str,
    release: &ReleaseInfo,
    values: &serde_json::Value,
) -> Result<RenderedRelease, RenderError> {
    let files = engine.render(chart_name, release, values)?;
    let mut manifests = manifest::collect_documents(chart_name, &files.manifests);
    let mut document_index = 0;
    let mut previous_source = String::new();
    for manifest in &mut manifests {
        if manifest.source != previous_source {
            previous_source = manifest.source.clone();
            document_index = 0;
        }
        document_index += 1;
        let object = reader::read_document(&manifest.content).map_err(|err| {
            let line_text = manifest.content.lines().nth(err.line.saturating_sub(1));
            let context = match line_text {
                Some(text) if !looks_like_secret(&manifest.content) => {
                    format!("; the line reads: {}", text.trim())
                }
                _ => String::new(),
            };
            RenderError::Yaml {
                template: manifest.source.clone(),
                document: document_index,
                line: err.line,
                message: err.message.clone(),
                context,
            }
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
            RenderError::InvalidObject {
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
            }
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
    use crate::chart;
    use serde_json::{Value, json};

    /// Chart defaults as the values layer hands them over: every number from YAML is a float64.
    fn defaults(chart: &chart::Chart) -> Value {
        fn floats(value: Value) -> Value {
            match value {
                Value::Number(n) => json!(n.as_f64().unwrap_or_default()),
                Value::Object(map) => {
                    Value::Object(map.into_iter().map(|(k, v)| (k, floats(v))).collect())
                }
                Value::Array(items) => Value::Array(items.into_iter().map(floats).collect()),
                other => other,
            }
        }
        floats(reader::read_document(&chart.values_yaml).expect("values.yaml"))
    }

    fn set(values: &mut Value, path: &str, value: Value) {
        let mut current = values;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            current = current
                .as_object_mut()
                .expect("map")
                .entry(part.to_string())
                .or_insert_with(|| json!({}));
        }
        current[parts[parts.len() - 1]] = value;
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

    const RSA_PUB: &str = include_str!("../../tests/fixtures/helm-cases/keys/id_rsa.pub");
    const RSA_B64: &str = include_str!("../../tests/fixtures/helm-cases/keys/id_rsa.b64");

    #[test]
    fn seed_gateway_matches_helm() {
        let chart = chart::builtin("gateway").unwrap();
        let mut values = defaults(&chart);
        set(&mut values, "ssh.publicKey", json!(RSA_PUB.trim_end()));
        assert_eq!(
            render("gateway", "msoff", &values).unwrap(),
            fixture("001-seed-gateway-publickey")
        );
        set(&mut values, "tunnel.service.sourcePort", json!(8181));
        set(&mut values, "tunnel.service.sourceNodePort", json!(30181));
        assert_eq!(
            render("gateway", "msoff", &values).unwrap(),
            fixture("002-seed-gateway-tunnel")
        );
    }

    #[test]
    fn seed_bastion_matches_helm() {
        let chart = chart::builtin("bastion").unwrap();
        let mut values = defaults(&chart);
        set(&mut values, "tunnel.gateway.host", json!("131.154.98.96"));
        set(
            &mut values,
            "tunnel.gateway.ssh.privateKey",
            json!(RSA_B64.trim_end()),
        );
        set(&mut values, "tunnel.service.gatewayPort", json!(8181));
        set(
            &mut values,
            "tunnel.service.targetHost",
            json!("mlaas-inference-service-hep-predictor-00001.mlaas.svc.cluster.local"),
        );
        set(&mut values, "tunnel.service.targetPort", json!(80));
        assert_eq!(
            render("bastion", "msoff", &values).unwrap(),
            fixture("003-seed-bastion")
        );
    }

    #[test]
    fn missing_public_key_is_an_object_error_naming_the_field() {
        let chart = chart::builtin("gateway").unwrap();
        let mut values = defaults(&chart);
        set(&mut values, "ssh.publicKey", Value::Null);
        let err = render("gateway", "msoff", &values).unwrap_err();
        assert!(
            matches!(&err, RenderError::InvalidObject { field, .. } if field == "data.PUBLIC_KEY"),
            "{err}"
        );
    }
}
