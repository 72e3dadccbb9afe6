//! The decisions of an apply, a server dry run and a status, as pure functions of the release
//! record, the plan and what the cluster answered: which revision is started, recorded or restored,
//! what changed, what to prune, and the verdict on each object. The engine does the API calls around
//! them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::ApplyError;
use super::engine::ObjectChange;
use super::fields::strip_server_noise;
use super::inventory::{ReleaseRecord, Revision, RevisionStatus};
use super::plan::{ObjectKey, ObjectRef, ReleasePlan};
use super::wait::{Readiness, kstatus};

/// The revision an apply has started, and what it needs to finish or fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Started {
    /// The number of the new (pending) revision.
    pub number: u32,
    /// The newest deployed revision before it: what `--atomic` restores.
    pub previous: Option<Revision>,
    /// Every object an earlier kept revision mentions (pending and failed ones included).
    pub prune_candidates: Vec<ObjectRef>,
}

/// Why a revision is made, for its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RevisionCause {
    /// An install or an upgrade, whichever it turns out to be.
    Apply,
    /// The take-over of a Helm release of the same name, at this Helm revision.
    HelmTakeOver(u32),
    /// The user's `--description`.
    Described(String),
}

/// Starts a revision for `plan` with `objects` (in install order), recorded as pending at `now`.
///
/// Pending revisions left by an interrupted or racing apply become failed: this apply supersedes
/// them, and their objects stay prune candidates.
pub(super) fn start_revision(
    record: &mut ReleaseRecord,
    plan: &ReleasePlan,
    objects: Vec<ObjectRef>,
    cause: RevisionCause,
    now: &str,
) -> Started {
    for stale in record
        .revisions
        .iter_mut()
        .filter(|r| r.status == RevisionStatus::Pending)
    {
        stale.status = RevisionStatus::Failed;
        stale.description = format!("interrupted: {} did not finish", stale.description);
    }
    let previous = record.last_deployed().cloned();
    let prune_candidates = record.all_objects();
    let number = record.next_revision();
    let description = match (cause, &previous) {
        (RevisionCause::Described(description), _) => description,
        (RevisionCause::HelmTakeOver(helm), _) => {
            format!("take over Helm release at Helm revision {helm}")
        }
        (RevisionCause::Apply, Some(_)) => "upgrade".to_owned(),
        (RevisionCause::Apply, None) => "install".to_owned(),
    };
    record.push(
        Revision {
            revision: number,
            status: RevisionStatus::Pending,
            chart_name: plan.meta.chart_name.clone(),
            chart_version: plan.meta.chart_version.clone(),
            app_version: plan.meta.app_version.clone(),
            values_digest: plan.meta.values_digest.clone(),
            updated: now.to_owned(),
            description,
            objects,
            data: None,
        },
        usize::MAX,
    );
    Started {
        number,
        previous,
        prune_candidates,
    }
}

/// The candidates the new revision no longer renders: what prune deletes (if still owned).
pub(super) fn prune_targets(candidates: &[ObjectRef], planned: &[ObjectRef]) -> Vec<ObjectRef> {
    let planned: BTreeSet<ObjectKey> = planned.iter().map(ObjectRef::key).collect();
    candidates
        .iter()
        .filter(|c| !planned.contains(&c.key()))
        .cloned()
        .collect()
}

/// Records revision `number` as deployed at `now` with the applied `objects` (uids known), the
/// earlier deployed one as superseded, and keeps the newest `history_max` revisions (at least one).
pub(super) fn record_deployed(
    record: &mut ReleaseRecord,
    number: u32,
    objects: Vec<ObjectRef>,
    history_max: usize,
    now: &str,
) {
    record.supersede_deployed();
    if let Some(revision) = record.revision_mut(number) {
        revision.status = RevisionStatus::Deployed;
        revision.updated = now.to_owned();
        revision.objects = objects;
    }
    let keep = history_max.max(1);
    if record.revisions.len() > keep {
        let drop = record.revisions.len() - keep;
        record.revisions.drain(..drop);
    }
}

/// Records revision `number` as failed at `now`, described by the first line of `cause`.
pub(super) fn record_failed(
    record: &mut ReleaseRecord,
    number: u32,
    cause: &ApplyError,
    now: &str,
) {
    let text = cause.to_string();
    if let Some(revision) = record.revision_mut(number) {
        revision.status = RevisionStatus::Failed;
        revision.updated = now.to_owned();
        revision.description = text.lines().next().unwrap_or_default().to_owned();
    }
}

/// What the rollback of a failed first install deletes, in deletion order: the planned objects
/// (reversed install order), then anything an earlier interrupted revision recorded.
pub(super) fn first_install_cleanup(
    planned: &[ObjectRef],
    record: &ReleaseRecord,
) -> Vec<ObjectRef> {
    let keys: BTreeSet<ObjectKey> = planned.iter().map(ObjectRef::key).collect();
    let mut targets: Vec<ObjectRef> = planned.to_vec();
    targets.extend(
        record
            .all_objects()
            .into_iter()
            .filter(|o| !keys.contains(&o.key())),
    );
    targets.reverse();
    targets
}

/// Records the restore of `previous` after revision `failed` failed, as a new deployed revision at
/// `now`; `restored` are the objects put back (with their new uids). Returns its number.
pub(super) fn record_rollback(
    record: &mut ReleaseRecord,
    previous: &Revision,
    restored: &[ObjectRef],
    failed: u32,
    history_max: usize,
    now: &str,
) -> u32 {
    let objects = previous
        .objects
        .iter()
        .map(|o| {
            restored
                .iter()
                .find(|r| r.key() == o.key())
                .cloned()
                .unwrap_or_else(|| o.clone())
        })
        .collect();
    let number = record.next_revision();
    record.push(
        Revision {
            revision: number,
            status: RevisionStatus::Deployed,
            updated: now.to_owned(),
            description: format!(
                "rollback to {} after revision {failed} failed",
                previous.revision
            ),
            objects,
            ..previous.clone()
        },
        history_max.max(1),
    );
    number
}

/// What `--take-ownership` does to an object the apply would otherwise refuse (`refusal`), for a diff's
/// note; `None` for a refusal that is not about ownership.
pub(super) fn take_over_note(refusal: &ApplyError) -> Option<String> {
    match refusal {
        ApplyError::OwnedByHelm { owner, .. } => Some(format!(
            "--take-ownership takes it over from Helm release {owner:?} (Helm's annotations and field manager removed)"
        )),
        ApplyError::OwnedByOtherRelease { owner, .. } => Some(format!(
            "--take-ownership takes it over from release {owner:?}"
        )),
        ApplyError::NotManaged { .. } => {
            Some("--take-ownership takes it over (made by neither ikp nor Helm)".to_owned())
        }
        _ => None,
    }
}

/// The revision `ikp rollback` applies again: `requested`, else the one before the newest (as Helm's
/// `rollback NAME` picks). Anything the record does not keep is an error naming what it keeps.
pub(super) fn rollback_target(
    record: &ReleaseRecord,
    requested: Option<u32>,
) -> Result<Revision, ApplyError> {
    let number = match requested {
        Some(number) => number,
        None => {
            let newest = record.latest().map_or(0, |r| r.revision);
            let previous = newest.saturating_sub(1);
            if record.revision(previous).is_none() {
                return Err(ApplyError::NoPreviousRevision {
                    name: record.name.clone(),
                    namespace: record.namespace.clone(),
                    newest,
                    kept: kept_revisions(record),
                });
            }
            previous
        }
    };
    record
        .revision(number)
        .cloned()
        .ok_or_else(|| ApplyError::RevisionNotFound {
            name: record.name.clone(),
            namespace: record.namespace.clone(),
            revision: number,
            kept: kept_revisions(record),
        })
}

/// The numbers of the revisions a record keeps, as `1, 2, 3` (`none` when empty).
pub(super) fn kept_revisions(record: &ReleaseRecord) -> String {
    if record.revisions.is_empty() {
        return "none".to_owned();
    }
    record
        .revisions
        .iter()
        .map(|r| r.revision.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether two objects hold the same content, ignoring what the server alone changes.
fn same_content(a: &Value, b: &Value) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    strip_server_noise(&mut a);
    strip_server_noise(&mut b);
    a == b
}

/// What an apply did to an object that was `before` (absent: did not exist) and is `after`.
pub(super) fn applied_change(before: Option<&Value>, after: &Value) -> ObjectChange {
    let version = |v: &Value| {
        v.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match before {
        None => ObjectChange::Created,
        Some(before) if version(before) == version(after) => ObjectChange::Unchanged,
        // A controller may have written the status between our read and the apply (a Deployment
        // rolling out): the resourceVersion moved, the content did not.
        Some(before) if same_content(before, after) => ObjectChange::Unchanged,
        Some(_) => ObjectChange::Configured,
    }
}

/// The server dry run's verdict on one object: a field conflict or a refusal, else what the apply
/// would do given the `live` object and the `merged` result the server returned.
pub(super) fn dry_run_outcome(
    conflicts: Option<ApplyError>,
    merged: Result<Value, ApplyError>,
    live: Option<&Value>,
) -> Result<ObjectChange, ApplyError> {
    match (conflicts, merged) {
        (Some(conflict), _) => Err(conflict),
        (None, Err(err)) => Err(err),
        (None, Ok(merged)) => Ok(match live {
            None => ObjectChange::Created,
            Some(live) if same_content(live, &merged) => ObjectChange::Unchanged,
            Some(_) => ObjectChange::Configured,
        }),
    }
}

/// How `ikp status` describes a recorded object given its `live` state (absent: not found): `missing`,
/// `replaced outside ikp (uid differs)`, `ready` or `waiting for <what>`.
pub(super) fn object_state(reference: &ObjectRef, live: Option<&Value>) -> String {
    match live {
        None => "missing".to_owned(),
        Some(live)
            if reference.uid.is_some()
                && live.pointer("/metadata/uid").and_then(Value::as_str)
                    != reference.uid.as_deref() =>
        {
            "replaced outside ikp (uid differs)".to_owned()
        }
        // Every kind by the rules `--wait=watcher` waits with (kstatus), so `status` says "ready"
        // exactly when a watcher wait would be satisfied.
        Some(live) => match kstatus(&reference.group, &reference.kind, live) {
            Readiness::Ready => "ready".to_owned(),
            Readiness::Waiting(what) => format!("waiting for {what}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::deploy::PlanMeta;

    fn obj(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: Some("ns".into()),
            name: name.into(),
            uid: None,
        }
    }

    fn plan() -> ReleasePlan {
        ReleasePlan {
            meta: PlanMeta {
                name: "rel".into(),
                namespace: "ns".into(),
                chart_name: "gateway".into(),
                chart_version: "0.1.0".into(),
                app_version: None,
                values_digest: "d".into(),
            },
            objects: Vec::new(),
            notes: None,
            sources: Vec::new(),
            values: Default::default(),
        }
    }

    fn revision(number: u32, status: RevisionStatus, objects: Vec<ObjectRef>) -> Revision {
        Revision {
            revision: number,
            status,
            chart_name: "gateway".into(),
            chart_version: "0.1.0".into(),
            app_version: None,
            values_digest: "old".into(),
            updated: "t0".into(),
            description: "install".into(),
            objects,
            data: None,
        }
    }

    fn record(revisions: Vec<Revision>) -> ReleaseRecord {
        ReleaseRecord {
            revisions,
            ..ReleaseRecord::new("rel", "ns")
        }
    }

    #[test]
    fn a_first_install_starts_revision_one_with_nothing_to_prune() {
        let mut r = ReleaseRecord::new("rel", "ns");
        let started = start_revision(
            &mut r,
            &plan(),
            vec![obj("Secret", "s")],
            RevisionCause::Apply,
            "t1",
        );
        assert_eq!(started.number, 1);
        assert_eq!(started.previous, None);
        assert!(started.prune_candidates.is_empty());
        let pending = &r.revisions[0];
        assert_eq!(pending.status, RevisionStatus::Pending);
        assert_eq!(pending.description, "install");
        assert_eq!(pending.updated, "t1");
        assert_eq!(pending.objects, vec![obj("Secret", "s")]);
    }

    #[test]
    fn an_upgrade_fails_stale_pending_revisions_and_prunes_from_every_kept_one() {
        let mut r = record(vec![
            revision(1, RevisionStatus::Deployed, vec![obj("Secret", "a")]),
            revision(2, RevisionStatus::Pending, vec![obj("Secret", "b")]),
        ]);
        let started = start_revision(
            &mut r,
            &plan(),
            vec![obj("Secret", "a")],
            RevisionCause::Apply,
            "t3",
        );
        assert_eq!(started.number, 3);
        assert_eq!(started.previous.map(|p| p.revision), Some(1));
        assert_eq!(
            started.prune_candidates,
            vec![obj("Secret", "b"), obj("Secret", "a")]
        );
        assert_eq!(r.revisions[1].status, RevisionStatus::Failed);
        assert_eq!(
            r.revisions[1].description,
            "interrupted: install did not finish"
        );
        assert_eq!(r.revisions[2].description, "upgrade");
    }

    #[test]
    fn taking_over_a_helm_release_is_described_by_helms_revision() {
        let mut r = ReleaseRecord::new("rel", "ns");
        start_revision(
            &mut r,
            &plan(),
            vec![],
            RevisionCause::HelmTakeOver(4),
            "t1",
        );
        assert_eq!(
            r.revisions[0].description,
            "take over Helm release at Helm revision 4"
        );
        let mut r = record(vec![revision(1, RevisionStatus::Deployed, vec![])]);
        let described = RevisionCause::Described("pinned".into());
        start_revision(&mut r, &plan(), vec![], described, "t2");
        assert_eq!(r.revisions[1].description, "pinned");
    }

    #[test]
    fn prune_targets_are_the_candidates_no_longer_planned_whatever_their_version() {
        let mut moved = obj("Secret", "a");
        moved.version = "v2".into();
        let targets = prune_targets(
            &[
                obj("Secret", "a"),
                obj("ConfigMap", "a"),
                obj("Secret", "b"),
            ],
            &[moved],
        );
        assert_eq!(targets, vec![obj("ConfigMap", "a"), obj("Secret", "b")]);
    }

    #[test]
    fn a_deployed_revision_supersedes_the_last_and_history_is_cut_to_its_maximum() {
        let mut r = record(vec![
            revision(1, RevisionStatus::Superseded, vec![]),
            revision(2, RevisionStatus::Deployed, vec![]),
            revision(3, RevisionStatus::Pending, vec![obj("Secret", "a")]),
        ]);
        let mut applied = obj("Secret", "a");
        applied.uid = Some("u".into());
        record_deployed(&mut r, 3, vec![applied.clone()], 2, "t4");
        let numbers: Vec<u32> = r.revisions.iter().map(|r| r.revision).collect();
        assert_eq!(numbers, vec![2, 3]);
        assert_eq!(r.revisions[0].status, RevisionStatus::Superseded);
        assert_eq!(r.revisions[1].status, RevisionStatus::Deployed);
        assert_eq!(r.revisions[1].objects, vec![applied]);
        // A history maximum of 0 still keeps the deployed revision.
        record_deployed(&mut r, 3, vec![], 0, "t5");
        assert_eq!(r.revisions.len(), 1);
    }

    #[test]
    fn a_failed_revision_is_described_by_the_first_line_of_its_cause() {
        let mut r = record(vec![revision(1, RevisionStatus::Pending, vec![])]);
        let cause = ApplyError::NamespaceMissing {
            namespace: "ns".into(),
        };
        record_failed(&mut r, 1, &cause, "t2");
        assert_eq!(r.revisions[0].status, RevisionStatus::Failed);
        assert_eq!(r.revisions[0].updated, "t2");
        let first = cause.to_string();
        assert_eq!(r.revisions[0].description, first.lines().next().unwrap());
    }

    #[test]
    fn a_failed_first_install_deletes_what_it_planned_and_what_earlier_tries_left_newest_first() {
        let r = record(vec![revision(
            1,
            RevisionStatus::Failed,
            vec![obj("Secret", "old"), obj("Secret", "a")],
        )]);
        let cleanup = first_install_cleanup(&[obj("Secret", "a"), obj("Service", "b")], &r);
        assert_eq!(
            cleanup,
            vec![
                obj("Secret", "old"),
                obj("Service", "b"),
                obj("Secret", "a")
            ]
        );
    }

    #[test]
    fn a_rollback_records_the_previous_revision_again_with_the_restored_uids() {
        let previous = revision(
            1,
            RevisionStatus::Deployed,
            vec![obj("Secret", "a"), obj("Service", "b")],
        );
        let mut r = record(vec![
            previous.clone(),
            revision(2, RevisionStatus::Failed, vec![]),
        ]);
        let mut restored = obj("Secret", "a");
        restored.uid = Some("new".into());
        let number = record_rollback(&mut r, &previous, &[restored.clone()], 2, 10, "t3");
        assert_eq!(number, 3);
        let rollback = &r.revisions[2];
        assert_eq!(rollback.status, RevisionStatus::Deployed);
        assert_eq!(
            rollback.description,
            "rollback to 1 after revision 2 failed"
        );
        assert_eq!(rollback.values_digest, "old");
        assert_eq!(rollback.objects, vec![restored, obj("Service", "b")]);
        assert_eq!(r.revisions[0].status, RevisionStatus::Superseded);
    }

    #[test]
    fn an_apply_is_unchanged_when_the_version_or_the_content_stayed() {
        let before = json!({"metadata": {"name": "a", "resourceVersion": "1"}, "data": {"k": "v"}});
        assert_eq!(applied_change(None, &before), ObjectChange::Created);
        assert_eq!(
            applied_change(Some(&before), &before),
            ObjectChange::Unchanged
        );
        let status_only =
            json!({"metadata": {"name": "a", "resourceVersion": "2"}, "data": {"k": "v"}});
        assert_eq!(
            applied_change(Some(&before), &status_only),
            ObjectChange::Unchanged
        );
        let changed =
            json!({"metadata": {"name": "a", "resourceVersion": "2"}, "data": {"k": "w"}});
        assert_eq!(
            applied_change(Some(&before), &changed),
            ObjectChange::Configured
        );
    }

    #[test]
    fn a_dry_run_verdict_puts_conflicts_first_then_refusals_then_the_change() {
        let live = json!({"metadata": {"name": "a"}, "data": {"k": "v"}});
        let refusal = || ApplyError::NamespaceMissing {
            namespace: "ns".into(),
        };
        assert!(dry_run_outcome(Some(refusal()), Ok(live.clone()), None).is_err());
        assert!(dry_run_outcome(None, Err(refusal()), None).is_err());
        assert_eq!(
            dry_run_outcome(None, Ok(live.clone()), None).ok(),
            Some(ObjectChange::Created)
        );
        assert_eq!(
            dry_run_outcome(None, Ok(live.clone()), Some(&live)).ok(),
            Some(ObjectChange::Unchanged)
        );
        let merged = json!({"metadata": {"name": "a"}, "data": {"k": "w"}});
        assert_eq!(
            dry_run_outcome(None, Ok(merged), Some(&live)).ok(),
            Some(ObjectChange::Configured)
        );
    }

    #[test]
    fn status_tells_missing_replaced_waiting_and_ready_objects_apart() {
        let mut secret = obj("Secret", "s");
        assert_eq!(object_state(&secret, None), "missing");
        let live = json!({"metadata": {"name": "s", "uid": "u1"}});
        assert_eq!(object_state(&secret, Some(&live)), "ready");
        secret.uid = Some("u0".into());
        assert_eq!(
            object_state(&secret, Some(&live)),
            "replaced outside ikp (uid differs)"
        );
        let deployment = ObjectRef {
            group: "apps".into(),
            kind: "Deployment".into(),
            ..obj("Deployment", "d")
        };
        let rolling = json!({
            "metadata": {"name": "d", "generation": 1},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 0}
        });
        assert!(object_state(&deployment, Some(&rolling)).starts_with("waiting for "));
    }

    #[test]
    fn status_judges_every_kind_by_the_watcher_rules() {
        let widget = ObjectRef {
            group: "wait.ikp.test".into(),
            ..obj("Widget", "w")
        };
        let not_ready = json!({"metadata": {"name": "w"}, "status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "Building", "message": "half way"}
        ]}});
        assert_eq!(
            object_state(&widget, Some(&not_ready)),
            "waiting for Ready=False Building: half way"
        );
        let ready = json!({"metadata": {"name": "w"}, "status": {"conditions": [
            {"type": "Ready", "status": "True"}
        ]}});
        assert_eq!(object_state(&widget, Some(&ready)), "ready");
        let job = ObjectRef {
            group: "batch".into(),
            ..obj("Job", "j")
        };
        let running = json!({"metadata": {"name": "j"}, "status": {"active": 1}});
        assert_eq!(
            object_state(&job, Some(&running)),
            "waiting for the job to complete"
        );
        let pod = obj("Pod", "p");
        let pending = json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}});
        assert!(object_state(&pod, Some(&pending)).starts_with("waiting for the pod"));
    }

    #[test]
    fn take_over_notes_name_the_previous_owner() {
        let helm = ApplyError::OwnedByHelm {
            object: "ConfigMap ns/a".into(),
            owner: "ns/old".into(),
        };
        let note = take_over_note(&helm).unwrap();
        assert!(note.contains("Helm release \"ns/old\""), "{note}");
        let other = ApplyError::OwnedByOtherRelease {
            object: "ConfigMap ns/a".into(),
            owner: "ns/x".into(),
        };
        assert!(take_over_note(&other).unwrap().contains("release \"ns/x\""));
        let nobody = ApplyError::NotManaged {
            object: "ConfigMap ns/a".into(),
        };
        assert!(
            take_over_note(&nobody)
                .unwrap()
                .contains("neither ikp nor Helm")
        );
        let other_error = ApplyError::NamespaceMissing {
            namespace: "ns".into(),
        };
        assert_eq!(take_over_note(&other_error), None);
    }

    #[test]
    fn rollback_defaults_to_the_revision_before_the_newest() {
        let r = record(vec![
            revision(1, RevisionStatus::Superseded, vec![]),
            revision(2, RevisionStatus::Superseded, vec![]),
            revision(3, RevisionStatus::Deployed, vec![]),
        ]);
        assert_eq!(rollback_target(&r, None).unwrap().revision, 2);
        assert_eq!(rollback_target(&r, Some(1)).unwrap().revision, 1);
        assert_eq!(rollback_target(&r, Some(3)).unwrap().revision, 3);
    }

    #[test]
    fn rollback_to_a_revision_not_kept_names_the_kept_ones() {
        let r = record(vec![
            revision(4, RevisionStatus::Superseded, vec![]),
            revision(5, RevisionStatus::Deployed, vec![]),
        ]);
        let err = rollback_target(&r, Some(9)).unwrap_err().to_string();
        assert!(err.contains("no revision 9"), "{err}");
        assert!(err.contains("kept revisions: 4, 5"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let only = record(vec![revision(1, RevisionStatus::Deployed, vec![])]);
        let err = rollback_target(&only, None).unwrap_err().to_string();
        assert!(
            err.contains("no revision before 1 to roll back to") && err.contains("(1)"),
            "{err}"
        );
    }
}
