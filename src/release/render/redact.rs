//! Keeping secrets out of output meant for people and logs: `--redact-secrets` replaces each value of
//! a Secret's `data`/`stringData` with a fixed marker and a short hash (so a change still shows in a
//! diff), and `--debug` prints computed values with private keys masked.

use sha2::{Digest, Sha256};

use crate::release::values::model::is_secret_key;

/// The marker that stands for a secret value: `redacted:sha256:` and 12 hex digits of its hash.
fn redaction_marker(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("redacted:sha256:{hex}")
}

/// A Secret document's text with every `data`/`stringData` value replaced by its marker. Other
/// documents are returned unchanged.
pub fn redact_secret_document(content: &str) -> String {
    if !content
        .lines()
        .any(|line| line.trim_end() == "kind: Secret")
    {
        return content.to_owned();
    }
    let mut out: Vec<String> = Vec::new();
    let mut in_section = false;
    let mut child_indent: Option<usize> = None;
    // (line index in `out`, key prefix, collected value)
    let mut pending: Option<(usize, String, String)> = None;
    let flush = |out: &mut Vec<String>, pending: &mut Option<(usize, String, String)>| {
        if let Some((index, prefix, value)) = pending.take() {
            let value = value.trim().to_owned();
            out[index] = if value.is_empty() {
                prefix.trim_end().to_owned()
            } else {
                format!("{prefix}{}", redaction_marker(&value))
            };
        }
    };
    for line in content.lines() {
        let indent = line.len() - line.trim_start().len();
        if indent == 0 && !line.trim().is_empty() {
            flush(&mut out, &mut pending);
            let key = line.trim_end();
            in_section = key == "data:" || key == "stringData:";
            child_indent = None;
            out.push(line.to_owned());
            continue;
        }
        if !in_section || line.trim().is_empty() {
            if let Some((_, _, value)) = pending.as_mut() {
                value.push('\n');
                continue;
            }
            out.push(line.to_owned());
            continue;
        }
        let child = *child_indent.get_or_insert(indent);
        if indent == child {
            flush(&mut out, &mut pending);
            let (key, value) = match line.split_once(':') {
                Some((key, value)) => (key, value),
                None => (line, ""),
            };
            out.push(String::new());
            pending = Some((out.len() - 1, format!("{key}: "), value.to_owned()));
        } else if let Some((_, _, value)) = pending.as_mut() {
            value.push('\n');
            value.push_str(line.trim());
        }
    }
    flush(&mut out, &mut pending);
    out.join("\n")
}

/// A copy of a value tree with secret values replaced by their markers.
pub fn redact_values(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let item = match item {
                        serde_json::Value::String(text)
                            if is_secret_key(key) && !text.is_empty() =>
                        {
                            serde_json::Value::String(redaction_marker(text))
                        }
                        other => redact_values(other),
                    };
                    (key.clone(), item)
                })
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(redact_values).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_data_values_are_replaced_by_hash_markers() {
        let doc = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\ndata:\n  SSH_PRIVATE_KEY: c2VjcmV0\n  OTHER: b3RoZXI=\nstringData:\n  token: |\n    line1\n    line2\n";
        let redacted = redact_secret_document(doc);
        assert!(!redacted.contains("c2VjcmV0"));
        assert!(!redacted.contains("line1"));
        assert!(redacted.contains(&format!(
            "  SSH_PRIVATE_KEY: {}",
            redaction_marker("c2VjcmV0")
        )));
        assert!(redacted.contains("metadata:\n  name: s\ntype: Opaque"));
        assert_eq!(redacted.matches("redacted:sha256:").count(), 3);
    }

    #[test]
    fn other_documents_are_unchanged() {
        let doc = "apiVersion: v1\nkind: ConfigMap\ndata:\n  A: b\n";
        assert_eq!(redact_secret_document(doc), doc);
    }

    #[test]
    fn markers_differ_for_different_values() {
        assert_ne!(redaction_marker("a"), redaction_marker("b"));
        assert_eq!(redaction_marker("a").len(), "redacted:sha256:".len() + 12);
    }

    #[test]
    fn private_keys_in_values_are_masked() {
        let values = serde_json::json!({"tunnel": {"gateway": {"ssh": {"privateKey": "S3CR3T", "port": 1}}}});
        let redacted = redact_values(&values);
        assert!(!redacted.to_string().contains("S3CR3T"));
        assert_eq!(redacted["tunnel"]["gateway"]["ssh"]["port"], 1);
    }
}
