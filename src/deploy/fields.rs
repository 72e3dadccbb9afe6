//! Object surgery on JSON: the subset of a live object a field manager owns (from its
//! `managedFields` FieldsV1 set), and removal of server-populated noise before a diff.

use serde_json::{Map, Value};

/// The fields of `live` that `manager` set through server-side apply, as an apply configuration.
///
/// Re-applying this configuration with the same manager restores the object to what that manager
/// had applied: fields it added since are released (and removed when nobody else owns them).
pub(super) fn applied_configuration(live: &Value, manager: &str) -> Value {
    let owned = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|entry| {
            entry.get("manager").and_then(Value::as_str) == Some(manager)
                && entry.get("operation").and_then(Value::as_str) == Some("Apply")
                && entry
                    .get("subresource")
                    .is_none_or(|s| s.as_str().is_none_or(str::is_empty))
        })
        .and_then(|entry| entry.get("fieldsV1"));
    let mut config = match owned {
        Some(fields) => filter_owned(live, fields).unwrap_or_else(|| Value::Object(Map::new())),
        None => Value::Object(Map::new()),
    };
    // Identity fields are always needed for the request, whoever owns them.
    if let Value::Object(map) = &mut config {
        for key in ["apiVersion", "kind"] {
            if let Some(v) = live.get(key) {
                map.insert(key.to_string(), v.clone());
            }
        }
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            for key in ["name", "namespace"] {
                if let Some(v) = live.pointer(&format!("/metadata/{key}")) {
                    meta.insert(key.to_string(), v.clone());
                }
            }
        }
    }
    config
}

/// Keeps the parts of `value` named by a FieldsV1 set; `None` when nothing is owned.
fn filter_owned(value: &Value, fields: &Value) -> Option<Value> {
    let fields = fields.as_object()?;
    if fields.is_empty() || (fields.len() == 1 && fields.contains_key(".")) {
        // A leaf: the whole value is owned.
        return Some(value.clone());
    }
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, sub) in fields {
                let Some(name) = key.strip_prefix("f:") else {
                    continue;
                };
                if let Some(child) = map.get(name)
                    && let Some(kept) = filter_owned(child, sub)
                {
                    out.insert(name.to_string(), kept);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                for (key, sub) in fields {
                    if list_item_matches(item, key)
                        && let Some(kept) = filter_owned(item, sub)
                    {
                        out.push(kept);
                        break;
                    }
                }
            }
            Some(Value::Array(out))
        }
        _ => Some(value.clone()),
    }
}

/// Whether a list element is the one a FieldsV1 list key (`k:{"name":"x"}` or `v:"x"`) names.
fn list_item_matches(item: &Value, key: &str) -> bool {
    if let Some(json) = key.strip_prefix("k:") {
        let Ok(Value::Object(wanted)) = serde_json::from_str::<Value>(json) else {
            return false;
        };
        return wanted.iter().all(|(k, v)| item.get(k) == Some(v));
    }
    if let Some(json) = key.strip_prefix("v:") {
        return serde_json::from_str::<Value>(json).is_ok_and(|v| &v == item);
    }
    false
}

/// Field managers whose FieldsV1 set on `live` contains the dotted field path (e.g. `spec.selector`).
pub(super) fn owners_of(live: &Value, field: &str) -> Vec<String> {
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let mut owners = Vec::new();
    for entry in entries {
        let mut node = entry.get("fieldsV1");
        for part in field.split('.').filter(|p| !p.is_empty()) {
            node = node.and_then(|n| n.get(format!("f:{part}")));
        }
        if node.is_some()
            && let Some(manager) = entry.get("manager").and_then(Value::as_str)
            && !owners.iter().any(|o| o == manager)
        {
            owners.push(manager.to_string());
        }
    }
    owners
}

/// Removes server-populated fields that are not part of what a user manages.
pub(super) fn strip_server_noise(obj: &mut Value) {
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        for key in [
            "managedFields",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
            "selfLink",
        ] {
            meta.remove(key);
        }
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            annotations.remove("deployment.kubernetes.io/revision");
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if let Value::Object(map) = obj {
        map.remove("status");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "gw", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                "labels": {"a": "1", "edited": "yes"},
                "managedFields": [
                    {"manager": "ikp", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}},
                                  "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                                      "k:{\"name\":\"c\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}},
                    {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1",
                     "fieldsV1": {"f:metadata": {"f:labels": {"f:edited": {}}}}},
                    {"manager": "ikp", "operation": "Apply", "subresource": "status",
                     "fieldsV1": {"f:status": {}}}
                ]
            },
            "spec": {
                "replicas": 2,
                "revisionHistoryLimit": 10,
                "template": {"spec": {"containers": [
                    {"name": "c", "image": "img:1", "imagePullPolicy": "Always"},
                    {"name": "sidecar", "image": "other"}
                ]}}
            },
            "status": {"replicas": 2}
        })
    }

    #[test]
    fn applied_configuration_keeps_only_the_managers_fields() {
        let config = applied_configuration(&live_deployment(), "ikp");
        assert_eq!(
            config,
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "gw", "namespace": "ns", "labels": {"a": "1"}},
                "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "img:1"}]}}}
            })
        );
    }

    #[test]
    fn applied_configuration_of_an_unknown_manager_is_identity_only() {
        let config = applied_configuration(&live_deployment(), "someone");
        assert_eq!(
            config,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "gw", "namespace": "ns"}})
        );
    }

    #[test]
    fn owners_of_walks_fields_v1() {
        let live = live_deployment();
        assert_eq!(owners_of(&live, "spec.replicas"), vec!["ikp".to_string()]);
        assert_eq!(
            owners_of(&live, "metadata.labels.edited"),
            vec!["kubectl-edit".to_string()]
        );
        assert!(owners_of(&live, "spec.selector").is_empty());
    }

    #[test]
    fn set_list_items_match_by_value() {
        let value = json!({"finalizers": ["a", "b"]});
        let fields = json!({"f:finalizers": {"v:\"b\"": {}}});
        assert_eq!(
            filter_owned(&value, &fields),
            Some(json!({"finalizers": ["b"]}))
        );
    }

    #[test]
    fn strip_removes_server_fields_and_status() {
        let mut obj = live_deployment();
        strip_server_noise(&mut obj);
        assert!(obj.pointer("/metadata/managedFields").is_none());
        assert!(obj.pointer("/metadata/uid").is_none());
        assert!(obj.get("status").is_none());
        assert_eq!(obj.pointer("/metadata/labels/a"), Some(&json!("1")));
    }
}
