//! `diff`: the server's dry-run result of applying a release against the live objects, as a
//! unified diff per object, with server noise stripped and Secret data redacted.

use serde_json::Value;
use similar::TextDiff;

use crate::compat::toyaml::{YamlNode, to_yaml};

use super::ApplyError;
use super::engine::{PreviewFlags, preview};
use super::fields::strip_server_noise;
use super::plan::{ObjectRef, ReleasePlan};

/// Options of `diff`.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Show Secret values instead of `***`.
    pub show_secrets: bool,
    /// Diff as if `--force-conflicts` were given (conflicts are then not errors).
    pub force_conflicts: bool,
    /// Diff as `apply --take-ownership` would apply: objects of other releases, of a Helm release or of
    /// nobody are taken over (noted per object) instead of refused.
    pub take_ownership: bool,
}

/// What applying would do to an object that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffAction {
    /// It does not exist yet.
    Create,
    /// It exists and would change.
    Update,
    /// It is no longer rendered and would be deleted.
    Prune,
}

impl std::fmt::Display for DiffAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiffAction::Create => "create",
            DiffAction::Update => "update",
            DiffAction::Prune => "prune",
        })
    }
}

/// The diff of one object.
#[derive(Debug, Clone)]
pub struct DiffEntry {
    /// The object.
    pub object: ObjectRef,
    /// What applying would do.
    pub action: DiffAction,
    /// Paths that differ, two levels deep under `metadata`, `spec`, `data` and `stringData`
    /// (`spec.template`, `metadata.labels`, `data.KEY`), else top-level (`kind`, `status`).
    pub fields: Vec<String>,
    /// Unified diff text (empty when unchanged).
    pub unified: String,
    /// A remark such as "would be pruned" or the fields another manager owns.
    pub note: Option<String>,
}

/// Result of `diff`.
#[derive(Debug, Default)]
pub struct DiffReport {
    /// Objects that differ (or would be created/pruned), in install order then prune order.
    pub changed: Vec<DiffEntry>,
    /// Objects that would not change.
    pub unchanged: Vec<ObjectRef>,
    /// Objects the server refused in the dry-run.
    pub errors: Vec<ApplyError>,
}

impl DiffReport {
    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }
}

/// Replaces Secret values by `***`, marking which ones differ between the two sides.
///
/// `before`/`after` are the two sides of one Secret; either may be absent. Values equal on both sides
/// become `***`; differing ones `*** (before)` / `*** (after)`, so a change is visible but not its content.
pub fn redact_secret_data(before: Option<&mut Value>, after: Option<&mut Value>) {
    let is_secret = |v: &Option<&mut Value>| {
        v.as_deref()
            .is_some_and(|o| o.get("kind").and_then(Value::as_str) == Some("Secret"))
    };
    if !is_secret(&before) && !is_secret(&after) {
        return;
    }
    let (mut before, mut after) = (before, after);
    for field in ["data", "stringData"] {
        let snapshot =
            |side: &Option<&mut Value>| side.as_deref().and_then(|o| o.get(field)).cloned();
        let (old, new) = (snapshot(&before), snapshot(&after));
        // With no object on the other side (a one-sided redaction) there is no change to mark.
        let two_sided = before.is_some() && after.is_some();
        let redact = |side: &mut Option<&mut Value>, other: &Option<Value>, label: &str| {
            let Some(Value::Object(map)) = side.as_deref_mut().and_then(|o| o.get_mut(field))
            else {
                return;
            };
            for (key, value) in map.iter_mut() {
                let differs = two_sided && other.as_ref().and_then(|o| o.get(key)) != Some(&*value);
                *value = Value::String(if differs {
                    format!("*** ({label})")
                } else {
                    "***".to_string()
                });
            }
        };
        redact(&mut before, &new, "before");
        redact(&mut after, &old, "after");
    }
}

/// An object as YAML 1.1 the way `toYaml` writes it (the emitter `render` matches Helm with), so the
/// diff reads like the rendered manifests.
fn yaml_text(value: Option<&Value>) -> String {
    match value.map(YamlNode::from_json) {
        Some(Ok(node)) => format!("{}\n", to_yaml(&node)),
        _ => String::new(),
    }
}

fn unified(object: &ObjectRef, before: Option<&Value>, after: Option<&Value>) -> String {
    let (old, new) = (yaml_text(before), yaml_text(after));
    if old == new {
        return String::new();
    }
    let label = object.to_string();
    TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live {label}"), &format!("applied {label}"))
        .to_string()
}

/// Paths that differ between two sides of an object (see [`DiffEntry::fields`]).
pub fn changed_fields(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    let empty = serde_json::Map::new();
    let side = |v: Option<&Value>| v.and_then(Value::as_object).unwrap_or(&empty).clone();
    let (old, new) = (side(before), side(after));
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        let nested = matches!(key.as_str(), "metadata" | "spec" | "data" | "stringData");
        match (a.and_then(Value::as_object), b.and_then(Value::as_object)) {
            (Some(ao), Some(bo)) if nested => {
                let mut inner: Vec<&String> = ao.keys().chain(bo.keys()).collect();
                inner.sort();
                inner.dedup();
                for k in inner {
                    if ao.get(k) != bo.get(k) {
                        out.push(format!("{key}.{k}"));
                    }
                }
            }
            _ => out.push(key.clone()),
        }
    }
    out
}

/// Computes the diff between the live state and what applying `plan` would produce.
pub async fn diff_release(
    client: &kube::Client,
    plan: &ReleasePlan,
    options: &DiffOptions,
) -> Result<DiffReport, ApplyError> {
    let flags = PreviewFlags {
        force_conflicts: options.force_conflicts,
        take_ownership: options.take_ownership,
    };
    let preview = preview(client, plan, flags).await?;
    let mut report = DiffReport::default();
    for object in preview.objects {
        let merged = match object.merged {
            Ok(m) => m,
            Err(err) => {
                report.errors.push(err);
                continue;
            }
        };
        let mut before = object.live.clone();
        let mut after = Some(merged);
        for side in [&mut before, &mut after].into_iter().flatten() {
            strip_server_noise(side);
        }
        if !options.show_secrets {
            redact_secret_data(before.as_mut(), after.as_mut());
        }
        let text = unified(&object.reference, before.as_ref(), after.as_ref());
        let mut note = object
            .conflicts
            .map(|c| format!("applying needs --force-conflicts: {c}"))
            .or(object.taken_over);
        if !preview.namespace_exists {
            note = Some(format!(
                "namespace {} does not exist; shown as rendered, not checked by the server",
                plan.meta.namespace
            ));
        }
        if text.is_empty() {
            report.unchanged.push(object.reference);
        } else {
            report.changed.push(DiffEntry {
                action: if object.live.is_some() {
                    DiffAction::Update
                } else {
                    DiffAction::Create
                },
                fields: changed_fields(before.as_ref(), after.as_ref()),
                object: object.reference,
                unified: text,
                note,
            });
        }
    }
    for (object, mut live) in preview.prune {
        strip_server_noise(&mut live);
        if !options.show_secrets {
            redact_secret_data(Some(&mut live), None);
        }
        report.changed.push(DiffEntry {
            action: DiffAction::Prune,
            fields: Vec::new(),
            unified: unified(&object, Some(&live), None),
            object,
            note: Some("would be pruned: no longer rendered".to_string()),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_go_two_levels_deep_under_spec_and_metadata() {
        let before = json!({"kind": "Deployment", "metadata": {"labels": {"a": "1"}, "name": "x"},
            "spec": {"replicas": 1, "template": {"x": 1}}});
        let after = json!({"kind": "Deployment", "metadata": {"labels": {"a": "2"}, "name": "x"},
            "spec": {"replicas": 1, "template": {"x": 2}}, "status": {}});
        assert_eq!(
            changed_fields(Some(&before), Some(&after)),
            ["metadata.labels", "spec.template", "status"]
        );
        assert_eq!(changed_fields(None, Some(&json!({"kind": "X"}))), ["kind"]);
    }

    #[test]
    fn secret_values_are_hidden_but_changes_are_marked() {
        let mut before = json!({"kind": "Secret", "data": {"KEY": "c2VjcmV0", "SAME": "eA=="}});
        let mut after = json!({"kind": "Secret", "data": {"KEY": "bmV3", "SAME": "eA=="}});
        redact_secret_data(Some(&mut before), Some(&mut after));
        assert_eq!(
            before["data"],
            json!({"KEY": "*** (before)", "SAME": "***"})
        );
        assert_eq!(after["data"], json!({"KEY": "*** (after)", "SAME": "***"}));
        let text = serde_json::to_string(&(before, after)).unwrap();
        assert!(!text.contains("c2VjcmV0") && !text.contains("bmV3"));
    }

    #[test]
    fn one_sided_redaction_marks_nothing_as_changed() {
        let mut secret = json!({"kind": "Secret", "data": {"KEY": "c2VjcmV0"}});
        redact_secret_data(Some(&mut secret), None);
        assert_eq!(secret["data"], json!({"KEY": "***"}));
    }

    #[test]
    fn non_secrets_are_left_alone() {
        let mut cm = json!({"kind": "ConfigMap", "data": {"A": "b"}});
        redact_secret_data(Some(&mut cm), None);
        assert_eq!(cm["data"]["A"], "b");
    }

    #[test]
    fn unified_diff_shows_changed_lines_with_object_header() {
        let object = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("ns".into()),
            name: "c".into(),
            uid: None,
        };
        let text = unified(
            &object,
            Some(&json!({"data": {"A": "1"}})),
            Some(&json!({"data": {"A": "2"}})),
        );
        assert!(text.contains("--- live ConfigMap ns/c"), "{text}");
        assert!(
            text.contains("-  A: \"1\"") && text.contains("+  A: \"2\""),
            "{text}"
        );
        assert!(unified(&object, Some(&json!({"a": 1})), Some(&json!({"a": 1}))).is_empty());
    }
}
