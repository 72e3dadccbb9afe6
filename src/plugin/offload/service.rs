//! The remote side of the four InterLink calls: create (all-or-nothing, with rollback), delete (idempotent,
//! by the names recorded on the remote pod, else by ownership labels), status (from a watch-backed cache of the pods the plugin owns) and logs (streamed).

use super::lock;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, PodStatus, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{ListParams, LogParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use tokio::time::Instant;

use crate::deploy::FIELD_MANAGER;
use crate::k8s;

use super::bounded::BoundedMap;
use super::capacity::WatchHealth;
use super::cleanup::{ClaimPolicy, CleanupTarget, CreateTicket, Janitor, PodGate, RETRY_INITIAL};
use super::interlink::{CreateRequest, CreateResponse, LogRequest, PodStatusEntry};
use super::leader::Leadership;
use super::names::{
    self, DELETED_POD_LEASE, INSTANCE_LABEL, LEASE_ROLE_LABEL, OFFLOADING_LABEL, OFFLOADING_VALUE,
    POD_UID_LABEL, PVC_RETENTION_ANNOTATION, SOURCE_NAMESPACE_ANNOTATION,
};
use super::status::{self, RemoteState};
use super::transform::{self, LocalPod, PodObjects, RemotePlan, RequestError, TransformSettings};
use crate::plugin::config::OffloadingConfig;

/// Why an offload operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    /// The request is unusable (4xx).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The remote API server refused or failed a call.
    #[error("{action}: {}", crate::k8s::client::describe_error(source))]
    Remote {
        /// What was being done, e.g. `create ConfigMap ns/name`.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The remote API server did not answer in time.
    #[error("{action}: no answer from the remote API server within {timeout:?}")]
    Timeout {
        /// What was being done.
        action: String,
        /// The configured limit.
        timeout: Duration,
    },
    /// An object of that name exists remotely and belongs to something else.
    #[error("{kind} {namespace}/{name} already exists remotely and does not belong to pod {uid}")]
    Conflict {
        /// Object kind.
        kind: &'static str,
        /// Remote namespace.
        namespace: String,
        /// Remote name.
        name: String,
        /// Local pod UID.
        uid: String,
    },
    /// The pod was deleted before or while this create ran: nothing of it is left or created.
    #[error("pod {uid} was deleted; a deleted pod is not created again")]
    Deleted {
        /// Local pod UID.
        uid: String,
    },
    /// The task doing the work ended without an answer (a bug: it panicked).
    #[error("{action} ended without an answer: {reason}")]
    Aborted {
        /// "create" or "delete".
        action: String,
        /// What the runtime reported.
        reason: String,
    },
    /// The tunnel hook failed.
    #[error("tunnel: {message}")]
    Tunnel {
        /// What went wrong.
        message: String,
    },
}

impl OffloadError {
    /// The HTTP status to answer with: 4xx for the caller's mistakes (including objects the remote cluster
    /// rejects as invalid), 5xx for remote-cluster failures.
    pub(crate) fn http_status(&self) -> u16 {
        match self {
            Self::Request(RequestError::ObjectNotDelivered { .. }) => 422,
            Self::Request(_) => 400,
            Self::Remote {
                source: kube::Error::Api(status),
                ..
            } => match status.code {
                400 | 404 | 409 | 422 => status.code,
                429 | 503 => 503,
                _ => 502,
            },
            Self::Remote { .. } => 502,
            Self::Timeout { .. } => 504,
            Self::Conflict { .. } | Self::Deleted { .. } => 409,
            Self::Aborted { .. } => 500,
            Self::Tunnel { .. } => 502,
        }
    }

    /// The Kubernetes reason (`Invalid`, `Forbidden`, ...) when the remote API server gave one.
    pub fn reason(&self) -> Option<String> {
        match self {
            Self::Remote {
                source: kube::Error::Api(status),
                ..
            } if !status.reason.is_empty() => Some(status.reason.clone()),
            Self::Conflict { .. } => Some("AlreadyExists".into()),
            Self::Deleted { .. } => Some("Deleted".into()),
            Self::Timeout { .. } => Some("Timeout".into()),
            _ => None,
        }
    }

    /// The JSON path of the offending request field, for 4xx answers.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Request(err) => Some(err.field()),
            _ => None,
        }
    }

    fn is_already_exists(&self) -> bool {
        matches!(self, Self::Remote { source, .. } if k8s::api::is_conflict(source))
    }
}

/// A failed API call, turned into an [`OffloadError`] naming what was being done.
trait RemoteFailure {
    fn into_offload_error(self, action: impl FnOnce() -> String) -> OffloadError;
}

impl RemoteFailure for kube::Error {
    fn into_offload_error(self, action: impl FnOnce() -> String) -> OffloadError {
        OffloadError::Remote {
            action: action(),
            source: self,
        }
    }
}

/// The shared helpers name the exact call that failed, which says more than the caller's action.
impl RemoteFailure for k8s::api::ApiCallError {
    fn into_offload_error(self, _: impl FnOnce() -> String) -> OffloadError {
        OffloadError::Remote {
            action: self.action,
            source: self.source,
        }
    }
}

/// A boxed future, for the object-safe [`TunnelHook`].
pub(crate) type HookFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), OffloadError>> + Send + 'a>>;

/// What the tunnel hook gets for one pod.
#[derive(Clone)]
pub struct TunnelContext {
    /// Client of the remote cluster.
    pub client: Client,
    /// The local pod.
    pub local: LocalPod,
    /// Remote namespace of the pod.
    pub remote_namespace: String,
    /// The remote pod as created (labels, spec with container ports).
    pub remote_pod: Pod,
    /// When the `/create` or `/delete` this runs for must answer: every remote call stops by then.
    pub deadline: Instant,
    /// The configured request timeout the deadline comes from (for error messages).
    pub timeout: Duration,
    /// Cancelled when a `/delete` of the pod arrives during its create: stop at the next step.
    pub cancel: CancellationToken,
}

/// Extra remote objects per pod (the TCP tunnel of issue 7). `after_create` runs once the pod exists; if it
/// fails, everything is rolled back and `before_delete` is called to clean up what it did. Both must be
/// idempotent and find their objects by the pod's UID label, not memory.
pub trait TunnelHook: Send + Sync {
    /// Creates the pod's extra objects.
    fn after_create<'a>(&'a self, ctx: &'a TunnelContext) -> HookFuture<'a>;
    /// Removes them (also on rollback).
    fn before_delete<'a>(&'a self, ctx: &'a TunnelContext) -> HookFuture<'a>;
    /// Whether `after_create` makes remote objects (a create then checks, once done, that no `/delete`
    /// on another replica removed the pod while they were being made).
    fn makes_objects(&self) -> bool {
        true
    }
}

/// The hook used when `[tcp_tunnel]` is off.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTunnel;

impl TunnelHook for NoTunnel {
    fn after_create<'a>(&'a self, _ctx: &'a TunnelContext) -> HookFuture<'a> {
        Box::pin(async { Ok(()) })
    }
    fn before_delete<'a>(&'a self, _ctx: &'a TunnelContext) -> HookFuture<'a> {
        Box::pin(async { Ok(()) })
    }
    fn makes_objects(&self) -> bool {
        false
    }
}

/// How long a vanished pod's disappearance is remembered (the Virtual Kubelet asks every few seconds).
const VANISHED_TTL: Duration = Duration::from_secs(3600);
/// How long a `/delete` waits for the watch to report the pod gone before it is forgotten.
const DELETING_TTL: Duration = Duration::from_secs(600);
/// Most entries either map holds; beyond that the oldest are dropped.
const BOOKKEEPING_CAPACITY: usize = 10_000;

/// A remote pod the watch saw deleted without a `/delete` through this replica.
#[derive(Debug, Clone)]
struct Vanished {
    /// When the deletion was seen.
    at: Time,
    /// Whether the warning was logged (once, at the first `/status` still asking for the pod).
    warned: bool,
}

/// Remote pods of this plugin instance, mirrored by a watch on the `interlink.io=offloading` and
/// [`INSTANCE_LABEL`] labels: pods of other plugins sharing the remote cluster are never seen.
#[derive(Clone)]
pub struct StatusCache {
    store: Store<Pod>,
    synced: Arc<AtomicBool>,
    /// Local UIDs of pods whose remote pod disappeared without a `/delete` through this replica: deleted
    /// outside InterLink, or through another replica (then the Virtual Kubelet no longer asks about it).
    vanished: Arc<Mutex<BoundedMap<Vanished>>>,
    /// Local UIDs being deleted through `/delete`: their disappearance is expected.
    deleting: Arc<Mutex<BoundedMap<()>>>,
    /// Whether the watch works (the ping reports a failing one).
    health: Arc<WatchHealth>,
    /// Woken on every watch event (followed log streams wait on it for their container to end).
    changed: Arc<tokio::sync::Notify>,
}

/// The label selector of the objects other than pods that the plugin instance with namespace prefix
/// `instance` writes.
fn instance_selector_of_objects(instance: &str) -> String {
    format!("{INSTANCE_LABEL}={instance}")
}

/// The label selector of the pods of the plugin instance with namespace prefix `instance`.
fn instance_selector(instance: &str) -> String {
    format!("{OFFLOADING_LABEL}={OFFLOADING_VALUE},{INSTANCE_LABEL}={instance}")
}

impl StatusCache {
    /// Starts the watch of the pods of the instance with these offloading settings (first labelling the pods
    /// an earlier version created without [`INSTANCE_LABEL`]); it runs until `shutdown` is cancelled.
    pub fn start(
        client: Client,
        offloading: &OffloadingConfig,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let api: Api<Pod> = Api::all(client.clone());
        let (store, writer) = reflector::store();
        let cache = StatusCache {
            store,
            synced: Arc::new(AtomicBool::new(false)),
            vanished: Arc::new(Mutex::new(BoundedMap::new(
                VANISHED_TTL,
                BOOKKEEPING_CAPACITY,
            ))),
            deleting: Arc::new(Mutex::new(BoundedMap::new(
                DELETING_TTL,
                BOOKKEEPING_CAPACITY,
            ))),
            health: Arc::default(),
            changed: Arc::default(),
        };
        let config =
            watcher::Config::default().labels(&instance_selector(&offloading.namespace_prefix));
        let events = watcher::watcher(api, config)
            .default_backoff()
            .modify(|pod| pod.managed_fields_mut().clear())
            .reflect(writer);
        let observer = cache.clone();
        let offloading = offloading.clone();
        let task = tokio::spawn(async move {
            if !adopt_unlabelled_pods(&client, &offloading, &shutdown).await {
                return;
            }
            let mut events = std::pin::pin!(events.take_until(shutdown.cancelled_owned()));
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => observer.observe(&event),
                    Err(err) => {
                        tracing::warn!(error = %err, "remote pod watch failed; retrying");
                        observer.health.failed(err.to_string());
                    }
                }
            }
        });
        (cache, task)
    }

    fn observe(&self, event: &Event<Pod>) {
        self.changed.notify_waiters();
        match event {
            Event::InitDone => self.health.mark_synced(),
            _ => self.health.event(),
        }
        match event {
            Event::InitDone => {
                if !self.synced.swap(true, Ordering::SeqCst) {
                    tracing::info!(pods = self.store.len(), "remote pod cache synced");
                }
            }
            Event::Apply(pod) | Event::InitApply(pod) => {
                if let Some(uid) = pod.labels().get(POD_UID_LABEL) {
                    lock(&self.vanished).remove(uid);
                }
            }
            Event::Delete(pod) => {
                if let Some(uid) = pod.labels().get(POD_UID_LABEL)
                    && lock(&self.deleting).remove(uid).is_none()
                {
                    // Another replica's /delete looks the same from here: the warning waits for a /status
                    // that still asks about the pod (see `missing_state`).
                    tracing::debug!(pod_uid = %uid, remote = %pod.name_any(), "remote pod deleted, not through this replica");
                    lock(&self.vanished).insert(
                        uid.clone(),
                        Vanished {
                            at: Time(k8s_openapi::jiff::Timestamp::now()),
                            warned: false,
                        },
                    );
                }
            }
            Event::Init => {}
        }
    }

    /// Why the cached statuses cannot be trusted now, if they cannot.
    pub fn problem(&self) -> Option<String> {
        self.health.problem()
    }

    /// Whether the initial list has completed.
    pub(crate) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    /// Number of remote pods owned by the plugin.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether no remote pod is owned by the plugin.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }
}

/// Labels with [`INSTANCE_LABEL`] the remote pods of this instance that were created before that label
/// existed (`interlink.io=offloading` without it, in the namespace this instance maps their source
/// namespace to), so the scoped watch keeps seeing them. Retries until it succeeds; `false` when shut down
/// first.
async fn adopt_unlabelled_pods(
    client: &Client,
    offloading: &OffloadingConfig,
    shutdown: &CancellationToken,
) -> bool {
    let api: Api<Pod> = Api::all(client.clone());
    let selector = format!("{OFFLOADING_LABEL}={OFFLOADING_VALUE},!{INSTANCE_LABEL}");
    let mut delay = Duration::from_millis(500);
    loop {
        let attempt = async {
            let list = api
                .list_metadata(&ListParams::default().labels(&selector))
                .await?;
            let mut adopted = 0usize;
            for pod in list.items {
                let (Some(ns), Some(source_ns)) = (
                    pod.metadata.namespace.as_deref(),
                    pod.annotations().get(SOURCE_NAMESPACE_ANNOTATION),
                ) else {
                    continue;
                };
                let ours = names::remote_namespace(
                    source_ns,
                    &offloading.namespace_prefix,
                    &offloading.namespace_prefix_exclusions,
                ) == ns;
                if !ours {
                    continue;
                }
                let patch = serde_json::json!({"metadata": {"labels": {
                    INSTANCE_LABEL: offloading.namespace_prefix
                }}});
                let namespaced: Api<Pod> = Api::namespaced(client.clone(), ns);
                match namespaced
                    .patch_metadata(
                        &pod.name_any(),
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(_) => adopted += 1,
                    Err(kube::Error::Api(status)) if status.is_not_found() => {}
                    Err(err) => return Err(err),
                }
            }
            Ok::<_, kube::Error>(adopted)
        };
        match attempt.await {
            Ok(0) => return true,
            Ok(adopted) => {
                tracing::info!(
                    pods = adopted,
                    label = INSTANCE_LABEL,
                    "labelled remote pods created without the instance label"
                );
                return true;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot label remote pods created without the instance label; retrying")
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Whether the pod, as the Virtual Kubelet sends it, is running: phase Running or a running container.
/// Before the remote pod exists that is never reported. (A finished pod is left out: reporting it
/// killed would overwrite how it really ended.)
fn reported_running(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        || status
            .container_statuses
            .iter()
            .chain(status.init_container_statuses.iter())
            .flatten()
            .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
}

/// Whether the pod, as the Virtual Kubelet sends it, has finished: phase Succeeded or Failed, or every
/// container terminated.
fn reported_ended(status: &PodStatus) -> bool {
    let containers = status.container_statuses.as_deref().unwrap_or_default();
    matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"))
        || (!containers.is_empty()
            && containers
                .iter()
                .all(|c| c.state.as_ref().is_some_and(|s| s.terminated.is_some())))
}

/// Does the remote work of the InterLink calls.
#[derive(Clone)]
pub(crate) struct OffloadService {
    client: Client,
    settings: Arc<TransformSettings>,
    timeout: Duration,
    cache: StatusCache,
    tunnel: Arc<dyn TunnelHook>,
    gate: Arc<PodGate>,
    janitor: Arc<Janitor>,
    janitor_running: Arc<AtomicBool>,
    /// Orphan sweeps run by this replica (only while it holds the leader Lease).
    sweeps: Arc<AtomicU64>,
    /// `/getLogs` streams open now.
    log_streams: Arc<AtomicUsize>,
    /// This replica's identity in the Leases it writes.
    identity: Arc<str>,
}

/// One object created by a `/create` call, for the rollback of a create that repeated an earlier one.
enum Created {
    ConfigMap(String),
    Secret(String),
    Pvc(String),
    Pod(String),
    Tunnel,
}

/// What a `/create` call did so far.
#[derive(Default)]
struct Progress {
    /// Objects this call created, in order.
    created: Vec<Created>,
    /// An object of the same pod existed before this call (a repeated create): a rollback then removes
    /// only what this call created, never the earlier create's objects.
    repeated: bool,
    /// A `/delete` of the pod ran elsewhere (another replica) while this create ran: everything goes.
    deleted_elsewhere: bool,
}

/// The longest time between two sweeps for objects of pods that have no remote pod.
const SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// What the orphan sweep found for one pod UID.
struct Orphan {
    /// The pod's remote namespace when an object there was seen, else where the tunnel objects are.
    namespace: String,
    namespace_is_the_pods: bool,
    /// An object is younger than the grace period: a create may still be running.
    young: bool,
}

/// Objects found by the sweep, grouped by pod UID.
struct Orphans {
    by_uid: HashMap<String, Orphan>,
    now: k8s_openapi::jiff::Timestamp,
    grace: k8s_openapi::jiff::SignedDuration,
}

impl Orphans {
    fn new(grace: Duration) -> Self {
        Orphans {
            by_uid: HashMap::new(),
            now: k8s_openapi::jiff::Timestamp::now(),
            grace: k8s_openapi::jiff::SignedDuration::try_from(grace)
                .unwrap_or(k8s_openapi::jiff::SignedDuration::MAX),
        }
    }

    fn add(&mut self, meta: &ObjectMeta, in_pod_namespace: bool) {
        let (Some(uid), Some(namespace)) = (
            meta.labels.as_ref().and_then(|l| l.get(POD_UID_LABEL)),
            meta.namespace.as_ref(),
        ) else {
            return;
        };
        if meta.deletion_timestamp.is_some() {
            return;
        }
        // An object without a creation time counts as young: nothing is deleted on a guess.
        let young = meta
            .creation_timestamp
            .as_ref()
            .is_none_or(|created| self.now.duration_since(created.0) < self.grace);
        let entry = self.by_uid.entry(uid.clone()).or_insert_with(|| Orphan {
            namespace: namespace.clone(),
            namespace_is_the_pods: in_pod_namespace,
            young: false,
        });
        if in_pod_namespace && !entry.namespace_is_the_pods {
            entry.namespace = namespace.clone();
            entry.namespace_is_the_pods = true;
        }
        entry.young |= young;
    }
}

/// Whether the remote side may have done what a failed call asked for: after a timeout or a dropped
/// connection, a request can still be committed once the API server answers again.
fn outcome_unknown(err: &OffloadError) -> bool {
    match err {
        OffloadError::Timeout { .. } | OffloadError::Tunnel { .. } => true,
        OffloadError::Remote {
            source: kube::Error::Api(status),
            ..
        } => status.code >= 500,
        OffloadError::Remote { .. } => true,
        _ => false,
    }
}

impl OffloadService {
    /// A service using `client` for the remote cluster; `timeout` bounds each `/create` and `/delete`
    /// as a whole (every remote call they make, the tunnel's included).
    pub fn new(
        client: Client,
        settings: TransformSettings,
        timeout: Duration,
        cache: StatusCache,
        tunnel: Arc<dyn TunnelHook>,
    ) -> Self {
        Self {
            client,
            settings: Arc::new(settings),
            timeout,
            cache,
            tunnel,
            gate: Arc::default(),
            janitor: Arc::default(),
            janitor_running: Arc::default(),
            sweeps: Arc::default(),
            log_streams: Arc::default(),
            identity: super::leader::default_identity().into(),
        }
    }

    /// Orphan sweeps this replica has run.
    pub fn sweeps(&self) -> u64 {
        self.sweeps.load(Ordering::Relaxed)
    }

    /// `/getLogs` streams open now (a client that leaves closes its stream and the remote one).
    pub(crate) fn open_log_streams(&self) -> usize {
        self.log_streams.load(Ordering::Relaxed)
    }

    /// The status cache.
    pub fn cache(&self) -> &StatusCache {
        &self.cache
    }

    /// The remote cluster's client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Number of cleanups waiting for a retry in the background.
    pub(crate) fn pending_cleanups(&self) -> usize {
        self.janitor.len()
    }

    /// Runs `fut` until `deadline`, naming `action` in the error.
    async fn call<T, E, F>(
        &self,
        deadline: Instant,
        action: impl FnOnce() -> String,
        fut: F,
    ) -> Result<T, OffloadError>
    where
        E: RemoteFailure,
        F: Future<Output = Result<T, E>>,
    {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(err.into_offload_error(action)),
            Err(_) => Err(OffloadError::Timeout {
                action: action(),
                timeout: self.timeout,
            }),
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// How long a finished cleanup is repeated after a failure whose outcome is unknown: requests of
    /// the failed call may still be committed once the API server answers again.
    fn settle(&self) -> Duration {
        self.timeout.saturating_mul(2).max(Duration::from_secs(10))
    }

    /// Creates every remote object of the pod, or none: on failure, what this call created is deleted
    /// (or, when the API server does not answer, queued for deletion in the background).
    ///
    /// The work runs in its own task: when the caller goes away (InterLink gives up, the connection
    /// drops), the create still finishes or rolls back instead of stopping between two objects.
    pub async fn create(&self, request: &CreateRequest) -> Result<CreateResponse, OffloadError> {
        let plan = transform::plan(request, &self.settings)?;
        for decision in &plan.decisions {
            tracing::info!(pod_uid = %plan.local.uid, "{decision}");
        }
        for warning in &plan.warnings {
            tracing::warn!(pod_uid = %plan.local.uid, "{warning}");
        }
        let this = self.clone();
        tokio::spawn(async move { this.create_serialised(plan).await })
            .await
            .unwrap_or_else(|err| {
                Err(OffloadError::Aborted {
                    action: "create".into(),
                    reason: err.to_string(),
                })
            })
    }

    async fn create_serialised(&self, plan: RemotePlan) -> Result<CreateResponse, OffloadError> {
        let deadline = self.deadline();
        let uid = plan.local.uid.clone();
        let location = format!("{}/{}", plan.namespace, plan.pod.name_any());
        let Ok(_lock) = tokio::time::timeout_at(deadline, self.gate.lock(&uid)).await else {
            return Err(OffloadError::Timeout {
                action: format!(
                    "create Pod {location}: waiting for an earlier request on this pod"
                ),
                timeout: self.timeout,
            });
        };
        if self.gate.was_deleted(&uid) {
            tracing::warn!(pod_uid = %uid, "create refused: the pod was deleted");
            return Err(OffloadError::Deleted { uid });
        }
        // This create supersedes a cleanup still pending from an earlier failed call of the same pod.
        self.janitor.forget(&uid);
        let ticket = self.gate.start_create(&uid);
        let mut progress = Progress::default();
        let outcome = match tokio::time::timeout_at(
            deadline,
            self.create_all(&plan, &ticket, deadline, &mut progress),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(OffloadError::Timeout {
                action: format!("create Pod {location} and its objects"),
                timeout: self.timeout,
            }),
        };
        match outcome {
            Ok(jid) => {
                lock(&self.cache.vanished).remove(&uid);
                Ok(CreateResponse {
                    pod_uid: uid,
                    pod_jid: jid,
                })
            }
            Err(err) if progress.deleted_elsewhere => {
                tracing::info!(pod_uid = %uid, "create undone: the pod was deleted through another replica meanwhile");
                self.gate.mark_deleted(&uid);
                let target = self.cleanup_target(&plan, ClaimPolicy::Retention);
                if let Err(cleanup) = self.purge(&target, self.deadline()).await {
                    tracing::warn!(pod_uid = %uid, error = %cleanup, "undoing the create failed; retrying in the background");
                    self.schedule_cleanup(target, self.settle());
                }
                Err(err)
            }
            Err(err) if ticket.cancelled() => {
                // The delete that cancelled this create removes everything once this lock is released.
                tracing::info!(pod_uid = %uid, objects = progress.created.len(), "create stopped: the pod is being deleted");
                Err(err)
            }
            Err(err) => {
                tracing::warn!(pod_uid = %uid, error = %err, objects = progress.created.len(), "create failed; rolling back");
                self.roll_back(&plan, progress, &err).await;
                Err(err)
            }
        }
    }

    async fn create_all(
        &self,
        plan: &RemotePlan,
        ticket: &CreateTicket,
        deadline: Instant,
        progress: &mut Progress,
    ) -> Result<String, OffloadError> {
        let stopped = || OffloadError::Deleted {
            uid: plan.local.uid.clone(),
        };
        self.ensure_namespace(&plan.namespace, deadline).await?;
        let ns = plan.namespace.as_str();
        let uid = plan.local.uid.as_str();
        for cm in &plan.config_maps {
            if ticket.cancelled() {
                return Err(stopped());
            }
            if self
                .create_owned(ns, cm, uid, "ConfigMap", deadline)
                .await?
            {
                progress.created.push(Created::ConfigMap(cm.name_any()));
            } else {
                progress.repeated = true;
            }
        }
        for secret in &plan.secrets {
            if ticket.cancelled() {
                return Err(stopped());
            }
            if self
                .create_owned(ns, secret, uid, "Secret", deadline)
                .await?
            {
                progress.created.push(Created::Secret(secret.name_any()));
            } else {
                progress.repeated = true;
            }
        }
        for pvc in &plan.pvcs {
            if ticket.cancelled() {
                return Err(stopped());
            }
            let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
            let name = pvc.name_any();
            match self
                .call(
                    deadline,
                    || format!("create PersistentVolumeClaim {ns}/{name}"),
                    api.create(&PostParams::default(), pvc),
                )
                .await
            {
                Ok(_) => progress.created.push(Created::Pvc(name)),
                // A claim that already exists is used as is (it may be shared), as the original did.
                Err(err) if err.is_already_exists() => {
                    tracing::info!(pod_uid = %uid, pvc = %name, "PersistentVolumeClaim exists remotely; using it")
                }
                Err(err) => return Err(err),
            }
        }
        if ticket.cancelled() {
            return Err(stopped());
        }
        let (pod, created_now) = self.create_pod(plan, deadline).await?;
        if created_now {
            progress.created.push(Created::Pod(pod.name_any()));
        } else {
            progress.repeated = true;
        }
        if ticket.cancelled() {
            return Err(stopped());
        }
        let ctx = TunnelContext {
            client: self.client.clone(),
            local: plan.local.clone(),
            remote_namespace: plan.namespace.clone(),
            remote_pod: pod.clone(),
            deadline,
            timeout: self.timeout,
            cancel: ticket.token().clone(),
        };
        progress.created.push(Created::Tunnel);
        self.tunnel.after_create(&ctx).await?;
        if ticket.cancelled() {
            return Err(stopped());
        }
        // A /delete through another replica cannot stop this create; it leaves a mark or removes the pod
        // instead, and this create, its objects all made, looks for either.
        let pod_made_earlier_objects_only = !progress.repeated && !self.tunnel.makes_objects();
        if self
            .deleted_elsewhere(plan, !pod_made_earlier_objects_only, deadline)
            .await?
        {
            progress.deleted_elsewhere = true;
            return Err(stopped());
        }
        tracing::info!(pod_uid = %uid, remote = %format!("{ns}/{}", pod.name_any()), "pod offloaded");
        Ok(pod.uid().unwrap_or_default())
    }

    /// Whether a `/delete` of the pod ran while this create made its objects: its deletion marker exists,
    /// or (with `check_pod`) the remote pod is gone or terminating. `check_pod` is needed when the create
    /// made objects after the pod (the tunnel's) or found the pod already there (a repeated create): a
    /// delete that saw the pod then deletes by name without leaving a marker. A first create without a
    /// tunnel makes the pod last, so a delete that saw it also saw everything else.
    async fn deleted_elsewhere(
        &self,
        plan: &RemotePlan,
        check_pod: bool,
        deadline: Instant,
    ) -> Result<bool, OffloadError> {
        let ns = plan.namespace.as_str();
        let markers: Api<Lease> = Api::namespaced(self.client.clone(), ns);
        let marker_name = names::deletion_marker_name(&plan.local.uid);
        let marker = self.call(
            deadline,
            || format!("get Lease {ns}/{marker_name}"),
            markers.get_opt(&marker_name),
        );
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let pod_name = plan.pod.name_any();
        let pod = async {
            if !check_pod {
                return Ok(false);
            }
            let found = self
                .call(
                    deadline,
                    || format!("get Pod {ns}/{pod_name}"),
                    pods.get_opt(&pod_name),
                )
                .await?;
            Ok::<_, OffloadError>(found.is_none_or(|pod| {
                pod.metadata.deletion_timestamp.is_some()
                    || pod.labels().get(POD_UID_LABEL) != Some(&plan.local.uid)
            }))
        };
        let (marker, pod_gone) = tokio::join!(marker, pod);
        Ok(marker?.is_some() || pod_gone?)
    }

    /// Writes the deletion marker of the target's pod (creating the remote namespace if a create has not
    /// yet): a create of the pod running on another replica finds it when done and undoes itself.
    async fn mark_deleted_remotely(
        &self,
        target: &CleanupTarget,
        deadline: Instant,
    ) -> Result<(), OffloadError> {
        let ns = target.namespace.as_str();
        let name = names::deletion_marker_name(&target.local.uid);
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let marker = Lease {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.to_owned()),
                labels: Some(
                    [
                        (
                            INSTANCE_LABEL.to_owned(),
                            self.settings.offloading.namespace_prefix.clone(),
                        ),
                        (POD_UID_LABEL.to_owned(), target.local.uid.clone()),
                        (LEASE_ROLE_LABEL.to_owned(), DELETED_POD_LEASE.to_owned()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.to_string()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                ..LeaseSpec::default()
            }),
        };
        let api: Api<Lease> = Api::namespaced(self.client.clone(), ns);
        let mut created_namespace = false;
        loop {
            match self
                .call(
                    deadline,
                    || format!("create Lease {ns}/{name}"),
                    api.create(&PostParams::default(), &marker),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(err) if err.is_already_exists() => return Ok(()),
                Err(OffloadError::Remote {
                    source: kube::Error::Api(status),
                    ..
                }) if status.is_not_found() && !created_namespace => {
                    // No create has made the namespace yet; one may be about to.
                    self.ensure_namespace(ns, deadline).await?;
                    created_namespace = true;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn ensure_namespace(&self, name: &str, deadline: Instant) -> Result<(), OffloadError> {
        let labels = [(OFFLOADING_LABEL.to_owned(), OFFLOADING_VALUE.to_owned())].into();
        let created = self
            .call(
                deadline,
                || format!("ensure Namespace {name}"),
                k8s::api::ensure_namespace(&self.client, name, labels, FIELD_MANAGER),
            )
            .await?;
        if created {
            tracing::info!(namespace = %name, "created remote namespace");
        }
        Ok(())
    }

    /// Creates `object`; if it exists and belongs to the same pod (a repeated create), replaces it instead.
    /// Returns whether this call created it.
    async fn create_owned<K>(
        &self,
        ns: &str,
        object: &K,
        uid: &str,
        kind: &'static str,
        deadline: Instant,
    ) -> Result<bool, OffloadError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Serialize
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        let name = object.meta().name.clone().unwrap_or_default();
        match self
            .call(
                deadline,
                || format!("create {kind} {ns}/{name}"),
                api.create(&PostParams::default(), object),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.is_already_exists() => {
                let existing = self
                    .call(
                        deadline,
                        || format!("get {kind} {ns}/{name}"),
                        api.get(&name),
                    )
                    .await?;
                if existing
                    .meta()
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(POD_UID_LABEL))
                    .map(String::as_str)
                    != Some(uid)
                {
                    return Err(OffloadError::Conflict {
                        kind,
                        namespace: ns.into(),
                        name,
                        uid: uid.into(),
                    });
                }
                let mut replacement = object.clone();
                replacement.meta_mut().resource_version = existing.meta().resource_version.clone();
                self.call(
                    deadline,
                    || format!("replace {kind} {ns}/{name}"),
                    api.replace(&name, &PostParams::default(), &replacement),
                )
                .await?;
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    /// Creates the pod; a pod of the same name belonging to the same local pod is returned as is (a repeated
    /// create is idempotent). Retries while a fresh namespace's default ServiceAccount does not exist yet.
    async fn create_pod(
        &self,
        plan: &RemotePlan,
        deadline: Instant,
    ) -> Result<(Pod, bool), OffloadError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &plan.namespace);
        let name = plan.pod.name_any();
        let action = || format!("create Pod {}/{name}", plan.namespace);
        loop {
            match self
                .call(
                    deadline,
                    action,
                    api.create(&PostParams::default(), &plan.pod),
                )
                .await
            {
                Ok(pod) => return Ok((pod, true)),
                Err(err) if err.is_already_exists() => {
                    let existing = self.call(deadline, action, api.get(&name)).await?;
                    if existing.labels().get(POD_UID_LABEL) == Some(&plan.local.uid) {
                        return Ok((existing, false));
                    }
                    return Err(OffloadError::Conflict {
                        kind: "Pod",
                        namespace: plan.namespace.clone(),
                        name,
                        uid: plan.local.uid.clone(),
                    });
                }
                Err(OffloadError::Remote {
                    source: kube::Error::Api(status),
                    ..
                }) if status.code == 403
                    && status.message.contains("serviceaccount")
                    && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    fn cleanup_target(&self, plan: &RemotePlan, claims: ClaimPolicy) -> CleanupTarget {
        CleanupTarget {
            local: plan.local.clone(),
            namespace: plan.namespace.clone(),
            pod_name: plan.pod.name_any(),
            spec: plan.pod.spec.clone(),
            claims,
        }
    }

    /// Undoes a failed create. A first create is undone by removing everything labelled with the pod's
    /// UID, which also finds objects whose create request failed without an answer; a repeated create
    /// removes only what it created itself. When the API server did not answer in time, the cleanup is
    /// left to the background (so the reply stays within the timeout); when the rollback fails, or a
    /// request of the failed create may still be committed, it is retried there until it settles.
    async fn roll_back(&self, plan: &RemotePlan, progress: Progress, cause: &OffloadError) {
        let uid = plan.local.uid.as_str();
        if progress.repeated {
            if let Err(err) = self
                .undo_created(plan, progress.created, self.deadline())
                .await
            {
                tracing::error!(pod_uid = %uid, error = %err, "rollback could not delete an object");
            }
            return;
        }
        let target = self.cleanup_target(plan, ClaimPolicy::All);
        if matches!(cause, OffloadError::Timeout { .. }) {
            tracing::warn!(pod_uid = %uid, "rollback queued: retried in the background until the remote API server answers");
            self.schedule_cleanup(target, self.settle());
            return;
        }
        match self.purge(&target, self.deadline()).await {
            Ok((_, removed)) => {
                tracing::info!(pod_uid = %uid, objects = removed, "rolled back");
                if outcome_unknown(cause) {
                    self.schedule_cleanup(target, self.settle());
                }
            }
            Err(err) => {
                tracing::warn!(pod_uid = %uid, error = %err, "rollback failed; retrying in the background");
                let settle = if outcome_unknown(cause) {
                    self.settle()
                } else {
                    Duration::ZERO
                };
                self.schedule_cleanup(target, settle);
            }
        }
    }

    async fn undo_created(
        &self,
        plan: &RemotePlan,
        created: Vec<Created>,
        deadline: Instant,
    ) -> Result<(), OffloadError> {
        let ns = plan.namespace.as_str();
        let mut first_error = None;
        for object in created.into_iter().rev() {
            let outcome = match &object {
                Created::ConfigMap(name) => {
                    self.delete_one::<ConfigMap>(ns, name, "ConfigMap", deadline)
                        .await
                }
                Created::Secret(name) => {
                    self.delete_one::<Secret>(ns, name, "Secret", deadline)
                        .await
                }
                Created::Pvc(name) => {
                    self.delete_one::<PersistentVolumeClaim>(
                        ns,
                        name,
                        "PersistentVolumeClaim",
                        deadline,
                    )
                    .await
                }
                Created::Pod(name) => self.delete_one::<Pod>(ns, name, "Pod", deadline).await,
                Created::Tunnel => {
                    let ctx =
                        self.tunnel_context(&self.cleanup_target(plan, ClaimPolicy::All), deadline);
                    self.tunnel.before_delete(&ctx).await.map(|_| false)
                }
            };
            if let Err(err) = outcome {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn tunnel_context(&self, target: &CleanupTarget, deadline: Instant) -> TunnelContext {
        TunnelContext {
            client: self.client.clone(),
            local: target.local.clone(),
            remote_namespace: target.namespace.clone(),
            remote_pod: Pod {
                metadata: ObjectMeta {
                    name: Some(target.pod_name.clone()),
                    namespace: Some(target.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: target.spec.clone(),
                status: None,
            },
            deadline,
            timeout: self.timeout,
            cancel: CancellationToken::new(),
        }
    }

    /// Deletes one object; `Ok(false)` when it was already gone.
    async fn delete_one<K>(
        &self,
        ns: &str,
        name: &str,
        kind: &str,
        deadline: Instant,
    ) -> Result<bool, OffloadError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        self.call(
            deadline,
            || format!("delete {kind} {ns}/{name}"),
            k8s::api::delete_if_present(&api, name),
        )
        .await
    }

    /// The objects recorded on the remote pod of `target` in the status cache: `None` when the cache does
    /// not hold that pod of that local pod (not synced yet, never created, a create cut short, gone).
    fn recorded_objects(&self, target: &CleanupTarget) -> Option<PodObjects> {
        if !self.cache.is_synced() || target.pod_name.is_empty() {
            return None;
        }
        let pod = self
            .cache
            .store
            .get(&ObjectRef::new(&target.pod_name).within(&target.namespace))?;
        if pod.labels().get(POD_UID_LABEL) != Some(&target.local.uid) {
            return None;
        }
        PodObjects::of(&pod, &target.local.uid)
    }

    /// Removes the remote pod and the ConfigMaps and Secrets recorded on it, by name and all at once (the
    /// tunnel's objects alongside; claims, when the pod has any, found by label as in [`Self::purge`]).
    /// Every deletion is attempted; the first error is returned. Returns what `purge` returns.
    async fn purge_named(
        &self,
        target: &CleanupTarget,
        objects: &PodObjects,
        deadline: Instant,
    ) -> Result<(bool, usize), OffloadError> {
        let ns = target.namespace.as_str();
        let pod = self.delete_one::<Pod>(ns, &target.pod_name, "Pod", deadline);
        let config_maps = futures::future::join_all(
            objects
                .config_maps
                .iter()
                .map(|name| self.delete_one::<ConfigMap>(ns, name, "ConfigMap", deadline)),
        );
        let secrets = futures::future::join_all(
            objects
                .secrets
                .iter()
                .map(|name| self.delete_one::<Secret>(ns, name, "Secret", deadline)),
        );
        let (pod, config_maps, secrets) = tokio::join!(pod, config_maps, secrets);
        // The tunnel's objects go after the pod: a create on another replica that still makes them checks
        // the pod when done, so it either sees it deleted or made them before they are looked for here.
        let tunnel_context = self.tunnel_context(target, deadline);
        let tunnel = self.tunnel.before_delete(&tunnel_context).await;
        let mut first_error = None;
        let existed = pod.unwrap_or_else(|err| {
            first_error.get_or_insert(err);
            false
        });
        let mut removed = usize::from(existed);
        for outcome in config_maps.into_iter().chain(secrets) {
            match outcome {
                Ok(deleted) => removed += usize::from(deleted),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        if let Err(err) = tunnel {
            first_error.get_or_insert(err);
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        if !objects.claims.is_empty() {
            removed += self.delete_claims(target, deadline).await?;
        }
        Ok((existed, removed))
    }

    /// Deletes the claims labelled with the pod's UID that the target's claim policy says go with it.
    async fn delete_claims(
        &self,
        target: &CleanupTarget,
        deadline: Instant,
    ) -> Result<usize, OffloadError> {
        let selector = format!("{POD_UID_LABEL}={}", target.local.uid);
        let claims = target.claims;
        self.delete_labelled::<PersistentVolumeClaim>(
            &target.namespace,
            &selector,
            deadline,
            |pvc| {
                claims == ClaimPolicy::All
                    || pvc
                        .annotations
                        .as_ref()
                        .and_then(|annotations| annotations.get(PVC_RETENTION_ANNOTATION))
                        .is_some_and(|policy| policy.split(',').any(|p| p.trim() == "delete"))
            },
        )
        .await
    }

    /// Removes the remote pod and every object made for it, found by the pod-UID label; returns whether
    /// the pod was there and how many objects (the pod included) were deleted.
    async fn purge(
        &self,
        target: &CleanupTarget,
        deadline: Instant,
    ) -> Result<(bool, usize), OffloadError> {
        let ns = target.namespace.as_str();
        // An empty name would address the whole collection: a sweep target has no known pod name.
        let existed = !target.pod_name.is_empty()
            && self
                .delete_one::<Pod>(ns, &target.pod_name, "Pod", deadline)
                .await?;
        self.tunnel
            .before_delete(&self.tunnel_context(target, deadline))
            .await?;
        let selector = format!("{POD_UID_LABEL}={}", target.local.uid);
        let mut removed = usize::from(existed);
        removed += self
            .delete_labelled::<ConfigMap>(ns, &selector, deadline, |_| true)
            .await?;
        removed += self
            .delete_labelled::<Secret>(ns, &selector, deadline, |_| true)
            .await?;
        removed += self.delete_claims(target, deadline).await?;
        Ok((existed, removed))
    }

    /// Deletes the remote pod and every object created for it (by the names recorded on the cached remote
    /// pod, else found by the pod-UID label); deleting something already gone is success. A create of the same pod in flight is stopped first and
    /// its objects removed with the rest; a create arriving later is refused. When the remote API
    /// server fails or does not answer in time, the error is returned and the deletion is retried in
    /// the background until it succeeds (the Virtual Kubelet does not repeat a delete).
    pub async fn delete(&self, pod: &Pod) -> Result<String, OffloadError> {
        let local = transform::local_pod(&pod.metadata, "metadata")?;
        let (namespace, pod_name) = transform::remote_location(&local, &self.settings.offloading);
        let target = CleanupTarget {
            local,
            namespace,
            pod_name,
            spec: pod.spec.clone(),
            claims: ClaimPolicy::Retention,
        };
        let uid = target.local.uid.clone();
        self.gate.mark_deleted(&uid);
        self.gate.cancel_create(&uid);
        let this = self.clone();
        tokio::spawn(async move { this.delete_serialised(target).await })
            .await
            .unwrap_or_else(|err| {
                Err(OffloadError::Aborted {
                    action: "delete".into(),
                    reason: err.to_string(),
                })
            })?;
        Ok(format!("Pod '{uid}' deleted"))
    }

    async fn delete_serialised(&self, target: CleanupTarget) -> Result<(), OffloadError> {
        let deadline = self.deadline();
        let uid = target.local.uid.clone();
        let location = format!("{}/{}", target.namespace, target.pod_name);
        let Ok(_lock) = tokio::time::timeout_at(deadline, self.gate.lock(&uid)).await else {
            tracing::warn!(pod_uid = %uid, "delete waits for a create of the same pod; queued");
            self.schedule_cleanup(target, self.settle());
            return Err(OffloadError::Timeout {
                action: format!("delete Pod {location}: waiting for its create to stop"),
                timeout: self.timeout,
            });
        };
        self.janitor.forget(&uid);
        lock(&self.cache.deleting).insert(uid.clone(), ());
        lock(&self.cache.vanished).remove(&uid);
        // The remote pod in the cache names what was created with it: deleted by name, no list. Without
        // it (a create cut short, a restart in between, a pod already gone) the objects are found by label.
        // Without the pod in the cache a create may still be running, on this replica's gate or another
        // replica: the deletion marker written first makes that create undo itself when done.
        let outcome = match self.recorded_objects(&target) {
            Some(objects) => self.purge_named(&target, &objects, deadline).await,
            None => match self.mark_deleted_remotely(&target, deadline).await {
                Ok(()) => self.purge(&target, deadline).await,
                Err(err) => Err(err),
            },
        };
        match outcome {
            Ok((existed, removed)) => {
                if !existed {
                    // No delete event will come for a pod that was not there.
                    lock(&self.cache.deleting).remove(&uid);
                }
                tracing::info!(pod_uid = %uid, remote = %location, objects = removed, "pod deleted");
                Ok(())
            }
            Err(err) => {
                tracing::warn!(pod_uid = %uid, error = %err, "delete failed; retrying in the background");
                self.schedule_cleanup(
                    target,
                    if outcome_unknown(&err) {
                        self.settle()
                    } else {
                        Duration::ZERO
                    },
                );
                Err(err)
            }
        }
    }

    /// Queues a cleanup for the background task (started on first use).
    fn schedule_cleanup(&self, target: CleanupTarget, settle: Duration) {
        self.janitor.schedule(target, settle);
        if !self.janitor_running.swap(true, Ordering::SeqCst) {
            let this = self.clone();
            tokio::spawn(async move { this.run_janitor().await });
        }
    }

    /// Objects younger than this are left alone by the orphan sweep: a create may still be making them.
    fn orphan_grace(&self) -> Duration {
        self.settle() + Duration::from_secs(60)
    }

    /// Starts the background cleanup: while this replica leads (`leadership`), a sweep for orphaned
    /// objects at once and then every grace period (at most [`SWEEP_INTERVAL`]), for what a crashed or
    /// restarted replica left and whose in-memory retries are gone, and for old deletion markers; pending
    /// cleanups of this replica's own calls are retried by their own task. Stops when `shutdown` is
    /// cancelled; a sweep in progress stops when leadership is lost.
    pub(crate) fn start_cleanup(
        &self,
        mut leadership: Leadership,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let every = self.orphan_grace().min(SWEEP_INTERVAL);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = interval.tick() => {}
                    leading = leadership.changed() => {
                        if !leading {
                            continue;
                        }
                        // A new leader sweeps at once: the previous one may have stopped mid-way.
                        interval.reset();
                    }
                }
                if !leadership.is_leader() {
                    continue;
                }
                let mut watch = leadership.clone();
                let swept = tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = async { while watch.changed().await {} } => continue,
                    swept = this.sweep() => swept,
                };
                this.sweeps.fetch_add(1, Ordering::Relaxed);
                match swept {
                    Ok(0) => {}
                    Ok(pods) => {
                        tracing::warn!(
                            pods,
                            "objects of pods without a remote pod found; cleanup queued"
                        )
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "orphan sweep failed; trying again later")
                    }
                }
            }
        })
    }

    /// One sweep of the leader: orphaned objects ([`Self::sweep_orphans`]), then deletion markers older
    /// than any create they could still meet.
    async fn sweep(&self) -> Result<usize, OffloadError> {
        let queued = self.sweep_orphans().await?;
        self.remove_old_markers().await?;
        Ok(queued)
    }

    /// Deletes this instance's deletion markers older than the orphan grace period (every create they
    /// guard has answered by then).
    async fn remove_old_markers(&self) -> Result<usize, OffloadError> {
        let deadline = self.deadline();
        let api: Api<Lease> = Api::all(self.client.clone());
        let selector = format!(
            "{},{LEASE_ROLE_LABEL}={DELETED_POD_LEASE}",
            instance_selector_of_objects(&self.settings.offloading.namespace_prefix)
        );
        let listed = self
            .call(
                deadline,
                || format!("list Leases with {selector}"),
                api.list_metadata(&ListParams::default().labels(&selector)),
            )
            .await?;
        let now = k8s_openapi::jiff::Timestamp::now();
        let grace = k8s_openapi::jiff::SignedDuration::try_from(self.orphan_grace())
            .unwrap_or(k8s_openapi::jiff::SignedDuration::MAX);
        let mut removed = 0;
        for marker in &listed.items {
            let old = marker
                .metadata
                .creation_timestamp
                .as_ref()
                .is_some_and(|created| now.duration_since(created.0) >= grace);
            let (Some(ns), true) = (marker.metadata.namespace.as_deref(), old) else {
                continue;
            };
            let name = marker.name_any();
            let namespaced: Api<Lease> = Api::namespaced(self.client.clone(), ns);
            let gone = self
                .call(
                    deadline,
                    || format!("delete Lease {ns}/{name}"),
                    k8s::api::delete_if_present(&namespaced, &name),
                )
                .await?;
            removed += usize::from(gone);
        }
        Ok(removed)
    }

    /// Queues the cleanup of every pod UID that has objects made by the plugin (ConfigMaps, Secrets,
    /// tunnel Services, bastion objects) but no remote pod: a create that died half-way or a delete that
    /// failed, in this process or an earlier one. Returns how many were queued.
    async fn sweep_orphans(&self) -> Result<usize, OffloadError> {
        let deadline = self.deadline();
        let pods: Api<Pod> = Api::all(self.client.clone());
        let offloaded = format!("{OFFLOADING_LABEL}={OFFLOADING_VALUE}");
        let with_pod: HashSet<String> = self
            .call(
                deadline,
                || "list offloaded Pods".to_owned(),
                pods.list_metadata(&ListParams::default().labels(&offloaded)),
            )
            .await?
            .items
            .iter()
            .filter_map(|pod| pod.labels().get(POD_UID_LABEL).cloned())
            .collect();
        let mut orphans = Orphans::new(self.orphan_grace());
        let tunnel = format!(
            "{}={}",
            super::names::TUNNEL_COMPONENT_LABEL,
            super::names::TUNNEL_COMPONENT_VALUE
        );
        // Only this instance's ConfigMaps and Secrets: another plugin sharing the cluster owns its own.
        let own = instance_selector(&self.settings.offloading.namespace_prefix);
        self.collect_orphans::<ConfigMap>(&own, true, deadline, &mut orphans)
            .await?;
        self.collect_orphans::<Secret>(&own, true, deadline, &mut orphans)
            .await?;
        self.collect_orphans::<Service>(&tunnel, true, deadline, &mut orphans)
            .await?;
        self.collect_orphans::<Deployment>(&tunnel, false, deadline, &mut orphans)
            .await?;
        self.collect_orphans::<ConfigMap>(&tunnel, false, deadline, &mut orphans)
            .await?;
        self.collect_orphans::<Secret>(&tunnel, false, deadline, &mut orphans)
            .await?;
        let mut queued = 0;
        for (uid, found) in orphans.by_uid {
            if found.young
                || with_pod.contains(&uid)
                || !names::is_valid_uid(&uid)
                || self.gate.is_creating(&uid)
                || self.janitor.contains(&uid)
            {
                continue;
            }
            tracing::info!(pod_uid = %uid, namespace = %found.namespace, "objects without a remote pod; queuing their cleanup");
            self.schedule_cleanup(
                CleanupTarget {
                    local: LocalPod {
                        name: String::new(),
                        namespace: String::new(),
                        uid,
                    },
                    namespace: found.namespace,
                    pod_name: String::new(),
                    spec: None,
                    claims: ClaimPolicy::Retention,
                },
                Duration::ZERO,
            );
            queued += 1;
        }
        Ok(queued)
    }

    async fn collect_orphans<K>(
        &self,
        selector: &str,
        in_pod_namespace: bool,
        deadline: Instant,
        orphans: &mut Orphans,
    ) -> Result<(), OffloadError>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let listed = match self
            .call(
                deadline,
                || format!("list {} with {selector}", K::kind(&())),
                api.list_metadata(&ListParams::default().labels(selector)),
            )
            .await
        {
            Ok(listed) => listed,
            // Without the tunnel the plugin's role has no Services or Deployments: nothing of it to find.
            Err(OffloadError::Remote {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 403 => return Ok(()),
            Err(err) => return Err(err),
        };
        for item in &listed.items {
            orphans.add(&item.metadata, in_pod_namespace);
        }
        Ok(())
    }

    /// Retries pending cleanups with a capped exponential backoff until each has succeeded and settled.
    async fn run_janitor(self) {
        loop {
            let (due, next) = self.janitor.due();
            if due.is_empty() {
                self.janitor.wait(next).await;
                continue;
            }
            for pending in due {
                let uid = pending.target.local.uid.clone();
                let Some(_lock) = self.gate.try_lock(&uid) else {
                    // A create or delete of this pod runs; it decides, the cleanup comes back later.
                    self.janitor.postpone(&uid, RETRY_INITIAL);
                    continue;
                };
                match self.purge(&pending.target, self.deadline()).await {
                    Ok((_, removed)) => {
                        if removed > 0 {
                            tracing::info!(pod_uid = %uid, objects = removed, attempts = pending.attempts + 1, "pending cleanup removed objects");
                        }
                        if self.janitor.finish_attempt(&uid, true) {
                            tracing::info!(pod_uid = %uid, "pending cleanup finished");
                        }
                    }
                    Err(err) => {
                        self.janitor.finish_attempt(&uid, false);
                        tracing::warn!(pod_uid = %uid, error = %err, attempts = pending.attempts + 1, "pending cleanup failed; retrying");
                    }
                }
            }
        }
    }

    async fn delete_labelled<K>(
        &self,
        ns: &str,
        selector: &str,
        deadline: Instant,
        wanted: impl Fn(&ObjectMeta) -> bool,
    ) -> Result<usize, OffloadError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        self.call(
            deadline,
            || format!("delete {} in {ns} with {selector}", K::kind(&())),
            k8s::api::delete_by_label::<K>(&self.client, ns, selector, wanted),
        )
        .await
    }

    /// What to report for a pod whose remote pod is not there.
    fn missing_state<'a>(&self, pod: &'a Pod, uid: &str) -> RemoteState<'a> {
        if let Some(status) = pod.status.as_ref().filter(|status| reported_ended(status)) {
            return RemoteState::Ended(status);
        }
        let seen = {
            let mut vanished = lock(&self.cache.vanished);
            let seen = vanished.get(uid).cloned();
            if let Some(entry) = seen.as_ref().filter(|entry| !entry.warned) {
                // The Virtual Kubelet still asks about the pod, so it was not deleted through InterLink.
                tracing::warn!(pod_uid = %uid, "remote pod disappeared without /delete");
                vanished.insert(
                    uid.to_owned(),
                    Vanished {
                        at: entry.at.clone(),
                        warned: true,
                    },
                );
            }
            seen
        };
        match seen {
            Some(entry) => RemoteState::Vanished { at: entry.at },
            // The watch only sees deletions while the plugin runs. A pod the Virtual Kubelet already
            // knows as running cannot still be being created: after a restart, that is how a pod
            // deleted in between is told from a create in flight.
            None if reported_running(pod) => RemoteState::Vanished {
                at: Time(k8s_openapi::jiff::Timestamp::now()),
            },
            None => RemoteState::NotFound,
        }
    }

    /// Status entries for the requested pods, from the cache once it is synced (no API request), else by GET.
    pub async fn status(&self, pods: &[Pod]) -> Result<Vec<PodStatusEntry>, OffloadError> {
        let deadline = self.deadline();
        let mut entries = Vec::with_capacity(pods.len());
        for (i, pod) in pods.iter().enumerate() {
            let local = transform::local_pod(&pod.metadata, &format!("[{i}].metadata"))?;
            let (ns, name) = transform::remote_location(&local, &self.settings.offloading);
            let fetched;
            let cached;
            let remote: Option<&Pod> = if self.cache.is_synced() {
                cached = self.cache.store.get(&ObjectRef::new(&name).within(&ns));
                cached.as_deref()
            } else {
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
                fetched = self
                    .call(
                        deadline,
                        || format!("get Pod {ns}/{name}"),
                        api.get_opt(&name),
                    )
                    .await?;
                fetched.as_ref()
            };
            let remote = remote.filter(|p| p.labels().get(POD_UID_LABEL) == Some(&local.uid));
            let state = match remote {
                Some(pod) => RemoteState::Found(pod),
                None => self.missing_state(pod, &local.uid),
            };
            let spec = pod
                .spec
                .as_ref()
                .or_else(|| remote.and_then(|r| r.spec.as_ref()));
            let init = offloaded(
                spec.and_then(|s| s.init_containers.as_deref())
                    .unwrap_or_default(),
                &transform::local_only_containers(&pod.metadata, true),
            );
            let main = offloaded(
                spec.map(|s| s.containers.as_slice()).unwrap_or_default(),
                &transform::local_only_containers(&pod.metadata, false),
            );
            let (init, main) = (init.as_ref(), main.as_ref());
            if main.is_empty() {
                // Without container names no entry can be built, and an empty list would read as Succeeded;
                // omitting the pod makes the Virtual Kubelet keep waiting.
                tracing::warn!(pod_uid = %local.uid, "status requested for a pod without spec.containers; omitted");
                continue;
            }
            entries.push(status::status_entry(&local, init, main, state));
        }
        Ok(entries)
    }

    /// Opens the remote log stream for the request; the stream ends when the container's log ends (or, with
    /// `Follow`, when the container stops) and is dropped when the caller goes away.
    pub async fn logs(
        &self,
        request: &LogRequest,
    ) -> Result<
        impl Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
        OffloadError,
    > {
        let meta = ObjectMeta {
            name: Some(request.pod_name.clone()),
            namespace: Some(request.namespace.clone()),
            uid: Some(request.pod_uid.clone()),
            ..ObjectMeta::default()
        };
        let local = transform::local_pod(&meta, "").map_err(|err| match err {
            RequestError::Missing { field } => RequestError::Missing {
                field: log_field(&field).into(),
            },
            RequestError::Invalid {
                field,
                value,
                expected,
            } => RequestError::Invalid {
                field: log_field(&field).into(),
                value,
                expected,
            },
            other => other,
        })?;
        let opts = &request.opts;
        for (field, value) in [
            ("Opts.Tail", opts.tail),
            ("Opts.Bytes", opts.bytes),
            ("Opts.SinceSeconds", opts.since_seconds),
        ] {
            if value < 0 {
                return Err(RequestError::Invalid {
                    field: field.into(),
                    value: value.to_string(),
                    expected: "zero (unset) or a positive number",
                }
                .into());
            }
        }
        let (ns, name) = transform::remote_location(&local, &self.settings.offloading);
        let params = LogParams {
            container: Some(request.container_name.clone()).filter(|c| !c.is_empty()),
            follow: opts.follow,
            limit_bytes: (opts.bytes > 0).then_some(opts.bytes),
            pretty: false,
            previous: opts.previous,
            since_seconds: (opts.since_seconds > 0).then_some(opts.since_seconds),
            since_time: opts.since_time().map(|t| t.0),
            tail_lines: (opts.tail > 0).then_some(opts.tail),
            timestamps: opts.timestamps,
        };
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let reader = self
            .call(
                self.deadline(),
                || format!("read logs of Pod {ns}/{name}"),
                api.log_stream(&name, &params),
            )
            .await?;
        use tokio_util::compat::FuturesAsyncReadCompatExt as _;
        let open = OpenStream::new(self.log_streams.clone());
        // A followed stream ends when the container does, whatever the kubelet does with its end of it
        // (kwok's never ends); the client leaving drops this stream, the remote one and the wait with it.
        let ended: Pin<Box<dyn Future<Output = ()> + Send>> = if opts.follow {
            Box::pin(self.cache.clone().container_ended(
                ns,
                name,
                local.uid,
                params.container.clone(),
            ))
        } else {
            Box::pin(std::future::pending())
        };
        Ok(tokio_util::io::ReaderStream::new(reader.compat())
            .map_err(std::io::Error::other)
            .take_until(ended)
            .map(move |chunk| {
                let _open = &open;
                chunk
            }))
    }
}

/// How long a followed log stream goes on after its container was seen ended: the last lines may still be
/// on their way from the kubelet.
const FOLLOW_DRAIN: Duration = Duration::from_secs(2);

/// Counts an open `/getLogs` stream while it lives.
struct OpenStream(Arc<AtomicUsize>);

impl OpenStream {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl StatusCache {
    /// Resolves [`FOLLOW_DRAIN`] after the cache shows `container` (every container when `None`) of the
    /// remote pod `ns/name` of local pod `uid` terminated, the pod finished, or the pod gone after it was
    /// seen. Waits on the watch, no API request.
    async fn container_ended(
        self,
        ns: String,
        name: String,
        uid: String,
        container: Option<String>,
    ) {
        let key = ObjectRef::new(&name).within(&ns);
        let mut seen = false;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before looking, so an event between the look and the wait is not missed.
            notified.as_mut().enable();
            if self.is_synced() {
                let pod = self
                    .store
                    .get(&key)
                    .filter(|pod| pod.labels().get(POD_UID_LABEL) == Some(&uid));
                match pod {
                    Some(pod) if has_ended(&pod, container.as_deref()) => break,
                    Some(_) => seen = true,
                    None if seen => break,
                    None => {}
                }
            }
            notified.await;
        }
        tracing::debug!(pod_uid = %uid, "followed container ended; closing its log stream");
        tokio::time::sleep(FOLLOW_DRAIN).await;
    }
}

/// Whether the remote pod finished, or its `container` (every container when `None`) is terminated.
fn has_ended(pod: &Pod, container: Option<&str>) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return true;
    }
    let terminated = |c: &k8s_openapi::api::core::v1::ContainerStatus| {
        c.state.as_ref().is_some_and(|s| s.terminated.is_some())
    };
    match container {
        Some(name) => status
            .container_statuses
            .iter()
            .chain(status.init_container_statuses.iter())
            .flatten()
            .find(|c| c.name == name)
            .is_some_and(terminated),
        None => status
            .container_statuses
            .as_deref()
            .is_some_and(|all| !all.is_empty() && all.iter().all(terminated)),
    }
}

/// The containers the plugin runs: those the disable-offload annotations keep local are not reported (the
/// Virtual Kubelet runs them in its shadow pod and keeps their status; reporting them as waiting would
/// keep a finished pod from completing).
fn offloaded<'a>(
    containers: &'a [k8s_openapi::api::core::v1::Container],
    local: &[String],
) -> std::borrow::Cow<'a, [k8s_openapi::api::core::v1::Container]> {
    if local.is_empty() {
        return std::borrow::Cow::Borrowed(containers);
    }
    std::borrow::Cow::Owned(
        containers
            .iter()
            .filter(|c| !local.contains(&c.name))
            .cloned()
            .collect(),
    )
}

fn log_field(metadata_field: &str) -> &'static str {
    match metadata_field.trim_start_matches('.') {
        "name" => "PodName",
        "namespace" => "Namespace",
        _ => "PodUID",
    }
}

/// Names of remote objects created for a pod, for tests and tools: `(namespace, pod name)`.
pub fn remote_pod_location(local: &LocalPod, settings: &TransformSettings) -> (String, String) {
    transform::remote_location(local, &settings.offloading)
}

/// The scoped remote name of a ConfigMap/Secret of a pod.
pub fn remote_object_name(name: &str, pod_uid: &str) -> String {
    names::scoped_name(name, pod_uid, names::NameKind::Subdomain)
}
