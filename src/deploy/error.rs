//! Errors of applying, diffing and uninstalling releases.

use std::fmt;
use std::time::Duration;

use crate::k8s::client::describe_error;

/// A field owned by another field manager that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// Field path as the server reports it (e.g. `.spec.replicas`).
    pub field: String,
    /// The field manager that owns it (e.g. `kubectl-edit`).
    pub manager: String,
}

/// An object a `--wait` gave up on, with what it was waiting for and the last thing it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitBlocker {
    /// The object, as `Kind namespace/name`.
    pub object: String,
    /// What readiness was still missing.
    pub waiting_for: String,
    /// The last status condition seen on the object, as `Type=Status reason: message`.
    pub last_condition: Option<String>,
    /// The newest event about the object or its pods, as `Reason: message`.
    pub last_event: Option<String>,
}

impl fmt::Display for WaitBlocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.object, self.waiting_for)?;
        if let Some(cond) = &self.last_condition {
            write!(f, "; last condition: {cond}")?;
        }
        if let Some(event) = &self.last_event {
            write!(f, "; last event: {event}")?;
        }
        Ok(())
    }
}

fn list_conflicts(conflicts: &[FieldConflict]) -> String {
    conflicts
        .iter()
        .map(|c| format!("{} (owned by field manager {:?})", c.field, c.manager))
        .collect::<Vec<_>>()
        .join(", ")
}

fn owned_by(owners: &[String]) -> String {
    if owners.is_empty() {
        return String::new();
    }
    let names: Vec<String> = owners.iter().map(|o| format!("{o:?}")).collect();
    format!(" (set by field manager {})", names.join(", "))
}

fn list_blockers(blockers: &[WaitBlocker]) -> String {
    blockers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Why an apply, diff, status or uninstall failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A rendered document is not a Kubernetes object.
    #[error("rendered manifest {source_path} is not a valid object: {reason}")]
    InvalidManifest {
        /// Template path of the document.
        source_path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two rendered documents describe the same object.
    #[error("the release renders {object} twice")]
    DuplicateObject {
        /// The duplicated object.
        object: String,
    },
    /// The cluster does not serve the object's kind.
    #[error("the cluster does not serve kind {kind} in API version {api_version}")]
    UnknownKind {
        /// apiVersion of the object.
        api_version: String,
        /// kind of the object.
        kind: String,
    },
    /// The release namespace does not exist and `--create-namespace` was not given.
    #[error("namespace {namespace:?} does not exist; pass --create-namespace to create it")]
    NamespaceMissing {
        /// The namespace.
        namespace: String,
    },
    /// No inventory exists for the release.
    #[error("release {name:?} not found in namespace {namespace:?}")]
    ReleaseNotFound {
        /// Release name.
        name: String,
        /// Namespace looked in.
        namespace: String,
    },
    /// The inventory object exists but cannot be read back.
    #[error(
        "the inventory of release {name:?} (ConfigMap {namespace}/{object}) is unreadable: {reason}"
    )]
    InventoryCorrupt {
        /// Release name.
        name: String,
        /// Namespace.
        namespace: String,
        /// Name of the inventory ConfigMap.
        object: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The revision asked for is not in the release's kept history.
    #[error(
        "release {name:?} in namespace {namespace:?} has no revision {revision}; kept revisions: {kept}"
    )]
    RevisionNotFound {
        /// Release name.
        name: String,
        /// Namespace.
        namespace: String,
        /// The revision asked for.
        revision: u32,
        /// The revisions the record keeps, as `1, 2, 3` (or `none`).
        kept: String,
    },
    /// `ikp rollback` without a revision, and the record keeps none before the newest.
    #[error(
        "release {name:?} in namespace {namespace:?} has no revision before {newest} to roll back to; name one of the kept revisions ({kept})"
    )]
    NoPreviousRevision {
        /// Release name.
        name: String,
        /// Namespace.
        namespace: String,
        /// The newest revision.
        newest: u32,
        /// The revisions the record keeps, as `1, 2, 3`.
        kept: String,
    },
    /// A revision's values, manifest and notes are not stored: recorded before ikp kept them, or their
    /// Secret was deleted.
    #[error(
        "revision {revision} of release {name:?} in namespace {namespace:?} has no stored values, manifest or notes: {reason}"
    )]
    RevisionDataMissing {
        /// Release name.
        name: String,
        /// Namespace.
        namespace: String,
        /// The revision.
        revision: u32,
        /// Why, and what to do.
        reason: String,
    },
    /// The stored values, manifest and notes of a revision cannot be read back.
    #[error(
        "the stored data of revision {revision} of release {name:?} (Secret {namespace}/{secret}) is unreadable: {reason}"
    )]
    RevisionDataCorrupt {
        /// Release name.
        name: String,
        /// Namespace.
        namespace: String,
        /// The revision.
        revision: u32,
        /// Name of the Secret.
        secret: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A revision's values, manifest and notes do not fit in one Secret even compressed.
    #[error(
        "revision {revision} of release {name:?}: its values, manifest and notes take {bytes} bytes compressed; at most {limit} fit in the Secret that records them"
    )]
    RevisionDataTooLarge {
        /// Release name.
        name: String,
        /// The revision.
        revision: u32,
        /// Compressed size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The object exists and belongs to another release.
    #[error(
        "{object} already exists and belongs to release {owner:?}; uninstall that release or rename this one"
    )]
    OwnedByOtherRelease {
        /// The object.
        object: String,
        /// `namespace/name` of the release that owns it.
        owner: String,
    },
    /// The object exists, carries no release's annotations, and `--take-ownership` was not given.
    #[error(
        "{object} already exists and was not made by ikp or Helm; pass --take-ownership to take it over"
    )]
    NotManaged {
        /// The object.
        object: String,
    },
    /// The object belongs to a Helm release and `--take-ownership` was not given.
    #[error(
        "{object} belongs to Helm release {owner:?}; pass --take-ownership to take it over (see README, Coming from Helm)"
    )]
    OwnedByHelm {
        /// The object.
        object: String,
        /// `namespace/name` of the Helm release.
        owner: String,
    },
    /// Helm records a release of the same name in the namespace and `--take-ownership` was not given.
    #[error(
        "release {name:?} in namespace {namespace:?} is a Helm release (Helm revision {revision}, chart {chart}); pass --take-ownership to take it over"
    )]
    HelmReleaseExists {
        /// Release name.
        name: String,
        /// Namespace.
        namespace: String,
        /// Newest Helm revision.
        revision: u32,
        /// `chart-version` of that revision.
        chart: String,
    },
    /// The Helm release being taken over has an object the render does not produce: taking over would
    /// leave it without an owner.
    #[error(
        "Helm release {release:?} has {object}, which this render does not produce; render it too (the values Helm had) or delete it before taking the release over"
    )]
    HelmObjectNotRendered {
        /// `namespace/name` of the Helm release.
        release: String,
        /// The object, as `Kind namespace/name`.
        object: String,
    },
    /// A Helm release Secret is unreadable.
    #[error("cannot read Helm's release record: {0}")]
    HelmRecord(#[from] super::helm::HelmRecordError),
    /// Server-side apply found fields owned by other field managers.
    #[error(
        "{object}: apply conflicts with other field managers on {}; re-run with --force-conflicts to take ownership",
        list_conflicts(conflicts)
    )]
    Conflict {
        /// The object.
        object: String,
        /// The conflicting fields and their owners.
        conflicts: Vec<FieldConflict>,
    },
    /// The apply changes a field the server does not allow to change.
    #[error("{object}: field {}{} cannot be changed once set ({message}); re-run with --force-recreate to delete and re-create the object", fields.join(", "), owned_by(owners))]
    Immutable {
        /// The object.
        object: String,
        /// The immutable fields the apply changes.
        fields: Vec<String>,
        /// Field managers that set those fields on the live object.
        owners: Vec<String>,
        /// The server's message.
        message: String,
    },
    /// The server rejected the object.
    #[error("{object}: rejected by the API server: {message}")]
    Rejected {
        /// The object.
        object: String,
        /// The server's message.
        message: String,
    },
    /// A call to the API server failed.
    #[error("{action} {object}: {}", describe_error(source))]
    Kube {
        /// What was being done (`apply`, `get`, `delete`, ...).
        action: &'static str,
        /// The object or collection.
        object: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// `--wait` gave up.
    #[error("timed out after {}s waiting for:\n  {}", timeout.as_secs(), list_blockers(blockers))]
    WaitTimeout {
        /// The timeout that expired.
        timeout: Duration,
        /// The objects that were not ready.
        blockers: Vec<WaitBlocker>,
    },
    /// The whole apply or uninstall did not finish within `--timeout` (the API server did not answer
    /// in time); the release record says what is left for the next apply or uninstall.
    #[error(
        "{operation} of release {release} did not finish within {}s (still {during}); the release is left for the next apply or uninstall to finish",
        timeout.as_secs()
    )]
    DeadlineExceeded {
        /// `apply`, `rollback` or `uninstall`.
        operation: &'static str,
        /// `namespace/name`.
        release: String,
        /// The limit.
        timeout: Duration,
        /// What was being done when it passed.
        during: String,
    },
    /// The apply failed and `--atomic` restored the previous state.
    #[error("{cause}\nrolled back: {outcome}")]
    RolledBack {
        /// Why the apply failed.
        #[source]
        cause: Box<ApplyError>,
        /// What the rollback did (`restored revision 3`, `uninstalled the first install`).
        outcome: String,
    },
    /// The apply failed and the `--atomic` rollback failed too.
    #[error("{cause}\nrollback failed as well: {rollback}")]
    RollbackFailed {
        /// Why the apply failed.
        #[source]
        cause: Box<ApplyError>,
        /// Why the rollback failed.
        rollback: Box<ApplyError>,
    },
}

impl ApplyError {
    /// Classifies an API error from applying `object` into conflict, immutable field, rejection or transport.
    pub(super) fn from_apply(object: String, action: &'static str, err: kube::Error) -> Self {
        let kube::Error::Api(status) = &err else {
            return ApplyError::Kube {
                action,
                object,
                source: err,
            };
        };
        let causes = status
            .details
            .as_ref()
            .map(|d| d.causes.as_slice())
            .unwrap_or_default();
        if crate::k8s::api::is_conflict(&err) && status.reason == "Conflict" {
            let conflicts: Vec<FieldConflict> = causes
                .iter()
                .filter(|c| c.reason == "FieldManagerConflict")
                .map(|c| FieldConflict {
                    field: c.field.clone(),
                    manager: manager_in_message(&c.message),
                })
                .collect();
            if !conflicts.is_empty() {
                return ApplyError::Conflict { object, conflicts };
            }
        }
        if status.code == 422 {
            let fields: Vec<String> = causes
                .iter()
                .filter(|c| c.message.contains("immutable"))
                .map(|c| c.field.clone())
                .collect();
            if !fields.is_empty() {
                return ApplyError::Immutable {
                    object,
                    fields,
                    owners: Vec::new(),
                    message: status.message.clone(),
                };
            }
        }
        // The apply machinery answers 500 when the object does not fit the schema (a number where a
        // string belongs, ...): a problem with the object, not with the server.
        let typed_patch = status.code == 500
            && status
                .message
                .contains("failed to create typed patch object");
        if typed_patch || matches!(status.code, 400 | 403 | 404 | 409 | 422) {
            return ApplyError::Rejected {
                object,
                message: status.message.clone(),
            };
        }
        ApplyError::Kube {
            action,
            object,
            source: err,
        }
    }
}

/// Pulls the manager out of `conflict with "kubectl-edit" using apps/v1`.
fn manager_in_message(message: &str) -> String {
    message
        .split('"')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{Status, response::StatusCause, response::StatusDetails};

    fn api_error(code: u16, reason: &str, causes: Vec<StatusCause>) -> kube::Error {
        let mut status = Status::failure("server says no", reason).with_code(code);
        status.details = Some(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes,
            retry_after_seconds: 0,
        });
        kube::Error::Api(Box::new(status))
    }

    fn cause(reason: &str, message: &str, field: &str) -> StatusCause {
        StatusCause {
            reason: reason.into(),
            message: message.into(),
            field: field.into(),
        }
    }

    #[test]
    fn conflict_names_field_owner_and_flag() {
        let err = api_error(
            409,
            "Conflict",
            vec![cause(
                "FieldManagerConflict",
                "conflict with \"kubectl-edit\" using apps/v1",
                ".spec.replicas",
            )],
        );
        let err = ApplyError::from_apply("Deployment.apps ns/gw".into(), "apply", err);
        let text = err.to_string();
        assert!(matches!(err, ApplyError::Conflict { .. }));
        assert!(text.contains(".spec.replicas"), "{text}");
        assert!(text.contains("\"kubectl-edit\""), "{text}");
        assert!(text.contains("--force-conflicts"), "{text}");
    }

    #[test]
    fn immutable_field_names_field_and_fix() {
        let err = api_error(
            422,
            "Invalid",
            vec![cause(
                "FieldValueInvalid",
                "Invalid value: ...: field is immutable",
                "spec.selector",
            )],
        );
        let text = ApplyError::from_apply("Deployment.apps ns/gw".into(), "apply", err).to_string();
        assert!(text.contains("spec.selector"), "{text}");
        assert!(text.contains("--force-recreate"), "{text}");
    }

    #[test]
    fn other_invalid_is_a_rejection_with_the_server_message() {
        let err = api_error(
            422,
            "Invalid",
            vec![cause("FieldValueInvalid", "bad port", "spec.ports[0].port")],
        );
        let err = ApplyError::from_apply("Service ns/s".into(), "apply", err);
        assert!(matches!(err, ApplyError::Rejected { .. }), "{err:?}");
    }
}
