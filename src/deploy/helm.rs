//! Releases installed by Helm 3 or Helm 4, as `ikp apply --take-ownership` and `ikp list --all`
//! see them.
//!
//! Helm keeps one Secret per revision, `sh.helm.release.v1.NAME.vN`, labelled `owner=helm`,
//! `name=NAME`, `version=N`, `status=...`. Its `release` key holds base64 of gzip of the release
//! JSON (and the API server base64-encodes Secret data once more, which the client undoes). Only the
//! parts ikp needs are read: name, namespace, revision, status, chart identity, description, times
//! and the manifest; the values (`config`, which may hold private keys) are never deserialised.
//!
//! A take-over retires Helm's record by relabelling those Secrets: the `owner=helm` label is
//! removed and `ikp.io/retired-helm-release=NAME` added. Helm finds a release's history only through
//! `owner=helm,name=NAME`, so `helm uninstall`, `helm upgrade` and `helm list` no longer see the
//! release, while the Secrets stay as a backup (putting `owner=helm` back restores Helm's view).

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApplyError, FIELD_MANAGER};

/// Annotation Helm puts on every object of a release, naming the release.
pub const HELM_RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
/// Annotation Helm puts on every object of a release, naming the release's namespace.
const HELM_RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";
/// Field manager name Helm 3 (client-side apply, operation `Update`) and Helm 4 (server-side apply,
/// operation `Apply`) write objects with.
pub const HELM_FIELD_MANAGER: &str = "helm";
/// Label put on Helm's release Secrets when ikp has taken the release over; its value is the release name.
pub const RETIRED_LABEL: &str = "ikp.io/retired-helm-release";
/// Label Helm selects its release Secrets by (`owner=helm`).
const OWNER_LABEL: &str = "owner";
/// Value of [`OWNER_LABEL`] on Helm's release Secrets.
const OWNER_HELM: &str = "helm";
/// Largest decompressed release record read: Helm's own records are bounded by the 1 MiB Secret limit,
/// so anything expanding past this is not a release record.
const MAX_RECORD_BYTES: u64 = 16 * 1024 * 1024;

/// Why a Helm release Secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HelmRecordError {
    /// The Secret has no `release` key.
    #[error("Secret {namespace}/{secret} has no `release` key")]
    MissingKey {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        secret: String,
    },
    /// The `release` key is not base64.
    #[error("Secret {namespace}/{secret}: key `release` is not base64 ({reason})")]
    Base64 {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        secret: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The gzip stream is broken.
    #[error("Secret {namespace}/{secret}: key `release` is not valid gzip ({reason})")]
    Gzip {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        secret: String,
        /// The decompressor's complaint.
        reason: String,
    },
    /// The record decompresses to more than [`MAX_RECORD_BYTES`].
    #[error("Secret {namespace}/{secret}: the release record expands to more than {limit} bytes")]
    TooLarge {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        secret: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The JSON is not a Helm release.
    #[error("Secret {namespace}/{secret}: not a Helm release record ({reason})")]
    Json {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        secret: String,
        /// The parser's complaint.
        reason: String,
    },
}

/// The fields of Helm's release JSON that ikp reads.
#[derive(Deserialize)]
struct RecordJson {
    name: String,
    #[serde(default)]
    namespace: String,
    version: u32,
    #[serde(default)]
    info: InfoJson,
    #[serde(default)]
    chart: ChartJson,
    #[serde(default)]
    manifest: String,
    #[serde(default)]
    apply_method: Option<String>,
}

#[derive(Deserialize, Default)]
struct InfoJson {
    #[serde(default)]
    status: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    last_deployed: String,
}

#[derive(Deserialize, Default)]
struct ChartJson {
    #[serde(default)]
    metadata: ChartMetaJson,
}

#[derive(Deserialize, Default)]
struct ChartMetaJson {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "appVersion")]
    app_version: Option<String>,
}

/// One revision of a Helm release, read from its Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmRelease {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// Helm revision number.
    pub revision: u32,
    /// Helm's status (`deployed`, `superseded`, `failed`, `pending-upgrade`, ...).
    pub status: String,
    /// Chart name.
    pub chart_name: String,
    /// Chart version.
    pub chart_version: String,
    /// Chart appVersion, if any.
    pub app_version: Option<String>,
    /// When the revision was deployed (RFC 3339, as Helm wrote it).
    pub updated: String,
    /// Helm's description (`Install complete`, `Upgrade complete`, ...).
    pub description: String,
    /// The rendered manifest Helm applied.
    pub manifest: String,
    /// Whether Helm applied it with server-side apply (Helm 4's `apply_method: ssa`).
    pub server_side: bool,
    /// Name of the Secret holding the revision.
    pub secret: String,
}

impl HelmRelease {
    /// The summary kept in ikp's record after a take-over.
    pub fn summary(&self) -> HelmRevisionSummary {
        HelmRevisionSummary {
            revision: self.revision,
            status: self.status.clone(),
            chart: format!("{}-{}", self.chart_name, self.chart_version),
            app_version: self.app_version.clone(),
            updated: self.updated.clone(),
            description: self.description.clone(),
        }
    }
}

/// One Helm revision as ikp's record remembers it after a take-over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmRevisionSummary {
    /// Helm revision number.
    pub revision: u32,
    /// Helm's status of the revision.
    pub status: String,
    /// `chart-version`.
    pub chart: String,
    /// Chart appVersion, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// When Helm deployed it.
    pub updated: String,
    /// Helm's description.
    pub description: String,
}

/// Where a release taken over from Helm came from; kept in ikp's record for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmOrigin {
    /// RFC 3339 time of the take-over.
    pub taken_over: String,
    /// Helm's revisions, oldest first.
    pub revisions: Vec<HelmRevisionSummary>,
    /// Helm's release Secrets, relabelled so that Helm no longer sees them.
    pub retired_secrets: Vec<String>,
}

/// Decodes the `release` value of a Helm release Secret (already base64-decoded once by the client):
/// base64, then gzip when it starts with gzip's magic bytes (Helm also reads plain JSON), then JSON.
fn decode_record(
    namespace: &str,
    secret: &str,
    release: &[u8],
) -> Result<HelmRelease, HelmRecordError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(release.trim_ascii())
        .map_err(|e| HelmRecordError::Base64 {
            namespace: namespace.to_string(),
            secret: secret.to_string(),
            reason: e.to_string(),
        })?;
    let json = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| HelmRecordError::Gzip {
                namespace: namespace.to_string(),
                secret: secret.to_string(),
                reason: e.to_string(),
            })?;
        if out.len() as u64 > MAX_RECORD_BYTES {
            return Err(HelmRecordError::TooLarge {
                namespace: namespace.to_string(),
                secret: secret.to_string(),
                limit: MAX_RECORD_BYTES,
            });
        }
        out
    } else {
        raw
    };
    let record: RecordJson = serde_json::from_slice(&json).map_err(|e| HelmRecordError::Json {
        namespace: namespace.to_string(),
        secret: secret.to_string(),
        reason: e.to_string(),
    })?;
    Ok(HelmRelease {
        name: record.name,
        namespace: if record.namespace.is_empty() {
            namespace.to_string()
        } else {
            record.namespace
        },
        revision: record.version,
        status: record.info.status,
        chart_name: record.chart.metadata.name,
        chart_version: record.chart.metadata.version,
        app_version: record.chart.metadata.app_version,
        updated: record.info.last_deployed,
        description: record.info.description,
        manifest: record.manifest,
        server_side: record.apply_method.as_deref() == Some("ssa"),
        secret: secret.to_string(),
    })
}

fn decode_secret(secret: &Secret) -> Result<HelmRelease, ApplyError> {
    let namespace = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get("release"))
        .ok_or_else(|| HelmRecordError::MissingKey {
            namespace: namespace.clone(),
            secret: name.clone(),
        })?;
    Ok(decode_record(&namespace, &name, &data.0)?)
}

async fn list_secrets(
    client: &kube::Client,
    namespace: Option<&str>,
    selector: &str,
) -> Result<Vec<Secret>, ApplyError> {
    let api: Api<Secret> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|source| ApplyError::Kube {
            action: "list",
            object: format!(
                "Helm release Secrets ({selector}) in {}",
                namespace.unwrap_or("all namespaces")
            ),
            source,
        })?;
    Ok(list.items)
}

/// Every revision Helm records for release `name` in `namespace`, oldest first; empty when Helm
/// has no such release (or ikp has retired its record).
pub async fn history(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<HelmRelease>, ApplyError> {
    let selector = format!("{OWNER_LABEL}={OWNER_HELM},name={name}");
    let mut releases = Vec::new();
    for secret in list_secrets(client, Some(namespace), &selector).await? {
        releases.push(decode_secret(&secret)?);
    }
    releases.sort_by_key(|r| r.revision);
    Ok(releases)
}

/// The newest revision of every Helm release in `namespace` (all namespaces when `None`), sorted
/// by namespace and name. Only the newest Secret of each release is decoded.
pub async fn list_releases(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<HelmRelease>, ApplyError> {
    let selector = format!("{OWNER_LABEL}={OWNER_HELM}");
    let mut newest: BTreeMap<(String, String), (u32, Secret)> = BTreeMap::new();
    for secret in list_secrets(client, namespace, &selector).await? {
        let labels = secret.metadata.labels.clone().unwrap_or_default();
        let Some(name) = labels.get("name") else {
            continue;
        };
        let version = labels
            .get("version")
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        let key = (
            secret.metadata.namespace.clone().unwrap_or_default(),
            name.clone(),
        );
        if newest.get(&key).is_none_or(|(v, _)| version > *v) {
            newest.insert(key, (version, secret));
        }
    }
    newest.values().map(|(_, s)| decode_secret(s)).collect()
}

/// Relabels Helm's release Secrets so that Helm no longer finds the release (see the module docs).
pub(super) async fn retire(
    client: &kube::Client,
    namespace: &str,
    release: &str,
    secrets: &[String],
) -> Result<(), ApplyError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let patch = serde_json::json!({
        "metadata": { "labels": { OWNER_LABEL: Value::Null, RETIRED_LABEL: release } }
    });
    for secret in secrets {
        api.patch(
            secret,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PatchParams::default()
            },
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|source| ApplyError::Kube {
            action: "retire Helm's record",
            object: format!("Secret {namespace}/{secret}"),
            source,
        })?;
    }
    Ok(())
}

/// `(namespace, name)` of the Helm release whose annotations an object carries, if any.
pub fn helm_owner(object: &Value) -> Option<(String, String)> {
    let annotations = object.pointer("/metadata/annotations")?;
    let name = annotations.get(HELM_RELEASE_NAME_ANNOTATION)?.as_str()?;
    let namespace = annotations
        .get(HELM_RELEASE_NAMESPACE_ANNOTATION)
        .and_then(Value::as_str)
        .unwrap_or("");
    Some((namespace.to_string(), name.to_string()))
}

/// Whether Helm's field manager owns any field of the object.
fn has_helm_manager(object: &Value) -> bool {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries
                .iter()
                .any(|e| e.get("manager").and_then(Value::as_str) == Some(HELM_FIELD_MANAGER))
        })
}

/// The merge patch that hands an object over from Helm: its `managedFields` without Helm's entries
/// (so the fields Helm and ikp both set are ikp's alone), Helm's release annotations removed, and
/// the `resourceVersion` it was computed from, so a concurrent write makes it fail rather than lose
/// that write. `None` when Helm has nothing on the object.
pub(super) fn release_from_helm_patch(object: &Value) -> Option<Value> {
    if !has_helm_manager(object) && helm_owner(object).is_none() {
        return None;
    }
    let kept: Vec<Value> = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e.get("manager").and_then(Value::as_str) != Some(HELM_FIELD_MANAGER))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut metadata = serde_json::json!({
        "annotations": {
            HELM_RELEASE_NAME_ANNOTATION: Value::Null,
            HELM_RELEASE_NAMESPACE_ANNOTATION: Value::Null,
        },
        "managedFields": kept,
    });
    if let Some(rv) = object.pointer("/metadata/resourceVersion") {
        metadata["resourceVersion"] = rv.clone();
    }
    Some(serde_json::json!({ "metadata": metadata }))
}

/// Removes Helm's release annotations from an object, as the hand-over patch
/// ([`release_from_helm_patch`]) does: what a preview of a take-over shows.
pub(super) fn drop_release_annotations(object: &mut Value) {
    if let Some(Value::Object(annotations)) = object.pointer_mut("/metadata/annotations") {
        annotations.remove(HELM_RELEASE_NAME_ANNOTATION);
        annotations.remove(HELM_RELEASE_NAMESPACE_ANNOTATION);
    }
}

/// The `(apiVersion, kind, namespace, name)` of every object in a Helm manifest (YAML documents
/// separated by `---`), in order; documents that are not objects are skipped.
pub(super) fn manifest_objects(manifest: &str) -> Vec<(String, String, Option<String>, String)> {
    let mut out = Vec::new();
    for document in split_documents(manifest) {
        let Ok(value) = crate::compat::readback::read_document(document) else {
            continue;
        };
        let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
        if let (Some(api_version), Some(kind), Some(name)) =
            (text("/apiVersion"), text("/kind"), text("/metadata/name"))
        {
            out.push((
                api_version.to_string(),
                kind.to_string(),
                text("/metadata/namespace").map(str::to_string),
                name.to_string(),
            ));
        }
    }
    out
}

fn split_documents(manifest: &str) -> Vec<&str> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in manifest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            documents.push(&manifest[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    documents.push(&manifest[start..]);
    documents
        .into_iter()
        .filter(|d| !d.trim().is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn encode(json: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json).unwrap();
        let zipped = gz.finish().unwrap();
        base64::engine::general_purpose::STANDARD
            .encode(zipped)
            .into_bytes()
    }

    const RECORD: &str = r#"{"name":"gw","namespace":"ns","version":2,
        "info":{"status":"deployed","description":"Upgrade complete","last_deployed":"2026-01-01T00:00:00Z"},
        "chart":{"metadata":{"name":"gateway","version":"1.0.0","appVersion":"1.0.0"},"values":{}},
        "config":{"ssh":{"publicKey":"ssh-ed25519 AAAA"}},
        "manifest":"---\n# Source: gateway/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gw-gateway\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gw-gateway\n  namespace: other\n",
        "apply_method":"ssa"}"#;

    #[test]
    fn a_gzipped_record_decodes_to_its_revision_chart_and_manifest() {
        let release =
            decode_record("ns", "sh.helm.release.v1.gw.v2", &encode(RECORD.as_bytes())).unwrap();
        assert_eq!(release.name, "gw");
        assert_eq!(release.revision, 2);
        assert_eq!(release.status, "deployed");
        assert_eq!(release.chart_name, "gateway");
        assert_eq!(release.app_version.as_deref(), Some("1.0.0"));
        assert!(release.server_side);
        assert_eq!(
            manifest_objects(&release.manifest),
            vec![
                ("v1".into(), "ConfigMap".into(), None, "gw-gateway".into()),
                (
                    "apps/v1".into(),
                    "Deployment".into(),
                    Some("other".into()),
                    "gw-gateway".into()
                ),
            ]
        );
        assert_eq!(release.summary().chart, "gateway-1.0.0");
    }

    #[test]
    fn a_plain_json_record_is_read_too() {
        let plain = base64::engine::general_purpose::STANDARD.encode(RECORD);
        let release = decode_record("ns", "s", plain.as_bytes()).unwrap();
        assert_eq!(release.revision, 2);
    }

    #[test]
    fn broken_records_name_the_secret_and_the_layer() {
        let err = decode_record("ns", "sh.helm.release.v1.gw.v1", b"%%%").unwrap_err();
        assert!(matches!(err, HelmRecordError::Base64 { .. }), "{err}");
        assert!(
            err.to_string().contains("ns/sh.helm.release.v1.gw.v1"),
            "{err}"
        );

        let truncated = base64::engine::general_purpose::STANDARD.encode([0x1f, 0x8b, 8, 0, 0]);
        let err = decode_record("ns", "s", truncated.as_bytes()).unwrap_err();
        assert!(matches!(err, HelmRecordError::Gzip { .. }), "{err}");

        let err = decode_record("ns", "s", &encode(b"{\"name\": 1}")).unwrap_err();
        assert!(matches!(err, HelmRecordError::Json { .. }), "{err}");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; (MAX_RECORD_BYTES + 1024) as usize];
        let err = decode_record("ns", "s", &encode(&zeros)).unwrap_err();
        assert!(matches!(err, HelmRecordError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn the_hand_over_patch_drops_helm_managers_and_annotations_only() {
        let live = serde_json::json!({"metadata": {
            "resourceVersion": "42",
            "annotations": {HELM_RELEASE_NAME_ANNOTATION: "gw", "keep": "x"},
            "managedFields": [
                {"manager": "helm", "operation": "Update"},
                {"manager": "ikp", "operation": "Apply"},
                {"manager": "kube-controller-manager", "operation": "Update"},
            ],
        }});
        let patch = release_from_helm_patch(&live).unwrap();
        let managers: Vec<&str> = patch["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["ikp", "kube-controller-manager"]);
        assert_eq!(
            patch["metadata"]["annotations"][HELM_RELEASE_NAME_ANNOTATION],
            Value::Null
        );
        assert!(patch["metadata"]["annotations"].get("keep").is_none());
        assert_eq!(patch["metadata"]["resourceVersion"], "42");

        let untouched = serde_json::json!({"metadata": {"managedFields": [{"manager": "ikp"}]}});
        assert!(release_from_helm_patch(&untouched).is_none());
    }
}
