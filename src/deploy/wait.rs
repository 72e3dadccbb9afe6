//! Readiness of applied objects: a pure check per kind on the live object, and a polling loop
//! that never times out by itself (the caller wraps it in `tokio::time::timeout`).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::error::WaitBlocker;
use super::plan::ObjectRef;
use super::resolve::Resolver;
use super::{ApplyError, engine::Reporter};

/// Whether a live object is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Ready (or a kind with nothing to wait for).
    Ready,
    /// Not ready yet; says what is missing.
    Waiting(String),
}

/// Which objects `--wait` waits for, as Helm 4's `--wait=STRATEGY` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitStrategy {
    /// Every object, with kstatus' rules per kind (Helm 4's default for a bare `--wait`): workloads
    /// rolled out and available, Pods ready or succeeded, Jobs complete, PersistentVolumeClaims bound,
    /// LoadBalancer Services with an address, CustomResourceDefinitions established, and any object
    /// with `status.conditions` not `Reconciling`/`Stalled` and, when it has one, `Ready=True`.
    /// ConfigMaps, Secrets and other objects without status are ready once they exist.
    #[default]
    Watcher,
    /// Helm 3's `--wait`: Deployments, StatefulSets and DaemonSets only.
    Legacy,
    /// Only hooks; the built-in charts have none, so nothing is waited for.
    HookOnly,
}

impl std::str::FromStr for WaitStrategy {
    type Err = String;

    /// Helm 4's names, plus `true` (= `watcher`) and `false` (= `hookOnly`) as Helm 4 reads them.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "watcher" | "true" => Ok(WaitStrategy::Watcher),
            "legacy" => Ok(WaitStrategy::Legacy),
            "hookOnly" | "false" => Ok(WaitStrategy::HookOnly),
            other => Err(format!(
                "invalid wait strategy {other:?}: expected watcher, legacy or hookOnly"
            )),
        }
    }
}

impl WaitStrategy {
    /// Whether `--wait=STRATEGY` waits for the release's objects at all (`hookOnly` waits only for
    /// hooks, and ikp's charts have none).
    pub fn waits_for_objects(self) -> bool {
        self != WaitStrategy::HookOnly
    }

    /// Whether the strategy waits for `reference`.
    fn covers(self, reference: &ObjectRef) -> bool {
        match self {
            WaitStrategy::Watcher => true,
            WaitStrategy::Legacy => is_waitable(reference),
            WaitStrategy::HookOnly => false,
        }
    }
}

/// Kinds Helm 3's (legacy) `--wait` checks.
fn is_waitable(reference: &ObjectRef) -> bool {
    matches!(
        (reference.group.as_str(), reference.kind.as_str()),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet")
    )
}

fn int_at(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

/// Readiness of a live object, following `kubectl rollout status`.
pub fn readiness(kind: &str, live: &Value) -> Readiness {
    let generation = int_at(live, "/metadata/generation").unwrap_or(0);
    let observed = int_at(live, "/status/observedGeneration").unwrap_or(0);
    if observed < generation {
        return Readiness::Waiting(format!(
            "controller to observe generation {generation} (seen {observed})"
        ));
    }
    match kind {
        "Deployment" | "StatefulSet" => {
            let wanted = int_at(live, "/spec/replicas").unwrap_or(1);
            let updated = int_at(live, "/status/updatedReplicas").unwrap_or(0);
            let current = int_at(live, "/status/replicas").unwrap_or(0);
            let available_path = if kind == "Deployment" {
                "/status/availableReplicas"
            } else {
                "/status/readyReplicas"
            };
            let available = int_at(live, available_path).unwrap_or(0);
            if updated < wanted {
                Readiness::Waiting(format!("{updated}/{wanted} replicas updated"))
            } else if current > updated {
                Readiness::Waiting(format!(
                    "{} old replica(s) pending termination",
                    current - updated
                ))
            } else if available < wanted {
                Readiness::Waiting(format!("{available}/{wanted} replicas available"))
            } else {
                Readiness::Ready
            }
        }
        "DaemonSet" => {
            let wanted = int_at(live, "/status/desiredNumberScheduled").unwrap_or(0);
            let updated = int_at(live, "/status/updatedNumberScheduled").unwrap_or(0);
            let available = int_at(live, "/status/numberAvailable").unwrap_or(0);
            if updated < wanted || available < wanted {
                Readiness::Waiting(format!("{available}/{wanted} pods available"))
            } else {
                Readiness::Ready
            }
        }
        _ => Readiness::Ready,
    }
}

fn condition<'a>(live: &'a Value, kind: &str) -> Option<&'a Value> {
    live.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn condition_is(live: &Value, kind: &str, status: &str) -> bool {
    condition(live, kind)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some(status)
}

fn condition_text(live: &Value, kind: &str) -> String {
    let Some(c) = condition(live, kind) else {
        return kind.to_string();
    };
    let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
    let mut text = format!("{kind}={}", field("status"));
    if !field("reason").is_empty() {
        text.push_str(&format!(" {}", field("reason")));
    }
    if !field("message").is_empty() {
        text.push_str(&format!(": {}", field("message")));
    }
    text
}

/// Readiness under `--wait=watcher`, following kstatus (sigs.k8s.io/cli-utils): an object is ready
/// when its controller has observed its generation, it is neither `Reconciling` nor `Stalled`, and
/// the rule of its kind holds (see [`WaitStrategy::Watcher`]).
pub fn kstatus(group: &str, kind: &str, live: &Value) -> Readiness {
    if live.get("status").is_some() {
        let generation = int_at(live, "/metadata/generation");
        let observed = int_at(live, "/status/observedGeneration");
        if let (Some(generation), Some(observed)) = (generation, observed)
            && observed < generation
        {
            return Readiness::Waiting(format!(
                "controller to observe generation {generation} (seen {observed})"
            ));
        }
    }
    if condition_is(live, "Stalled", "True") {
        return Readiness::Waiting(format!("stalled: {}", condition_text(live, "Stalled")));
    }
    if condition_is(live, "Reconciling", "True") {
        return Readiness::Waiting(condition_text(live, "Reconciling"));
    }
    let text = |pointer: &str| live.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet") => readiness(kind, live),
        ("apps", "ReplicaSet") => {
            let wanted = int_at(live, "/spec/replicas").unwrap_or(1);
            let ready = int_at(live, "/status/readyReplicas").unwrap_or(0);
            if ready < wanted {
                Readiness::Waiting(format!("{ready}/{wanted} replicas ready"))
            } else {
                Readiness::Ready
            }
        }
        ("", "Pod") => match text("/status/phase") {
            "Succeeded" => Readiness::Ready,
            "Running" if condition_is(live, "Ready", "True") => Readiness::Ready,
            "Failed" => Readiness::Waiting("the pod failed".to_string()),
            "" => Readiness::Waiting("the pod to be scheduled".to_string()),
            phase => Readiness::Waiting(format!("the pod to be ready (phase {phase})")),
        },
        ("batch", "Job") => {
            if condition_is(live, "Complete", "True") {
                Readiness::Ready
            } else if condition_is(live, "Failed", "True") {
                Readiness::Waiting(format!(
                    "the job failed: {}",
                    condition_text(live, "Failed")
                ))
            } else {
                Readiness::Waiting("the job to complete".to_string())
            }
        }
        ("", "PersistentVolumeClaim") => match text("/status/phase") {
            "Bound" => Readiness::Ready,
            phase => Readiness::Waiting(format!("the claim to be bound (phase {phase:?})")),
        },
        ("", "Service") if text("/spec/type") == "LoadBalancer" => {
            let has_address = live
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .is_some_and(|i| !i.is_empty());
            if has_address {
                Readiness::Ready
            } else {
                Readiness::Waiting("the load balancer's address".to_string())
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if condition_is(live, "Established", "True") {
                Readiness::Ready
            } else {
                Readiness::Waiting("the definition to be established".to_string())
            }
        }
        _ => {
            if condition(live, "Ready").is_some() && !condition_is(live, "Ready", "True") {
                Readiness::Waiting(condition_text(live, "Ready"))
            } else {
                Readiness::Ready
            }
        }
    }
}

/// The most telling status condition: the first one that is not `True`, else the newest.
pub fn last_condition(live: &Value) -> Option<String> {
    let conditions = live.pointer("/status/conditions")?.as_array()?;
    let pick = conditions
        .iter()
        .find(|c| c.get("status").and_then(Value::as_str) != Some("True"))
        .or_else(|| {
            conditions.iter().max_by_key(|c| {
                c.get("lastUpdateTime")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            })
        })?;
    let field = |k: &str| pick.get(k).and_then(Value::as_str).unwrap_or("");
    let mut text = format!("{}={}", field("type"), field("status"));
    if !field("reason").is_empty() {
        text.push_str(&format!(" {}", field("reason")));
    }
    if !field("message").is_empty() {
        text.push_str(&format!(": {}", field("message")));
    }
    Some(text)
}

/// The newest event about the object or anything named after it (its ReplicaSets and pods).
async fn last_event(client: &kube::Client, reference: &ObjectRef) -> Option<String> {
    let namespace = reference.namespace.as_deref()?;
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let events = api.list(&ListParams::default()).await.ok()?;
    let prefix = format!("{}-", reference.name);
    events
        .items
        .into_iter()
        .filter(|e| {
            let name = e.involved_object.name.as_deref().unwrap_or("");
            name == reference.name || name.starts_with(&prefix)
        })
        .max_by_key(|e| {
            e.last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or_else(|| e.event_time.as_ref().map(|t| t.0))
                .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
        })
        .map(|e| {
            format!(
                "{} {}: {}",
                e.involved_object.kind.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default().trim()
            )
        })
}

/// What the wait loop saw last of each object it is waiting for.
#[derive(Debug, Default)]
pub(super) struct WaitState {
    /// Which rules apply.
    strategy: WaitStrategy,
    /// Objects not yet ready, with the last thing they were waiting for and the live object.
    pending: Vec<(ObjectRef, String, Option<Value>)>,
}

impl WaitState {
    /// State for the objects among `objects` that `strategy` waits for.
    pub fn new(objects: &[ObjectRef], strategy: WaitStrategy) -> Self {
        WaitState {
            strategy,
            pending: objects
                .iter()
                .filter(|o| strategy.covers(o))
                .map(|o| (o.clone(), "first status".to_string(), None))
                .collect(),
        }
    }

    /// Polls until every object is ready; reports progress on the way. Never times out by itself.
    pub(super) async fn poll_until_ready(
        &mut self,
        resolver: &mut Resolver,
        reporter: &mut dyn Reporter,
        started: Instant,
    ) -> Result<(), ApplyError> {
        loop {
            let mut still = Vec::new();
            for (reference, _, mut last) in std::mem::take(&mut self.pending) {
                let api = resolver.api_for(&reference).await?;
                let waiting_for = match api.get_opt(&reference.name).await {
                    Ok(Some(obj)) => {
                        let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
                        let readiness = match self.strategy {
                            WaitStrategy::Watcher => {
                                kstatus(&reference.group, &reference.kind, &value)
                            }
                            _ => readiness(&reference.kind, &value),
                        };
                        last = Some(value);
                        match readiness {
                            Readiness::Ready => {
                                reporter.ready(&reference, started.elapsed());
                                continue;
                            }
                            Readiness::Waiting(what) => what,
                        }
                    }
                    Ok(None) => "the object to exist".to_string(),
                    // A transient API error is not a verdict; keep polling until the timeout.
                    Err(e) => format!("the API server ({e})"),
                };
                reporter.waiting(&reference, &waiting_for, started.elapsed());
                still.push((reference, waiting_for, last));
            }
            self.pending = still;
            if self.pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Describes the objects still not ready, with their last condition and event.
    pub async fn blockers(&self, client: &kube::Client) -> Vec<WaitBlocker> {
        let mut out = Vec::new();
        for (reference, waiting_for, last) in &self.pending {
            out.push(WaitBlocker {
                object: reference.to_string(),
                waiting_for: waiting_for.clone(),
                last_condition: last.as_ref().and_then(last_condition),
                last_event: last_event(client, reference).await,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_ready_when_observed_updated_and_available() {
        let live = json!({"metadata": {"generation": 2}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}});
        assert_eq!(readiness("Deployment", &live), Readiness::Ready);
    }

    #[test]
    fn deployment_waits_for_generation_then_availability() {
        let stale = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}});
        assert!(
            matches!(readiness("Deployment", &stale), Readiness::Waiting(w) if w.contains("generation 3"))
        );
        let unavailable = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1}});
        assert_eq!(
            readiness("Deployment", &unavailable),
            Readiness::Waiting("0/1 replicas available".into())
        );
        let rolling = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}});
        assert_eq!(
            readiness("Deployment", &rolling),
            Readiness::Waiting("1 old replica(s) pending termination".into())
        );
    }

    #[test]
    fn kstatus_rules_per_kind() {
        let ready = |group: &str, kind: &str, live: Value| kstatus(group, kind, &live);
        assert_eq!(
            ready("", "ConfigMap", json!({"data": {}})),
            Readiness::Ready
        );
        assert_eq!(ready("", "Secret", json!({"data": {}})), Readiness::Ready);
        assert_eq!(
            ready("", "Service", json!({"spec": {"type": "NodePort"}})),
            Readiness::Ready
        );
        assert!(matches!(
            ready(
                "",
                "Service",
                json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}})
            ),
            Readiness::Waiting(_)
        ));
        assert_eq!(
            ready(
                "",
                "Pod",
                json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
            ),
            Readiness::Ready
        );
        assert_eq!(
            ready("", "Pod", json!({"status": {"phase": "Pending"}})),
            Readiness::Waiting("the pod to be ready (phase Pending)".into())
        );
        assert_eq!(
            ready(
                "batch",
                "Job",
                json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}})
            ),
            Readiness::Ready
        );
        assert_eq!(
            ready("batch", "Job", json!({"status": {"active": 1}})),
            Readiness::Waiting("the job to complete".into())
        );
        assert_eq!(
            ready(
                "x.io",
                "Widget",
                json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Waiting", "message": "no backend"}]}})
            ),
            Readiness::Waiting("Ready=False Waiting: no backend".into())
        );
        assert_eq!(
            ready(
                "x.io",
                "Widget",
                json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
            ),
            Readiness::Ready
        );
        assert!(matches!(
            ready("x.io", "Widget", json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1}})),
            Readiness::Waiting(w) if w.contains("generation 2")
        ));
        assert!(matches!(
            ready("x.io", "Widget", json!({"status": {"conditions": [{"type": "Stalled", "status": "True"}]}})),
            Readiness::Waiting(w) if w.starts_with("stalled")
        ));
        let unavailable = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1}});
        assert_eq!(
            ready("apps", "Deployment", unavailable),
            Readiness::Waiting("0/1 replicas available".into())
        );
    }

    #[test]
    fn wait_strategies_parse_as_helm_4_names_them() {
        assert_eq!("watcher".parse(), Ok(WaitStrategy::Watcher));
        assert_eq!("true".parse(), Ok(WaitStrategy::Watcher));
        assert_eq!("legacy".parse(), Ok(WaitStrategy::Legacy));
        assert_eq!("hookOnly".parse(), Ok(WaitStrategy::HookOnly));
        assert_eq!("false".parse(), Ok(WaitStrategy::HookOnly));
        let err = "watch".parse::<WaitStrategy>().unwrap_err();
        assert!(
            err.contains("\"watch\"") && err.contains("watcher, legacy or hookOnly"),
            "{err}"
        );
    }

    #[test]
    fn last_condition_prefers_a_false_one() {
        let live = json!({"status": {"conditions": [
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
             "message": "Deployment does not have minimum availability."}
        ]}});
        assert_eq!(
            last_condition(&live).as_deref(),
            Some(
                "Available=False MinimumReplicasUnavailable: Deployment does not have minimum availability."
            )
        );
    }
}
