//! The remote side of the four InterLink calls: create (all-or-nothing, with rollback), delete (idempotent,
//! by ownership labels), status (from a watch-backed cache of the pods the plugin owns) and logs (streamed).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, PodStatus, Secret,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::interlink::{CreateRequest, CreateResponse, LogRequest, PodStatusEntry};
use super::names::{
    self, OFFLOADING_LABEL, OFFLOADING_VALUE, POD_UID_LABEL, PVC_RETENTION_ANNOTATION,
};
use super::status::{self, RemoteState};
use super::transform::{self, LocalPod, RemotePlan, RequestError, TransformSettings};

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
    pub fn http_status(&self) -> u16 {
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
            Self::Conflict { .. } => 409,
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

    fn is_not_found(&self) -> bool {
        matches!(self, Self::Remote { source: kube::Error::Api(s), .. } if s.is_not_found())
    }

    fn is_already_exists(&self) -> bool {
        matches!(self, Self::Remote { source: kube::Error::Api(s), .. } if s.is_already_exists() || s.code == 409)
    }
}

/// A boxed future, for the object-safe [`TunnelHook`].
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), OffloadError>> + Send + 'a>>;

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
}

/// Extra remote objects per pod (the TCP tunnel of issue 7). `after_create` runs once the pod exists; if it
/// fails, everything is rolled back and `before_delete` is called to clean up what it did. Both must be
/// idempotent and find their objects by the pod's UID label, not memory.
pub trait TunnelHook: Send + Sync {
    /// Creates the pod's extra objects.
    fn after_create<'a>(&'a self, ctx: &'a TunnelContext) -> HookFuture<'a>;
    /// Removes them (also on rollback).
    fn before_delete<'a>(&'a self, ctx: &'a TunnelContext) -> HookFuture<'a>;
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
}

/// Remote pods owned by the plugin, mirrored by a watch on the `interlink.io=offloading` label.
#[derive(Clone)]
pub struct StatusCache {
    store: Store<Pod>,
    synced: Arc<AtomicBool>,
    /// Local UIDs of pods whose remote pod disappeared without a `/delete`.
    vanished: Arc<Mutex<HashMap<String, Time>>>,
    /// Local UIDs being deleted through `/delete`: their disappearance is expected.
    deleting: Arc<Mutex<HashSet<String>>>,
}

impl StatusCache {
    /// Starts the watch; it runs until `shutdown` is cancelled.
    pub fn start(
        client: Client,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let api: Api<Pod> = Api::all(client);
        let (store, writer) = reflector::store();
        let cache = StatusCache {
            store,
            synced: Arc::new(AtomicBool::new(false)),
            vanished: Arc::default(),
            deleting: Arc::default(),
        };
        let config =
            watcher::Config::default().labels(&format!("{OFFLOADING_LABEL}={OFFLOADING_VALUE}"));
        let events = watcher::watcher(api, config)
            .default_backoff()
            .modify(|pod| pod.managed_fields_mut().clear())
            .reflect(writer);
        let observer = cache.clone();
        let task = tokio::spawn(async move {
            let mut events = std::pin::pin!(events.take_until(shutdown.cancelled_owned()));
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => observer.observe(&event),
                    Err(err) => tracing::warn!(error = %err, "remote pod watch failed; retrying"),
                }
            }
        });
        (cache, task)
    }

    fn observe(&self, event: &Event<Pod>) {
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
                    && !lock(&self.deleting).remove(uid)
                {
                    tracing::warn!(pod_uid = %uid, remote = %pod.name_any(), "remote pod disappeared without /delete");
                    lock(&self.vanished)
                        .insert(uid.clone(), Time(k8s_openapi::jiff::Timestamp::now()));
                }
            }
            Event::Init => {}
        }
    }

    /// Whether the initial list has completed.
    pub fn is_synced(&self) -> bool {
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the maps inconsistent, so poisoning is ignored.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Does the remote work of the InterLink calls.
#[derive(Clone)]
pub struct OffloadService {
    client: Client,
    settings: Arc<TransformSettings>,
    timeout: Duration,
    cache: StatusCache,
    tunnel: Arc<dyn TunnelHook>,
}

/// One object created by a `/create` call, for rollback.
enum Created {
    ConfigMap(String),
    Secret(String),
    Pvc(String),
    Pod(String),
    Tunnel,
}

impl OffloadService {
    /// A service using `client` for the remote cluster.
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
        }
    }

    /// The status cache.
    pub fn cache(&self) -> &StatusCache {
        &self.cache
    }

    /// The remote cluster's client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn call<T, F>(&self, action: impl FnOnce() -> String, fut: F) -> Result<T, OffloadError>
    where
        F: Future<Output = Result<T, kube::Error>>,
    {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(OffloadError::Remote {
                action: action(),
                source,
            }),
            Err(_) => Err(OffloadError::Timeout {
                action: action(),
                timeout: self.timeout,
            }),
        }
    }

    /// Creates every remote object of the pod, or none: on failure, what this call created is deleted.
    pub async fn create(&self, request: &CreateRequest) -> Result<CreateResponse, OffloadError> {
        let plan = transform::plan(request, &self.settings)?;
        for decision in &plan.decisions {
            tracing::info!(pod_uid = %plan.local.uid, "{decision}");
        }
        let mut created = Vec::new();
        match self.create_all(&plan, &mut created).await {
            Ok(jid) => {
                lock(&self.cache.vanished).remove(&plan.local.uid);
                Ok(CreateResponse {
                    pod_uid: plan.local.uid.clone(),
                    pod_jid: jid,
                })
            }
            Err(err) => {
                tracing::warn!(pod_uid = %plan.local.uid, error = %err, objects = created.len(), "create failed; rolling back");
                self.rollback(&plan, created).await;
                Err(err)
            }
        }
    }

    async fn create_all(
        &self,
        plan: &RemotePlan,
        created: &mut Vec<Created>,
    ) -> Result<String, OffloadError> {
        self.ensure_namespace(&plan.namespace).await?;
        let ns = plan.namespace.as_str();
        let uid = plan.local.uid.as_str();
        for cm in &plan.config_maps {
            if self.create_owned(ns, cm, uid, "ConfigMap").await? {
                created.push(Created::ConfigMap(cm.name_any()));
            }
        }
        for secret in &plan.secrets {
            if self.create_owned(ns, secret, uid, "Secret").await? {
                created.push(Created::Secret(secret.name_any()));
            }
        }
        for pvc in &plan.pvcs {
            let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
            let name = pvc.name_any();
            match self
                .call(
                    || format!("create PersistentVolumeClaim {ns}/{name}"),
                    api.create(&PostParams::default(), pvc),
                )
                .await
            {
                Ok(_) => created.push(Created::Pvc(name)),
                // A claim that already exists is used as is (it may be shared), as the original did.
                Err(err) if err.is_already_exists() => {
                    tracing::info!(pod_uid = %uid, pvc = %name, "PersistentVolumeClaim exists remotely; using it")
                }
                Err(err) => return Err(err),
            }
        }
        let (pod, is_new) = self.create_pod(plan).await?;
        if is_new {
            created.push(Created::Pod(pod.name_any()));
        }
        let ctx = TunnelContext {
            client: self.client.clone(),
            local: plan.local.clone(),
            remote_namespace: plan.namespace.clone(),
            remote_pod: pod.clone(),
        };
        created.push(Created::Tunnel);
        self.tunnel.after_create(&ctx).await?;
        tracing::info!(pod_uid = %uid, remote = %format!("{ns}/{}", pod.name_any()), "pod offloaded");
        Ok(pod.uid().unwrap_or_default())
    }

    async fn ensure_namespace(&self, name: &str) -> Result<(), OffloadError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        if self
            .call(|| format!("get Namespace {name}"), api.get_opt(name))
            .await?
            .is_some()
        {
            return Ok(());
        }
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([(OFFLOADING_LABEL.to_owned(), OFFLOADING_VALUE.to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match self
            .call(
                || format!("create Namespace {name}"),
                api.create(&PostParams::default(), &namespace),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(namespace = %name, "created remote namespace");
                Ok(())
            }
            Err(err) if err.is_already_exists() => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Creates `object`; if it exists and belongs to the same pod (a repeated create), replaces it instead.
    /// Returns whether this call created it.
    async fn create_owned<K>(
        &self,
        ns: &str,
        object: &K,
        uid: &str,
        kind: &'static str,
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
                || format!("create {kind} {ns}/{name}"),
                api.create(&PostParams::default(), object),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.is_already_exists() => {
                let existing = self
                    .call(|| format!("get {kind} {ns}/{name}"), api.get(&name))
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
    async fn create_pod(&self, plan: &RemotePlan) -> Result<(Pod, bool), OffloadError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &plan.namespace);
        let name = plan.pod.name_any();
        let action = || format!("create Pod {}/{name}", plan.namespace);
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            match self
                .call(action, api.create(&PostParams::default(), &plan.pod))
                .await
            {
                Ok(pod) => return Ok((pod, true)),
                Err(err) if err.is_already_exists() => {
                    let existing = self.call(action, api.get(&name)).await?;
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
                    && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn rollback(&self, plan: &RemotePlan, created: Vec<Created>) {
        let ns = plan.namespace.as_str();
        for object in created.into_iter().rev() {
            let outcome = match &object {
                Created::ConfigMap(name) => {
                    self.delete_one::<ConfigMap>(ns, name, "ConfigMap").await
                }
                Created::Secret(name) => self.delete_one::<Secret>(ns, name, "Secret").await,
                Created::Pvc(name) => {
                    self.delete_one::<PersistentVolumeClaim>(ns, name, "PersistentVolumeClaim")
                        .await
                }
                Created::Pod(name) => self.delete_one::<Pod>(ns, name, "Pod").await,
                Created::Tunnel => {
                    let ctx = TunnelContext {
                        client: self.client.clone(),
                        local: plan.local.clone(),
                        remote_namespace: ns.into(),
                        remote_pod: plan.pod.clone(),
                    };
                    self.tunnel.before_delete(&ctx).await.map(|_| false)
                }
            };
            if let Err(err) = outcome {
                tracing::error!(pod_uid = %plan.local.uid, error = %err, "rollback could not delete an object");
            }
        }
    }

    /// Deletes one object; `Ok(false)` when it was already gone.
    async fn delete_one<K>(&self, ns: &str, name: &str, kind: &str) -> Result<bool, OffloadError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        match self
            .call(
                || format!("delete {kind} {ns}/{name}"),
                api.delete(name, &DeleteParams::background()),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Deletes the remote pod and every object created for it (found by the pod-UID label); deleting
    /// something already gone is success.
    pub async fn delete(&self, pod: &Pod) -> Result<String, OffloadError> {
        let local = transform::local_pod(&pod.metadata, "metadata")?;
        let (ns, name) = transform::remote_location(&local, &self.settings.offloading);
        lock(&self.cache.deleting).insert(local.uid.clone());
        lock(&self.cache.vanished).remove(&local.uid);
        let existed = self.delete_one::<Pod>(&ns, &name, "Pod").await?;
        let ctx = TunnelContext {
            client: self.client.clone(),
            local: local.clone(),
            remote_namespace: ns.clone(),
            remote_pod: Pod {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.clone()),
                    ..ObjectMeta::default()
                },
                spec: pod.spec.clone(),
                status: None,
            },
        };
        self.tunnel.before_delete(&ctx).await?;
        let selector = format!("{POD_UID_LABEL}={}", local.uid);
        let mut removed = 0;
        removed += self
            .delete_labelled::<ConfigMap>(&ns, &selector, "ConfigMap", |_| true)
            .await?;
        removed += self
            .delete_labelled::<Secret>(&ns, &selector, "Secret", |_| true)
            .await?;
        removed += self
            .delete_labelled::<PersistentVolumeClaim>(
                &ns,
                &selector,
                "PersistentVolumeClaim",
                |pvc| {
                    pvc.annotations()
                        .get(PVC_RETENTION_ANNOTATION)
                        .is_some_and(|policy| policy.split(',').any(|p| p.trim() == "delete"))
                },
            )
            .await?;
        if !existed {
            // No delete event will come for a pod that was not there.
            lock(&self.cache.deleting).remove(&local.uid);
        }
        tracing::info!(pod_uid = %local.uid, remote = %format!("{ns}/{name}"), pod_existed = existed, objects = removed, "pod deleted");
        Ok(format!("Pod '{}' deleted", local.uid))
    }

    async fn delete_labelled<K>(
        &self,
        ns: &str,
        selector: &str,
        kind: &str,
        wanted: impl Fn(&K) -> bool,
    ) -> Result<usize, OffloadError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        let list = self
            .call(
                || format!("list {kind} in {ns} with {selector}"),
                api.list(&ListParams::default().labels(selector)),
            )
            .await?;
        let mut removed = 0;
        for object in list.items.iter().filter(|o| wanted(o)) {
            if self.delete_one::<K>(ns, &object.name_any(), kind).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// What to report for a pod whose remote pod is not there.
    fn missing_state<'a>(&self, pod: &'a Pod, uid: &str) -> RemoteState<'a> {
        if let Some(status) = pod.status.as_ref().filter(|status| reported_ended(status)) {
            return RemoteState::Ended(status);
        }
        match lock(&self.cache.vanished).get(uid) {
            Some(at) => RemoteState::Vanished { at: at.clone() },
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
                    .call(|| format!("get Pod {ns}/{name}"), api.get_opt(&name))
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
            let init = spec
                .and_then(|s| s.init_containers.as_deref())
                .unwrap_or_default();
            let main = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
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
                || format!("read logs of Pod {ns}/{name}"),
                api.log_stream(&name, &params),
            )
            .await?;
        use tokio_util::compat::FuturesAsyncReadCompatExt as _;
        Ok(tokio_util::io::ReaderStream::new(reader.compat()).map_err(std::io::Error::other))
    }
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
