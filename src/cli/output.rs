//! `-o table|json|yaml` of `status`, `list`, `history` and `diff`: the serialised views (their field
//! names are a stable interface, listed in the README) and the aligned table printer.

use std::io::Write;

use ikp::compat::toyaml::to_yaml_document;
use ikp::deploy::ObjectRef;
use serde::{Deserialize, Serialize};

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(super) enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON (one document, pretty-printed).
    Json,
    /// YAML (one document).
    Yaml,
}

/// One row of `ikp list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReleaseEntry {
    /// Release name.
    pub(super) name: String,
    /// Release namespace.
    pub(super) namespace: String,
    /// Newest revision.
    pub(super) revision: u32,
    /// Status of the newest revision.
    pub(super) status: String,
    /// Chart name.
    pub(super) chart: String,
    /// Chart version.
    pub(super) chart_version: String,
    /// Chart appVersion, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) app_version: Option<String>,
    /// Time of the newest revision's last change (RFC 3339).
    pub(super) updated: String,
    /// `ikp`, or `helm` for a Helm release `ikp apply --take-ownership` can take over.
    pub(super) manager: String,
}

/// One revision in `ikp history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RevisionEntry {
    /// Revision number.
    pub(super) revision: u32,
    /// Time of the revision's last change (RFC 3339).
    pub(super) updated: String,
    /// `pending`, `deployed`, `superseded` or `failed`.
    pub(super) status: String,
    /// Chart name.
    pub(super) chart: String,
    /// Chart version.
    pub(super) chart_version: String,
    /// Chart appVersion, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) app_version: Option<String>,
    /// Hex SHA-256 of the merged values.
    pub(super) values_digest: String,
    /// What happened.
    pub(super) description: String,
}

/// One object in `ikp status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ObjectState {
    /// The object.
    #[serde(flatten)]
    pub(super) object: ObjectRef,
    /// `present`, `missing`, `ready`, `waiting for ...`, `replaced (uid changed)`, ...
    pub(super) state: String,
}

/// `ikp status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatusView {
    /// Release name.
    pub(super) name: String,
    /// Release namespace.
    pub(super) namespace: String,
    /// The newest revision.
    #[serde(flatten)]
    pub(super) latest: RevisionEntry,
    /// Objects of the newest revision and their live state.
    pub(super) objects: Vec<ObjectState>,
}

/// One object in `ikp diff -o json|yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DiffObject {
    /// The object.
    #[serde(flatten)]
    pub(super) object: ObjectRef,
    /// `create`, `update` or `prune`.
    pub(super) action: String,
    /// Top-level paths whose content changes (`spec`, `metadata.labels`, `data`, ...).
    pub(super) fields: Vec<String>,
    /// A remark such as the fields another manager owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) note: Option<String>,
    /// The unified diff (Secret data redacted unless `--show-secrets`).
    pub(super) diff: String,
}

/// `ikp diff -o json|yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DiffView {
    /// Objects that would change.
    pub(super) changed: Vec<DiffObject>,
    /// Objects that would not change.
    pub(super) unchanged: Vec<ObjectRef>,
    /// Why the server refused objects in the dry run.
    pub(super) errors: Vec<String>,
}

/// Writes `value` as JSON or YAML (a table is the command's own business).
pub(super) fn write_document<T: Serialize>(
    format: OutputFormat,
    value: &T,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, value)?;
            writeln!(out)?;
        }
        OutputFormat::Yaml => out.write_all(to_yaml_document(value)?.as_bytes())?,
        OutputFormat::Table => anyhow::bail!("internal: a table is printed by its command"),
    }
    Ok(())
}

/// Columns padded to their widest cell, two spaces apart (the last column is not padded).
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut text = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            text.push_str(cell);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0) - cell.chars().count() + 2;
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_line_up() {
        let text = table(
            &["NAME", "REVISION", "STATUS"],
            &[
                vec!["a-long-name".into(), "1".into(), "deployed".into()],
                vec!["b".into(), "12".into(), "failed".into()],
            ],
        );
        assert_eq!(
            text,
            "NAME         REVISION  STATUS\na-long-name  1         deployed\nb            12        failed\n"
        );
    }

    #[test]
    fn views_round_trip_through_json_and_yaml() {
        let status = StatusView {
            name: "r".into(),
            namespace: "ns".into(),
            latest: RevisionEntry {
                revision: 2,
                updated: "t".into(),
                status: "deployed".into(),
                chart: "gateway".into(),
                chart_version: "1.0.0".into(),
                app_version: Some("1.0.0".into()),
                values_digest: "d".into(),
                description: "upgrade".into(),
            },
            objects: vec![ObjectState {
                object: ObjectRef {
                    group: "apps".into(),
                    version: "v1".into(),
                    kind: "Deployment".into(),
                    namespace: Some("ns".into()),
                    name: "r-gateway".into(),
                    uid: Some("u".into()),
                },
                state: "ready".into(),
            }],
        };
        let json = serde_json::to_string(&status).unwrap();
        assert!(json.contains("\"chartVersion\":\"1.0.0\""), "{json}");
        assert!(json.contains("\"kind\":\"Deployment\""), "{json}");
        assert_eq!(serde_json::from_str::<StatusView>(&json).unwrap(), status);
        let yaml = to_yaml_document(&status).unwrap();
        let read = ikp::compat::readback::read_document(&yaml).unwrap();
        assert_eq!(serde_json::from_value::<StatusView>(read).unwrap(), status);
    }
}
