//! `--wait=watcher` (kstatus rules for every kind) on the project's test control plane: a custom resource
//! that becomes `Ready=True`, one that stays `Ready=False`, and a Deployment that never becomes available.
//!
//! The custom resource kind is `Widget` of a CustomResourceDefinition `widgets.wait.ikp.test` that the tests
//! create once (cluster-scoped, shared by runs, never deleted: its name is this file's alone).

mod support;

use std::time::{Duration, Instant};

use ikp::deploy::{
    self, ApplyError, ApplyOptions, PlanMeta, ReleasePlan, RenderedManifest, WaitStrategy,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use support::cluster::{TestCluster, wait_for};

const CRD: &str = r#"{
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.wait.ikp.test"},
  "spec": {
    "group": "wait.ikp.test",
    "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
    "scope": "Namespaced",
    "versions": [{
      "name": "v1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
    }]
  }
}"#;

/// Creates the Widget CRD if needed and waits until it is established.
async fn widget_crd(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_str(CRD).expect("CRD JSON");
    match api.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(err) => panic!("create CRD: {err}"),
    }
    wait_for(
        "the Widget CRD to be established",
        Duration::from_secs(30),
        || async {
            let crd = api.get("widgets.wait.ikp.test").await.ok()?;
            let established = crd
                .status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            established.then_some(())
        },
    )
    .await;
    // Discovery of the new group can lag behind Established.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

fn widgets(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("wait.ikp.test", "v1", "Widget");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

fn plan(release: &str, ns: &str, yaml: &str) -> ReleasePlan {
    let manifest = RenderedManifest::from_yaml("x/templates/objects.yaml", yaml).expect("YAML");
    let meta = PlanMeta {
        name: release.to_owned(),
        namespace: ns.to_owned(),
        chart_name: "x".into(),
        chart_version: "1".into(),
        app_version: None,
        values_digest: "d".into(),
    };
    ReleasePlan::from_manifests(meta, [&manifest], None).expect("plan")
}

/// Sets the Widget's `Ready` condition through the status subresource, as its controller would.
async fn set_ready(client: Client, ns: String, name: &str, status: &str, reason: &str) {
    let api = widgets(&client, &ns);
    let body = serde_json::json!({"status": {"conditions": [{
        "type": "Ready", "status": status, "reason": reason, "message": format!("widget {reason}"),
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .expect("patch status");
}

/// Installs the plan without waiting and marks its Widget `Ready=False`: a Widget without status
/// counts as ready (kstatus), so the waits below start from a known not-ready state.
async fn install_not_ready(client: &Client, ns: &str, plan: &ReleasePlan, name: &str) {
    deploy::apply_release(client, plan, &ApplyOptions::default(), &mut ())
        .await
        .expect("install");
    set_ready(client.clone(), ns.to_string(), name, "False", "NoBackend").await;
}

fn watcher(timeout: Duration) -> ApplyOptions {
    ApplyOptions {
        wait: true,
        wait_strategy: WaitStrategy::Watcher,
        timeout,
        ..ApplyOptions::default()
    }
}

/// A Widget whose controller (here: the test) reports `Ready=True` ends the wait.
///
/// Relies on: CRDs with a status subresource; discovery of a new group; merge PATCH of `/status`.
#[tokio::test]
async fn watcher_waits_for_a_custom_resource_to_be_ready() {
    let Some((cluster, ns)) = TestCluster::with_namespace("wait-cr-ready").await else {
        return;
    };
    let client = cluster.client();
    widget_crd(&client).await;
    let plan = plan(
        "widget",
        ns.name(),
        "apiVersion: wait.ikp.test/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 1\n",
    );
    install_not_ready(&client, ns.name(), &plan, "w1").await;
    let (setter_client, setter_ns) = (client.clone(), ns.name().to_string());
    let setter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        set_ready(setter_client, setter_ns, "w1", "True", "Serving").await;
    });
    let started = Instant::now();
    let outcome = deploy::apply_release(&client, &plan, &watcher(Duration::from_secs(60)), &mut ())
        .await
        .expect("ready");
    setter.await.expect("status setter");
    assert_eq!(outcome.revision, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the apply returned before the Widget was Ready: {:?}",
        started.elapsed()
    );
}

/// A Widget that stays `Ready=False` times the wait out, naming it and its condition; `--wait=legacy`
/// does not wait for it at all.
///
/// Relies on: as above.
#[tokio::test]
async fn watcher_times_out_naming_a_custom_resource_that_is_not_ready() {
    let Some((cluster, ns)) = TestCluster::with_namespace("wait-cr-stuck").await else {
        return;
    };
    let client = cluster.client();
    widget_crd(&client).await;
    let plan = plan(
        "widget",
        ns.name(),
        "apiVersion: wait.ikp.test/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  size: 1\n",
    );
    install_not_ready(&client, ns.name(), &plan, "w2").await;
    let err = deploy::apply_release(&client, &plan, &watcher(Duration::from_secs(10)), &mut ())
        .await
        .expect_err("not ready");
    let ApplyError::WaitTimeout { blockers, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(blockers.len(), 1, "{blockers:?}");
    assert!(
        blockers[0].object.contains("Widget") && blockers[0].object.contains("w2"),
        "{err}"
    );
    assert_eq!(
        blockers[0].last_condition.as_deref(),
        Some("Ready=False NoBackend: widget NoBackend"),
        "{err}"
    );
    let legacy = ApplyOptions {
        wait_strategy: WaitStrategy::Legacy,
        ..watcher(Duration::from_secs(30))
    };
    deploy::apply_release(&client, &plan, &legacy, &mut ())
        .await
        .expect("legacy does not wait for custom resources");
}

/// A Deployment whose pod can never be scheduled times the wait out, naming the Deployment and its last
/// condition (`Available=False`), while the ConfigMap and Service beside it count as ready.
///
/// Relies on: the Deployment controller setting `Available=False MinimumReplicasUnavailable` on a new
/// Deployment; a nodeSelector that matches no node keeping the pod Pending.
#[tokio::test]
async fn watcher_times_out_naming_a_deployment_that_never_becomes_available() {
    let Some((cluster, ns)) = TestCluster::with_namespace("wait-deploy-stuck").await else {
        return;
    };
    let client = cluster.client();
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n---\n\
apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  selector:\n    app: stuck\n  ports:\n  - port: 80\n---\n\
apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: stuck\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: stuck\n  template:\n    metadata:\n      labels:\n        app: stuck\n    spec:\n      nodeSelector:\n        ikp.test/no-such-node: \"true\"\n      containers:\n      - name: c\n        image: example.invalid/never:1\n";
    let manifests: Vec<RenderedManifest> = yaml
        .split("---\n")
        .map(|doc| RenderedManifest::from_yaml("x/templates/objects.yaml", doc).expect("YAML"))
        .collect();
    let meta = PlanMeta {
        name: "stuck".into(),
        namespace: ns.name().to_owned(),
        chart_name: "x".into(),
        chart_version: "1".into(),
        app_version: None,
        values_digest: "d".into(),
    };
    let plan = ReleasePlan::from_manifests(meta, manifests.iter(), None).expect("plan");
    let err = deploy::apply_release(&client, &plan, &watcher(Duration::from_secs(10)), &mut ())
        .await
        .expect_err("never available");
    let ApplyError::WaitTimeout { blockers, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(blockers.len(), 1, "{blockers:?}");
    let blocker = &blockers[0];
    assert!(
        blocker.object.contains("Deployment.apps") && blocker.object.contains("/stuck"),
        "{err}"
    );
    assert!(
        blocker
            .last_condition
            .as_deref()
            .is_some_and(|c| c.starts_with("Available=False")),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("last condition: Available=False"), "{text}");
}
