//! `ikp rollback`: applies the manifest recorded for an earlier revision again, as a new revision
//! described `Rollback to N`. It is an apply of that manifest like any other (server-side apply in
//! install order, `--wait`, then prune of every object the target revision did not have), so it
//! inherits the apply's ordering and timeout guarantees.

use super::ApplyError;
use super::decide;
use super::engine::{ApplyOptions, ApplyOutcome, Reporter, apply_release_by};
use super::inventory;
use super::plan::{PlanMeta, ReleasePlan};
use super::stored;

/// Result of a successful rollback.
#[derive(Debug, Clone)]
pub struct RollbackOutcome {
    /// The revision whose manifest was applied again.
    pub target: u32,
    /// The apply of it (its `revision` is the new one).
    pub applied: ApplyOutcome,
}

/// The revision a rollback of `namespace/name` goes to (`requested`, else the one before the newest)
/// and the plan that applies its recorded manifest. Reads only; an unknown revision or one recorded
/// without its manifest is an error before anything changes.
pub async fn rollback_plan(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    requested: Option<u32>,
) -> Result<(u32, ReleasePlan), ApplyError> {
    let record = inventory::load_existing(client, namespace, name).await?;
    let target = decide::rollback_target(&record, requested)?;
    let data = stored::load(client, &record, &target).await?;
    let meta = PlanMeta {
        name: name.to_string(),
        namespace: namespace.to_string(),
        chart_name: target.chart_name.clone(),
        chart_version: target.chart_version.clone(),
        app_version: target.app_version.clone(),
        values_digest: target.values_digest.clone(),
    };
    let mut plan = ReleasePlan::from_manifests(meta, &data.manifests(), data.notes.clone())?;
    plan.values = data.values;
    Ok((target.revision, plan))
}

/// Rolls `namespace/name` back to `requested` (else the revision before the newest), ending by
/// `deadline` (`options.timeout` counted from the command's start). `options.description` is
/// replaced by `Rollback to N`.
pub async fn rollback_release(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    requested: Option<u32>,
    options: &ApplyOptions,
    reporter: &mut dyn Reporter,
    deadline: tokio::time::Instant,
) -> Result<RollbackOutcome, ApplyError> {
    let planned =
        tokio::time::timeout_at(deadline, rollback_plan(client, namespace, name, requested))
            .await
            .map_err(|_| ApplyError::DeadlineExceeded {
                operation: "rollback",
                release: format!("{namespace}/{name}"),
                timeout: options.timeout,
                during: "reading the release record and the target revision".to_string(),
            })?;
    let (target, plan) = planned?;
    let options = ApplyOptions {
        description: Some(format!("Rollback to {target}")),
        // The release exists, and its objects are its own: nothing to create or take over.
        create_namespace: false,
        take_ownership: false,
        ..options.clone()
    };
    let applied = apply_release_by(client, &plan, &options, reporter, deadline).await?;
    Ok(RollbackOutcome { target, applied })
}
