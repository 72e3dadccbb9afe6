//! What a release consists of before it touches a cluster: the rendered objects in install order,
//! stamped with the release's labels and annotations, plus the chart identity and values digest.

use std::collections::BTreeMap;
use std::fmt;

use kube::api::DynamicObject;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compat::readback::read_document;

use super::{ApplyError, RELEASE_NAME_ANNOTATION, RELEASE_NAMESPACE_ANNOTATION};

/// Label every object of a release carries naming the release (set by the charts, enforced here).
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Label naming the tool that manages the objects.
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Everything `apply` needs to install or upgrade one release.
#[derive(Debug, Clone)]
pub struct ReleasePlan {
    /// The release and chart the plan is for (what its revision records besides the objects).
    pub meta: PlanMeta,
    /// Objects in install order, already labelled for the release.
    pub objects: Vec<DynamicObject>,
    /// Rendered NOTES.txt, printed after a successful apply.
    pub notes: Option<String>,
    /// Template path of each object (same order as `objects`), for `ikp get manifest`.
    pub sources: Vec<String>,
    /// The values the release was rendered with, recorded per revision for `ikp get values`.
    pub values: PlanValues,
}

/// The values of a release as `ikp get values` shows them: what the user gave and what the
/// templates saw. May hold secrets (the bastion's private key), so they are recorded only in a Secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanValues {
    /// The user's layers (`-f`, `--set`...) merged, without the chart defaults (`null` when none).
    pub user: serde_json::Value,
    /// The merged values the templates saw, chart defaults included.
    pub computed: serde_json::Value,
}

/// The release and chart a plan is for: what a revision records besides its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanMeta {
    /// Release name.
    pub name: String,
    /// Namespace the release (and its inventory) lives in.
    pub namespace: String,
    /// Chart name (`Chart.yaml` `name`).
    pub chart_name: String,
    /// Chart version (`Chart.yaml` `version`).
    pub chart_version: String,
    /// Chart appVersion, if any.
    pub app_version: Option<String>,
    /// Hex SHA-256 of the merged values; lets `history` tell whether the values changed.
    pub values_digest: String,
}

/// One rendered manifest document as the render pipeline hands it over.
#[derive(Debug, Clone)]
pub struct RenderedManifest {
    /// Template path from the `# Source:` line (e.g. `gateway/templates/service.yaml`).
    pub source: String,
    /// The document as Kubernetes reads it (the render pipeline parses YAML 1.1); `null` when empty.
    pub object: serde_json::Value,
}

impl RenderedManifest {
    /// A manifest from YAML text, read as YAML 1.1 the way Kubernetes and the render pipeline read it.
    pub fn from_yaml(source: &str, yaml: &str) -> Result<Self, ApplyError> {
        let object = read_document(yaml).map_err(|e| ApplyError::InvalidManifest {
            source_path: source.to_string(),
            reason: format!("not valid YAML: {e}"),
        })?;
        Ok(RenderedManifest {
            source: source.to_string(),
            object,
        })
    }
}

/// Identity of an object across revisions: what prune compares (the API version may change).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// API group (`""` for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        match &self.namespace {
            Some(ns) => write!(f, "{kind} {ns}/{}", self.name),
            None => write!(f, "{kind} {}", self.name),
        }
    }
}

/// A reference to an applied object as recorded in the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// API group (`""` for the core group).
    pub group: String,
    /// API version within the group.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// UID the server gave the object; absent while an apply is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl ObjectRef {
    /// The identity of the object, without version and uid.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// `group/version` or `version` for the core group.
    pub(super) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Reference to a (planned or live) object; namespace as set on the object.
    pub fn of(obj: &DynamicObject) -> Self {
        let (api_version, kind) = obj
            .types
            .as_ref()
            .map(|t| (t.api_version.as_str(), t.kind.as_str()))
            .unwrap_or_default();
        let (group, version) = split_api_version(api_version);
        ObjectRef {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            namespace: obj.metadata.namespace.clone(),
            name: obj.metadata.name.clone().unwrap_or_default(),
            uid: obj.metadata.uid.clone(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.key().fmt(f)
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (`""`, `v1`).
pub(super) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Hex SHA-256 of a values tree in canonical (sorted-key, compact) JSON.
pub fn values_digest(values: &serde_json::Value) -> String {
    let canonical = serde_json::to_vec(&sorted(values)).unwrap_or_default();
    let digest = Sha256::digest(&canonical);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A copy of `value` whose maps are key-sorted whatever map type serde_json was built with.
fn sorted(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let ordered: BTreeMap<&String, serde_json::Value> =
                map.iter().map(|(k, v)| (k, sorted(v))).collect();
            serde_json::Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(sorted).collect())
        }
        other => other.clone(),
    }
}

/// Checks one rendered manifest and turns it into an object; empty documents yield `None`.
fn parse_manifest(manifest: &RenderedManifest) -> Result<Option<DynamicObject>, ApplyError> {
    let invalid = |reason: String| ApplyError::InvalidManifest {
        source_path: manifest.source.clone(),
        reason,
    };
    let value = &manifest.object;
    if value.is_null() {
        return Ok(None);
    }
    if !value.is_object() {
        return Err(invalid("a manifest must be a mapping".to_string()));
    }
    for field in ["apiVersion", "kind"] {
        if value
            .get(field)
            .and_then(|v| v.as_str())
            .is_none_or(str::is_empty)
        {
            return Err(invalid(format!("`{field}` is missing or not a string")));
        }
    }
    let obj: DynamicObject = serde_json::from_value(value.clone())
        .map_err(|e| invalid(format!("not a Kubernetes object: {e}")))?;
    if obj.metadata.name.as_deref().is_none_or(str::is_empty) {
        return Err(invalid("`metadata.name` is missing".to_string()));
    }
    Ok(Some(obj))
}

impl ReleasePlan {
    /// Builds a plan for the release `meta` describes from rendered manifests (in install order),
    /// stamping each object for the release.
    pub fn from_manifests<'a>(
        meta: PlanMeta,
        manifests: impl IntoIterator<Item = &'a RenderedManifest>,
        notes: Option<String>,
    ) -> Result<Self, ApplyError> {
        let mut objects = Vec::new();
        let mut sources = Vec::new();
        for manifest in manifests {
            if let Some(obj) = parse_manifest(manifest)? {
                objects.push(obj);
                sources.push(manifest.source.clone());
            }
        }
        let mut plan = ReleasePlan {
            meta,
            objects,
            notes: notes.filter(|n| !n.trim().is_empty()),
            sources,
            values: PlanValues::default(),
        };
        plan.stamp_objects()?;
        Ok(plan)
    }

    /// Builds the plan of a release the render pipeline produced from `chart`.
    pub fn from_release(
        release: &crate::release::pipeline::Release,
        chart: &crate::release::chart::ChartMetadata,
    ) -> Result<Self, ApplyError> {
        let manifests: Vec<RenderedManifest> = release
            .rendered
            .manifests
            .iter()
            .map(|m| RenderedManifest {
                source: m.source.clone(),
                object: m.object.clone(),
            })
            .collect();
        let meta = PlanMeta {
            name: release.release.name.clone(),
            namespace: release.release.namespace.clone(),
            chart_name: chart.name.clone(),
            chart_version: chart.version.clone(),
            app_version: chart.app_version.clone(),
            values_digest: values_digest(&release.values.tree),
        };
        let mut plan =
            ReleasePlan::from_manifests(meta, &manifests, release.rendered.notes.clone())?;
        plan.values.computed = release.values.tree.clone();
        Ok(plan)
    }

    /// The plan with the user's own values (their layers merged without chart defaults) recorded.
    pub fn with_user_values(mut self, user: serde_json::Value) -> Self {
        self.values.user = user;
        self
    }

    /// The labels every object gets where the chart set none: the release and the managing tool.
    pub fn tracking_labels(&self) -> [(&'static str, String); 2] {
        [
            (INSTANCE_LABEL, self.meta.name.clone()),
            (MANAGED_BY_LABEL, "ikp".to_string()),
        ]
    }

    /// The annotations every object gets, whatever the chart set: the release that owns it.
    pub fn tracking_annotations(&self) -> [(&'static str, String); 2] {
        [
            (RELEASE_NAME_ANNOTATION, self.meta.name.clone()),
            (RELEASE_NAMESPACE_ANNOTATION, self.meta.namespace.clone()),
        ]
    }

    /// Adds the release labels and annotations to every object and rejects duplicates.
    fn stamp_objects(&mut self) -> Result<(), ApplyError> {
        let mut seen = BTreeMap::new();
        let tracking_labels = self.tracking_labels();
        let tracking_annotations = self.tracking_annotations();
        for obj in &mut self.objects {
            let labels = obj.metadata.labels.get_or_insert_with(BTreeMap::new);
            for (key, value) in &tracking_labels {
                labels
                    .entry((*key).to_string())
                    .or_insert_with(|| value.clone());
            }
            let annotations = obj.metadata.annotations.get_or_insert_with(BTreeMap::new);
            for (key, value) in &tracking_annotations {
                annotations.insert((*key).to_string(), value.clone());
            }
            let key = ObjectRef::of(obj).key();
            if seen.insert(key.clone(), ()).is_some() {
                return Err(ApplyError::DuplicateObject {
                    object: key.to_string(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(yaml: &str) -> RenderedManifest {
        RenderedManifest::from_yaml("gateway/templates/x.yaml", yaml).unwrap()
    }

    #[test]
    fn split_api_version_core_and_group() {
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
    }

    #[test]
    fn parse_rejects_missing_kind_naming_the_template() {
        let err = parse_manifest(&manifest("apiVersion: v1\nmetadata: {name: a}\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("gateway/templates/x.yaml"), "{text}");
        assert!(text.contains("`kind`"), "{text}");
    }

    #[test]
    fn parse_skips_empty_documents() {
        assert!(
            parse_manifest(&manifest("# only a comment\n"))
                .unwrap()
                .is_none()
        );
    }

    fn meta(chart: &str) -> PlanMeta {
        PlanMeta {
            name: "rel".into(),
            namespace: "ns".into(),
            chart_name: chart.into(),
            chart_version: "1.0.0".into(),
            app_version: None,
            values_digest: "d".into(),
        }
    }

    #[test]
    fn stamping_adds_release_annotations_and_keeps_chart_labels() {
        let m = manifest(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app.kubernetes.io/instance: rel\n",
        );
        let plan = ReleasePlan::from_manifests(meta("gateway"), [&m], None).unwrap();
        let meta = &plan.objects[0].metadata;
        let labels = meta.labels.as_ref().unwrap();
        assert_eq!(labels[INSTANCE_LABEL], "rel");
        assert_eq!(labels[MANAGED_BY_LABEL], "ikp");
        let annotations = meta.annotations.as_ref().unwrap();
        assert_eq!(annotations[RELEASE_NAME_ANNOTATION], "rel");
        assert_eq!(annotations[RELEASE_NAMESPACE_ANNOTATION], "ns");
    }

    #[test]
    fn duplicate_objects_are_rejected() {
        let m = manifest("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n");
        let err = ReleasePlan::from_manifests(meta("g"), [&m, &m], None).unwrap_err();
        assert!(err.to_string().contains("ConfigMap a"), "{err}");
    }

    #[test]
    fn digest_ignores_key_order() {
        let a: serde_json::Value = serde_json::json!({"a": 1, "b": {"c": 2, "d": 3}});
        let b: serde_json::Value =
            serde_json::from_str(r#"{"b": {"d": 3, "c": 2}, "a": 1}"#).unwrap();
        assert_eq!(values_digest(&a), values_digest(&b));
        assert_ne!(
            values_digest(&a),
            values_digest(&serde_json::json!({"a": 2}))
        );
    }
}
