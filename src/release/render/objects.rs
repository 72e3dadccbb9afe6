//! The check every rendered document passes before anything is printed: it must deserialize into the
//! Kubernetes API type of its kind (k8s-openapi) with no field the type lacks (kubectl's strict field
//! validation), and satisfy the API server's rules that the type cannot express — name formats,
//! label syntax, port ranges, quantities, a Deployment selector that matches its pods.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Secret, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::compat::gofmt::go_format_float as format_float_g;
use crate::compat::readback::plain_json;
use crate::k8s::syntax;
use crate::release::values::model::NameOverride;

/// What is wrong with one rendered object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ObjectProblem {
    /// Dotted path of the field (`spec.ports[0].nodePort`); empty for the whole document.
    pub field: String,
    /// The rule the field breaks.
    pub message: String,
    /// Values keys whose value is what the field holds, when they can be found.
    pub values_keys: Vec<String>,
}

/// The Kubernetes API types ikp's charts render.
const SUPPORTED: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
];

/// Checks one document (already read as JSON). `values` is the release's value tree, searched to
/// say which values key produced a bad field.
pub(super) fn check_object(object: &Value, values: &Value) -> Result<(), ObjectProblem> {
    let problem = find_problem(object);
    match problem {
        None => Ok(()),
        Some((field, message)) => {
            let values_keys = values_keys_for_field(object, &field, values);
            Err(ObjectProblem {
                field,
                message,
                values_keys,
            })
        }
    }
}

fn find_problem(object: &Value) -> Option<(String, String)> {
    let Value::Object(map) = object else {
        return Some((
            String::new(),
            "a Kubernetes object must be a YAML mapping".to_owned(),
        ));
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str);
    let kind = map.get("kind").and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        let field = if api_version.is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        return Some((field.to_owned(), "must be set to a string".to_owned()));
    };
    if !SUPPORTED.contains(&(api_version, kind)) {
        let known: Vec<String> = SUPPORTED.iter().map(|(v, k)| format!("{v} {k}")).collect();
        return Some((
            "kind".to_owned(),
            format!(
                "{api_version} {kind} is not a kind these charts create (expected one of: {})",
                known.join(", ")
            ),
        ));
    }
    let result = match kind {
        "ConfigMap" => typed::<ConfigMap>(object).and_then(|cm| check_config_map(&cm)),
        "Secret" => typed::<Secret>(object).and_then(|secret| check_secret(&secret)),
        "Service" => typed::<Service>(object).and_then(|svc| check_service(&svc)),
        _ => typed::<Deployment>(object).and_then(|deploy| check_deployment(&deploy)),
    };
    result.err()
}

type Check = Result<(), (String, String)>;

/// Deserializes into the API type and fails on any field the type does not have (and that is not
/// null: an empty value is dropped by kubectl too). The path of a field the type refuses is only
/// tracked when there is one: the document is then deserialized a second time, to find it.
fn typed<T: DeserializeOwned>(object: &Value) -> Result<T, (String, String)> {
    match super::strict::read_strict::<T>(object) {
        Ok((value, None)) => Ok(value),
        Ok((_, Some(field))) => Err((
            field,
            "unknown field: the API type has no such field".to_owned(),
        )),
        Err(_) => Err(refused_field::<T>(object)),
    }
}

/// The field of `object` that the API type refuses, and serde's reason.
fn refused_field<T: DeserializeOwned>(object: &Value) -> (String, String) {
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(object, &mut track);
    let message = match T::deserialize(deserializer) {
        Ok(_) => "does not fit the API type".to_owned(),
        Err(err) => err.to_string(),
    };
    let field = track.path().to_string();
    let field = if field == "." { String::new() } else { field };
    (field, message)
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> Check {
    Err((field.into(), message.into()))
}

fn check_name(name: Option<&String>, kind: &str) -> Check {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return problem("metadata.name", "is required");
    };
    if kind == "Service" {
        if !syntax::is_dns1035_label(name) {
            return problem(
                "metadata.name",
                format!(
                    "{name:?} is not a valid Service name: it must be a DNS-1035 label (at most 63 characters: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit); it has {} characters",
                    name.len()
                ),
            );
        }
    } else if !syntax::is_dns1123_subdomain(name) {
        return problem(
            "metadata.name",
            format!(
                "{name:?} is not a valid {kind} name: it must be a DNS-1123 subdomain (at most 253 characters: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)"
            ),
        );
    }
    Ok(())
}

fn check_labels(labels: Option<&std::collections::BTreeMap<String, String>>, field: &str) -> Check {
    for (key, value) in labels.into_iter().flatten() {
        if !syntax::is_label_key(key) {
            return problem(
                format!("{field}.{key}"),
                format!("{key:?} is not a valid label key"),
            );
        }
        if !syntax::is_label_value(value) {
            return problem(
                format!("{field}.{key}"),
                format!(
                    "{value:?} is not a valid label value: at most 63 characters, letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
                ),
            );
        }
    }
    Ok(())
}

fn check_metadata(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    kind: &str,
) -> Check {
    check_name(meta.name.as_ref(), kind)?;
    check_labels(meta.labels.as_ref(), "metadata.labels")
}

fn check_data_keys<'a>(keys: impl Iterator<Item = &'a String>, field: &str) -> Check {
    for key in keys {
        if !syntax::is_config_key(key) {
            return problem(
                format!("{field}.{key}"),
                format!("{key:?} is not a valid key: letters, digits, '-', '_' and '.' only"),
            );
        }
    }
    Ok(())
}

fn check_config_map(config_map: &ConfigMap) -> Check {
    check_metadata(&config_map.metadata, "ConfigMap")?;
    check_data_keys(config_map.data.iter().flat_map(|d| d.keys()), "data")?;
    check_data_keys(
        config_map.binary_data.iter().flat_map(|d| d.keys()),
        "binaryData",
    )
}

fn check_secret(secret: &Secret) -> Check {
    check_metadata(&secret.metadata, "Secret")?;
    check_data_keys(secret.data.iter().flat_map(|d| d.keys()), "data")?;
    check_data_keys(
        secret.string_data.iter().flat_map(|d| d.keys()),
        "stringData",
    )
}

fn check_port(value: i64, field: String) -> Check {
    let (min, max) = (*syntax::PORTS.start(), *syntax::PORTS.end());
    if !(i64::from(min)..=i64::from(max)).contains(&value) {
        return problem(field, format!("{value} is not a port number ({min}-{max})"));
    }
    Ok(())
}

fn check_service(service: &Service) -> Check {
    check_metadata(&service.metadata, "Service")?;
    let Some(spec) = &service.spec else {
        return problem("spec", "is required");
    };
    let service_type = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&service_type) {
        return problem(
            "spec.type",
            format!(
                "{service_type:?} is not one of ClusterIP, NodePort, LoadBalancer, ExternalName"
            ),
        );
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && service_type != "ExternalName" {
        return problem("spec.ports", "at least one port is required");
    }
    for (i, port) in ports.iter().enumerate() {
        let field = format!("spec.ports[{i}]");
        check_port(i64::from(port.port), format!("{field}.port"))?;
        match &port.target_port {
            Some(IntOrString::Int(target)) => {
                check_port(i64::from(*target), format!("{field}.targetPort"))?
            }
            Some(IntOrString::String(name)) if !syntax::is_port_name(name) => {
                return problem(
                    format!("{field}.targetPort"),
                    format!("{name:?} is neither a port number nor a port name"),
                );
            }
            Some(IntOrString::String(_)) | None => {}
        }
        if let Some(node_port) = port.node_port {
            if service_type == "ClusterIP" {
                return problem(
                    format!("{field}.nodePort"),
                    "a node port cannot be used when the Service type is ClusterIP",
                );
            }
            let (min, max) = (*syntax::NODE_PORTS.start(), *syntax::NODE_PORTS.end());
            if !(i32::from(min)..=i32::from(max)).contains(&node_port) {
                return problem(
                    format!("{field}.nodePort"),
                    format!("{node_port} is outside the node port range {min}-{max}"),
                );
            }
        }
        if let Some(protocol) = &port.protocol
            && !["TCP", "UDP", "SCTP"].contains(&protocol.as_str())
        {
            return problem(
                format!("{field}.protocol"),
                format!("{protocol:?} is not one of TCP, UDP, SCTP"),
            );
        }
    }
    check_labels(spec.selector.as_ref(), "spec.selector")
}

fn check_deployment(deployment: &Deployment) -> Check {
    check_metadata(&deployment.metadata, "Deployment")?;
    let Some(spec) = &deployment.spec else {
        return problem("spec", "is required");
    };
    if spec.replicas.is_some_and(|r| r < 0) {
        return problem("spec.replicas", "must not be negative");
    }
    let no_labels = std::collections::BTreeMap::new();
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .unwrap_or(&no_labels);
    check_labels(Some(template_labels), "spec.template.metadata.labels")?;
    let selector = spec.selector.match_labels.as_ref().unwrap_or(&no_labels);
    check_labels(Some(selector), "spec.selector.matchLabels")?;
    if selector.is_empty() && spec.selector.match_expressions.is_none() {
        return problem(
            "spec.selector",
            "must select the pods (matchLabels is empty)",
        );
    }
    for (key, value) in selector {
        if template_labels.get(key) != Some(value) {
            return problem(
                format!("spec.selector.matchLabels.{key}"),
                "does not match the pod template's labels",
            );
        }
    }
    let Some(pod) = &spec.template.spec else {
        return problem("spec.template.spec", "is required");
    };
    if pod.containers.is_empty() {
        return problem(
            "spec.template.spec.containers",
            "at least one container is required",
        );
    }
    for (i, container) in pod.containers.iter().enumerate() {
        check_container(container, &format!("spec.template.spec.containers[{i}]"))?;
    }
    Ok(())
}

fn check_container(container: &Container, field: &str) -> Check {
    if !syntax::is_dns1123_label(&container.name) {
        return problem(
            format!("{field}.name"),
            format!("{:?} is not a DNS-1123 label", container.name),
        );
    }
    match container.image.as_deref() {
        Some(image) if !image.is_empty() && image.trim() == image && !image.ends_with(':') => {}
        Some(image) => {
            return problem(
                format!("{field}.image"),
                format!("{image:?} is not an image reference (repository[:tag])"),
            );
        }
        None => return problem(format!("{field}.image"), "is required"),
    }
    if let Some(policy) = &container.image_pull_policy
        && !["Always", "IfNotPresent", "Never"].contains(&policy.as_str())
    {
        return problem(
            format!("{field}.imagePullPolicy"),
            format!("{policy:?} is not one of Always, IfNotPresent, Never"),
        );
    }
    for (i, port) in container.ports.iter().flatten().enumerate() {
        check_port(
            i64::from(port.container_port),
            format!("{field}.ports[{i}].containerPort"),
        )?;
    }
    for (i, env) in container.env.iter().flatten().enumerate() {
        if !syntax::is_env_var_name(&env.name) {
            return problem(
                format!("{field}.env[{i}].name"),
                format!("{:?} is not a valid environment variable name", env.name),
            );
        }
    }
    if let Some(resources) = &container.resources {
        let mut parsed = std::collections::BTreeMap::new();
        for (section, list) in [
            ("limits", &resources.limits),
            ("requests", &resources.requests),
        ] {
            for (name, quantity) in list.iter().flatten() {
                let at = format!("{field}.resources.{section}.{name}");
                let Some(amount) = syntax::quantity_value(&quantity.0) else {
                    return problem(
                        at,
                        format!(
                            "{:?} is not a quantity (like 100m, 16Mi, 1, 0.5)",
                            quantity.0
                        ),
                    );
                };
                if amount < 0.0 {
                    return problem(at, "must not be negative");
                }
                parsed.insert((section, name.clone()), amount);
            }
        }
        for ((section, name), request) in &parsed {
            if *section == "requests"
                && let Some(limit) = parsed.get(&("limits", name.clone()))
                && request > limit
            {
                return problem(
                    format!("{field}.resources.requests.{name}"),
                    format!("the request is larger than the limit of {name}"),
                );
            }
        }
    }
    Ok(())
}

/// The value at a dotted field path (`spec.ports[0].port`) of a JSON object; a map key may itself
/// hold dots (`metadata.labels.app.kubernetes.io/name`).
fn value_at<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    if field.is_empty() {
        return Some(object);
    }
    if let Some(found) = object.as_object().and_then(|map| map.get(field)) {
        return Some(found);
    }
    if let Some(rest) = field.strip_prefix('[') {
        let (index, rest) = rest.split_once(']')?;
        let item = object.get(index.parse::<usize>().ok()?)?;
        return value_at(item, rest.strip_prefix('.').unwrap_or(rest));
    }
    let map = object.as_object()?;
    for (at, _) in field.match_indices(['.', '[']) {
        if let Some(item) = map.get(&field[..at]) {
            let rest = &field[at..];
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            if let Some(found) = value_at(item, rest) {
                return Some(found);
            }
        }
    }
    None
}

/// Values keys that explain a bad field: for an object name, the naming values; otherwise every
/// leaf of the value tree that prints as the field's value.
fn values_keys_for_field(object: &Value, field: &str, values: &Value) -> Vec<String> {
    if field == "metadata.name" {
        let mut keys: Vec<String> = NameOverride::keys_set_in(values)
            .into_iter()
            .map(str::to_owned)
            .collect();
        keys.push("the release name".to_owned());
        if let Some(name) = value_at(object, field).and_then(Value::as_str) {
            let mut leaves = Vec::new();
            collect_leaves(values, String::new(), &mut leaves);
            for (key, text) in leaves {
                if !text.is_empty() && name.ends_with(&format!("-{text}")) && !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        return keys;
    }
    let Some(found) = value_at(object, field) else {
        return Vec::new();
    };
    let wanted = match found {
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .filter(|_| n.is_f64())
            .map(format_float_g)
            .unwrap_or_else(|| n.to_string()),
        Value::Bool(b) => b.to_string(),
        Value::Null => return Vec::new(),
        _ => return Vec::new(),
    };
    let mut leaves = Vec::new();
    collect_leaves(values, String::new(), &mut leaves);
    let exact: Vec<String> = leaves
        .iter()
        .filter(|(_, text)| {
            *text == wanted
                || text.trim_end() == wanted
                || (!text.is_empty() && plain_json(text).as_ref() == Some(found))
        })
        .map(|(key, _)| key.clone())
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    leaves
        .into_iter()
        .filter(|(_, text)| text.len() >= 4 && wanted.contains(text.as_str()))
        .map(|(key, _)| key)
        .collect()
}

/// Every scalar of the values tree with its dotted key and its text as a template prints it.
fn collect_leaves(value: &Value, key: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (name, item) in map {
                let child = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                collect_leaves(item, child, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_leaves(item, format!("{key}[{i}]"), out);
            }
        }
        Value::String(s) => out.push((key, s.clone())),
        Value::Number(n) => {
            let text = if n.is_f64() {
                format_float_g(n.as_f64().unwrap_or(f64::NAN))
            } else {
                n.to_string()
            };
            out.push((key, text));
        }
        Value::Bool(b) => out.push((key, b.to_string())),
        Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::readback::read_document;
    use serde_json::json;

    fn check(doc: &str) -> Result<(), ObjectProblem> {
        check_object(&read_document(doc).expect("yaml"), &json!({}))
    }

    const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: NAME\nspec:\n  type: NodePort\n  ports:\n    - port: PORT\n      targetPort: 2222\n      nodePort: NODEPORT\n      protocol: TCP\n";

    fn service(name: &str, port: &str, node_port: &str) -> String {
        SERVICE
            .replace("NAME", name)
            .replace("NODEPORT", node_port)
            .replace("PORT", port)
    }

    #[test]
    fn valid_service_passes() {
        check(&service("msoff-gateway-nodeport", "2222", "30222")).unwrap();
    }

    #[test]
    fn service_names_are_dns_1035_labels() {
        let err = check(&service("msoff-gateway-", "2222", "30222")).unwrap_err();
        assert_eq!(err.field, "metadata.name");
        assert!(check(&service("my.rel.v1-gateway", "2222", "30222")).is_err());
        assert!(check(&service(&"a".repeat(64), "2222", "30222")).is_err());
    }

    #[test]
    fn ports_are_typed_and_in_range() {
        let err = check(&service("gw", "30222.5", "30222")).unwrap_err();
        assert_eq!(err.field, "spec.ports[0].port");
        assert_eq!(
            check(&service("gw", "1000000", "30222")).unwrap_err().field,
            "spec.ports[0].port"
        );
        assert_eq!(
            check(&service("gw", "true", "30222")).unwrap_err().field,
            "spec.ports[0].port"
        );
        assert_eq!(
            check(&service("gw", "2222", "-1")).unwrap_err().field,
            "spec.ports[0].nodePort"
        );
        assert_eq!(
            check(&service("gw", "2222", "99999")).unwrap_err().field,
            "spec.ports[0].nodePort"
        );
        // An empty node port is null: the API server picks one.
        check(&service("gw", "2222", "")).unwrap();
    }

    #[test]
    fn configmap_values_must_be_strings() {
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  PUBLIC_KEY: \n  USER_NAME: u\n";
        assert_eq!(check(doc).unwrap_err().field, "data.PUBLIC_KEY");
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  A: 123\n";
        assert_eq!(check(doc).unwrap_err().field, "data.A");
    }

    #[test]
    fn boolean_label_values_are_rejected() {
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/name: off\n";
        assert_eq!(
            check(doc).unwrap_err().field,
            "metadata.labels.app.kubernetes.io/name"
        );
    }

    #[test]
    fn unknown_kinds_and_fields_are_rejected() {
        let doc = "apiVersion: v1\nkind: Foo\nmetadata:\n  name: x\n";
        assert_eq!(check(doc).unwrap_err().field, "kind");
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nextra: 1\n";
        assert_eq!(check(doc).unwrap_err().field, "extra");
        // Nested unknown fields are named by their full path, list indexes included.
        let doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  selector:\n    matchLabels: {a: b}\n  template:\n    metadata:\n      labels: {a: b}\n    spec:\n      containers:\n        - name: c\n          image: i\n        - name: d\n          image: i\n          imagePullPolicyy: Always\n";
        let problem = check(doc).unwrap_err();
        assert_eq!(
            problem.field,
            "spec.template.spec.containers[1].imagePullPolicyy"
        );
        assert!(problem.message.contains("unknown field"), "{problem:?}");
        // An unknown field left empty (null) is not reported: the check looks for fields that carry data.
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nextra:\n";
        assert!(check(doc).is_ok());
    }

    #[test]
    fn node_port_with_cluster_ip_is_rejected() {
        let doc = service("gw", "2222", "30222").replace("NodePort", "ClusterIP");
        assert_eq!(check(&doc).unwrap_err().field, "spec.ports[0].nodePort");
    }

    #[test]
    fn values_keys_are_found_by_value() {
        let object = read_document(&service("gw", "30222.5", "30222")).unwrap();
        let values = json!({"ssh": {"port": 30222.5}, "service": {"port": 30222.0}});
        let err = check_object(&object, &values).unwrap_err();
        assert_eq!(err.values_keys, vec!["ssh.port".to_owned()]);
    }

    #[test]
    fn values_keys_are_found_for_labels_read_as_booleans() {
        let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/name: off\n";
        let object = read_document(doc).unwrap();
        let err = check_object(&object, &json!({"nameOverride": "off"})).unwrap_err();
        assert_eq!(err.values_keys, vec!["nameOverride".to_owned()]);
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(syntax::quantity_value("100m"), Some(0.1));
        assert_eq!(syntax::quantity_value("16Mi"), Some(16.0 * 1024.0 * 1024.0));
        assert_eq!(syntax::quantity_value("1e3"), Some(1000.0));
        assert_eq!(syntax::quantity_value("0.5"), Some(0.5));
        assert_eq!(syntax::quantity_value("abc"), None);
        assert_eq!(syntax::quantity_value("1.2.3"), None);
    }
}
