//! What the InterLink ping reports: the remote cluster's free resources on the nodes offloaded pods may use,
//! computed from two watch caches (nodes; scheduled, non-terminated pods) so a ping makes no API request.
//!
//! Free = allocatable of the Ready, schedulable nodes that match `offloading.node_selector` and whose
//! NoSchedule/NoExecute taints `offloading.node_tolerations` tolerate, minus the requests (and count) of
//! every non-terminated pod bound to those nodes, this plugin's own offloaded pods included: the figure is
//! what the remote cluster has free (as the Slurm plugin reports total minus allocated). The local
//! scheduler also subtracts the pods bound to the virtual node from that figure, so an offloaded pod
//! counts twice there: conservative, never more pods placed than the remote cluster can run.

use super::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec, Taint, Toleration};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::interlink::{PingAccelerator, PingResources, PingResponse};
use crate::k8s::quantity::{self, format_bytes, format_count, format_cpu};
use crate::plugin::config::{OffloadingConfig, PingConfig, ResourceFigures, ResourceReport};

/// A watch whose last error is younger than this, with no event since, counts as failing. Longer than the
/// watcher's longest back-off (30 s), so a watch that keeps failing never looks healthy in between, and a
/// watch that reconnected silently (a reconnect yields no event) stops counting as failing after it.
const FAILING_WINDOW: Duration = Duration::from_secs(90);

/// Whether a watch is synced and not failing, fed by its event loop.
#[derive(Debug, Default)]
pub(super) struct WatchHealth {
    synced: AtomicBool,
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    last_event: Option<Instant>,
    last_error: Option<(Instant, String)>,
}

impl WatchHealth {
    /// An event arrived (the watch works).
    pub fn event(&self) {
        lock(&self.state).last_event = Some(Instant::now());
    }

    /// The initial list completed.
    pub(super) fn mark_synced(&self) {
        self.synced.store(true, Ordering::SeqCst);
        self.event();
    }

    /// The watch failed with `error` (it retries with back-off).
    pub fn failed(&self, error: String) {
        lock(&self.state).last_error = Some((Instant::now(), error));
    }

    /// Why the watch's data cannot be trusted now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let state = lock(&self.state);
        let recent_error = state.last_error.as_ref().filter(|(at, _)| {
            at.elapsed() < FAILING_WINDOW && state.last_event.is_none_or(|event| event < *at)
        });
        if !self.synced.load(Ordering::SeqCst) {
            return Some(match recent_error {
                Some((_, error)) => format!("not synced: {error}"),
                None => "not synced yet".into(),
            });
        }
        recent_error.map(|(_, error)| format!("failing: {error}"))
    }
}

/// Amounts per resource name, in milli-units.
type Amounts = BTreeMap<String, i128>;

/// What a bound pod takes from its node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Usage {
    node: String,
    requests: Amounts,
}

/// Whether `name` is reported: cpu, memory, pods and extended resources (`<domain>/<name>` outside
/// `kubernetes.io`), which the Virtual Kubelet takes as accelerators.
fn is_reported(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "pods") || is_extended(name)
}

fn is_extended(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

fn add_requests(total: &mut Amounts, container: &Container) {
    let requests = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    for (name, amount) in requests.into_iter().flatten() {
        if is_reported(name)
            && let Ok(milli) = quantity::parse_milli(&amount.0)
        {
            *total.entry(name.clone()).or_default() += milli;
        }
    }
}

fn max_into(total: &mut Amounts, other: &Amounts) {
    for (name, amount) in other {
        let entry = total.entry(name.clone()).or_default();
        *entry = (*entry).max(*amount);
    }
}

/// The requests the scheduler accounts for a pod: the containers' sum, or more while an init container runs
/// (sidecars — restartable init containers — run alongside everything after them), plus pod overhead;
/// pod-level requests replace the container sum for the resources they name.
fn pod_requests(spec: &PodSpec) -> Amounts {
    let mut total = Amounts::new();
    for container in &spec.containers {
        add_requests(&mut total, container);
    }
    let mut sidecars = Amounts::new();
    let mut init_peak = Amounts::new();
    for container in spec.init_containers.iter().flatten() {
        let mut own = Amounts::new();
        add_requests(&mut own, container);
        if container.restart_policy.as_deref() == Some("Always") {
            for (name, amount) in &own {
                *total.entry(name.clone()).or_default() += amount;
                *sidecars.entry(name.clone()).or_default() += amount;
            }
            max_into(&mut init_peak, &sidecars);
        } else {
            for (name, amount) in &sidecars {
                *own.entry(name.clone()).or_default() += amount;
            }
            max_into(&mut init_peak, &own);
        }
    }
    max_into(&mut total, &init_peak);
    if let Some(pod_level) = spec.resources.as_ref().and_then(|r| r.requests.as_ref()) {
        for (name, amount) in pod_level {
            if is_reported(name)
                && let Ok(milli) = quantity::parse_milli(&amount.0)
            {
                total.insert(name.clone(), milli);
            }
        }
    }
    for (name, amount) in spec.overhead.iter().flatten() {
        if is_reported(name)
            && let Ok(milli) = quantity::parse_milli(&amount.0)
        {
            *total.entry(name.clone()).or_default() += milli;
        }
    }
    total
}

/// Whether `toleration` tolerates `taint` (Kubernetes' matching rules).
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration
        .effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        _ => {
            key == taint.key
                && toleration.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
        }
    }
}

/// Whether an offloaded pod can run on `node`: Ready, schedulable, labels matching the node selector and
/// every NoSchedule/NoExecute taint tolerated.
fn node_usable(node: &Node, offloading: &OffloadingConfig) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
    let spec = node.spec.as_ref();
    if !ready || spec.and_then(|s| s.unschedulable) == Some(true) {
        return false;
    }
    let labels = node.labels();
    if let Some(selector) = &offloading.node_selector
        && !selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    let tolerations = offloading.node_tolerations.as_deref().unwrap_or_default();
    spec.and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
}

/// Free amounts on the usable nodes: allocatable minus the requests of the given bound pods, `pods` minus
/// their count; never below zero.
fn free<'a>(
    nodes: impl Iterator<Item = &'a Node>,
    usages: impl Iterator<Item = &'a Usage>,
    offloading: &OffloadingConfig,
) -> Amounts {
    let mut free = Amounts::from([
        ("cpu".to_owned(), 0),
        ("memory".to_owned(), 0),
        ("pods".to_owned(), 0),
    ]);
    let mut usable = std::collections::HashSet::new();
    for node in nodes {
        let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
        if !node_usable(node, offloading) {
            // Reported as 0 rather than left out: the Virtual Kubelet keeps an omitted figure as it was.
            for name in allocatable.into_iter().flatten().map(|(name, _)| name) {
                if is_extended(name) {
                    free.entry(name.clone()).or_default();
                }
            }
            continue;
        }
        usable.insert(node.name_any());
        for (name, amount) in allocatable.into_iter().flatten() {
            if is_reported(name)
                && let Ok(milli) = quantity::parse_milli(&amount.0)
            {
                *free.entry(name.clone()).or_default() += milli;
            }
        }
    }
    for usage in usages.filter(|u| usable.contains(&u.node)) {
        *free.entry("pods".into()).or_default() -= 1000;
        for (name, amount) in &usage.requests {
            if let Some(left) = free.get_mut(name) {
                *left -= amount;
            }
        }
    }
    for amount in free.values_mut() {
        *amount = (*amount).max(0);
    }
    free
}

/// The `resources` object of a ping answer from `amounts`, each capped by `max`.
fn resources(amounts: &Amounts, max: &ResourceFigures) -> PingResources {
    let capped = |name: &str, cap: Option<i128>| {
        let value = amounts.get(name).copied().unwrap_or_default();
        cap.map_or(value, |cap| value.min(cap))
    };
    let mut accelerators: BTreeMap<String, i128> = amounts
        .iter()
        .filter(|(name, _)| is_extended(name))
        .map(|(name, amount)| (name.clone(), *amount))
        .collect();
    for (name, cap) in &max.accelerators {
        let entry = accelerators.entry(name.clone()).or_default();
        *entry = (*entry).min(*cap);
    }
    PingResources {
        cpu: Some(format_cpu(capped("cpu", max.cpu))),
        memory: Some(format_bytes(capped("memory", max.memory))),
        pods: Some(format_count(capped("pods", max.pods))),
        accelerators: accelerators
            .into_iter()
            .map(|(resource_type, amount)| PingAccelerator {
                resource_type,
                available: format_count(amount),
            })
            .collect(),
    }
}

/// The `resources` object for fixed figures.
fn fixed_resources(figures: &ResourceFigures) -> PingResources {
    PingResources {
        cpu: figures.cpu.map(format_cpu),
        memory: figures.memory.map(format_bytes),
        pods: figures.pods.map(format_count),
        accelerators: figures
            .accelerators
            .iter()
            .map(|(name, amount)| PingAccelerator {
                resource_type: name.clone(),
                available: format_count(*amount),
            })
            .collect(),
    }
}

/// Bound, non-terminated pods of the remote cluster as usage records (node and requests only; the pods
/// themselves are not kept), rebuilt on every re-list.
#[derive(Default)]
struct UsageStore {
    current: HashMap<String, Usage>,
    relisting: Option<HashMap<String, Usage>>,
}

fn usage_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.name_any()
    )
}

fn usage_of(pod: &Pod) -> Option<Usage> {
    let spec = pod.spec.as_ref()?;
    let node = spec.node_name.clone().filter(|n| !n.is_empty())?;
    if matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    ) {
        return None;
    }
    Some(Usage {
        node,
        requests: pod_requests(spec),
    })
}

impl UsageStore {
    fn apply(&mut self, event: Event<Pod>) {
        match event {
            Event::Init => self.relisting = Some(HashMap::new()),
            Event::InitApply(pod) => {
                if let (Some(map), Some(usage)) = (self.relisting.as_mut(), usage_of(&pod)) {
                    map.insert(usage_key(&pod), usage);
                }
            }
            Event::InitDone => {
                if let Some(map) = self.relisting.take() {
                    self.current = map;
                }
            }
            Event::Apply(pod) => match usage_of(&pod) {
                Some(usage) => {
                    self.current.insert(usage_key(&pod), usage);
                }
                None => {
                    self.current.remove(&usage_key(&pod));
                }
            },
            Event::Delete(pod) => {
                self.current.remove(&usage_key(&pod));
            }
        }
    }
}

/// The remote cluster's nodes and pod usage, watched while the ping reports remote figures.
#[derive(Clone)]
pub struct RemoteCapacity {
    nodes: Store<Node>,
    usage: Arc<Mutex<UsageStore>>,
    node_health: Arc<WatchHealth>,
    pod_health: Arc<WatchHealth>,
    offloading: Arc<OffloadingConfig>,
    /// Extended resources reported so far.
    seen_extended: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

impl RemoteCapacity {
    /// Starts the node and pod watches; they run until `shutdown` is cancelled.
    pub fn start(
        client: Client,
        offloading: OffloadingConfig,
        shutdown: CancellationToken,
    ) -> (Self, Vec<tokio::task::JoinHandle<()>>) {
        let (nodes, writer) = reflector::store();
        let capacity = RemoteCapacity {
            nodes,
            usage: Arc::default(),
            node_health: Arc::default(),
            pod_health: Arc::default(),
            offloading: Arc::new(offloading),
            seen_extended: Arc::default(),
        };
        let node_events =
            watcher::watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
                .default_backoff()
                .modify(|node| {
                    // Only labels, taints, schedulability, conditions and allocatable are read.
                    node.managed_fields_mut().clear();
                    node.annotations_mut().clear();
                    if let Some(status) = node.status.as_mut() {
                        status.images = None;
                        status.volumes_attached = None;
                        status.volumes_in_use = None;
                        status.capacity = None;
                        status.node_info = None;
                    }
                })
                .reflect(writer);
        let health = capacity.node_health.clone();
        let stop = shutdown.clone();
        let node_task = tokio::spawn(async move {
            let mut events = std::pin::pin!(node_events.take_until(stop.cancelled_owned()));
            while let Some(event) = events.next().await {
                match event {
                    Ok(Event::InitDone) => health.mark_synced(),
                    Ok(_) => health.event(),
                    Err(err) => {
                        tracing::warn!(error = %err, "remote node watch failed; retrying");
                        health.failed(err.to_string());
                    }
                }
            }
        });
        // Bound pods that have not ended: the apiserver filters, and sends a delete when a pod ends.
        let pod_config = watcher::Config::default()
            .fields("spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed");
        let pod_events = watcher::watcher(Api::<Pod>::all(client), pod_config).default_backoff();
        let usage = capacity.usage.clone();
        let health = capacity.pod_health.clone();
        let pod_task = tokio::spawn(async move {
            let mut events = std::pin::pin!(pod_events.take_until(shutdown.cancelled_owned()));
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => {
                        let done = matches!(event, Event::InitDone);
                        lock(&usage).apply(event);
                        if done {
                            health.mark_synced();
                        } else {
                            health.event();
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "remote pod usage watch failed; retrying");
                        health.failed(err.to_string());
                    }
                }
            }
        });
        (capacity, vec![node_task, pod_task])
    }

    /// Why the figures cannot be trusted now, if they cannot.
    pub fn problem(&self) -> Option<String> {
        self.node_health
            .problem()
            .map(|p| format!("remote node watch {p}"))
            .or_else(|| {
                self.pod_health
                    .problem()
                    .map(|p| format!("remote pod watch {p}"))
            })
    }

    /// Free amounts now, from the caches. Every extended resource reported once stays in the answer (0 when
    /// its nodes are gone), since the Virtual Kubelet keeps a figure that is left out.
    pub fn free(&self) -> Amounts {
        let nodes = self.nodes.state();
        let mut amounts = {
            let usage = lock(&self.usage);
            free(
                nodes.iter().map(AsRef::as_ref),
                usage.current.values(),
                &self.offloading,
            )
        };
        let mut seen = lock(&self.seen_extended);
        for name in amounts.keys().filter(|name| is_extended(name)) {
            if !seen.contains(name) {
                seen.insert(name.clone());
            }
        }
        for name in seen.iter() {
            amounts.entry(name.clone()).or_default();
        }
        amounts
    }

    /// Usage records held (bound, non-terminated pods).
    pub fn tracked_pods(&self) -> usize {
        lock(&self.usage).current.len()
    }
}

/// The answer to a ping, or why the remote cluster cannot be read.
pub(crate) fn ping_answer(
    config: &PingConfig,
    capacity: Option<&RemoteCapacity>,
    problems: &[Option<String>],
) -> Result<PingResponse, String> {
    let problem = problems
        .iter()
        .flatten()
        .next()
        .cloned()
        .or_else(|| capacity.and_then(RemoteCapacity::problem));
    if let Some(problem) = problem {
        return Err(problem);
    }
    let resources = match (&config.resources, capacity) {
        (ResourceReport::Remote { max }, Some(capacity)) => Some(resources(&capacity.free(), max)),
        (ResourceReport::Fixed(figures), _) => Some(fixed_resources(figures)),
        _ => None,
    };
    Ok(PingResponse {
        status: "ok".into(),
        resources,
        taints: config.taints.clone(),
    })
}

#[cfg(test)]
mod tests;
