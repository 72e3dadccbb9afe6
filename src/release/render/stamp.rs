//! Metadata written into a rendered document's text, every other byte left as rendered: what
//! `ikp apply --dry-run=client` prints is `render`'s output plus the labels and annotations `apply`
//! puts on each object.
//!
//! The edit is checked by reading the result back as Kubernetes would; a document whose text cannot
//! be edited in place (flow-style metadata, say) is written anew by the `toYaml` emitter instead.

use serde_json::{Map, Value};

use crate::compat::readback::read_document;
use crate::compat::toyaml::{YamlNode, to_yaml};

/// Labels and annotations to add to one document.
#[derive(Debug, Clone, Copy)]
pub struct ExtraMetadata<'a> {
    /// Labels, added only where the document has no label of that key (the chart's value wins).
    pub labels: &'a [(&'a str, String)],
    /// Annotations, set whatever the document says.
    pub annotations: &'a [(&'a str, String)],
}

/// `content` (a document whose parsed form is `object`) with the extra metadata added. Documents
/// that are not objects (comments only) are returned unchanged.
pub fn add_metadata(content: &str, object: &Value, extra: ExtraMetadata<'_>) -> String {
    let Some(map) = object.as_object() else {
        return content.to_owned();
    };
    let mut expected = map.clone();
    let additions = [
        (
            "labels",
            missing_entries(map, "labels", extra.labels, false),
        ),
        (
            "annotations",
            missing_entries(map, "annotations", extra.annotations, true),
        ),
    ];
    for (field, entries) in &additions {
        let metadata = expected
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(metadata) = metadata.as_object_mut() else {
            return content.to_owned();
        };
        let target = metadata
            .entry(*field)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(target) = target.as_object_mut() {
            for (key, value) in entries {
                target.insert((*key).to_owned(), Value::String(value.clone()));
            }
        }
    }
    let expected = Value::Object(expected);
    edit_in_place(content, &additions)
        .filter(|edited| read_document(edited).is_ok_and(|read| read == expected))
        .unwrap_or_else(|| {
            YamlNode::from_json(&expected)
                .map(|node| to_yaml(&node))
                .unwrap_or_else(|_| content.to_owned())
        })
}

/// The entries of `wanted` the document's `metadata.<field>` lacks (or, with `overwrite`, holds
/// with another value).
fn missing_entries<'a>(
    object: &Map<String, Value>,
    field: &str,
    wanted: &'a [(&'a str, String)],
    overwrite: bool,
) -> Vec<(&'a str, String)> {
    let present = object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_object);
    wanted
        .iter()
        .filter(|(key, value)| match present.and_then(|p| p.get(*key)) {
            None => true,
            Some(current) => overwrite && current.as_str() != Some(value.as_str()),
        })
        .map(|(key, value)| (*key, value.clone()))
        .collect()
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

/// One `key: value` entry as the emitter writes it, indented.
fn entry_lines(key: &str, value: &str, indent: usize) -> Vec<String> {
    let text = to_yaml(&YamlNode::Map(vec![(
        key.to_owned(),
        YamlNode::Str(value.to_owned()),
    )]));
    text.lines()
        .map(|line| format!("{}{line}", " ".repeat(indent)))
        .collect()
}

/// Adds the entries to the block-style `metadata:` map of the text, or `None` when the text is not
/// laid out that way.
fn edit_in_place(content: &str, additions: &[(&str, Vec<(&str, String)>)]) -> Option<String> {
    let mut lines: Vec<String> = content.split('\n').map(str::to_owned).collect();
    for (field, entries) in additions {
        if entries.is_empty() {
            continue;
        }
        let meta = {
            let mut found = lines
                .iter()
                .enumerate()
                .filter(|(_, line)| line.trim_end() == "metadata:");
            let first = found.next()?.0;
            if found.next().is_some() {
                return None;
            }
            first
        };
        let end = (meta + 1..lines.len())
            .find(|&i| !lines[i].trim().is_empty() && indent_of(&lines[i]) == 0)
            .unwrap_or(lines.len());
        let child = (meta + 1..end)
            .find(|&i| is_content(&lines[i]))
            .map(|i| indent_of(&lines[i]))
            .filter(|&indent| indent > 0)?;
        let heading = format!("{field}:");
        let field_line = (meta + 1..end).find(|&i| {
            indent_of(&lines[i]) == child && lines[i].trim_start().starts_with(&heading)
        });
        let (insert_at, indent, mut new_lines) = match field_line {
            Some(at) => {
                if lines[at].trim() != heading {
                    // `labels: {}` or a flow map: not edited in place.
                    return None;
                }
                let block_end = (at + 1..end)
                    .find(|&i| is_content(&lines[i]) && indent_of(&lines[i]) <= child)
                    .unwrap_or(end);
                let grandchild = (at + 1..block_end)
                    .find(|&i| is_content(&lines[i]))
                    .map(|i| indent_of(&lines[i]))?;
                let last = (at + 1..block_end).rev().find(|&i| is_content(&lines[i]))?;
                (last + 1, grandchild, Vec::new())
            }
            None => {
                let last = (meta + 1..end).rev().find(|&i| is_content(&lines[i]))?;
                (
                    last + 1,
                    child * 2,
                    vec![format!("{}{heading}", " ".repeat(child))],
                )
            }
        };
        for (key, value) in entries {
            new_lines.extend(entry_lines(key, value, indent));
        }
        lines.splice(insert_at..insert_at, new_lines);
    }
    Some(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: [(&str, &str); 2] = [
        ("app.kubernetes.io/instance", "rel"),
        ("app.kubernetes.io/managed-by", "ikp"),
    ];

    fn stamp(content: &str) -> String {
        let object = read_document(content).expect("yaml");
        let labels: Vec<(&str, String)> = LABELS.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let annotations = vec![("ikp.io/release-name", "true".to_owned())];
        add_metadata(
            content,
            &object,
            ExtraMetadata {
                labels: &labels,
                annotations: &annotations,
            },
        )
    }

    #[test]
    fn entries_join_existing_maps_and_keep_the_chart_label() {
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app.kubernetes.io/instance: chart-says\n    x: \"1\"\ndata:\n  A: b";
        assert_eq!(
            stamp(doc),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app.kubernetes.io/instance: chart-says\n    x: \"1\"\n    app.kubernetes.io/managed-by: ikp\n  annotations:\n    ikp.io/release-name: \"true\"\ndata:\n  A: b"
        );
    }

    #[test]
    fn flow_style_metadata_is_written_by_the_emitter() {
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {}}\n";
        let stamped = stamp(doc);
        let read = read_document(&stamped).expect("yaml");
        assert_eq!(
            read["metadata"]["labels"]["app.kubernetes.io/instance"],
            "rel"
        );
        assert_eq!(
            read["metadata"]["annotations"]["ikp.io/release-name"],
            "true"
        );
        assert_eq!(read["metadata"]["name"], "a");
    }

    #[test]
    fn comment_only_documents_are_unchanged() {
        assert_eq!(
            add_metadata(
                "# nothing",
                &Value::Null,
                ExtraMetadata {
                    labels: &[],
                    annotations: &[]
                }
            ),
            "# nothing"
        );
    }
}
