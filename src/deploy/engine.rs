//! Install/upgrade, server dry-run, status and uninstall of a release.
//!
//! Order of an apply, chosen so that a process killed at any point leaves a state the next apply
//! converges from: the new revision is recorded as `pending` (with the objects it is about to
//! apply) before any object changes; objects are applied in install order; `--wait` runs; only then
//! are objects of earlier revisions that are no longer rendered pruned; finally the revision is
//! marked `deployed`. Prune candidates are the objects of every kept revision, pending and failed
//! ones included, so objects created by an interrupted apply are found again.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use super::decide::{self, RevisionCause, Started};
use super::fields::{applied_configuration, owners_of};
use super::helm;
use super::inventory::{self, ReleaseRecord, Revision, now_rfc3339};
use super::plan::{ObjectKey, ObjectRef, ReleasePlan};
use super::resolve::Resolver;
use super::stored;
use super::wait::{WaitState, WaitStrategy};
use super::{ApplyError, FIELD_MANAGER, RELEASE_NAME_ANNOTATION, RELEASE_NAMESPACE_ANNOTATION};
use crate::k8s::api::{
    ApiCallError, create_namespace, delete_if_present, is_not_found, namespace_exists,
};

/// How often object deletion is polled for completion.
const DELETE_POLL: Duration = Duration::from_millis(500);

/// What happened (or would happen) to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectChange {
    /// It did not exist and was created.
    Created,
    /// It existed and changed.
    Configured,
    /// It existed and nothing changed.
    Unchanged,
    /// It was deleted and created again to change an immutable field.
    Recreated,
    /// It belonged to an earlier revision and was deleted.
    Pruned,
    /// It was deleted by an uninstall or by the rollback of a first install.
    Deleted,
}

impl std::fmt::Display for ObjectChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ObjectChange::Created => "created",
            ObjectChange::Configured => "configured",
            ObjectChange::Unchanged => "unchanged",
            ObjectChange::Recreated => "recreated",
            ObjectChange::Pruned => "pruned",
            ObjectChange::Deleted => "deleted",
        })
    }
}

/// Receives progress of long operations; the CLI prints it, tests may record it.
pub trait Reporter: Send {
    /// An object was applied (or deleted by prune/uninstall).
    fn changed(&mut self, _object: &ObjectRef, _change: ObjectChange) {}
    /// An object is still not ready.
    fn waiting(&mut self, _object: &ObjectRef, _waiting_for: &str, _elapsed: Duration) {}
    /// An object became ready.
    fn ready(&mut self, _object: &ObjectRef, _elapsed: Duration) {}
    /// Anything else worth telling the user.
    fn note(&mut self, _message: &str) {}
}

/// A reporter that drops everything.
impl Reporter for () {}

/// Options of `apply`.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Create the release namespace if it does not exist.
    pub create_namespace: bool,
    /// Take ownership of fields other field managers own.
    pub force_conflicts: bool,
    /// Delete and re-create objects whose immutable fields change.
    pub force_recreate: bool,
    /// Wait for the objects to become ready before declaring success.
    pub wait: bool,
    /// Which objects `wait` waits for, and by which rules.
    pub wait_strategy: WaitStrategy,
    /// Description recorded for the new revision instead of `install`/`upgrade`.
    pub description: Option<String>,
    /// How long `wait` may take.
    pub timeout: Duration,
    /// Restore the previous revision (or remove a first install) when the apply or wait fails.
    pub atomic: bool,
    /// Revisions kept in the inventory.
    pub history_max: usize,
    /// Take over objects that belong to another release, to a Helm release or to nobody, and a Helm
    /// release of the same name (its record is retired, see [`super::helm`]).
    pub take_ownership: bool,
    /// Keep each revision's values, manifest and notes (a Secret per revision, see [`stored`]) for
    /// `ikp get` and `ikp rollback`. The per-pod tunnel releases of `ikp serve` go without: nobody
    /// gets or rolls them back, and the data would be one more copy of the tunnel's private key and
    /// more API requests on every `/create` and `/delete`.
    pub keep_revision_data: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            create_namespace: false,
            force_conflicts: false,
            force_recreate: false,
            wait: false,
            wait_strategy: WaitStrategy::default(),
            description: None,
            timeout: Duration::from_secs(300),
            atomic: false,
            history_max: inventory::DEFAULT_HISTORY_MAX,
            take_ownership: false,
            keep_revision_data: true,
        }
    }
}

/// Result of a successful apply.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    /// The revision that is now deployed.
    pub revision: u32,
    /// Every applied object and what happened to it, in install order.
    pub changes: Vec<(ObjectRef, ObjectChange)>,
    /// Objects of earlier revisions deleted because they are no longer rendered.
    pub pruned: Vec<ObjectRef>,
}

/// The server's verdict on one object in a `--dry-run=server`.
#[derive(Debug)]
pub struct DryRunVerdict {
    /// The object.
    pub object: ObjectRef,
    /// What the apply would do, or why the server refuses it.
    pub outcome: Result<ObjectChange, ApplyError>,
}

/// Options of `uninstall`.
#[derive(Debug, Clone)]
pub struct UninstallOptions {
    /// Wait until every deleted object is gone.
    pub wait: bool,
    /// How long `wait` may take.
    pub timeout: Duration,
}

/// One object of the plan, placed in its namespace, with the API to reach it.
struct PlacedObject {
    pub reference: ObjectRef,
    pub body: Value,
    pub api: Api<DynamicObject>,
}

/// An applied object and its state before the apply (for rollback).
struct AppliedObject {
    placed_index: usize,
    before: Option<Value>,
}

/// Resolves every planned object's API and namespace; fails before any change if a kind is unknown.
async fn place_objects(
    resolver: &mut Resolver,
    plan: &ReleasePlan,
) -> Result<Vec<PlacedObject>, ApplyError> {
    let mut placed = Vec::with_capacity(plan.objects.len());
    for obj in &plan.objects {
        let mut obj = obj.clone();
        let mut reference = ObjectRef::of(&obj);
        let (_, namespaced) = resolver
            .resource(&reference.api_version(), &reference.kind)
            .await?;
        if namespaced {
            let ns = obj
                .metadata
                .namespace
                .get_or_insert_with(|| plan.meta.namespace.clone());
            reference.namespace = Some(ns.clone());
        } else {
            obj.metadata.namespace = None;
            reference.namespace = None;
        }
        let api = resolver.api_for(&reference).await?;
        let body = serde_json::to_value(&obj).map_err(|e| ApplyError::InvalidManifest {
            source_path: reference.to_string(),
            reason: e.to_string(),
        })?;
        placed.push(PlacedObject {
            reference,
            body,
            api,
        });
    }
    Ok(placed)
}

fn to_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// `namespace/name` of the release an object's annotations name, if any.
fn owning_release(obj: &Value) -> Option<(String, String)> {
    let annotations = obj.pointer("/metadata/annotations")?;
    let name = annotations.get(RELEASE_NAME_ANNOTATION)?.as_str()?;
    let namespace = annotations
        .get(RELEASE_NAMESPACE_ANNOTATION)
        .and_then(Value::as_str)
        .unwrap_or("");
    Some((namespace.to_string(), name.to_string()))
}

fn owned_by(obj: &Value, namespace: &str, name: &str) -> bool {
    owning_release(obj).is_some_and(|(ns, n)| ns == namespace && n == name)
}

/// Fails if `live` exists and is not this release's, unless `take_ownership`: it belongs to another
/// ikp release, to a Helm release, or carries neither's annotations.
fn check_owner(
    live: Option<&Value>,
    reference: &ObjectRef,
    plan: &ReleasePlan,
    take_ownership: bool,
) -> Result<(), ApplyError> {
    let Some(live) = live else {
        return Ok(());
    };
    if take_ownership {
        return Ok(());
    }
    match owning_release(live) {
        Some((ns, name)) if ns == plan.meta.namespace && name == plan.meta.name => Ok(()),
        Some((ns, name)) => Err(ApplyError::OwnedByOtherRelease {
            object: reference.to_string(),
            owner: format!("{ns}/{name}"),
        }),
        None => match helm::helm_owner(live) {
            Some((ns, name)) => Err(ApplyError::OwnedByHelm {
                object: reference.to_string(),
                owner: format!("{ns}/{name}"),
            }),
            None => Err(ApplyError::NotManaged {
                object: reference.to_string(),
            }),
        },
    }
}

/// Pod templates of a release taken over from Helm keep Helm's `app.kubernetes.io/managed-by: Helm`
/// label: the pods Helm started carry it, and changing a pod template label rolls out new pods.
/// The workload objects themselves are labelled `ikp` as usual.
fn keep_helm_pod_template_label(placed: &mut [PlacedObject]) {
    for object in placed {
        if let Some(label) = object
            .body
            .pointer_mut("/spec/template/metadata/labels/app.kubernetes.io~1managed-by")
            && label.as_str() == Some("ikp")
        {
            *label = Value::String("Helm".to_string());
        }
    }
}

/// The objects of Helm's newest revision, checked against the plan: every one must be rendered,
/// else the take-over would leave it without an owner.
async fn check_helm_objects_rendered(
    resolver: &mut Resolver,
    helm_release: &helm::HelmRelease,
    placed: &[PlacedObject],
    plan: &ReleasePlan,
) -> Result<(), ApplyError> {
    let planned: BTreeSet<ObjectKey> = placed.iter().map(|p| p.reference.key()).collect();
    for (api_version, kind, namespace, name) in helm::manifest_objects(&helm_release.manifest) {
        let (_, namespaced) = resolver.resource(&api_version, &kind).await?;
        let (group, _) = super::plan::split_api_version(&api_version);
        let key = ObjectKey {
            group: group.to_string(),
            kind: kind.clone(),
            namespace: namespaced.then(|| namespace.unwrap_or_else(|| plan.meta.namespace.clone())),
            name: name.clone(),
        };
        if !planned.contains(&key) {
            return Err(ApplyError::HelmObjectNotRendered {
                release: format!("{}/{}", helm_release.namespace, helm_release.name),
                object: key.to_string(),
            });
        }
    }
    Ok(())
}

/// Moves an object's fields from Helm's field manager to ikp's and drops Helm's release annotations
/// (see [`helm::release_from_helm_patch`]); retried when the object changed in between.
async fn release_from_helm(
    object: &PlacedObject,
    mut applied: DynamicObject,
) -> Result<DynamicObject, ApplyError> {
    for _ in 0..5 {
        let Some(patch) = helm::release_from_helm_patch(&to_value(&applied)) else {
            return Ok(applied);
        };
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        match object
            .api
            .patch(&object.reference.name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(done) => return Ok(done),
            Err(err) if crate::k8s::api::is_conflict(&err) => {
                applied = object
                    .api
                    .get(&object.reference.name)
                    .await
                    .map_err(|source| ApplyError::Kube {
                        action: "get",
                        object: object.reference.to_string(),
                        source,
                    })?;
            }
            Err(source) => {
                return Err(ApplyError::Kube {
                    action: "take over from Helm",
                    object: object.reference.to_string(),
                    source,
                });
            }
        }
    }
    Err(ApplyError::Rejected {
        object: object.reference.to_string(),
        message: "kept changing while its fields were handed over from Helm (5 attempts)".into(),
    })
}

/// Makes sure the release namespace exists (creating it when allowed).
async fn ensure_namespace(
    client: &kube::Client,
    namespace: &str,
    create: bool,
    dry_run: bool,
) -> Result<bool, ApplyError> {
    let failed = |action| {
        move |err: ApiCallError| ApplyError::Kube {
            action,
            object: format!("Namespace {namespace}"),
            source: err.source,
        }
    };
    if namespace_exists(client, namespace)
        .await
        .map_err(failed("get"))?
    {
        return Ok(true);
    }
    if !create {
        return Err(ApplyError::NamespaceMissing {
            namespace: namespace.to_string(),
        });
    }
    if dry_run {
        return Ok(false);
    }
    create_namespace(client, namespace, Default::default(), FIELD_MANAGER)
        .await
        .map_err(failed("create"))?;
    Ok(true)
}

fn apply_params(force: bool, dry_run: bool) -> PatchParams {
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    pp.force = force;
    pp.dry_run = dry_run;
    pp
}

/// Deletes an object and waits until it is gone (or replaced by an object with another uid).
async fn delete_and_wait(
    api: &Api<DynamicObject>,
    reference: &ObjectRef,
) -> Result<(), ApplyError> {
    let uid = match api
        .delete(&reference.name, &DeleteParams::background())
        .await
    {
        Ok(either) => either.left().and_then(|o| o.uid()),
        Err(err) if is_not_found(&err) => return Ok(()),
        Err(source) => {
            return Err(ApplyError::Kube {
                action: "delete",
                object: reference.to_string(),
                source,
            });
        }
    };
    loop {
        match api.get_opt(&reference.name).await {
            Ok(None) => return Ok(()),
            Ok(Some(obj)) if uid.is_some() && obj.uid() != uid => return Ok(()),
            Ok(Some(_)) => tokio::time::sleep(DELETE_POLL).await,
            Err(source) => {
                return Err(ApplyError::Kube {
                    action: "get",
                    object: reference.to_string(),
                    source,
                });
            }
        }
    }
}

/// Applies one object; with `force_recreate`, replaces it when an immutable field changes.
async fn apply_one(
    placed: &PlacedObject,
    before: Option<&Value>,
    options: &ApplyOptions,
) -> Result<(DynamicObject, ObjectChange), ApplyError> {
    let pp = apply_params(options.force_conflicts, false);
    let name = &placed.reference.name;
    let result = placed
        .api
        .patch(name, &pp, &Patch::Apply(&placed.body))
        .await;
    let applied = match result {
        Ok(obj) => obj,
        Err(err) => match ApplyError::from_apply(placed.reference.to_string(), "apply", err) {
            ApplyError::Immutable { .. } if options.force_recreate => {
                delete_and_wait(&placed.api, &placed.reference).await?;
                let obj = placed
                    .api
                    .patch(name, &pp, &Patch::Apply(&placed.body))
                    .await
                    .map_err(|e| {
                        ApplyError::from_apply(placed.reference.to_string(), "apply", e)
                    })?;
                return Ok((obj, ObjectChange::Recreated));
            }
            ApplyError::Immutable {
                object,
                fields,
                message,
                ..
            } => {
                let mut owners = Vec::new();
                for field in &fields {
                    for owner in before.map(|b| owners_of(b, field)).unwrap_or_default() {
                        if !owners.contains(&owner) {
                            owners.push(owner);
                        }
                    }
                }
                return Err(ApplyError::Immutable {
                    object,
                    fields,
                    owners,
                    message,
                });
            }
            other => return Err(other),
        },
    };
    let change = decide::applied_change(before, &to_value(&applied));
    Ok((applied, change))
}

async fn get_live(
    api: &Api<DynamicObject>,
    reference: &ObjectRef,
) -> Result<Option<Value>, ApplyError> {
    api.get_opt(&reference.name)
        .await
        .map(|o| o.as_ref().map(to_value))
        .map_err(|source| ApplyError::Kube {
            action: "get",
            object: reference.to_string(),
            source,
        })
}

/// What an operation bounded by a deadline is doing, for the error when the deadline passes.
#[derive(Default)]
struct Step(std::sync::Mutex<String>);

impl Step {
    fn set(&self, what: impl Into<String>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = what.into();
    }

    fn get(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Time kept back at the end of `--timeout` so that a `--wait` running out still leaves room to record
/// the failed revision (and roll back with `--atomic`) before the deadline.
fn finish_reserve(timeout: Duration) -> Duration {
    (timeout / 6).min(Duration::from_secs(5))
}

/// Runs `operation` until `deadline` (`timeout` after the operation's clock started); every API call of
/// it is cut off by then, so a paused or unreachable API server cannot hold it longer.
async fn bounded<T>(
    operation: &'static str,
    release: String,
    timeout: Duration,
    deadline: tokio::time::Instant,
    step: &Step,
    work: impl Future<Output = Result<T, ApplyError>>,
) -> Result<T, ApplyError> {
    match tokio::time::timeout_at(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(ApplyError::DeadlineExceeded {
            operation,
            release,
            timeout,
            during: step.get(),
        }),
    }
}

/// Installs or upgrades a release. The whole operation (API discovery, reads, applies, `wait`,
/// prune, recording, `atomic` rollback) ends within `options.timeout`; when that passes, the
/// release is left `pending` or `failed` and the next apply or uninstall takes over its objects.
pub async fn apply_release(
    client: &kube::Client,
    plan: &ReleasePlan,
    options: &ApplyOptions,
    reporter: &mut dyn Reporter,
) -> Result<ApplyOutcome, ApplyError> {
    let deadline = tokio::time::Instant::now() + options.timeout;
    apply_release_by(client, plan, options, reporter, deadline).await
}

/// Like [`apply_release`], ending by `deadline` instead of `options.timeout` from now: `ikp apply`
/// counts its `--timeout` from the start of the command, so the time spent rendering and loading the
/// kubeconfig (long on a starved machine) is inside it.
pub async fn apply_release_by(
    client: &kube::Client,
    plan: &ReleasePlan,
    options: &ApplyOptions,
    reporter: &mut dyn Reporter,
    deadline: tokio::time::Instant,
) -> Result<ApplyOutcome, ApplyError> {
    let step = Step::default();
    bounded(
        "apply",
        format!("{}/{}", plan.meta.namespace, plan.meta.name),
        options.timeout,
        deadline,
        &step,
        apply_until(client, plan, options, reporter, deadline, &step),
    )
    .await
}

/// One apply in progress: what every step of it needs.
struct ApplyRun<'a> {
    client: &'a kube::Client,
    plan: &'a ReleasePlan,
    /// The caller's options; with `take_ownership`, conflicts are forced.
    options: ApplyOptions,
    reporter: &'a mut dyn Reporter,
    step: &'a Step,
    resolver: Resolver,
}

/// What an apply has done when a step fails: what `--atomic` undoes.
struct Failure<'a> {
    record: ReleaseRecord,
    started: Started,
    placed: &'a [PlacedObject],
    applied: &'a [AppliedObject],
    cause: ApplyError,
    /// A Helm release is being taken over: its objects are never rolled back.
    taking_over: bool,
}

async fn apply_until(
    client: &kube::Client,
    plan: &ReleasePlan,
    options: &ApplyOptions,
    reporter: &mut dyn Reporter,
    deadline: tokio::time::Instant,
    step: &Step,
) -> Result<ApplyOutcome, ApplyError> {
    let mut run = ApplyRun::new(client, plan, options, reporter, step);
    step.set("discovering the API resources of the release's kinds");
    let mut placed = place_objects(&mut run.resolver, plan).await?;
    step.set(format!("reading Namespace {}", plan.meta.namespace));
    ensure_namespace(
        client,
        &plan.meta.namespace,
        options.create_namespace,
        false,
    )
    .await?;
    step.set("reading the release record");
    let mut record = inventory::load(client, &plan.meta.namespace, &plan.meta.name)
        .await?
        .unwrap_or_else(|| ReleaseRecord::new(&plan.meta.name, &plan.meta.namespace));
    let helm_history = run.helm_history(&placed).await?;
    let taking_over = !helm_history.is_empty();
    if taking_over || record.helm.is_some() {
        keep_helm_pod_template_label(&mut placed);
    }
    let snapshots = run.snapshot(&placed).await?;
    let planned: Vec<ObjectRef> = placed.iter().map(|p| p.reference.clone()).collect();
    let cause = match (&options.description, helm_history.last()) {
        (Some(description), _) => RevisionCause::Described(description.clone()),
        (None, Some(helm)) => RevisionCause::HelmTakeOver(helm.revision),
        (None, None) => RevisionCause::Apply,
    };
    let started = decide::start_revision(&mut record, plan, planned.clone(), cause, &now_rfc3339());
    run.record_pending(&mut record, started.number).await?;

    let (applied, changes, failure) = run.apply_objects(&placed, snapshots).await;
    let refs: Vec<ObjectRef> = changes.iter().map(|(r, _)| r.clone()).collect();
    let failure = match failure {
        None if options.wait => run.wait_ready(&refs, deadline).await.err(),
        other => other,
    };
    if let Some(cause) = failure {
        step.set("recording the failed revision");
        let failure = Failure {
            record,
            started,
            placed: &placed,
            applied: &applied,
            cause,
            taking_over,
        };
        return Err(run.fail(failure).await);
    }

    let pruned = run
        .prune(&decide::prune_targets(&started.prune_candidates, &planned))
        .await?;
    if taking_over {
        run.retire_helm(&mut record, &helm_history).await?;
    }
    step.set("recording the deployed revision");
    let history_max = options.history_max;
    decide::record_deployed(
        &mut record,
        started.number,
        refs,
        history_max,
        &now_rfc3339(),
    );
    inventory::save(client, &record).await?;
    Ok(ApplyOutcome {
        revision: started.number,
        changes,
        pruned,
    })
}

impl<'a> ApplyRun<'a> {
    fn new(
        client: &'a kube::Client,
        plan: &'a ReleasePlan,
        options: &ApplyOptions,
        reporter: &'a mut dyn Reporter,
        step: &'a Step,
    ) -> Self {
        ApplyRun {
            client,
            plan,
            // Taking over moves every field the object's earlier managers set to ikp, conflicting
            // ones included.
            options: ApplyOptions {
                force_conflicts: options.force_conflicts || options.take_ownership,
                ..options.clone()
            },
            reporter,
            step,
            resolver: Resolver::new(client.clone()),
        }
    }

    /// Records the started revision as pending: first its values, manifest and notes (a Secret, see
    /// [`stored`]; too large is refused here, before any object changes), then the record naming it.
    async fn record_pending(
        &mut self,
        record: &mut ReleaseRecord,
        number: u32,
    ) -> Result<(), ApplyError> {
        let plan = self.plan;
        if self.options.keep_revision_data {
            self.step
                .set("recording the revision's values, manifest and notes");
            let data = stored::RevisionData::of_plan(plan);
            let secret = stored::save(
                self.client,
                &plan.meta.namespace,
                &plan.meta.name,
                number,
                &data,
            )
            .await?;
            if let Some(revision) = record.revision_mut(number) {
                revision.data = Some(secret);
            }
        }
        self.step.set("recording the pending revision");
        inventory::save(self.client, record).await
    }

    /// Helm's record of a release of the same name (oldest first): refused unless `take_ownership`,
    /// and then only if the plan renders every object of Helm's current revision.
    async fn helm_history(
        &mut self,
        placed: &[PlacedObject],
    ) -> Result<Vec<helm::HelmRelease>, ApplyError> {
        let plan = self.plan;
        self.step.set("reading Helm's release record");
        let history = helm::history(self.client, &plan.meta.namespace, &plan.meta.name).await?;
        if let Some(newest) = history.last() {
            if !self.options.take_ownership {
                return Err(ApplyError::HelmReleaseExists {
                    name: plan.meta.name.clone(),
                    namespace: plan.meta.namespace.clone(),
                    revision: newest.revision,
                    chart: format!("{}-{}", newest.chart_name, newest.chart_version),
                });
            }
            let current = history
                .iter()
                .rev()
                .find(|r| r.status == "deployed")
                .unwrap_or(newest);
            check_helm_objects_rendered(&mut self.resolver, current, placed, plan).await?;
        }
        Ok(history)
    }

    /// Live state before any change: refuses objects of other releases before anything is written,
    /// and is what `--atomic` restores.
    async fn snapshot(
        &mut self,
        placed: &[PlacedObject],
    ) -> Result<Vec<Option<Value>>, ApplyError> {
        let mut snapshots = Vec::with_capacity(placed.len());
        for object in placed {
            self.step.set(format!("reading {}", object.reference));
            let before = get_live(&object.api, &object.reference).await?;
            let take = self.options.take_ownership;
            check_owner(before.as_ref(), &object.reference, self.plan, take)?;
            snapshots.push(before);
        }
        Ok(snapshots)
    }

    /// Applies the objects in install order until one fails: what was applied (for rollback), what
    /// changed (references with their uids), and the failure if any.
    async fn apply_objects(
        &mut self,
        placed: &[PlacedObject],
        snapshots: Vec<Option<Value>>,
    ) -> (
        Vec<AppliedObject>,
        Vec<(ObjectRef, ObjectChange)>,
        Option<ApplyError>,
    ) {
        let mut applied = Vec::new();
        let mut changes = Vec::new();
        for (index, (object, before)) in placed.iter().zip(snapshots).enumerate() {
            self.step.set(format!("applying {}", object.reference));
            let result = match apply_one(object, before.as_ref(), &self.options).await {
                Ok((after, change)) if self.options.take_ownership => {
                    release_from_helm(object, after)
                        .await
                        .map(|after| (after, change))
                }
                other => other,
            };
            match result {
                Ok((after, change)) => {
                    let mut reference = object.reference.clone();
                    reference.uid = after.uid();
                    self.reporter.changed(&reference, change);
                    changes.push((reference, change));
                    applied.push(AppliedObject {
                        placed_index: index,
                        before,
                    });
                }
                Err(err) => return (applied, changes, Some(err)),
            }
        }
        (applied, changes, None)
    }

    /// `--wait`: until the workloads are ready, keeping time to record a failure before `deadline`.
    async fn wait_ready(
        &mut self,
        refs: &[ObjectRef],
        deadline: tokio::time::Instant,
    ) -> Result<(), ApplyError> {
        self.step.set("waiting for the workloads to become ready");
        let started = Instant::now();
        let mut state = WaitState::new(refs, self.options.wait_strategy);
        match tokio::time::timeout_at(
            deadline - finish_reserve(self.options.timeout),
            state.poll_until_ready(&mut self.resolver, &mut *self.reporter, started),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(ApplyError::WaitTimeout {
                timeout: self.options.timeout,
                blockers: state.blockers(self.client).await,
            }),
        }
    }

    /// Deletes the `targets` that still exist and still carry this release's annotations.
    async fn prune(&mut self, targets: &[ObjectRef]) -> Result<Vec<ObjectRef>, ApplyError> {
        let mut pruned = Vec::new();
        for candidate in targets {
            self.step.set(format!("pruning {candidate}"));
            let pruned_one = delete_release_object(
                &mut self.resolver,
                candidate,
                &self.plan.meta.namespace,
                &self.plan.meta.name,
                &mut *self.reporter,
                AS_PRUNE,
            )
            .await?;
            if pruned_one {
                pruned.push(candidate.clone());
            }
        }
        Ok(pruned)
    }

    /// After a take-over: retires Helm's record of the release and notes in ours where it came from.
    async fn retire_helm(
        &mut self,
        record: &mut ReleaseRecord,
        helm_history: &[helm::HelmRelease],
    ) -> Result<(), ApplyError> {
        let plan = self.plan;
        self.step.set("retiring Helm's release record");
        let secrets: Vec<String> = helm_history.iter().map(|r| r.secret.clone()).collect();
        helm::retire(self.client, &plan.meta.namespace, &plan.meta.name, &secrets).await?;
        record.helm = Some(helm::HelmOrigin {
            taken_over: now_rfc3339(),
            revisions: helm_history
                .iter()
                .map(helm::HelmRelease::summary)
                .collect(),
            retired_secrets: secrets,
        });
        self.reporter.note(&format!(
            "took over Helm release {}/{} ({} Helm revisions); Helm's record is retired",
            plan.meta.namespace,
            plan.meta.name,
            helm_history.len()
        ));
        Ok(())
    }

    /// Records the failed revision and, with `--atomic`, restores the previous state.
    async fn fail(&mut self, failure: Failure<'_>) -> ApplyError {
        let Failure {
            mut record,
            started,
            placed,
            applied,
            cause,
            taking_over,
        } = failure;
        decide::record_failed(&mut record, started.number, &cause, &now_rfc3339());
        if taking_over && self.options.atomic {
            // Rolling back a first install deletes its objects, and these are Helm's release's: they
            // stay, and so does Helm's record, which this failed take-over has not retired.
            self.reporter.note(
                "not rolling back: the objects belong to the Helm release being taken over, whose record is unchanged",
            );
        }
        if !self.options.atomic || taking_over {
            return match inventory::save(self.client, &record).await {
                Ok(()) => cause,
                Err(save) => ApplyError::RollbackFailed {
                    cause: Box::new(cause),
                    rollback: Box::new(save),
                },
            };
        }
        self.reporter.note("rolling back (--atomic)");
        let rollback = match &started.previous {
            None => self.remove_first_install(&record, placed).await,
            Some(previous) => {
                self.restore(&mut record, previous, started.number, placed, applied)
                    .await
            }
        };
        match rollback {
            Ok(outcome) => ApplyError::RolledBack {
                cause: Box::new(cause),
                outcome,
            },
            Err(rollback) => ApplyError::RollbackFailed {
                cause: Box::new(cause),
                rollback: Box::new(rollback),
            },
        }
    }

    /// The rollback of a failed first install: removes everything this release may have created,
    /// then its record.
    async fn remove_first_install(
        &mut self,
        record: &ReleaseRecord,
        placed: &[PlacedObject],
    ) -> Result<String, ApplyError> {
        let planned: Vec<ObjectRef> = placed.iter().map(|p| p.reference.clone()).collect();
        for target in decide::first_install_cleanup(&planned, record) {
            delete_owned(&mut self.resolver, &target, self.plan, &mut *self.reporter).await?;
        }
        inventory::delete(self.client, &self.plan.meta.namespace, &self.plan.meta.name).await?;
        Ok("removed the objects of the failed first install".to_string())
    }

    /// The rollback of a failed upgrade: puts back each applied object as it was (deleting those
    /// that did not exist) and records `previous` again as a new revision.
    async fn restore(
        &mut self,
        record: &mut ReleaseRecord,
        previous: &Revision,
        failed: u32,
        placed: &[PlacedObject],
        applied: &[AppliedObject],
    ) -> Result<String, ApplyError> {
        let mut restored = Vec::new();
        for entry in applied.iter().rev() {
            let object = &placed[entry.placed_index];
            match &entry.before {
                None => {
                    let reporter = &mut *self.reporter;
                    delete_owned(&mut self.resolver, &object.reference, self.plan, reporter)
                        .await?;
                }
                Some(before) => {
                    let reference = restore_one(object, before).await?;
                    self.reporter.changed(&reference, ObjectChange::Configured);
                    restored.push(reference);
                }
            }
        }
        let history_max = self.options.history_max;
        let now = now_rfc3339();
        let number =
            decide::record_rollback(record, previous, &restored, failed, history_max, &now);
        inventory::save(self.client, record).await?;
        Ok(format!(
            "restored revision {} as revision {number}",
            previous.revision
        ))
    }
}

/// Applies `before` (the object as it was before the failed apply) again, taking back every field.
async fn restore_one(object: &PlacedObject, before: &Value) -> Result<ObjectRef, ApplyError> {
    let config = applied_configuration(before, FIELD_MANAGER);
    let obj = object
        .api
        .patch(
            &object.reference.name,
            &apply_params(true, false),
            &Patch::Apply(&config),
        )
        .await
        .map_err(|e| ApplyError::from_apply(object.reference.to_string(), "restore", e))?;
    let mut reference = object.reference.clone();
    reference.uid = obj.uid();
    Ok(reference)
}

/// Deletes an object if it exists and carries the release's annotations.
async fn delete_owned(
    resolver: &mut Resolver,
    target: &ObjectRef,
    plan_or_release: &ReleasePlan,
    reporter: &mut dyn Reporter,
) -> Result<bool, ApplyError> {
    delete_release_object(
        resolver,
        target,
        &plan_or_release.meta.namespace,
        &plan_or_release.meta.name,
        reporter,
        AS_DELETE,
    )
    .await
}

/// How a delete of one of a release's objects is named: the API action in errors, the change
/// reported, and the note when the object is not (or no longer) the release's.
#[derive(Clone, Copy)]
struct DeleteAs {
    action: &'static str,
    change: ObjectChange,
    not_owned: &'static str,
}

/// An uninstall's (or rollback's) delete.
const AS_DELETE: DeleteAs = DeleteAs {
    action: "delete",
    change: ObjectChange::Deleted,
    not_owned: "does not carry",
};

/// An apply's prune of an object the new revision no longer has.
const AS_PRUNE: DeleteAs = DeleteAs {
    action: "prune",
    change: ObjectChange::Pruned,
    not_owned: "no longer carries",
};

/// Deletes `target` if it exists and carries the annotations of release `namespace/name`;
/// whether it was deleted. A kind the cluster does not serve is skipped.
async fn delete_release_object(
    resolver: &mut Resolver,
    target: &ObjectRef,
    namespace: &str,
    name: &str,
    reporter: &mut dyn Reporter,
    how: DeleteAs,
) -> Result<bool, ApplyError> {
    let api = match resolver.api_for(target).await {
        Ok(api) => api,
        Err(ApplyError::UnknownKind { .. }) => return Ok(false),
        Err(err) => return Err(err),
    };
    let Some(live) = get_live(&api, target).await? else {
        return Ok(false);
    };
    if !owned_by(&live, namespace, name) {
        reporter.note(&format!(
            "left {target} alone: it {} this release's annotations",
            how.not_owned
        ));
        return Ok(false);
    }
    let deleted = delete_if_present(&api, &target.name)
        .await
        .map_err(|source| ApplyError::Kube {
            action: how.action,
            object: target.to_string(),
            source,
        })?;
    if !deleted {
        return Ok(false);
    }
    reporter.changed(target, how.change);
    Ok(true)
}

/// The server-side dry-run of every planned object, plus would-be pruned objects; changes nothing.
pub(super) struct Preview {
    /// Per planned object: live state and the server's merged result (or its refusal).
    pub objects: Vec<PreviewedObject>,
    /// Objects of the release that the apply would delete.
    pub prune: Vec<(ObjectRef, Value)>,
    /// False when the release namespace does not exist yet (nothing could be checked by the server).
    pub namespace_exists: bool,
}

/// One object in a [`Preview`].
pub(super) struct PreviewedObject {
    pub reference: ObjectRef,
    pub live: Option<Value>,
    pub merged: Result<Value, ApplyError>,
    /// Conflicts that a real apply would hit without `--force-conflicts`.
    pub conflicts: Option<ApplyError>,
    /// With `--take-ownership`: whose object the apply would take over (see [`decide::take_over_note`]).
    pub taken_over: Option<String>,
}

/// How a preview applies: the apply flags that change the server's answer.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PreviewFlags {
    /// `--force-conflicts`.
    pub force_conflicts: bool,
    /// `--take-ownership` (which also forces conflicts, as the apply does).
    pub take_ownership: bool,
}

/// Runs the server-side dry-run of a plan.
pub(super) async fn preview(
    client: &kube::Client,
    plan: &ReleasePlan,
    flags: PreviewFlags,
) -> Result<Preview, ApplyError> {
    let mut resolver = Resolver::new(client.clone());
    let mut placed = place_objects(&mut resolver, plan).await?;
    let namespace_exists = ensure_namespace(client, &plan.meta.namespace, true, true).await?;
    let record = if namespace_exists {
        inventory::load(client, &plan.meta.namespace, &plan.meta.name).await?
    } else {
        None
    };
    // As the apply does: a release from Helm, or one being taken over, keeps Helm's pod template label.
    let helm_takeover = flags.take_ownership
        && namespace_exists
        && !helm::history(client, &plan.meta.namespace, &plan.meta.name)
            .await?
            .is_empty();
    if helm_takeover || record.as_ref().is_some_and(|r| r.helm.is_some()) {
        keep_helm_pod_template_label(&mut placed);
    }
    let mut objects = Vec::new();
    for object in &placed {
        objects.push(preview_object(object, plan, namespace_exists, flags).await?);
    }
    let mut prune = Vec::new();
    if let Some(record) = record {
        let planned: Vec<ObjectRef> = placed.iter().map(|p| p.reference.clone()).collect();
        for candidate in decide::prune_targets(&record.all_objects(), &planned) {
            let api = match resolver.api_for(&candidate).await {
                Ok(api) => api,
                Err(ApplyError::UnknownKind { .. }) => continue,
                Err(err) => return Err(err),
            };
            if let Some(live) = get_live(&api, &candidate).await?
                && owned_by(&live, &plan.meta.namespace, &plan.meta.name)
            {
                prune.push((candidate, live));
            }
        }
    }
    Ok(Preview {
        objects,
        prune,
        namespace_exists,
    })
}

/// The live state of one planned object and the server's dry-run apply of it (with the conflicts a
/// real apply would hit, the result is the forced apply's). In a namespace that does not exist yet
/// nothing is asked and the merged result is the planned body.
async fn preview_object(
    object: &PlacedObject,
    plan: &ReleasePlan,
    namespace_exists: bool,
    flags: PreviewFlags,
) -> Result<PreviewedObject, ApplyError> {
    let live = if namespace_exists {
        get_live(&object.api, &object.reference).await?
    } else {
        None
    };
    let owner = check_owner(live.as_ref(), &object.reference, plan, false);
    let taken_over = match &owner {
        Err(err) if flags.take_ownership => decide::take_over_note(err),
        _ => None,
    };
    let previewed = |merged: Result<Value, ApplyError>, conflicts| PreviewedObject {
        reference: object.reference.clone(),
        live: live.clone(),
        // The hand-over from Helm after the apply drops Helm's release annotations.
        merged: merged.map(|mut merged| {
            if flags.take_ownership {
                helm::drop_release_annotations(&mut merged);
            }
            merged
        }),
        conflicts,
        taken_over: taken_over.clone(),
    };
    if let Err(err) = owner
        && !flags.take_ownership
    {
        return Ok(previewed(Err(err), None));
    }
    let force_conflicts = flags.force_conflicts || flags.take_ownership;
    if !namespace_exists {
        return Ok(previewed(Ok(object.body.clone()), None));
    }
    let run = |force: bool| async move {
        object
            .api
            .patch(
                &object.reference.name,
                &apply_params(force, true),
                &Patch::Apply(&object.body),
            )
            .await
            .map(|o| to_value(&o))
            .map_err(|e| ApplyError::from_apply(object.reference.to_string(), "dry-run apply", e))
    };
    Ok(match run(force_conflicts).await {
        Ok(merged) => previewed(Ok(merged), None),
        Err(conflict @ ApplyError::Conflict { .. }) => previewed(run(true).await, Some(conflict)),
        Err(other) => previewed(Err(other), None),
    })
}

/// `--dry-run=server`: the server's verdict per object; nothing is created or recorded.
pub async fn dry_run_server(
    client: &kube::Client,
    plan: &ReleasePlan,
    options: &ApplyOptions,
) -> Result<Vec<DryRunVerdict>, ApplyError> {
    if !options.create_namespace {
        ensure_namespace(client, &plan.meta.namespace, false, true).await?;
    }
    let flags = PreviewFlags {
        force_conflicts: options.force_conflicts,
        take_ownership: options.take_ownership,
    };
    let preview = preview(client, plan, flags).await?;
    let mut verdicts = Vec::new();
    for object in preview.objects {
        let outcome =
            decide::dry_run_outcome(object.conflicts, object.merged, object.live.as_ref());
        verdicts.push(DryRunVerdict {
            object: object.reference,
            outcome,
        });
    }
    for (object, _) in preview.prune {
        verdicts.push(DryRunVerdict {
            object,
            outcome: Ok(ObjectChange::Pruned),
        });
    }
    Ok(verdicts)
}

/// A release's record and the live readiness of each object of its newest revision.
pub async fn release_status(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<(ReleaseRecord, Vec<(ObjectRef, String)>), ApplyError> {
    let record = inventory::load_existing(client, namespace, name).await?;
    let mut resolver = Resolver::new(client.clone());
    let mut objects = Vec::new();
    if let Some(latest) = record.latest() {
        for reference in &latest.objects {
            let state = match resolver.api_for(reference).await {
                Err(ApplyError::UnknownKind { .. }) => "kind not served".to_string(),
                Err(err) => return Err(err),
                Ok(api) => {
                    decide::object_state(reference, get_live(&api, reference).await?.as_ref())
                }
            };
            objects.push((reference.clone(), state));
        }
    }
    Ok((record, objects))
}

/// Deletes every object any kept revision mentions (newest install order reversed), then the inventory.
/// The whole operation ends within `options.timeout`; when that passes, the record stays and a later
/// uninstall finishes the job.
pub async fn uninstall_release(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    options: &UninstallOptions,
    reporter: &mut dyn Reporter,
) -> Result<Vec<ObjectRef>, ApplyError> {
    let deadline = tokio::time::Instant::now() + options.timeout;
    uninstall_release_by(client, namespace, name, options, reporter, deadline).await
}

/// Like [`uninstall_release`], ending by `deadline` instead of `options.timeout` from now (`ikp
/// uninstall` counts its `--timeout` from the start of the command).
pub async fn uninstall_release_by(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    options: &UninstallOptions,
    reporter: &mut dyn Reporter,
    deadline: tokio::time::Instant,
) -> Result<Vec<ObjectRef>, ApplyError> {
    let step = Step::default();
    bounded(
        "uninstall",
        format!("{namespace}/{name}"),
        options.timeout,
        deadline,
        &step,
        uninstall_until(client, namespace, name, options, reporter, deadline, &step),
    )
    .await
}

async fn uninstall_until(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    options: &UninstallOptions,
    reporter: &mut dyn Reporter,
    deadline: tokio::time::Instant,
    step: &Step,
) -> Result<Vec<ObjectRef>, ApplyError> {
    step.set("reading the release record");
    let Some(record) = inventory::load(client, namespace, name).await? else {
        // An install interrupted between writing its revision's data and its record leaves the data.
        stored::delete_unreferenced(client, namespace, name, None).await?;
        return Err(ApplyError::ReleaseNotFound {
            name: name.to_string(),
            namespace: namespace.to_string(),
        });
    };
    let mut resolver = Resolver::new(client.clone());
    let mut deleted = Vec::new();
    let targets = record.all_objects();
    for target in targets.iter().rev() {
        step.set(format!("deleting {target}"));
        if delete_release_object(&mut resolver, target, namespace, name, reporter, AS_DELETE)
            .await?
        {
            deleted.push(target.clone());
        }
    }
    if options.wait {
        step.set("waiting for the deleted objects to go");
        let started = Instant::now();
        // Like apply's wait: what is left of the deadline, minus the time to delete the record.
        let reserve = finish_reserve(options.timeout);
        let waited = tokio::time::timeout_at(deadline - reserve, async {
            for target in &deleted {
                let api = resolver.api_for(target).await?;
                loop {
                    match get_live(&api, target).await? {
                        Some(live)
                            if live.pointer("/metadata/uid").and_then(Value::as_str)
                                == target.uid.as_deref()
                                || target.uid.is_none() =>
                        {
                            reporter.waiting(target, "deletion", started.elapsed());
                            tokio::time::sleep(DELETE_POLL).await;
                        }
                        _ => break,
                    }
                }
            }
            Ok::<_, ApplyError>(())
        })
        .await;
        match waited {
            Ok(result) => result?,
            Err(_) => {
                return Err(ApplyError::WaitTimeout {
                    timeout: options.timeout,
                    blockers: deleted
                        .iter()
                        .map(|d| super::WaitBlocker {
                            object: d.to_string(),
                            waiting_for: "deletion".to_string(),
                            last_condition: None,
                            last_event: None,
                        })
                        .collect(),
                });
            }
        }
    }
    step.set("deleting the release record");
    inventory::delete(client, namespace, name).await?;
    Ok(deleted)
}
