//! What each revision of a release keeps besides its record entry: the values the user gave, the
//! computed values, the manifest as applied and the notes — what `ikp get` prints and `ikp rollback`
//! applies again.
//!
//! They may hold secrets (the bastion's private key is a value, and its Secret is in the manifest),
//! so they never go into the inventory ConfigMap: each revision gets a Secret `ikp.release.NAME.vN`
//! of type `ikp.io/release.v1` whose key `release` holds gzip of JSON, as Helm stores its releases
//! (Helm adds one more base64 layer; the API's own base64 of Secret data is enough here). The record
//! names the Secret of each revision, so a revision restored by `--atomic` shares its Secret with the
//! revision it restored. The compressed JSON must fit in [`MAX_STORED_BYTES`] (a Secret holds at most
//! 1 MiB), checked before any object changes; reading back inflates at most [`MAX_INFLATED_BYTES`].

use std::collections::BTreeSet;
use std::io::{Read, Write};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::inventory::{ReleaseRecord, Revision};
use super::plan::{PlanValues, ReleasePlan, RenderedManifest};
use super::{ApplyError, FIELD_MANAGER};
use crate::k8s::api::delete_by_label;

/// Label on every revision data Secret naming its release.
const DATA_RELEASE_LABEL: &str = "ikp.io/release-data";
/// Type of the revision data Secrets.
const DATA_SECRET_TYPE: &str = "ikp.io/release.v1";
/// Key of the compressed JSON in the Secret.
const DATA_KEY: &str = "release";
/// Largest compressed payload stored: a Secret's data may total 1 MiB, minus room for metadata.
const MAX_STORED_BYTES: usize = 1_000_000;
/// Largest JSON read back after inflating, so a tampered Secret cannot exhaust memory.
const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;

/// One object of a revision's manifest: its template path and the object as applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredObject {
    /// Template path (`gateway/templates/service.yaml`).
    pub source: String,
    /// The object as applied, with the release's labels and annotations.
    pub object: Value,
}

/// The values, manifest and notes of one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionData {
    /// The user's values and the computed values.
    pub values: PlanValues,
    /// The objects in install order.
    pub manifest: Vec<StoredObject>,
    /// Rendered NOTES.txt, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl RevisionData {
    /// The data of the revision `plan` is about to apply.
    pub fn of_plan(plan: &ReleasePlan) -> Self {
        let manifest = plan
            .objects
            .iter()
            .enumerate()
            .map(|(index, object)| StoredObject {
                source: plan.sources.get(index).cloned().unwrap_or_default(),
                object: serde_json::to_value(object).unwrap_or(Value::Null),
            })
            .collect();
        RevisionData {
            values: plan.values.clone(),
            manifest,
            notes: plan.notes.clone(),
        }
    }

    /// The manifest as rendered documents, for a plan that applies it again.
    pub fn manifests(&self) -> Vec<RenderedManifest> {
        self.manifest
            .iter()
            .map(|stored| RenderedManifest {
                source: stored.source.clone(),
                object: stored.object.clone(),
            })
            .collect()
    }

    /// gzip of the JSON, refused when larger than [`MAX_STORED_BYTES`].
    pub fn encode(&self, name: &str, revision: u32) -> Result<Vec<u8>, ApplyError> {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let compressed = gz
            .write_all(&json)
            .and_then(|()| gz.finish())
            .unwrap_or_default();
        if compressed.len() > MAX_STORED_BYTES {
            return Err(ApplyError::RevisionDataTooLarge {
                name: name.to_string(),
                revision,
                bytes: compressed.len(),
                limit: MAX_STORED_BYTES,
            });
        }
        Ok(compressed)
    }

    /// Reads back what [`RevisionData::encode`] wrote; the error says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_INFLATED_BYTES + 1)
            .read_to_end(&mut json)
            .map_err(|e| format!("not gzip: {e}"))?;
        if json.len() as u64 > MAX_INFLATED_BYTES {
            return Err(format!("inflates to more than {MAX_INFLATED_BYTES} bytes"));
        }
        serde_json::from_slice(&json).map_err(|e| format!("not the expected JSON: {e}"))
    }
}

/// Name of the Secret holding revision `revision` of release `name`.
fn data_secret_name(name: &str, revision: u32) -> String {
    format!("ikp.release.{name}.v{revision}")
}

/// Writes the data of revision `revision` (server-side apply, field manager `ikp`); returns the
/// Secret's name, which the record keeps.
pub async fn save(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    revision: u32,
    data: &RevisionData,
) -> Result<String, ApplyError> {
    let bytes = data.encode(name, revision)?;
    let secret_name = data_secret_name(name, revision);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(secret_name.clone()),
            namespace: Some(namespace.to_string()),
            labels: Some(
                [
                    (DATA_RELEASE_LABEL.to_string(), name.to_string()),
                    ("ikp.io/revision".to_string(), revision.to_string()),
                    (
                        "app.kubernetes.io/managed-by".to_string(),
                        "ikp".to_string(),
                    ),
                ]
                .into(),
            ),
            ..Default::default()
        },
        type_: Some(DATA_SECRET_TYPE.to_string()),
        data: Some([(DATA_KEY.to_string(), ByteString(bytes))].into()),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    // SSA needs apiVersion and kind in the body; the typed Secret serialises them.
    api.patch(
        &secret_name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .map_err(|source| ApplyError::Kube {
        action: "write revision data",
        object: format!("Secret {namespace}/{secret_name}"),
        source,
    })?;
    Ok(secret_name)
}

/// Reads the data of `revision` of `record`; a revision recorded without data is
/// [`ApplyError::RevisionDataMissing`].
pub async fn load(
    client: &kube::Client,
    record: &ReleaseRecord,
    revision: &Revision,
) -> Result<RevisionData, ApplyError> {
    let missing = |reason: String| ApplyError::RevisionDataMissing {
        name: record.name.clone(),
        namespace: record.namespace.clone(),
        revision: revision.revision,
        reason,
    };
    let secret_name = revision.data.as_deref().ok_or_else(|| {
        missing(
            "it was recorded by an ikp that kept only a digest of the values; apply the release again \
             to record a revision with them"
                .to_string(),
        )
    })?;
    let api: Api<Secret> = Api::namespaced(client.clone(), &record.namespace);
    let secret = api
        .get_opt(secret_name)
        .await
        .map_err(|source| ApplyError::Kube {
            action: "read revision data",
            object: format!("Secret {}/{secret_name}", record.namespace),
            source,
        })?
        .ok_or_else(|| {
            missing(format!(
                "its Secret {}/{secret_name} does not exist (deleted outside ikp)",
                record.namespace
            ))
        })?;
    let corrupt = |reason: String| ApplyError::RevisionDataCorrupt {
        name: record.name.clone(),
        namespace: record.namespace.clone(),
        revision: revision.revision,
        secret: secret_name.to_string(),
        reason,
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .ok_or_else(|| corrupt(format!("key {DATA_KEY} is missing")))?;
    RevisionData::decode(&bytes.0).map_err(corrupt)
}

/// The record entry and the data of a revision of release `namespace/name`: `revision`, else the
/// newest. A revision the record does not keep is [`ApplyError::RevisionNotFound`].
pub async fn revision_data(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    revision: Option<u32>,
) -> Result<(Revision, RevisionData), ApplyError> {
    let record = super::inventory::load_existing(client, namespace, name).await?;
    let number = revision.or_else(|| record.latest().map(|r| r.revision));
    let entry = number
        .and_then(|n| record.revision(n))
        .cloned()
        .ok_or_else(|| ApplyError::RevisionNotFound {
            name: name.to_string(),
            namespace: namespace.to_string(),
            revision: number.unwrap_or_default(),
            kept: super::decide::kept_revisions(&record),
        })?;
    let data = load(client, &record, &entry).await?;
    Ok((entry, data))
}

/// Deletes the data Secrets of release `name` that no kept revision of `record` names (trimmed by
/// `--history-max`, or left by an interrupted apply); with `record` `None` (uninstall), all of them.
pub(super) async fn delete_unreferenced(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    record: Option<&ReleaseRecord>,
) -> Result<usize, ApplyError> {
    let kept: BTreeSet<&str> = record
        .map(|r| {
            r.revisions
                .iter()
                .filter_map(|v| v.data.as_deref())
                .collect()
        })
        .unwrap_or_default();
    let selector = format!("{DATA_RELEASE_LABEL}={name}");
    delete_by_label::<Secret>(client, namespace, &selector, |meta| {
        meta.name.as_deref().is_some_and(|n| !kept.contains(n))
    })
    .await
    .map_err(|err| ApplyError::Kube {
        action: "delete revision data",
        object: format!("Secrets {namespace} with {selector}"),
        source: err.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(text: &str) -> RevisionData {
        RevisionData {
            values: PlanValues {
                user: serde_json::json!({"a": text}),
                computed: serde_json::json!({"a": text, "b": 1}),
            },
            manifest: vec![StoredObject {
                source: "c/templates/cm.yaml".into(),
                object: serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
            }],
            notes: Some("hello".into()),
        }
    }

    #[test]
    fn data_round_trips_through_gzip() {
        let original = data("x");
        let bytes = original.encode("r", 1).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
        assert_eq!(RevisionData::decode(&bytes).unwrap(), original);
    }

    #[test]
    fn data_too_large_for_a_secret_is_refused_naming_the_revision() {
        // Incompressible text: a pseudo-random sequence of letters.
        let mut state = 12345u64;
        let text: String = (0..1_500_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                char::from(b'a' + ((state >> 33) % 26) as u8)
            })
            .collect();
        let err = data(&text).encode("r", 7).unwrap_err().to_string();
        assert!(err.contains("revision 7"), "{err}");
        assert!(err.contains(&MAX_STORED_BYTES.to_string()), "{err}");
    }

    #[test]
    fn data_that_is_not_gzip_is_an_error_not_a_panic() {
        assert!(RevisionData::decode(b"plain").unwrap_err().contains("gzip"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"[1,2]").unwrap();
        let err = RevisionData::decode(&gz.finish().unwrap()).unwrap_err();
        assert!(err.contains("JSON"), "{err}");
    }

    #[test]
    fn secret_names_follow_the_record_name() {
        assert_eq!(data_secret_name("gw", 3), "ikp.release.gw.v3");
    }
}
