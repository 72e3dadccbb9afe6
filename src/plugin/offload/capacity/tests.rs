use serde_json::json;

use super::*;
use crate::plugin::offload::names::INSTANCE_LABEL;

fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value, ready: bool) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {
            "allocatable": {"cpu": "8", "memory": "64Gi", "pods": "20", "nvidia.com/gpu": "4",
                            "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"},
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]
        }
    }))
    .expect("node")
}

fn pod_spec(value: serde_json::Value) -> PodSpec {
    serde_json::from_value(value).expect("spec")
}

fn offloading(selector: serde_json::Value, tolerations: serde_json::Value) -> OffloadingConfig {
    OffloadingConfig {
        namespace_prefix: "me".into(),
        node_selector: serde_json::from_value(selector).expect("selector"),
        node_tolerations: serde_json::from_value(tolerations).expect("tolerations"),
        ..OffloadingConfig::default()
    }
}

fn usage(node: &str, cpu_milli: i128, gpus: i128) -> Usage {
    Usage {
        node: node.into(),
        requests: Amounts::from([
            ("cpu".to_owned(), cpu_milli),
            ("nvidia.com/gpu".to_owned(), gpus * 1000),
        ]),
    }
}

#[test]
fn pod_requests_follow_the_scheduler_rules() {
    let spec = pod_spec(json!({
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "250m", "nvidia.com/gpu": "1", "ephemeral-storage": "1Gi"}}}
        ],
        "initContainers": [
            {"name": "big-init", "resources": {"requests": {"cpu": "2", "memory": "100Mi"}}},
            {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
        ],
        "overhead": {"cpu": "10m"}
    }));
    let requests = pod_requests(&spec);
    // cpu: max(750m + 100m sidecar, 2 init) + 10m overhead; memory: max(1Gi, 100Mi).
    assert_eq!(requests.get("cpu"), Some(&2010));
    assert_eq!(requests.get("memory"), Some(&((1i128 << 30) * 1000)));
    assert_eq!(requests.get("nvidia.com/gpu"), Some(&1000));
    assert_eq!(requests.get("ephemeral-storage"), None, "not reported");

    // A sidecar before a big init container counts during it too.
    let spec = pod_spec(json!({
        "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
        "initContainers": [
            {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
            {"name": "init", "resources": {"requests": {"cpu": "2"}}}
        ]
    }));
    assert_eq!(pod_requests(&spec).get("cpu"), Some(&3000));

    // Pod-level requests replace the container sum.
    let spec = pod_spec(json!({
        "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
        "resources": {"requests": {"cpu": "4"}}
    }));
    assert_eq!(pod_requests(&spec).get("cpu"), Some(&4000));
}

#[test]
fn only_ready_schedulable_matching_tolerated_nodes_count() {
    let config = offloading(
        json!({"pool": "gpu"}),
        json!([{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]),
    );
    let good = node(
        "good",
        json!({"pool": "gpu"}),
        json!([{"key": "gpu", "value": "x", "effect": "NoSchedule"}]),
        true,
    );
    assert!(node_usable(&good, &config));
    let prefer = node(
        "prefer",
        json!({"pool": "gpu"}),
        json!([{"key": "other", "effect": "PreferNoSchedule"}]),
        true,
    );
    assert!(
        node_usable(&prefer, &config),
        "PreferNoSchedule does not block"
    );
    let other_label = node("cpu", json!({"pool": "cpu"}), json!([]), true);
    assert!(!node_usable(&other_label, &config));
    let untolerated = node(
        "tainted",
        json!({"pool": "gpu"}),
        json!([{"key": "dedicated", "value": "x", "effect": "NoExecute"}]),
        true,
    );
    assert!(!node_usable(&untolerated, &config));
    let not_ready = node("down", json!({"pool": "gpu"}), json!([]), false);
    assert!(!node_usable(&not_ready, &config));
    let mut cordoned = node("cordoned", json!({"pool": "gpu"}), json!([]), true);
    cordoned.spec.get_or_insert_default().unschedulable = Some(true);
    assert!(!node_usable(&cordoned, &config));

    let equal = offloading(
        json!(null),
        json!([{"key": "k", "operator": "Equal", "value": "v"}]),
    );
    let tainted = node(
        "t",
        json!({}),
        json!([{"key": "k", "value": "v", "effect": "NoSchedule"}]),
        true,
    );
    assert!(
        node_usable(&tainted, &equal),
        "empty effect tolerates every effect"
    );
    let wrong_value = node(
        "t",
        json!({}),
        json!([{"key": "k", "value": "w", "effect": "NoSchedule"}]),
        true,
    );
    assert!(!node_usable(&wrong_value, &equal));
    let everything = offloading(json!(null), json!([{"operator": "Exists"}]));
    assert!(node_usable(&untolerated, &everything));
}

#[test]
fn free_is_allocatable_minus_requests_of_pods_on_usable_nodes() {
    let config = offloading(json!({"pool": "gpu"}), json!(null));
    let nodes = [
        node("a", json!({"pool": "gpu"}), json!([]), true),
        node("b", json!({"pool": "gpu"}), json!([]), true),
        node("c", json!({"pool": "cpu"}), json!([]), true),
    ];
    let usages = [usage("a", 1500, 1), usage("b", 250, 0), usage("c", 4000, 4)];
    let amounts = free(nodes.iter(), usages.iter(), &config);
    assert_eq!(amounts.get("cpu"), Some(&(16000 - 1750)));
    assert_eq!(amounts.get("pods"), Some(&(40000 - 2000)));
    assert_eq!(amounts.get("nvidia.com/gpu"), Some(&7000));
    assert_eq!(amounts.get("memory"), Some(&((128i128 << 30) * 1000)));
    assert_eq!(amounts.get("ephemeral-storage"), None);
    assert_eq!(amounts.get("hugepages-2Mi"), None);

    // Overcommitted nodes report 0, never a negative figure.
    let many = [usage("a", 99_000, 9)];
    let amounts = free(nodes[..1].iter(), many.iter(), &config);
    assert_eq!(amounts.get("cpu"), Some(&0));
    assert_eq!(amounts.get("nvidia.com/gpu"), Some(&0));

    // No usable node: zeros, and the GPU of the unusable one reported as 0 rather than left out.
    let amounts = free(nodes[2..].iter(), [].iter(), &config);
    assert_eq!(amounts.get("cpu"), Some(&0));
    assert_eq!(amounts.get("nvidia.com/gpu"), Some(&0));
}

#[test]
fn caps_and_formatting_of_the_resources_object() {
    let amounts = Amounts::from([
        ("cpu".to_owned(), 14_250),
        ("memory".to_owned(), (128i128 << 30) * 1000),
        ("pods".to_owned(), 38_000),
        ("nvidia.com/gpu".to_owned(), 7000),
    ]);
    let max = ResourceFigures {
        cpu: Some(10_000),
        pods: Some(100_000),
        accelerators: BTreeMap::from([
            ("nvidia.com/gpu".to_owned(), 2000),
            ("amd.com/gpu".to_owned(), 5000),
        ]),
        ..ResourceFigures::default()
    };
    let report = serde_json::to_value(resources(&amounts, &max)).expect("json");
    assert_eq!(
        report,
        json!({"cpu": "10", "memory": "128Gi", "pods": "38",
               "accelerators": [{"resourceType": "amd.com/gpu", "available": "0"},
                                {"resourceType": "nvidia.com/gpu", "available": "2"}]})
    );
    let report =
        serde_json::to_value(resources(&amounts, &ResourceFigures::default())).expect("json");
    assert_eq!(report["cpu"], "14250m");
}

#[test]
fn usage_store_counts_every_bound_pod_and_rebuilds_on_relist() {
    let pod = |name: &str, node: &str, instance: Option<&str>, phase: &str| -> Pod {
        let mut labels = serde_json::Map::new();
        if let Some(instance) = instance {
            labels.insert("interlink.io".into(), json!("offloading"));
            labels.insert(INSTANCE_LABEL.into(), json!(instance));
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
            "status": {"phase": phase}
        }))
        .expect("pod")
    };
    let mut store = UsageStore::default();
    store.apply(Event::Init);
    store.apply(Event::InitApply(pod("foreign", "a", None, "Running")));
    store.apply(Event::InitApply(pod(
        "other-plugin",
        "a",
        Some("them"),
        "Running",
    )));
    // The plugin's own offloaded pods use the remote nodes like any other pod.
    store.apply(Event::InitApply(pod("mine", "a", Some("me"), "Running")));
    assert!(store.current.is_empty(), "nothing visible before InitDone");
    store.apply(Event::InitDone);
    assert_eq!(store.current.len(), 3);
    store.apply(Event::Apply(pod("foreign", "a", None, "Succeeded")));
    assert_eq!(store.current.len(), 2, "an ended pod frees its requests");
    store.apply(Event::Delete(pod(
        "other-plugin",
        "a",
        Some("them"),
        "Running",
    )));
    store.apply(Event::Delete(pod("mine", "a", Some("me"), "Running")));
    assert!(store.current.is_empty());
    store.apply(Event::Apply(pod("new", "b", None, "Pending")));
    assert_eq!(store.current.len(), 1);
    // A re-list replaces everything.
    store.apply(Event::Init);
    store.apply(Event::InitDone);
    assert!(store.current.is_empty());
}

#[test]
fn watch_health_reports_unsynced_and_recent_failures() {
    let health = WatchHealth::default();
    assert_eq!(health.problem().as_deref(), Some("not synced yet"));
    health.failed("connection refused".into());
    assert_eq!(
        health.problem().as_deref(),
        Some("not synced: connection refused")
    );
    health.mark_synced();
    assert_eq!(health.problem(), None);
    health.failed("watch ended: 500".into());
    assert_eq!(
        health.problem().as_deref(),
        Some("failing: watch ended: 500")
    );
    health.event();
    assert_eq!(
        health.problem(),
        None,
        "an event after the error: working again"
    );
}

#[test]
fn ping_answer_modes() {
    let fixed = PingConfig {
        resources: ResourceReport::Fixed(ResourceFigures {
            cpu: Some(64_000),
            accelerators: BTreeMap::from([("nvidia.com/gpu".to_owned(), 8000)]),
            ..ResourceFigures::default()
        }),
        taints: Some(vec![]),
    };
    let answer =
        serde_json::to_value(ping_answer(&fixed, None, &[None]).expect("ok")).expect("json");
    assert_eq!(
        answer,
        json!({"status": "ok", "resources": {"cpu": "64", "accelerators": [{"resourceType": "nvidia.com/gpu", "available": "8"}]}, "taints": []})
    );
    let off = PingConfig {
        resources: ResourceReport::Off,
        taints: None,
    };
    let answer = serde_json::to_value(ping_answer(&off, None, &[None]).expect("ok")).expect("json");
    assert_eq!(answer, json!({"status": "ok"}));
    assert_eq!(
        ping_answer(&off, None, &[Some("remote pod watch failing: x".into())]),
        Err("remote pod watch failing: x".into())
    );
}
