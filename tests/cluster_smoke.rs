//! Smoke test of the test control plane (`tests/cluster/up`): the API behaviours ikp's own tests lean on.
//!
//! Relies on, from a real kube-apiserver v1.36 + controller-manager + scheduler + kwok:
//! - namespaces: create, and deletion by the test helper;
//! - server-side apply: field managers, field removal on re-apply, 409 Conflict between managers
//!   without force, ownership transfer with force;
//! - list with a label selector;
//! - watch from a list's resourceVersion delivering an ADDED event;
//! - scheduling onto the kwok node and kwok's pod-ready stage (phase Running, container statuses);
//! - `pods/log` proxied by the apiserver to kwok's kubelet endpoint (ClusterLogs set up by `up`);
//! - validation: 422 Invalid naming the bad field (a dotted Service name; a NodePort out of range).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{ListParams, LogParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::cluster::{NAMESPACE_LABEL, TestCluster, wait_for};

/// Generous: on a loaded 2-core CI box the scheduler and kwok each take a moment.
const POD_RUNNING_TIMEOUT: Duration = Duration::from_secs(60);

fn config_map(name: &str, data: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn data_of(cm: &ConfigMap) -> BTreeMap<String, String> {
    cm.data.clone().unwrap_or_default()
}

/// The fields of `.data` owned by `manager`, from managedFields (`f:data` → `f:<key>`).
fn data_keys_owned_by(cm: &ConfigMap, manager: &str) -> Vec<String> {
    let mut keys: Vec<String> = cm
        .managed_fields()
        .iter()
        .filter(|entry| entry.manager.as_deref() == Some(manager))
        .filter_map(|entry| entry.fields_v1.as_ref())
        .filter_map(|fields| fields.0.get("f:data")?.as_object().cloned())
        .flat_map(|data| {
            data.into_iter()
                .map(|(k, _)| k.trim_start_matches("f:").to_string())
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn namespace_helper_creates_and_deletes() {
    let Some(cluster) = TestCluster::connect().await else {
        return;
    };
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    let ns = cluster.namespace("smoke-ns").await;
    let name = ns.name().to_string();

    let created = namespaces
        .get(&name)
        .await
        .expect("namespace exists after creation");
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
    assert_eq!(
        created
            .metadata
            .labels
            .unwrap_or_default()
            .get(NAMESPACE_LABEL)
            .map(String::as_str),
        Some("true")
    );

    drop(ns);
    // Deletion is asynchronous: the namespace is either Terminating or already gone.
    match namespaces
        .get_opt(&name)
        .await
        .expect("reading namespace after drop")
    {
        None => {}
        Some(left) => {
            assert!(
                left.metadata.deletion_timestamp.is_some(),
                "namespace {name} not being deleted"
            )
        }
    }
}

#[tokio::test]
async fn server_side_apply_tracks_managers_and_conflicts() {
    let Some((cluster, ns)) = TestCluster::with_namespace("smoke-ssa").await else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), ns.name());
    let ikp = PatchParams::apply("ikp-test");

    let first = cms
        .patch(
            "settings",
            &ikp,
            &Patch::Apply(config_map("settings", json!({"mode": "a", "extra": "x"}))),
        )
        .await
        .expect("first apply");
    assert_eq!(
        data_of(&first),
        BTreeMap::from([("extra".into(), "x".into()), ("mode".into(), "a".into())])
    );
    assert_eq!(data_keys_owned_by(&first, "ikp-test"), ["extra", "mode"]);

    // Re-apply: a changed value is updated, a field the manager no longer sends is removed.
    let second = cms
        .patch(
            "settings",
            &ikp,
            &Patch::Apply(config_map("settings", json!({"mode": "b"}))),
        )
        .await
        .expect("re-apply");
    assert_eq!(
        data_of(&second),
        BTreeMap::from([("mode".into(), "b".into())])
    );
    assert_ne!(first.resource_version(), second.resource_version());

    // A second manager setting a field owned by ikp-test: 409 Conflict without force...
    let other = config_map("settings", json!({"mode": "c"}));
    let err = cms
        .patch(
            "settings",
            &PatchParams::apply("ikp-test-other"),
            &Patch::Apply(&other),
        )
        .await
        .expect_err("conflicting apply without force must fail");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert_eq!(status.reason, "Conflict", "{status:?}");
            assert!(
                status.message.contains("ikp-test"),
                "conflict names the owner: {}",
                status.message
            );
        }
        other => panic!("expected an API error, got {other}"),
    }
    let unchanged = cms.get("settings").await.expect("get after conflict");
    assert_eq!(
        data_of(&unchanged).get("mode").map(String::as_str),
        Some("b")
    );

    // ...and with force the value and the ownership move to the new manager.
    let forced = cms
        .patch(
            "settings",
            &PatchParams::apply("ikp-test-other").force(),
            &Patch::Apply(&other),
        )
        .await
        .expect("forced apply");
    assert_eq!(data_of(&forced).get("mode").map(String::as_str), Some("c"));
    assert_eq!(data_keys_owned_by(&forced, "ikp-test-other"), ["mode"]);
    assert!(data_keys_owned_by(&forced, "ikp-test").is_empty());
}

#[tokio::test]
async fn list_by_label_and_watch() {
    let Some((cluster, ns)) = TestCluster::with_namespace("smoke-watch").await else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), ns.name());
    let apply = PatchParams::apply("ikp-test");
    for (name, tier) in [("one", "front"), ("two", "back"), ("three", "front")] {
        let mut cm = config_map(name, json!({}));
        cm["metadata"]["labels"] = json!({"tier": tier});
        cms.patch(name, &apply, &Patch::Apply(cm))
            .await
            .expect("apply labelled ConfigMap");
    }

    let front = cms
        .list(&ListParams::default().labels("tier=front"))
        .await
        .expect("list by label");
    let mut names: Vec<String> = front.items.iter().map(|cm| cm.name_any()).collect();
    names.sort();
    assert_eq!(names, ["one", "three"]);

    // Watching from the list's resourceVersion sees every later change, however the requests race.
    let version = front
        .metadata
        .resource_version
        .expect("list has a resourceVersion");
    let stream = cms
        .watch(
            &WatchParams::default().labels("tier=front").timeout(30),
            &version,
        )
        .await
        .expect("start watch");
    let mut stream = stream.boxed();
    let mut cm = config_map("four", json!({}));
    cm["metadata"]["labels"] = json!({"tier": "front"});
    cms.patch("four", &apply, &Patch::Apply(cm))
        .await
        .expect("apply new ConfigMap");

    let added = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = stream.try_next().await.expect("watch stream") {
            match event {
                WatchEvent::Added(cm) => return cm,
                WatchEvent::Bookmark(_) => continue,
                other => panic!("unexpected watch event {other:?}"),
            }
        }
        panic!("watch ended without an ADDED event")
    })
    .await
    .expect("ADDED event within 20 s");
    assert_eq!(added.name_any(), "four");
}

#[tokio::test]
async fn pod_runs_on_kwok_node() {
    let Some((cluster, ns)) = TestCluster::with_namespace("smoke-pod").await else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(cluster.client(), ns.name());
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [
            {"name": "main", "image": "registry.invalid/ikp/main:1"},
            {"name": "sidecar", "image": "registry.invalid/ikp/sidecar:1"}
        ]}
    }))
    .expect("pod literal");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");

    let running = wait_for(
        "pod web Running with 2 container statuses",
        POD_RUNNING_TIMEOUT,
        || async {
            let current = pods.get("web").await.expect("get pod");
            let status = current.status.as_ref()?;
            let all_reported = status
                .container_statuses
                .as_ref()
                .is_some_and(|s| s.len() == 2);
            (status.phase.as_deref() == Some("Running") && all_reported).then_some(current)
        },
    )
    .await;

    let spec = running.spec.expect("pod spec");
    assert!(
        spec.node_name.is_some_and(|n| !n.is_empty()),
        "pod was scheduled"
    );
    let status = running.status.expect("pod status");
    assert!(
        status.pod_ip.is_some_and(|ip| !ip.is_empty()),
        "kwok assigned a pod IP"
    );
    let mut statuses = status.container_statuses.expect("container statuses");
    statuses.sort_by(|a, b| a.name.cmp(&b.name));
    for (got, (name, image)) in statuses.iter().zip([
        ("main", "registry.invalid/ikp/main:1"),
        ("sidecar", "registry.invalid/ikp/sidecar:1"),
    ]) {
        assert_eq!(got.name, name);
        assert_eq!(got.image, image);
        assert!(got.ready, "{name} ready");
        assert!(
            got.state
                .as_ref()
                .and_then(|s| s.running.as_ref())
                .is_some(),
            "{name} running"
        );
    }

    // kwok answers pods/log from the CRI log file `up` configured (ClusterLogs for every pod).
    let logs = pods
        .logs(
            "web",
            &LogParams {
                container: Some("sidecar".into()),
                ..LogParams::default()
            },
        )
        .await
        .expect("pods/log through kwok");
    assert!(
        logs.contains("fake container started by kwok"),
        "logs: {logs:?}"
    );
}

/// Creates `service`, expecting 422 Invalid; returns the `field` of each cause.
async fn rejected_fields(services: &Api<Service>, service: serde_json::Value) -> Vec<String> {
    let service: Service = serde_json::from_value(service).expect("service literal");
    let err = services
        .create(&PostParams::default(), &service)
        .await
        .expect_err("invalid service accepted");
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err}")
    };
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(status.reason, "Invalid", "{status:?}");
    status
        .details
        .expect("422 has details")
        .causes
        .into_iter()
        .map(|c| c.field)
        .collect()
}

#[tokio::test]
async fn invalid_services_are_rejected_with_422() {
    let Some((cluster, ns)) = TestCluster::with_namespace("smoke-invalid").await else {
        return;
    };
    let services: Api<Service> = Api::namespaced(cluster.client(), ns.name());

    // Service names are DNS labels: no dots (even with 1.36's relaxed service name validation).
    let dotted = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "a.b"},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}
    });
    assert_eq!(rejected_fields(&services, dotted).await, ["metadata.name"]);

    // NodePorts must lie in --service-node-port-range (default 30000-32767). The apiserver checks this
    // while allocating ports, before field validation, so a bad name would not be reported with it.
    let out_of_range = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80, "nodePort": 99999}]}
    });
    assert_eq!(
        rejected_fields(&services, out_of_range).await,
        ["spec.ports[0].nodePort"]
    );

    assert!(
        services
            .list(&ListParams::default())
            .await
            .expect("list services")
            .items
            .is_empty()
    );
}
