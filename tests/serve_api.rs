//! `ikp serve` against the test control plane as the REMOTE cluster, driven like the InterLink API server.
//!
//! Relies on, from the real kube-apiserver v1.36 + controller-manager + scheduler + kwok of `tests/cluster/up`:
//! - create/get/list(label selector)/delete of namespaces, pods, ConfigMaps, Secrets, PVCs;
//! - 409 AlreadyExists and 422 Invalid answers (Secret key validation, container name validation);
//! - a watch on pods by label selector across namespaces (the plugin's status cache);
//! - the ServiceAccount admission plugin (a fresh namespace's `default` account appears after a moment);
//! - the scheduler's Unschedulable condition for pods no node fits, and kwok marking scheduled pods Running;
//! - kwok deleting pods promptly once they carry a deletionTimestamp;
//! - `pods/log` proxied to kwok's ClusterLogs (fixed lines, `follow` keeps the stream open);
//! - RBAC: the plugin runs as a ServiceAccount bound to exactly the ClusterRole of `deploy/remote-rbac.yaml`
//!   (`support::identity`), so that role is proven sufficient; assertions use the admin client.

mod serve_common;
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod, Secret};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use serve_common::{
    LOG_LINE, Plugin, PluginOptions, all_running, fixture, log_request, new_uid, owned_objects,
    pod_of, wait_status,
};
use support::cluster::{TestCluster, wait_for};
use support::identity::{OFFLOAD_ROLES, RemoteIdentity};

async fn create(plugin: &Plugin, body: &Value) -> Value {
    let reply = plugin
        .request("POST", "/create", Some(body))
        .await
        .expect("create");
    assert_eq!(reply.status, 200, "create failed: {}", reply.text());
    reply.json()
}

/// A started plugin with one simple pod offloaded and running: (plugin, pod uid, pod).
async fn plugin_with_running_pod(
    identity: &RemoteIdentity,
    ns: &str,
    label: &str,
) -> (Plugin, String, Value) {
    let plugin = Plugin::start(PluginOptions::new(label, identity.kubeconfig())).await;
    plugin.wait_ready().await;
    let uid = new_uid();
    let body = fixture("simple-pod", ns, &uid);
    let pod = pod_of(&body);
    create(&plugin, &body).await;
    wait_status(&plugin, &pod, "Running", all_running).await;
    (plugin, uid, pod)
}

async fn delete_twice(plugin: &Plugin, pod: &Value, uid: &str) {
    for _ in 0..2 {
        let reply = plugin
            .request("POST", "/delete", Some(pod))
            .await
            .expect("delete");
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json(), json!(format!("Pod '{uid}' deleted")));
    }
}

/// The original's test manifests over a unix socket: simple pod, ConfigMap/Secret volumes with env references,
/// multi-container pod with an init container; status pending then Running, logs, delete and re-delete.
#[tokio::test]
async fn original_test_pods_over_a_unix_socket() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-unix").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let mut plugin = Plugin::start(PluginOptions::new("unix", identity.kubeconfig())).await;
    plugin.wait_ready().await;
    let client = cluster.client();

    for name in ["simple-pod", "microservice-pod", "init-containers-pod"] {
        let uid = new_uid();
        let body = fixture(name, ns.name(), &uid);
        let pod = pod_of(&body);

        // Asked before /create (the VK polls while creating): reported waiting, never an empty list.
        let early = wait_status(&plugin, &pod, "pre-create status", |_| true).await;
        assert_eq!(
            early["containers"][0]["state"]["waiting"]["reason"], "ContainerCreating",
            "{early}"
        );
        assert_eq!(early["UID"], json!(uid));

        let created = create(&plugin, &body).await;
        assert_eq!(created["PodUID"], json!(uid));
        let remote_pod_name = format!("{}-{uid}", pod["metadata"]["name"].as_str().expect("name"));
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
        let remote = pods.get(&remote_pod_name).await.expect("remote pod exists");
        assert_eq!(created["PodJID"], json!(remote.uid()));
        assert_eq!(
            remote.labels().get("interlink.io/source.pod_uid"),
            Some(&uid)
        );

        let entry = wait_status(&plugin, &pod, "Running", all_running).await;
        assert_eq!(entry["JID"], created["PodJID"]);
        assert_eq!(entry["name"], pod["metadata"]["name"]);
        assert_eq!(entry["namespace"], json!(ns.name()));
        for status in entry["containers"].as_array().expect("containers") {
            assert_eq!(status["ready"], true, "{status}");
            assert!(status["image"].as_str().is_some_and(|i| !i.is_empty()));
            assert!(status["restartCount"].is_number());
        }

        let container = pod["spec"]["containers"][0]["name"]
            .as_str()
            .expect("container")
            .to_owned();
        let reply = plugin
            .request(
                "GET",
                "/getLogs",
                Some(&log_request(
                    &pod,
                    &container,
                    json!({"Tail": 1, "Timestamps": true}),
                )),
            )
            .await
            .expect("logs");
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(reply.content_type.starts_with("text/plain"));
        let text = reply.text();
        assert_eq!(text.lines().count(), 1, "Tail 1: {text:?}");
        assert!(
            text.contains(LOG_LINE) && text.starts_with("2026-01-01T00:00:01"),
            "{text:?}"
        );

        match name {
            "microservice-pod" => {
                let env = remote
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers[0].env.clone())
                    .expect("env");
                let cm_ref = env[1]
                    .value_from
                    .as_ref()
                    .and_then(|v| v.config_map_key_ref.as_ref())
                    .expect("cm ref");
                assert_eq!(cm_ref.name, format!("test-cm-{uid}"));
                let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
                let secret = secrets
                    .get(&format!("test-secret-{uid}"))
                    .await
                    .expect("scoped secret");
                assert!(
                    secret
                        .data
                        .is_some_and(|d| d.contains_key("test_secret_key"))
                );
                // The second container's logs: ContainerName is honoured on a two-container pod.
                let reply = plugin
                    .request(
                        "GET",
                        "/getLogs",
                        Some(&log_request(&pod, "ssh-debug", json!({"Bytes": 10}))),
                    )
                    .await
                    .expect("logs");
                assert_eq!(reply.status, 200, "{}", reply.text());
                assert!(reply.body.len() <= 10, "Bytes limit: {:?}", reply.text());
            }
            "init-containers-pod" => {
                assert_eq!(
                    entry["initContainers"].as_array().map(Vec::len),
                    Some(1),
                    "{entry}"
                );
                let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
                let lp =
                    ListParams::default().labels(&format!("interlink.io/source.pod_uid={uid}"));
                assert_eq!(
                    cms.list(&lp).await.expect("list").items.len(),
                    1,
                    "shared ConfigMap created once"
                );
            }
            _ => {}
        }

        delete_twice(&plugin, &pod, &uid).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = owned_objects(&client, ns.name(), &uid).await;
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "left behind after delete: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(plugin.stop().success());
    let Some(serve_common::Listen::Unix(path)) = Some(plugin.listen.clone()) else {
        unreachable!()
    };
    assert!(!path.exists(), "socket removed on shutdown");
}

/// TCP listener, namespace prefix (a namespace the plugin creates), GPU-style node selector and
/// tolerations from config: Unschedulable while no node fits, Running once a GPU node appears.
#[tokio::test]
async fn gpu_pod_over_tcp_with_namespace_prefix() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-gpu").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let client = cluster.client();
    let prefix = format!("ikpt{}", &new_uid()[..6]);
    let gpu_model = format!("T4-{}", &new_uid()[..6]);
    let mut options = PluginOptions::new("tcp-gpu", identity.kubeconfig());
    options.tcp = true;
    options.env = vec![
        ("OFFLOADING_NAMESPACE_PREFIX", prefix.clone()),
        (
            "OFFLOADING_NODE_SELECTOR",
            json!({"nvidia/gpu-model": gpu_model}).to_string(),
        ),
        (
            "OFFLOADING_NODE_TOLERATIONS",
            json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
                .to_string(),
        ),
    ];
    let mut plugin = Plugin::start(options).await;
    plugin.wait_ready().await;
    let uid = new_uid();
    let body = fixture("gpu-pod", ns.name(), &uid);
    let pod = pod_of(&body);
    create(&plugin, &body).await;
    let remote_ns = format!("{prefix}-{}", ns.name());

    let pending = wait_status(&plugin, &pod, "Unschedulable", |e| {
        e["containers"][0]["state"]["waiting"]["reason"] == "Unschedulable"
    })
    .await;
    assert_eq!(pending["containers"][0]["ready"], false);

    let node_name = format!("gpu-{}", &uid[..8]);
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node_name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                     "labels": {"kubernetes.io/hostname": node_name, "type": "kwok", "nvidia/gpu-model": gpu_model}},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]},
        "status": {"capacity": {"cpu": "8", "memory": "64Gi", "pods": "20", "nvidia.com/gpu": "4"},
                   "allocatable": {"cpu": "8", "memory": "64Gi", "pods": "20", "nvidia.com/gpu": "4"}}
    }))
    .expect("node");
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create GPU node");
    let running = wait_status(&plugin, &pod, "Running on the GPU node", all_running).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &remote_ns);
    let remote = pods
        .get(&format!("test-gpu-{uid}"))
        .await
        .expect("remote pod");
    assert_eq!(
        remote.spec.as_ref().and_then(|s| s.node_name.clone()),
        Some(node_name.clone())
    );
    assert_eq!(running["namespace"], json!(ns.name()));

    delete_twice(&plugin, &pod, &uid).await;
    assert!(plugin.stop().success());
    let _ = nodes.delete(&node_name, &DeleteParams::default()).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let created_ns = namespaces
        .get(&remote_ns)
        .await
        .expect("plugin created the namespace");
    assert_eq!(
        created_ns.labels().get("interlink.io").map(String::as_str),
        Some("offloading")
    );
    let _ = namespaces
        .delete(&remote_ns, &DeleteParams::background())
        .await;
}

/// PVC opt-in: the claim listed in `interlink.io/remote-pvc` is created remotely, the other PVC volume is
/// dropped; delete removes the claim because of its `delete` retention policy.
#[tokio::test]
async fn pvc_pod_creates_and_deletes_its_claim() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-pvc").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let client = cluster.client();
    let mut plugin = Plugin::start(PluginOptions::new("pvc", identity.kubeconfig())).await;
    plugin.wait_ready().await;
    let uid = new_uid();
    let body = fixture("pvc-pod", ns.name(), &uid);
    let pod = pod_of(&body);
    create(&plugin, &body).await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns.name());
    let claim = pvcs
        .get("my-volume-claim")
        .await
        .expect("claim created remotely");
    assert_eq!(
        claim.labels().get("interlink.io/source.pod_uid"),
        Some(&uid)
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let remote = pods.get(&format!("test-pod-pvc-{uid}")).await.expect("pod");
    let volumes = remote
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .expect("volumes");
    assert!(volumes.iter().any(|v| {
        v.persistent_volume_claim
            .as_ref()
            .is_some_and(|c| c.claim_name == "my-volume-claim")
    }));
    assert!(!volumes.iter().any(|v| {
        v.persistent_volume_claim
            .as_ref()
            .is_some_and(|c| c.claim_name == "not-offloaded")
    }));
    // No provisioner binds the claim: the pod stays pending, reported as waiting.
    let entry = wait_status(&plugin, &pod, "pending status", |_| true).await;
    assert!(
        entry["containers"][0]["state"]["waiting"].is_object(),
        "{entry}"
    );

    delete_twice(&plugin, &pod, &uid).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = owned_objects(&client, ns.name(), &uid).await;
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(plugin.stop().success());
}

/// A create that fails mid-way (an object the remote API server rejects) leaves no object behind, and the
/// error names the Kubernetes reason.
#[tokio::test]
async fn failed_create_leaves_nothing_behind() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-rollback").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let client = cluster.client();
    let mut plugin = Plugin::start(PluginOptions::new("rollback", identity.kubeconfig())).await;
    plugin.wait_ready().await;

    // 1. Secret rejected after the two ConfigMaps were created.
    let uid = new_uid();
    let mut body = fixture("microservice-pod", ns.name(), &uid);
    body["container"][0]["secrets"][0]["data"] =
        json!({"bad key!": "U0VOVElORUwtU0VDUkVULVZBTFVFLTdjMmU="});
    let reply = plugin
        .request("POST", "/create", Some(&body))
        .await
        .expect("create");
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert_eq!(reply.json()["reason"], "Invalid");
    assert_eq!(
        owned_objects(&client, ns.name(), &uid).await,
        Vec::<String>::new()
    );

    // 2. Pod rejected after its ConfigMaps and Secret were created.
    let uid = new_uid();
    let mut body = fixture("microservice-pod", ns.name(), &uid);
    body["pod"]["spec"]["containers"][1]["name"] = json!("Not_A_Valid_Name");
    let reply = plugin
        .request("POST", "/create", Some(&body))
        .await
        .expect("create");
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert_eq!(
        owned_objects(&client, ns.name(), &uid).await,
        Vec::<String>::new()
    );

    // 3. A repeated create of the same pod is idempotent (the original rolled the running pod back).
    let uid = new_uid();
    let body = fixture("simple-pod", ns.name(), &uid);
    let first = create(&plugin, &body).await;
    let second = create(&plugin, &body).await;
    assert_eq!(first, second);
    assert_eq!(owned_objects(&client, ns.name(), &uid).await.len(), 1);
    delete_twice(&plugin, &pod_of(&body), &uid).await;
    assert!(plugin.stop().success());
}

/// Follow streams: headers and the first lines arrive at once, the stream stays open while the container
/// runs; the client going away does not disturb the server. Also restart safety: a new process finds the
/// pod from its labels.
#[tokio::test]
async fn follow_logs_and_restart() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-follow").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let (mut plugin, uid, pod) = plugin_with_running_pod(&identity, ns.name(), "follow").await;

    let request = log_request(&pod, "busybox", json!({"Follow": true, "Timestamps": true}));
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        plugin.send("GET", "/getLogs", Some(request.to_string().into_bytes())),
    )
    .await
    .expect("headers sent at once")
    .expect("response");
    assert_eq!(response.status(), 200);
    let mut body_stream = response.into_body().into_data_stream();
    let mut seen = String::new();
    while !seen.contains(LOG_LINE) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body_stream.next())
            .await
            .expect("log lines arrive while following")
            .expect("stream still open")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Still open: no end of stream within a second while the container runs.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), body_stream.next())
            .await
            .is_err(),
        "follow ended early"
    );
    // A client going away mid-stream does not disturb the server.
    let other = plugin
        .send("GET", "/getLogs", Some(request.to_string().into_bytes()))
        .await
        .expect("second follow");
    drop(other);
    let reply = plugin
        .request("GET", "/healthz", None)
        .await
        .expect("healthz");
    assert_eq!(reply.status, 200);
    // SIGTERM ends the open follow stream cleanly (terminating chunk, no error) and the process exits 0.
    assert!(plugin.stop().success());
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body_stream.next().await {
            chunk.expect("stream ends without error");
        }
    })
    .await;
    assert!(end.is_ok(), "follow stream did not end at shutdown");

    // A new process rebuilds its view from the remote labels.
    let mut restarted = Plugin::start(PluginOptions::new(
        "follow-restarted",
        identity.kubeconfig(),
    ))
    .await;
    restarted.wait_ready().await;
    let entry = wait_status(&restarted, &pod, "Running after restart", all_running).await;
    assert!(entry["JID"].as_str().is_some_and(|j| !j.is_empty()));
    let metrics = restarted
        .request("GET", "/metrics", None)
        .await
        .expect("metrics")
        .text();
    assert!(metrics.contains("ikp_status_cache_synced 1"), "{metrics}");
    delete_twice(&restarted, &pod, &uid).await;
    assert!(restarted.stop().success());
}

/// A pod with the mesh pre-exec annotation (a WireGuard private key inside) is offloaded with the mesh
/// container; the key never reaches the log, nor the remote pod (annotations, args): only a Secret of
/// the pod, deleted with it. Relies on: label-selector lists of Pods and Secrets, Secret data round trip.
#[tokio::test]
async fn mesh_annotation_is_offloaded_without_logging_the_key() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-mesh").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let mut plugin = Plugin::start(PluginOptions::new("mesh", identity.kubeconfig())).await;
    plugin.wait_ready().await;
    let uid = new_uid();
    let mut body = fixture("simple-pod", ns.name(), &uid);
    body["pod"]["metadata"]["annotations"] = json!({
        "slurm-job.vk.io/pre-exec": "mkdir -p $TMPDIR\ncat <<'EOFMESH' > $TMPDIR/mesh.sh\n#!/bin/bash\ncat > wg0.conf <<EOF\n[Interface]\nPrivateKey = SENTINEL-WG-PRIVATE-KEY-91d4\nEOF\nEOFMESH\nbash $TMPDIR/mesh.sh\n"
    });
    create(&plugin, &body).await;
    let pods: Api<Pod> = Api::namespaced(cluster.client(), ns.name());
    let remote = pods
        .get(&format!("test-pod-{uid}"))
        .await
        .expect("remote pod");
    let init = remote
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.clone())
        .unwrap_or_default();
    assert!(
        init.iter().any(|c| c.name == "mesh-setup"),
        "mesh container injected"
    );
    let remote_text = serde_json::to_string(&remote).expect("pod json");
    assert!(
        !remote_text.contains("SENTINEL-WG-PRIVATE-KEY-91d4"),
        "the private key is readable in the remote pod"
    );
    assert!(
        !remote
            .annotations()
            .contains_key("slurm-job.vk.io/pre-exec")
    );
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), ns.name());
    let lp = ListParams::default().labels(&format!("interlink.io/source.pod_uid={uid}"));
    let script_secret = secrets
        .list(&lp)
        .await
        .expect("list secrets")
        .items
        .into_iter()
        .find(|s| s.data.as_ref().is_some_and(|d| d.contains_key("mesh.sh")))
        .expect("the mesh script's Secret");
    let script = &script_secret.data.as_ref().expect("data")["mesh.sh"].0;
    assert!(String::from_utf8_lossy(script).contains("PrivateKey = SENTINEL-WG-PRIVATE-KEY-91d4"));
    delete_twice(&plugin, &pod_of(&body), &uid).await;
    let left = owned_objects(&cluster.client(), ns.name(), &uid).await;
    assert!(
        left.iter().all(|o| !o.starts_with("Secret/")),
        "Secrets left after delete: {left:?}"
    );
    assert!(plugin.stop().success());
}

/// `kubectl logs -f` through InterLink never ended once the container did: the plugin passed the remote
/// stream on for as long as the kubelet kept it open, and kwok keeps it open for ever. A followed stream now
/// ends when the plugin's pod watch shows the container terminated; and a client that leaves closes the
/// plugin's stream and its request to the remote API server (the open-stream gauge drops to 0).
/// Relies on: `pods/log?follow=true` proxied to kwok, which never ends it; a merge patch of the pod's
/// status subresource (the container terminated, as a kubelet would write it), which kwok leaves alone on
/// a Running pod; the label-selected pod watch seeing that update.
#[tokio::test]
async fn followed_logs_end_with_the_container_and_with_the_client() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-follow-end").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let (mut plugin, uid, pod) = plugin_with_running_pod(&identity, ns.name(), "follow-end").await;
    let request = log_request(&pod, "busybox", json!({"Follow": true}));
    let follow = || async {
        let response = plugin
            .send("GET", "/getLogs", Some(request.to_string().into_bytes()))
            .await
            .expect("follow");
        assert_eq!(response.status(), 200);
        let mut body = response.into_body().into_data_stream();
        let mut seen = String::new();
        while !seen.contains(LOG_LINE) {
            let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
                .await
                .expect("log lines arrive while following")
                .expect("stream still open")
                .expect("chunk");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        body
    };
    let streams_open = || async { plugin.metric("ikp_log_streams_open").await };

    // The client leaves while the container runs.
    let body = follow().await;
    assert_eq!(streams_open().await, 1.0);
    drop(body);
    wait_for(
        "the plugin to close a stream its client left",
        Duration::from_secs(10),
        || async { (streams_open().await == 0.0).then_some(()) },
    )
    .await;

    // The container ends while the client follows.
    let mut body = follow().await;
    assert!(
        tokio::time::timeout(Duration::from_secs(1), body.next())
            .await
            .is_err(),
        "follow ended while the container runs"
    );
    let pods: Api<Pod> = Api::namespaced(cluster.client(), ns.name());
    let status = json!({"status": {"containerStatuses": [{
        "name": "busybox", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                 "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:05Z"}}}]}});
    pods.patch_status(
        &format!("test-pod-{uid}"),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&status),
    )
    .await
    .expect("mark the container terminated");
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(chunk) = body.next().await {
            chunk.expect("the stream ends without an error");
        }
    })
    .await;
    assert!(ended.is_ok(), "the followed stream outlived its container");
    wait_for(
        "the ended stream to be closed",
        Duration::from_secs(10),
        || async { (streams_open().await == 0.0).then_some(()) },
    )
    .await;
    delete_twice(&plugin, &pod, &uid).await;
    assert!(plugin.stop().success());
}

/// A remote pod deleted while the plugin was down: after the restart the watch cannot have seen it go,
/// but a pod the Virtual Kubelet reports as running is not being created, so it is reported terminated
/// (RemotePodMissing) instead of waiting forever; one that had ended keeps its statuses; the same pod
/// without a status still reads as a create in flight. Relies on: pod delete with grace period 0 on a kwok node, list+watch of pods.
#[tokio::test]
async fn pod_deleted_while_the_plugin_was_down_is_reported_gone() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-vanished").await else {
        return;
    };
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let (mut plugin, uid, pod) = plugin_with_running_pod(&identity, ns.name(), "vanished").await;
    assert!(plugin.stop().success());

    let pods: Api<Pod> = Api::namespaced(cluster.client(), ns.name());
    let remote_name = format!("test-pod-{uid}");
    pods.delete(&remote_name, &DeleteParams::default().grace_period(0))
        .await
        .expect("delete remote pod");
    let deadline = Instant::now() + Duration::from_secs(30);
    while pods.get_opt(&remote_name).await.expect("get").is_some() {
        assert!(Instant::now() < deadline, "remote pod not deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut restarted = Plugin::start(PluginOptions::new(
        "vanished-restarted",
        identity.kubeconfig(),
    ))
    .await;
    restarted.wait_ready().await;
    let not_started = wait_status(&restarted, &pod, "status", |_| true).await;
    assert_eq!(
        not_started["containers"][0]["state"]["waiting"]["reason"], "ContainerCreating",
        "{not_started}"
    );
    let mut running = pod.clone();
    running["status"] = json!({"phase": "Running"});
    let gone = wait_status(&restarted, &running, "status", |_| true).await;
    assert_eq!(
        gone["containers"][0]["state"]["terminated"]["reason"], "RemotePodMissing",
        "{gone}"
    );
    // A pod that had already ended keeps how it ended.
    let mut ended = pod.clone();
    ended["status"] = json!({"phase": "Succeeded", "containerStatuses": [{
        "name": "busybox", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]});
    let kept = wait_status(&restarted, &ended, "status", |_| true).await;
    assert_eq!(
        kept["containers"][0]["state"]["terminated"],
        json!({"exitCode": 0, "reason": "Completed"}),
        "{kept}"
    );
    delete_twice(&restarted, &pod, &uid).await;
    assert!(restarted.stop().success());
}
