//! The record of a release kept in its namespace: a ConfigMap `ikp.release.NAME` holding the
//! bounded revision history as JSON.
//!
//! A ConfigMap rather than a Secret because by construction it holds no secret material: object
//! references (group, version, kind, namespace, name, uid), chart identity, status, a digest
//! of the values and the name of the Secret holding each revision's values, manifest and notes
//! (see [`super::stored`]). It is written with server-side apply like everything else, and there is
//! no lock: a pending revision left by an interrupted apply is simply superseded by the next one.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};

use super::helm::HelmOrigin;
use super::plan::{ObjectKey, ObjectRef};
use super::{ApplyError, FIELD_MANAGER};

/// Label marking inventory ConfigMaps, so `list` can find them.
const INVENTORY_LABEL: &str = "ikp.io/inventory";
/// Label on the inventory naming its release.
const INVENTORY_RELEASE_LABEL: &str = "ikp.io/release-name";
/// Key of the JSON record inside the ConfigMap.
const RECORD_KEY: &str = "release.json";
/// Revisions kept by default.
pub const DEFAULT_HISTORY_MAX: usize = 10;

/// Name of the inventory ConfigMap of a release.
fn inventory_name(release: &str) -> String {
    format!("ikp.release.{release}")
}

/// Lifecycle state of one revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevisionStatus {
    /// An apply started and has not finished (or was interrupted).
    Pending,
    /// Applied (and ready, when waited for); the current revision.
    Deployed,
    /// Was deployed, replaced by a newer revision.
    Superseded,
    /// The apply or its wait failed.
    Failed,
}

impl fmt::Display for RevisionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RevisionStatus::Pending => "pending",
            RevisionStatus::Deployed => "deployed",
            RevisionStatus::Superseded => "superseded",
            RevisionStatus::Failed => "failed",
        })
    }
}

/// One revision of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// Revision number, from 1.
    pub revision: u32,
    /// Lifecycle state.
    pub status: RevisionStatus,
    /// Chart name.
    pub chart_name: String,
    /// Chart version.
    pub chart_version: String,
    /// Chart appVersion, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Hex SHA-256 of the merged values.
    pub values_digest: String,
    /// RFC 3339 time of the last status change.
    pub updated: String,
    /// What happened (`install`, `upgrade`, `rollback to 2`, the failure).
    pub description: String,
    /// Objects of the revision in install order.
    pub objects: Vec<ObjectRef>,
    /// Name of the Secret holding the revision's values, manifest and notes; absent in revisions
    /// recorded before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// The whole record of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRecord {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// Revisions, oldest first.
    pub revisions: Vec<Revision>,
    /// Set when the release was taken over from Helm: Helm's revision history, summarised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmOrigin>,
}

impl ReleaseRecord {
    /// An empty record for a first install.
    pub fn new(name: &str, namespace: &str) -> Self {
        ReleaseRecord {
            name: name.to_string(),
            namespace: namespace.to_string(),
            revisions: Vec::new(),
            helm: None,
        }
    }

    /// The newest revision.
    pub fn latest(&self) -> Option<&Revision> {
        self.revisions.last()
    }

    /// The newest revision that is deployed.
    pub(super) fn last_deployed(&self) -> Option<&Revision> {
        self.revisions
            .iter()
            .rev()
            .find(|r| r.status == RevisionStatus::Deployed)
    }

    /// Number the next revision gets.
    pub(super) fn next_revision(&self) -> u32 {
        self.revisions.last().map_or(1, |r| r.revision + 1)
    }

    /// Every object any kept revision mentions, newest revision's order first, without repeats.
    ///
    /// Pending and failed revisions count: an interrupted apply may have created their objects.
    pub(super) fn all_objects(&self) -> Vec<ObjectRef> {
        let mut seen = BTreeMap::<ObjectKey, ()>::new();
        let mut out = Vec::new();
        for revision in self.revisions.iter().rev() {
            for obj in &revision.objects {
                if seen.insert(obj.key(), ()).is_none() {
                    out.push(obj.clone());
                }
            }
        }
        out
    }

    /// Appends a revision, marks older deployed ones superseded when it is deployed, and keeps
    /// at most `history_max` revisions (the newest).
    pub fn push(&mut self, revision: Revision, history_max: usize) {
        if revision.status == RevisionStatus::Deployed {
            self.supersede_deployed();
        }
        self.revisions.push(revision);
        let keep = history_max.max(1);
        if self.revisions.len() > keep {
            let drop = self.revisions.len() - keep;
            self.revisions.drain(..drop);
        }
    }

    /// Marks every deployed revision superseded.
    pub(super) fn supersede_deployed(&mut self) {
        for r in &mut self.revisions {
            if r.status == RevisionStatus::Deployed {
                r.status = RevisionStatus::Superseded;
            }
        }
    }

    /// A revision by number.
    pub fn revision(&self, number: u32) -> Option<&Revision> {
        self.revisions.iter().find(|r| r.revision == number)
    }

    /// Mutable access to a revision by number.
    pub(super) fn revision_mut(&mut self, number: u32) -> Option<&mut Revision> {
        self.revisions.iter_mut().find(|r| r.revision == number)
    }

    fn from_config_map(cm: &ConfigMap, namespace: &str) -> Result<Self, ApplyError> {
        let object = cm.metadata.name.clone().unwrap_or_default();
        let name = object
            .strip_prefix("ikp.release.")
            .unwrap_or(&object)
            .to_string();
        let corrupt = |reason: String| ApplyError::InventoryCorrupt {
            name: name.clone(),
            namespace: namespace.to_string(),
            object: object.clone(),
            reason,
        };
        let text = cm
            .data
            .as_ref()
            .and_then(|d| d.get(RECORD_KEY))
            .ok_or_else(|| corrupt(format!("key {RECORD_KEY} is missing")))?;
        serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))
    }
}

/// Current time in RFC 3339.
pub(super) fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// Reads a release's record; `None` when the release does not exist.
pub async fn load(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<ReleaseRecord>, ApplyError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let object = inventory_name(name);
    let cm = api
        .get_opt(&object)
        .await
        .map_err(|source| ApplyError::Kube {
            action: "read inventory",
            object: format!("ConfigMap {namespace}/{object}"),
            source,
        })?;
    cm.map(|cm| ReleaseRecord::from_config_map(&cm, namespace))
        .transpose()
}

/// Reads a release's record or fails with a clear not-found error.
pub async fn load_existing(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<ReleaseRecord, ApplyError> {
    load(client, namespace, name)
        .await?
        .ok_or_else(|| ApplyError::ReleaseNotFound {
            name: name.to_string(),
            namespace: namespace.to_string(),
        })
}

/// Writes a release's record (server-side apply, field manager `ikp`).
pub async fn save(client: &kube::Client, record: &ReleaseRecord) -> Result<(), ApplyError> {
    let object = inventory_name(&record.name);
    let json = serde_json::to_string(record).map_err(|e| ApplyError::InventoryCorrupt {
        name: record.name.clone(),
        namespace: record.namespace.clone(),
        object: object.clone(),
        reason: e.to_string(),
    })?;
    let cm = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": object,
            "namespace": record.namespace,
            "labels": {
                INVENTORY_LABEL: "true",
                INVENTORY_RELEASE_LABEL: record.name,
                "app.kubernetes.io/managed-by": "ikp",
            },
        },
        "data": { RECORD_KEY: json },
    });
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &record.namespace);
    api.patch(
        &object,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&cm),
    )
    .await
    .map_err(|source| ApplyError::Kube {
        action: "write inventory",
        object: format!("ConfigMap {}/{object}", record.namespace),
        source,
    })?;
    // Revisions trimmed by `--history-max` (or lost by an interrupted apply) take their data along.
    // A release that keeps no revision data (see `ApplyOptions::keep_revision_data`) has none to
    // lose, and is spared the list.
    if keeps_revision_data(record) {
        super::stored::delete_unreferenced(client, &record.namespace, &record.name, Some(record))
            .await?;
    }
    Ok(())
}

/// Whether any revision of the release names revision data.
fn keeps_revision_data(record: &ReleaseRecord) -> bool {
    record.revisions.iter().any(|v| v.data.is_some())
}

/// Deletes a release's record and its revisions' data; succeeds when they are already gone. The data
/// is looked for by label whatever the record names, so none outlives its release.
pub async fn delete(client: &kube::Client, namespace: &str, name: &str) -> Result<(), ApplyError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let object = inventory_name(name);
    crate::k8s::api::delete_if_present(&api, &object)
        .await
        .map_err(|source| ApplyError::Kube {
            action: "delete inventory",
            object: format!("ConfigMap {namespace}/{object}"),
            source,
        })?;
    super::stored::delete_unreferenced(client, namespace, name, None).await?;
    Ok(())
}

/// Every release in one namespace, or in all namespaces when `namespace` is `None`.
pub async fn list(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<ReleaseRecord>, ApplyError> {
    let api: Api<ConfigMap> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let lp = ListParams::default().labels(&format!("{INVENTORY_LABEL}=true"));
    let cms = api.list(&lp).await.map_err(|source| ApplyError::Kube {
        action: "list",
        object: format!(
            "release inventories in {}",
            namespace.unwrap_or("all namespaces")
        ),
        source,
    })?;
    let mut out = Vec::new();
    for cm in &cms.items {
        let ns = cm.metadata.namespace.clone().unwrap_or_default();
        out.push(ReleaseRecord::from_config_map(cm, &ns)?);
    }
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> ObjectRef {
        ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Service".into(),
            namespace: Some("ns".into()),
            name: name.into(),
            uid: None,
        }
    }

    fn revision(n: u32, status: RevisionStatus, objects: Vec<ObjectRef>) -> Revision {
        Revision {
            revision: n,
            status,
            chart_name: "gateway".into(),
            chart_version: "1.0.0".into(),
            app_version: None,
            values_digest: "d".into(),
            updated: "t".into(),
            description: "x".into(),
            objects,
            data: None,
        }
    }

    #[test]
    fn push_supersedes_and_bounds_history() {
        let mut record = ReleaseRecord::new("r", "ns");
        for n in 1..=5 {
            record.push(revision(n, RevisionStatus::Deployed, vec![]), 3);
        }
        let numbers: Vec<u32> = record.revisions.iter().map(|r| r.revision).collect();
        assert_eq!(numbers, vec![3, 4, 5]);
        assert_eq!(record.last_deployed().map(|r| r.revision), Some(5));
        assert_eq!(record.revisions[0].status, RevisionStatus::Superseded);
        assert_eq!(record.next_revision(), 6);
    }

    #[test]
    fn all_objects_includes_pending_revisions_once() {
        let mut record = ReleaseRecord::new("r", "ns");
        record.push(
            revision(1, RevisionStatus::Deployed, vec![obj("a"), obj("b")]),
            10,
        );
        record.push(
            revision(2, RevisionStatus::Pending, vec![obj("a"), obj("c")]),
            10,
        );
        let names: Vec<String> = record.all_objects().into_iter().map(|o| o.name).collect();
        assert_eq!(names, vec!["a", "c", "b"]);
    }

    #[test]
    fn record_round_trips_through_a_config_map() {
        let mut record = ReleaseRecord::new("r", "ns");
        record.push(revision(1, RevisionStatus::Deployed, vec![obj("a")]), 10);
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(inventory_name("r")),
                ..Default::default()
            },
            data: Some(
                [(
                    RECORD_KEY.to_string(),
                    serde_json::to_string(&record).unwrap(),
                )]
                .into(),
            ),
            ..Default::default()
        };
        assert_eq!(ReleaseRecord::from_config_map(&cm, "ns").unwrap(), record);
    }

    #[test]
    fn a_config_map_without_the_record_is_reported_corrupt() {
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(inventory_name("r")),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = ReleaseRecord::from_config_map(&cm, "ns")
            .unwrap_err()
            .to_string();
        assert!(err.contains("release.json"), "{err}");
        assert!(err.contains("ikp.release.r"), "{err}");
    }
}
