//! `ikp serve` as interLink 0.6 uses it, against the test control plane as the REMOTE cluster: plugins sharing
//! one remote cluster.
//!
//! Relies on, from the real kube-apiserver + scheduler + kwok of `tests/cluster/up`:
//! - list/watch of pods across namespaces by a label selector with two requirements (`a=b,c=d`), and the
//!   `!key` (label absent) selector;
//! - merge patches of pod labels;
//! - kwok marking scheduled pods Running and deleting pods that carry a deletionTimestamp.

mod serve_common;
mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use serve_common::{Plugin, PluginOptions, all_running, fixture, new_uid, pod_of, wait_status};
use support::cluster::TestCluster;

const INSTANCE_LABEL: &str = "interlink.io/plugin-instance";
const VANISHED_WARNING: &str = "remote pod disappeared without /delete";

/// Resident set size of a process, in KiB (from /proc).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

async fn call(plugin: &Plugin, method: &str, path: &str, body: &Value) -> Value {
    let reply = plugin
        .request(method, path, Some(body))
        .await
        .expect("request");
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json()
}

/// A plugin instance whose remote namespace is the local one (`namespace_prefix_exclusions`), so two
/// instances with different prefixes put their pods into the SAME remote namespace: only the instance label
/// tells them apart.
async fn instance(cluster: &TestCluster, name: &str, prefix: &str, ns: &str) -> Plugin {
    let mut options = PluginOptions::new(name, cluster.kubeconfig());
    options.env = vec![
        ("OFFLOADING_NAMESPACE_PREFIX", prefix.to_owned()),
        (
            "OFFLOADING_NAMESPACE_PREFIX_EXCLUSIONS",
            json!([ns]).to_string(),
        ),
    ];
    let plugin = Plugin::start(options).await;
    plugin.wait_ready().await;
    plugin
}

/// `count` create, status and delete cycles by one instance, each with a fresh pod.
async fn cycles(plugin: &Plugin, ns: &str, count: usize) {
    for _ in 0..count {
        let uid = new_uid();
        let body = fixture("simple-pod", ns, &uid);
        let pod = pod_of(&body);
        call(plugin, "POST", "/create", &body).await;
        let entries = call(plugin, "GET", "/status", &json!([pod])).await;
        assert_eq!(entries[0]["UID"], json!(uid));
        call(plugin, "POST", "/delete", &pod).await;
    }
}

/// Two instances with different prefixes offloading into one remote namespace, many create/status/delete
/// cycles each: neither warns about the other's pods, neither caches them (`ikp_offloaded_pods` counts only
/// its own), and their memory stays flat. Set `IKP_INSTANCE_CYCLES` to change the number of cycles.
#[tokio::test]
async fn two_instances_on_one_remote_cluster_ignore_each_other() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-instances").await else {
        return;
    };
    let count: usize = std::env::var("IKP_INSTANCE_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let tag = &new_uid()[..6];
    let mut first = instance(&cluster, "instance-a", &format!("ikpa{tag}"), ns.name()).await;
    let mut second = instance(&cluster, "instance-b", &format!("ikpb{tag}"), ns.name()).await;

    // Each keeps pods running: 3 of the first, 2 of the second.
    let mut kept = Vec::new();
    for (plugin, n) in [(&first, 3), (&second, 2)] {
        for _ in 0..n {
            let uid = new_uid();
            let body = fixture("simple-pod", ns.name(), &uid);
            call(plugin, "POST", "/create", &body).await;
            kept.push((plugin, pod_of(&body)));
        }
    }
    for (plugin, pod) in &kept {
        wait_status(plugin, pod, "Running", all_running).await;
    }
    let start_rss = [rss_kib(first.pid()), rss_kib(second.pid())];
    assert_eq!(first.metric("ikp_offloaded_pods").await, 3.0);
    assert_eq!(second.metric("ikp_offloaded_pods").await, 2.0);
    // The second instance does not answer for the first one's pod.
    let (_, foreign) = &kept[0];
    let entries = call(&second, "GET", "/status", &json!([foreign])).await;
    assert_eq!(
        entries[0]["containers"][0]["state"]["waiting"]["reason"], "ContainerCreating",
        "{entries}"
    );
    let started = Instant::now();
    tokio::join!(
        cycles(&first, ns.name(), count),
        cycles(&second, ns.name(), count)
    );
    let elapsed = started.elapsed();
    // Let the last deletions arrive through the watches.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let end_rss = [rss_kib(first.pid()), rss_kib(second.pid())];
    eprintln!(
        "two instances, {count} cycles each in {elapsed:.1?}: RSS first {} -> {} KiB, second {} -> {} KiB",
        start_rss[0], end_rss[0], start_rss[1], end_rss[1]
    );
    for (plugin, own) in [(&first, 3.0), (&second, 2.0)] {
        let cached = plugin.metric("ikp_offloaded_pods").await;
        assert!(
            cached >= own && cached <= own + 1.0,
            "cached {cached}, own {own}"
        );
    }
    for (start, end) in start_rss.iter().zip(end_rss) {
        // Flat: 200 cycles must not add a per-pod amount (the original grew by the other's pods).
        assert!(
            end < start + start / 2 + 8 * 1024,
            "RSS {start} -> {end} KiB"
        );
    }
    for (plugin, pod) in &kept {
        call(plugin, "POST", "/delete", pod).await;
    }
    assert!(first.stop().success());
    assert!(second.stop().success());
    for plugin in [&first, &second] {
        let log = plugin.log_text();
        assert!(
            !log.contains(VANISHED_WARNING),
            "{}: warned about a pod it does not own",
            plugin.log.display()
        );
    }
}

/// A remote pod created before the instance label existed (only `interlink.io=offloading`) is labelled at
/// start-up by the instance whose namespace mapping it matches, and its status is served from the cache;
/// another instance's unlabelled pod is left alone.
#[tokio::test]
async fn pods_created_without_the_instance_label_are_adopted() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-adopt").await else {
        return;
    };
    let client = cluster.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let uid = new_uid();
    let body = fixture("simple-pod", ns.name(), &uid);
    let local = pod_of(&body);
    let legacy = |name: &str, uid: &str, source_ns: &str| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns.name(),
                "labels": {"interlink.io": "offloading", "interlink.io/source.pod_uid": uid},
                "annotations": {"interlink.io/source.namespace": source_ns, "interlink.io/source.name": "test-pod"}},
            "spec": {"containers": [{"name": "busybox", "image": "busybox:1.36"}]}
        }))
        .expect("pod")
    };
    let ours = format!("test-pod-{uid}");
    pods.create(&PostParams::default(), &legacy(&ours, &uid, ns.name()))
        .await
        .expect("legacy pod");
    // Source namespace "other": with an empty prefix it would live in "other", not here.
    let other_uid = new_uid();
    let theirs = format!("test-pod-{other_uid}");
    pods.create(
        &PostParams::default(),
        &legacy(&theirs, &other_uid, "other"),
    )
    .await
    .expect("foreign legacy pod");

    let mut plugin = Plugin::start(PluginOptions::new("adopt", cluster.kubeconfig())).await;
    plugin.wait_ready().await;
    let adopted = pods.get(&ours).await.expect("pod");
    assert_eq!(
        adopted.labels().get(INSTANCE_LABEL).map(String::as_str),
        Some("")
    );
    let foreign = pods.get(&theirs).await.expect("pod");
    assert_eq!(foreign.labels().get(INSTANCE_LABEL), None);
    let entry = wait_status(&plugin, &local, "Running", all_running).await;
    assert_eq!(entry["JID"], json!(adopted.uid()));
    assert_eq!(plugin.metric("ikp_offloaded_pods").await, 1.0);
    let listed = pods
        .list(&ListParams::default().labels(&format!("{INSTANCE_LABEL}=")))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    call(&plugin, "POST", "/delete", &local).await;
    assert!(plugin.stop().success());
}
