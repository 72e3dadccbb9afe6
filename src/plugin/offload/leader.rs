//! Leader election among the replicas of `ikp serve` that share a namespace prefix, through one
//! `coordination.k8s.io/v1` Lease on the remote cluster: the work that must run once per instance (the
//! sweep for leftovers of failed or interrupted calls) runs only on the replica holding the Lease.
//!
//! The holder renews the Lease every quarter of its duration. Another replica takes it over once the
//! record has not changed for a whole lease duration, judged on its own clock from when it saw the record
//! last change (replicas' clocks need not agree). A holder that cannot renew for two thirds of the
//! duration stops acting as leader before anyone else may start. Every write carries the resourceVersion
//! read, so two replicas racing for the Lease cannot both win. On shutdown the holder releases the Lease
//! so the next replica takes over at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::names::INSTANCE_LABEL;
use crate::k8s;

/// This process in a Lease's `holderIdentity`: the pod name (`POD_NAME`, else `HOSTNAME`, else the
/// kernel's host name) and the process id, so two processes on one host are told apart.
pub(crate) fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "ikp".to_owned());
    format!("{host}_{}", std::process::id())
}

/// Where the Lease is and who competes for it.
#[derive(Debug, Clone)]
pub struct LeaderSettings {
    /// Remote namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease ([`ReplicasConfig::lease_name`](crate::plugin::config::ReplicasConfig::lease_name)).
    pub name: String,
    /// This replica's identity ([`default_identity`]).
    pub identity: String,
    /// Namespace prefix of the instance (the Lease's [`INSTANCE_LABEL`]).
    pub instance: String,
    /// How long the Lease holds without a renewal.
    pub lease_duration: Duration,
    /// Limit of each API request.
    pub request_timeout: Duration,
}

/// Whether this replica leads, as last decided by its elector.
#[derive(Clone)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    /// The sender of a fixed leadership, kept so that `changed` stays pending instead of failing.
    _fixed: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl Leadership {
    /// A leadership that never changes (a process that is the only one, or tests).
    pub fn fixed(leader: bool) -> Self {
        let (tx, rx) = watch::channel(leader);
        Self {
            rx,
            _fixed: Some(std::sync::Arc::new(tx)),
        }
    }

    /// Whether this replica holds the Lease now.
    pub(crate) fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until leadership changes and returns the new state; never returns once the elector stopped.
    pub async fn changed(&mut self) -> bool {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        *self.rx.borrow_and_update()
    }
}

struct Elector {
    api: Api<Lease>,
    settings: LeaderSettings,
    /// The Lease's resourceVersion as last seen held by someone else, and when it was first seen.
    observed: Option<(String, Instant)>,
    /// When this replica last renewed the Lease.
    renewed_at: Option<Instant>,
}

/// Starts competing for the Lease; the task ends (releasing the Lease if held) when `shutdown` is
/// cancelled.
pub fn start(
    client: Client,
    settings: LeaderSettings,
    shutdown: CancellationToken,
) -> (Leadership, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let api = Api::namespaced(client, &settings.namespace);
    let mut elector = Elector {
        api,
        settings,
        observed: None,
        renewed_at: None,
    };
    let task = tokio::spawn(async move {
        let retry = (elector.settings.lease_duration / 4).max(Duration::from_millis(100));
        let limit = elector.settings.request_timeout.min(retry * 2);
        loop {
            let attempt = tokio::select! {
                () = shutdown.cancelled() => break,
                attempt = tokio::time::timeout(limit, elector.acquire_or_renew()) => attempt,
            };
            let leading = match attempt {
                Ok(Ok(held)) => {
                    if held {
                        elector.renewed_at = Some(Instant::now());
                    }
                    held
                }
                Ok(Err(err)) => {
                    tracing::warn!(lease = %elector.settings.name, error = %crate::k8s::client::describe_error(&err), "cannot read or renew the leader Lease");
                    elector.still_leading()
                }
                Err(_) => {
                    tracing::warn!(lease = %elector.settings.name, timeout = ?limit, "no answer about the leader Lease in time");
                    elector.still_leading()
                }
            };
            // Receivers hear of transitions only: a renewal is no news (a sweep starts on each change).
            let changed = tx.send_if_modified(|held| {
                let changed = *held != leading;
                *held = leading;
                changed
            });
            if changed {
                if leading {
                    tracing::info!(lease = %elector.settings.name, identity = %elector.settings.identity, "this replica now leads (runs the background sweep)");
                } else {
                    tracing::warn!(lease = %elector.settings.name, identity = %elector.settings.identity, "this replica no longer leads");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(retry) => {}
            }
        }
        if tx.send_replace(false) {
            match tokio::time::timeout(limit, elector.release()).await {
                Ok(Ok(())) => {
                    tracing::info!(lease = %elector.settings.name, "leader Lease released")
                }
                Ok(Err(err)) => {
                    tracing::warn!(lease = %elector.settings.name, error = %crate::k8s::client::describe_error(&err), "cannot release the leader Lease; another replica takes it over once it expires")
                }
                Err(_) => {
                    tracing::warn!(lease = %elector.settings.name, "no answer releasing the leader Lease; another replica takes it over once it expires")
                }
            }
        }
    });
    (Leadership { rx, _fixed: None }, task)
}

impl Elector {
    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.settings.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// Whether a leader whose renewal failed may still act: only within two thirds of the lease duration
    /// of its last renewal, so it stops before another replica can take over.
    fn still_leading(&self) -> bool {
        self.renewed_at
            .is_some_and(|at| at.elapsed() < self.settings.lease_duration * 2 / 3)
    }

    /// One round: creates, renews or takes over the Lease; `Ok(true)` when this replica holds it after.
    async fn acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let me = self.settings.identity.clone();
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    labels: Some(
                        [(INSTANCE_LABEL.to_owned(), self.settings.instance.clone())].into(),
                    ),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(self.lease_seconds()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(err) if k8s::api::is_conflict(&err) => Ok(false),
                Err(err) => Err(err),
            };
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let lease_seconds = self.lease_seconds();
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref() != Some(me.as_str()) {
            if holder.is_some() {
                let duration = spec
                    .lease_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .filter(|s| *s > 0)
                    .map_or(self.settings.lease_duration, Duration::from_secs);
                match &self.observed {
                    Some((seen, at)) if *seen == version => {
                        if at.elapsed() < duration {
                            return Ok(false);
                        }
                    }
                    _ => {
                        self.observed = Some((version, Instant::now()));
                        return Ok(false);
                    }
                }
                tracing::warn!(lease = %self.settings.name, previous = holder.as_deref().unwrap_or_default(), "leader Lease not renewed for its whole duration; taking it over");
            }
            spec.holder_identity = Some(me);
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(lease_seconds);
        // The resourceVersion read above makes this a compare-and-swap: a replica that renewed or took
        // over in between makes it fail with 409.
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                self.observed = None;
                Ok(true)
            }
            Err(err) if k8s::api::is_conflict(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Gives the Lease up if this replica still holds it.
    async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if k8s::api::is_conflict(&err) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_follow_the_prefix() {
        use crate::plugin::config::ReplicasConfig;
        assert_eq!(ReplicasConfig::lease_name(""), "ikp-leader");
        assert_eq!(
            ReplicasConfig::lease_name("offloading"),
            "ikp-leader-offloading"
        );
    }

    #[test]
    fn identities_of_two_processes_on_one_host_differ_by_pid() {
        let id = default_identity();
        assert!(id.ends_with(&format!("_{}", std::process::id())), "{id}");
    }

    #[tokio::test]
    async fn a_fixed_leadership_never_changes() {
        let mut leadership = Leadership::fixed(true);
        assert!(leadership.is_leader());
        let waited = tokio::time::timeout(Duration::from_millis(50), leadership.changed()).await;
        assert!(waited.is_err());
    }
}
