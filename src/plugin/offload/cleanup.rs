//! Keeping `/create` and `/delete` of one pod from interleaving, and finishing cleanups that could not
//! be done when they were asked for.
//!
//! - [`PodGate`]: one async lock per pod UID, so a `/delete` that arrives while a `/create` of the same
//!   pod runs waits for it (after asking it to stop at its next step) and then removes everything; and
//!   a record of deleted UIDs, so a `/create` that loses the race against its own `/delete` is refused
//!   instead of creating objects nobody will ever delete (the Virtual Kubelet never repeats a delete).
//! - [`Janitor`]: cleanups that failed (API server down, paused, timing out) or whose outcome is
//!   unknown (a request that timed out may still be committed once the API server answers again) are
//!   kept here and retried in the background with a capped exponential backoff, and repeated until a
//!   settle period has passed so that late-committed objects are removed too.
//!
//! Both live in the memory of one plugin process and serialise the calls reaching it. Across replicas
//! (`ikp serve` processes with the same prefix), a `/delete` that cannot rule out a create running
//! elsewhere leaves a deletion marker that the create checks for once done (`service`), and the sweep
//! that finds what a dead replica's janitor never finished runs on the leader only (`leader`).

use super::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedMutexGuard};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use k8s_openapi::api::core::v1::PodSpec;

use super::transform::LocalPod;

/// How long a deleted pod UID is remembered: far longer than any create/delete race, short enough that
/// the map stays small (one entry per deleted pod).
const TOMBSTONE_TTL: Duration = Duration::from_secs(15 * 60);
/// At most this many deleted UIDs are remembered; the oldest go first.
const MAX_TOMBSTONES: usize = 100_000;
/// First retry delay of a pending cleanup; doubled per failed attempt.
pub(super) const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// Longest delay between two attempts of a pending cleanup.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Per-pod serialisation of create, delete and background cleanup.
#[derive(Default)]
pub struct PodGate {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    creating: Mutex<HashMap<String, CancellationToken>>,
    deleted: Mutex<HashMap<String, Instant>>,
}

/// Holds the lock of one pod UID; released (and its map entry freed when nobody waits) on drop.
pub struct PodLock {
    gate: Arc<PodGate>,
    uid: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for PodLock {
    fn drop(&mut self) {
        self.guard.take();
        let mut locks = lock(&self.gate.locks);
        // Waiters clone the Arc under this map lock, so a count of one means nobody else needs it.
        if locks
            .get(&self.uid)
            .is_some_and(|entry| Arc::strong_count(entry) == 1)
        {
            locks.remove(&self.uid);
        }
    }
}

/// Marks a create in flight; a delete of the same pod cancels its token. Unregisters on drop.
pub(super) struct CreateTicket {
    gate: Arc<PodGate>,
    uid: String,
    token: CancellationToken,
}

impl CreateTicket {
    /// Whether a delete of the pod asked this create to stop.
    pub(super) fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The token a delete cancels.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for CreateTicket {
    fn drop(&mut self) {
        lock(&self.gate.creating).remove(&self.uid);
    }
}

impl PodGate {
    fn entry(self: &Arc<Self>, uid: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.locks).entry(uid.to_owned()).or_default().clone()
    }

    /// Waits for the lock of `uid` (requests queue in arrival order).
    pub async fn lock(self: &Arc<Self>, uid: &str) -> PodLock {
        let guard = self.entry(uid).lock_owned().await;
        PodLock {
            gate: self.clone(),
            uid: uid.to_owned(),
            guard: Some(guard),
        }
    }

    /// The lock of `uid` if nobody holds it now.
    pub(super) fn try_lock(self: &Arc<Self>, uid: &str) -> Option<PodLock> {
        let entry = self.entry(uid);
        let taken = entry.try_lock_owned().ok();
        let lock = PodLock {
            gate: self.clone(),
            uid: uid.to_owned(),
            guard: taken,
        };
        // Dropping a lock without a guard still frees the map entry when unused.
        lock.guard.is_some().then_some(lock)
    }

    /// Registers a create of `uid` that a delete may cancel.
    pub(super) fn start_create(self: &Arc<Self>, uid: &str) -> CreateTicket {
        let token = CancellationToken::new();
        lock(&self.creating).insert(uid.to_owned(), token.clone());
        CreateTicket {
            gate: self.clone(),
            uid: uid.to_owned(),
            token,
        }
    }

    /// Asks a create of `uid` in flight to stop at its next step.
    pub(super) fn cancel_create(&self, uid: &str) {
        if let Some(token) = lock(&self.creating).get(uid) {
            token.cancel();
        }
    }

    /// Whether a create of `uid` is in flight.
    pub(super) fn is_creating(&self, uid: &str) -> bool {
        lock(&self.creating).contains_key(uid)
    }

    /// Remembers that `uid` was deleted.
    pub(super) fn mark_deleted(&self, uid: &str) {
        let now = Instant::now();
        let mut deleted = lock(&self.deleted);
        if deleted.len() >= MAX_TOMBSTONES {
            deleted.retain(|_, at| now.duration_since(*at) < TOMBSTONE_TTL);
            if deleted.len() >= MAX_TOMBSTONES {
                let mut ages: Vec<Instant> = deleted.values().copied().collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                deleted.retain(|_, at| *at > cut);
            }
        }
        deleted.insert(uid.to_owned(), now);
    }

    /// Whether `uid` was deleted within [`TOMBSTONE_TTL`].
    pub(super) fn was_deleted(&self, uid: &str) -> bool {
        lock(&self.deleted)
            .get(uid)
            .is_some_and(|at| at.elapsed() < TOMBSTONE_TTL)
    }

    /// Number of pod UIDs with a lock entry (held or awaited): zero when the plugin is idle.
    pub fn active(&self) -> usize {
        lock(&self.locks).len()
    }
}

/// Which PersistentVolumeClaims a cleanup removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClaimPolicy {
    /// Every claim labelled with the pod's UID: the rollback of a create that made them.
    All,
    /// Only claims whose retention annotation says `delete`: a `/delete`.
    Retention,
}

/// What a cleanup removes: everything the plugin made for one pod.
#[derive(Debug, Clone)]
pub(super) struct CleanupTarget {
    /// The local pod.
    pub local: LocalPod,
    /// Remote namespace.
    pub namespace: String,
    /// Remote pod name.
    pub pod_name: String,
    /// The pod spec when known (its ports name the tunnel releases; they are also found by label).
    pub spec: Option<PodSpec>,
    /// Which claims go.
    pub claims: ClaimPolicy,
}

/// A cleanup waiting for its next attempt.
#[derive(Debug, Clone)]
pub(super) struct PendingCleanup {
    /// What to remove.
    pub target: CleanupTarget,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub due: Instant,
    /// Until then a successful cleanup is repeated: a request that timed out may still be committed.
    pub settle_until: Instant,
}

/// Cleanups to finish in the background, keyed by pod UID.
#[derive(Default)]
pub struct Janitor {
    pending: Mutex<HashMap<String, PendingCleanup>>,
    wake: Notify,
}

/// Delay before attempt `attempts + 1`: [`RETRY_INITIAL`] doubled per failure, at most [`RETRY_MAX`].
pub fn backoff(attempts: u32) -> Duration {
    RETRY_INITIAL
        .saturating_mul(1u32 << attempts.min(16))
        .min(RETRY_MAX)
}

impl Janitor {
    /// Queues a cleanup of `target`, first attempt now, repeated until `settle` has passed.
    pub(super) fn schedule(&self, target: CleanupTarget, settle: Duration) {
        let now = Instant::now();
        let uid = target.local.uid.clone();
        let mut pending = lock(&self.pending);
        let entry = pending.entry(uid).or_insert_with(|| PendingCleanup {
            target: target.clone(),
            attempts: 0,
            due: now,
            settle_until: now + settle,
        });
        // A delete's claim policy is narrower than a rollback's: the later request decides.
        entry.target = target;
        entry.due = now;
        entry.settle_until = entry.settle_until.max(now + settle);
        drop(pending);
        self.wake.notify_one();
    }

    /// Drops the pending cleanup of `uid` (a new create or a delete takes over).
    pub(super) fn forget(&self, uid: &str) {
        lock(&self.pending).remove(uid);
    }

    /// Whether a cleanup of `uid` is pending.
    pub fn contains(&self, uid: &str) -> bool {
        lock(&self.pending).contains_key(uid)
    }

    /// Number of pending cleanups.
    pub fn len(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Whether no cleanup is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cleanups due now, and when the next one after them is due.
    pub(super) fn due(&self) -> (Vec<PendingCleanup>, Option<Instant>) {
        let now = Instant::now();
        let pending = lock(&self.pending);
        let due = pending.values().filter(|p| p.due <= now).cloned().collect();
        let next = pending.values().map(|p| p.due).filter(|d| *d > now).min();
        (due, next)
    }

    /// Records the outcome of an attempt on `uid`; returns whether the cleanup is finished.
    pub(super) fn finish_attempt(&self, uid: &str, succeeded: bool) -> bool {
        let now = Instant::now();
        let mut pending = lock(&self.pending);
        let Some(entry) = pending.get_mut(uid) else {
            return true;
        };
        if succeeded && now >= entry.settle_until {
            pending.remove(uid);
            return true;
        }
        if succeeded {
            // Verify again later: something still in flight may land after this pass.
            entry.due = (now + backoff(entry.attempts)).min(entry.settle_until);
        } else {
            entry.attempts = entry.attempts.saturating_add(1);
            entry.due = now + backoff(entry.attempts);
        }
        false
    }

    /// Postpones `uid` (its pod is busy with a create or delete).
    pub(super) fn postpone(&self, uid: &str, by: Duration) {
        if let Some(entry) = lock(&self.pending).get_mut(uid) {
            entry.due = Instant::now() + by;
        }
    }

    /// Waits until something is scheduled or `next` is reached.
    pub async fn wait(&self, next: Option<Instant>) {
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = self.wake.notified() => {}
                }
            }
            None => self.wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uid: &str) -> CleanupTarget {
        CleanupTarget {
            local: LocalPod {
                name: "p".into(),
                namespace: "ns".into(),
                uid: uid.into(),
            },
            namespace: "remote".into(),
            pod_name: "p-remote".into(),
            spec: None,
            claims: ClaimPolicy::Retention,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(10), RETRY_MAX);
        assert_eq!(backoff(u32::MAX), RETRY_MAX);
    }

    #[tokio::test]
    async fn lock_entries_are_freed_when_unused() {
        let gate = Arc::new(PodGate::default());
        let held = gate.lock("a").await;
        assert!(gate.try_lock("a").is_none());
        assert_eq!(gate.active(), 1);
        drop(held);
        assert_eq!(gate.active(), 0);
        assert!(gate.try_lock("a").is_some());
        assert_eq!(gate.active(), 0);
    }

    #[tokio::test]
    async fn a_delete_waits_for_the_create_of_the_same_pod_only() {
        let gate = Arc::new(PodGate::default());
        let create = gate.lock("a").await;
        let ticket = gate.start_create("a");
        let other = tokio::time::timeout(Duration::from_millis(100), gate.lock("b")).await;
        assert!(other.is_ok(), "another pod is not blocked");
        gate.cancel_create("a");
        assert!(ticket.cancelled());
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.lock("a").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the delete waits for the create");
        drop(ticket);
        drop(create);
        let _delete = waiting.await.expect("delete gets the lock");
        assert!(!gate.is_creating("a"));
    }

    #[test]
    fn tombstones_are_bounded() {
        let gate = PodGate::default();
        for i in 0..MAX_TOMBSTONES + 10 {
            gate.mark_deleted(&i.to_string());
        }
        assert!(lock(&gate.deleted).len() <= MAX_TOMBSTONES);
        assert!(gate.was_deleted(&(MAX_TOMBSTONES + 9).to_string()));
    }

    #[tokio::test]
    async fn a_successful_cleanup_is_repeated_until_it_settled() {
        let janitor = Janitor::default();
        janitor.schedule(target("a"), Duration::from_secs(3600));
        let (due, _) = janitor.due();
        assert_eq!(due.len(), 1);
        assert!(!janitor.finish_attempt("a", true), "settle period not over");
        let (due, next) = janitor.due();
        assert!(due.is_empty() && next.is_some(), "verified again later");
        assert!(!janitor.finish_attempt("a", false));
        assert_eq!(janitor.len(), 1);
        janitor.schedule(target("b"), Duration::ZERO);
        assert!(janitor.finish_attempt("b", true), "nothing to wait for");
        assert!(janitor.contains("a") && !janitor.contains("b"));
    }
}
