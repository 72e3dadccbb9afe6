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

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::api::{DeleteParams, ListParams, PostParams};
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
/// another instance's unlabelled pod is left alone. Other tests' instances run at the same time, some with
/// the empty prefix, which maps a namespace to itself: the remote namespace is `<prefix>-<suffix>` and the
/// pod's source namespace `<suffix>`, which only this instance maps there.
#[tokio::test]
async fn pods_created_without_the_instance_label_are_adopted() {
    let prefix = format!("adopt{}", &new_uid()[..8]);
    let Some((cluster, ns)) = TestCluster::with_namespace(&prefix).await else {
        return;
    };
    let source_ns = ns
        .name()
        .strip_prefix(&format!("{prefix}-"))
        .expect("the namespace is named after the prefix");
    let client = cluster.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let uid = new_uid();
    let body = fixture("simple-pod", source_ns, &uid);
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
    pods.create(&PostParams::default(), &legacy(&ours, &uid, source_ns))
        .await
        .expect("legacy pod");
    // Source namespace "other": this instance maps it to "<prefix>-other", not here.
    let other_uid = new_uid();
    let theirs = format!("test-pod-{other_uid}");
    pods.create(
        &PostParams::default(),
        &legacy(&theirs, &other_uid, "other"),
    )
    .await
    .expect("foreign legacy pod");

    let mut plugin = instance(&cluster, "adopt", &prefix, ns.name()).await;
    let adopted = pods.get(&ours).await.expect("pod");
    assert_eq!(
        adopted.labels().get(INSTANCE_LABEL).map(String::as_str),
        Some(prefix.as_str())
    );
    let foreign = pods.get(&theirs).await.expect("pod");
    assert_eq!(foreign.labels().get(INSTANCE_LABEL), None);
    let entry = wait_status(&plugin, &local, "Running", all_running).await;
    assert_eq!(entry["JID"], json!(adopted.uid()));
    assert_eq!(plugin.metric("ikp_offloaded_pods").await, 1.0);
    let listed = pods
        .list(&ListParams::default().labels(&format!("{INSTANCE_LABEL}={prefix}")))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    call(&plugin, "POST", "/delete", &local).await;
    assert!(plugin.stop().success());
}

/// Deletes the test's Node objects when dropped (also when the test panics).
struct NodesGuard {
    kubeconfig: std::path::PathBuf,
    names: Vec<String>,
}

impl Drop for NodesGuard {
    fn drop(&mut self) {
        let kubeconfig = self.kubeconfig.clone();
        let names = self.names.clone();
        // Drop cannot await, and a client of the test's runtime would wait for that (blocked) runtime: the
        // deletes run on a private runtime in their own thread, with their own client.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(kubeconfig) = kube::config::Kubeconfig::read_from(&kubeconfig) else {
                    return;
                };
                let Ok(config) =
                    kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await
                else {
                    return;
                };
                let Ok(client) = kube::Client::try_from(config) else {
                    return;
                };
                let nodes: Api<Node> = Api::all(client);
                for name in names {
                    let _ = nodes.delete(&name, &DeleteParams::default()).await;
                }
            });
        })
        .join();
    }
}

/// The ping until `done` accepts its JSON (kwok makes new nodes Ready after a moment).
async fn ping_until(plugin: &Plugin, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = plugin
            .request("GET", "/status", Some(&json!([])))
            .await
            .expect("ping");
        let body = reply.json();
        if reply.status == 200 && done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: last ping {} {body}",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn figures(ping: &Value) -> Value {
    let resources = &ping["resources"];
    let gpu = resources["accelerators"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["resourceType"] == "nvidia.com/gpu"))
        .map(|x| x["available"].clone())
        .unwrap_or(Value::Null);
    json!([
        resources["cpu"],
        resources["memory"],
        resources["pods"],
        gpu
    ])
}

/// The ping reports allocatable minus requests on the kwok nodes the offloading selector and tolerations
/// allow (two nodes of its own, labelled and tainted so no other test's pod lands there), follows a pod
/// created and deleted directly on the remote cluster and the plugin's own offloaded pod (every
/// non-terminated pod bound there is subtracted), applies caps, and makes no API request.
/// Relies on: kwok managing every node (Ready), pods bound by spec.nodeName, field-selector watches of pods
/// (spec.nodeName!=, status.phase!=) and a node watch.
#[tokio::test]
async fn ping_reports_free_capacity_of_the_matching_remote_nodes() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-ping").await else {
        return;
    };
    let client = cluster.client();
    let tag = new_uid()[..8].to_owned();
    let nodes: Api<Node> = Api::all(client.clone());
    let mut guard = NodesGuard {
        kubeconfig: cluster.kubeconfig().to_owned(),
        names: Vec::new(),
    };
    for (i, (cpu, memory, pods, gpus)) in [("8", "64Gi", "20", "4"), ("4", "16Gi", "10", "2")]
        .into_iter()
        .enumerate()
    {
        let name = format!("ping-{tag}-{i}");
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/hostname": name, "type": "kwok", "ikp.test/ping": tag}},
            "spec": {"taints": [{"key": "ikp.test/ping", "value": tag, "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": cpu, "memory": memory, "pods": pods, "nvidia.com/gpu": gpus},
                       "allocatable": {"cpu": cpu, "memory": memory, "pods": pods, "nvidia.com/gpu": gpus}}
        }))
        .expect("node");
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("create node");
        guard.names.push(name);
    }
    let selector = json!({"ikp.test/ping": tag}).to_string();
    let tolerations =
        json!([{"key": "ikp.test/ping", "operator": "Exists", "effect": "NoSchedule"}]).to_string();
    let mut options = PluginOptions::new("ping", cluster.kubeconfig());
    options.env = vec![
        ("OFFLOADING_NAMESPACE_PREFIX", String::new()),
        ("OFFLOADING_NODE_SELECTOR", selector.clone()),
        ("OFFLOADING_NODE_TOLERATIONS", tolerations.clone()),
    ];
    let mut plugin = Plugin::start(options).await;
    plugin.wait_ready().await;
    let full = json!(["12", "80Gi", "30", "6"]);
    let ping = ping_until(&plugin, "both nodes counted", |p| figures(p) == full).await;
    assert_eq!(ping["status"], "ok");
    assert!(
        ping.get("taints").is_none(),
        "taints not configured: {ping}"
    );

    // A pod created directly on the remote cluster, bound to the first node.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let foreign: Pod = serde_json::from_value(json!({
        "metadata": {"name": "foreign"},
        "spec": {"nodeName": guard.names[0],
                 "tolerations": [{"key": "ikp.test/ping", "operator": "Exists"}],
                 "containers": [{"name": "c", "image": "busybox", "resources": {
                     "requests": {"cpu": "1500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
                     "limits": {"nvidia.com/gpu": "1"}}}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &foreign)
        .await
        .expect("foreign pod");
    let less = json!(["10500m", "79Gi", "29", "5"]);
    ping_until(&plugin, "the foreign pod subtracted", |p| {
        figures(p) == less
    })
    .await;

    // The plugin's own pod lands on these nodes and is subtracted like any other (10m, 32Mi, one pod).
    let uid = new_uid();
    let body = fixture("simple-pod", ns.name(), &uid);
    call(&plugin, "POST", "/create", &body).await;
    wait_status(&plugin, &pod_of(&body), "Running", all_running).await;
    let own = pods.get(&format!("test-pod-{uid}")).await.expect("own pod");
    assert!(
        guard.names.contains(
            &own.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default()
        ),
        "offloaded pod bound to a ping node"
    );

    let with_own = json!(["10490m", "80864Mi", "28", "5"]);
    ping_until(&plugin, "the offloaded pod subtracted", |p| {
        figures(p) == with_own
    })
    .await;

    // Pings cost no API request.
    wait_first_sweep(&plugin).await;
    let before = plugin.metric("ikp_remote_api_requests_total").await;
    for _ in 0..20 {
        let reply = plugin
            .request("GET", "/status", Some(&json!([])))
            .await
            .expect("ping");
        assert_eq!(reply.status, 200);
        assert_eq!(figures(&reply.json()), with_own, "own pod subtracted");
    }
    let after = plugin.metric("ikp_remote_api_requests_total").await;
    assert_eq!(before, after, "requests made by 20 pings");

    pods.delete("foreign", &DeleteParams::default().grace_period(0))
        .await
        .expect("delete foreign");
    let own_only = json!(["11990m", "81888Mi", "29", "6"]);
    ping_until(&plugin, "the foreign pod's requests freed", |p| {
        figures(p) == own_only
    })
    .await;
    call(&plugin, "POST", "/delete", &pod_of(&body)).await;
    ping_until(&plugin, "the offloaded pod's requests freed", |p| {
        figures(p) == full
    })
    .await;
    assert!(plugin.stop().success());

    // Caps and taints from the config.
    let mut options = PluginOptions::new("ping-capped", cluster.kubeconfig());
    options.env = vec![
        ("OFFLOADING_NAMESPACE_PREFIX", String::new()),
        ("OFFLOADING_NODE_SELECTOR", selector),
        ("OFFLOADING_NODE_TOLERATIONS", tolerations),
        ("PING_MAX_CPU", "2".into()),
        (
            "PING_MAX_ACCELERATORS",
            json!({"nvidia.com/gpu": "1"}).to_string(),
        ),
        (
            "PING_TAINTS",
            json!([{"key": "remote.example/gpu", "value": "true", "effect": "NoSchedule"}])
                .to_string(),
        ),
    ];
    let mut capped = Plugin::start(options).await;
    capped.wait_ready().await;
    let ping = ping_until(&capped, "capped", |p| {
        figures(p) == json!(["2", "80Gi", "30", "1"])
    })
    .await;
    assert_eq!(
        ping["taints"],
        json!([{"key": "remote.example/gpu", "value": "true", "effect": "NoSchedule"}])
    );
    assert!(capped.stop().success());
    drop(guard);
}

/// A remote cluster that cannot be read: the ping answers 503 with the reason instead of figures; fixed
/// figures are reported as configured. Relies on nothing listening on port 1 of the loopback address.
#[tokio::test]
async fn ping_says_when_the_remote_cluster_cannot_be_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        json!({"apiVersion": "v1", "kind": "Config",
               "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": true}}],
               "users": [{"name": "u", "user": {"token": "ikp-test-unreachable-cluster-token"}}],
               "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
               "current-context": "x"})
        .to_string(),
    )
    .expect("kubeconfig");
    let mut plugin = Plugin::start(PluginOptions::new("ping-unreachable", &kubeconfig)).await;
    let reply = plugin
        .request("GET", "/status", Some(&json!([])))
        .await
        .expect("ping");
    assert_eq!(reply.status, 503, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["status"], "error");
    assert!(
        body["error"].as_str().is_some_and(
            |e| e.starts_with("remote cluster cannot be read:") && e.contains("not synced")
        ),
        "{body}"
    );
    assert!(plugin.stop().success());

    let mut options = PluginOptions::new("ping-fixed", &kubeconfig);
    options.env.push(("PING_RESOURCES", "fixed".into()));
    options.env.push(("PING_FIXED_CPU", "64".into()));
    options.env.push((
        "PING_FIXED_ACCELERATORS",
        json!({"amd.com/gpu": "2"}).to_string(),
    ));
    options.env.push(("PING_TAINTS", "[]".into()));
    let mut fixed = Plugin::start(options).await;
    // The pod status watch cannot sync either: still 503, fixed figures or not.
    let reply = fixed
        .request("GET", "/status", Some(&json!([])))
        .await
        .expect("ping");
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(fixed.stop().success());
}

/// Waits until the plugin's status cache holds `count` pods.
async fn wait_cached(plugin: &Plugin, count: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while plugin.metric("ikp_offloaded_pods").await != count {
        assert!(Instant::now() < deadline, "cache never held {count} pods");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the leader's first orphan sweep to finish. The sweep lists ConfigMaps, Secrets, Services,
/// Deployments and Leases once at start-up (then only every grace period), and those requests count in
/// `ikp_remote_api_requests_total`: a test that counts the requests of one call waits for it first.
async fn wait_first_sweep(plugin: &Plugin) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while plugin.metric("ikp_orphan_sweeps").await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the first orphan sweep never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Objects labelled with the pod UID left in `ns` (pods, ConfigMaps, Secrets), once deletions settle.
async fn left_behind(client: &kube::Client, ns: &str, uid: &str) -> usize {
    let params = ListParams::default().labels(&format!("interlink.io/source.pod_uid={uid}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pods = Api::<Pod>::namespaced(client.clone(), ns)
            .list_metadata(&params)
            .await
            .expect("pods")
            .items
            .len();
        let maps = Api::<ConfigMap>::namespaced(client.clone(), ns)
            .list_metadata(&params)
            .await
            .expect("configmaps")
            .items
            .len();
        let secrets = Api::<Secret>::namespaced(client.clone(), ns)
            .list_metadata(&params)
            .await
            .expect("secrets")
            .items
            .len();
        let left = pods + maps + secrets;
        if left == 0 || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `/delete` of a pod the status cache holds removes the pod and the ConfigMaps and Secrets recorded on
/// it by name: one request each, no list (the plugin's own request counter), nothing left. A pod whose
/// remote pod is already gone (as after a create cut short) has its objects found by label instead.
/// Relies on: deletes by name and label-selected lists of pods, ConfigMaps and Secrets; a pod watch;
/// kwok finishing the deletion of pods bound to its nodes.
#[tokio::test]
async fn delete_removes_the_recorded_objects_by_name() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-fast-delete").await else {
        return;
    };
    let client = cluster.client();
    let prefix = format!("del{}", &new_uid()[..8]);
    let mut plugin = instance(&cluster, "fast-delete", &prefix, ns.name()).await;

    // Two ConfigMaps and a Secret (microservice-pod): four deletes by name.
    let uid = new_uid();
    let body = fixture("microservice-pod", ns.name(), &uid);
    call(&plugin, "POST", "/create", &body).await;
    wait_cached(&plugin, 1.0).await;
    wait_first_sweep(&plugin).await;
    let before = plugin.metric("ikp_remote_api_requests_total").await;
    call(&plugin, "POST", "/delete", &pod_of(&body)).await;
    let requests = plugin.metric("ikp_remote_api_requests_total").await - before;
    assert_eq!(
        requests, 4.0,
        "the pod, two ConfigMaps and a Secret, by name"
    );
    assert_eq!(left_behind(&client, ns.name(), &uid).await, 0);

    // The remote pod removed behind the plugin's back: its ConfigMaps and Secret are found by label.
    let uid = new_uid();
    let body = fixture("microservice-pod", ns.name(), &uid);
    call(&plugin, "POST", "/create", &body).await;
    wait_cached(&plugin, 1.0).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let remote = pods
        .list_metadata(&ListParams::default().labels(&format!("interlink.io/source.pod_uid={uid}")))
        .await
        .expect("remote pod");
    assert_eq!(remote.items.len(), 1);
    pods.delete(
        &remote.items[0].name_any(),
        &DeleteParams::default().grace_period(0),
    )
    .await
    .expect("delete remote pod");
    wait_cached(&plugin, 0.0).await;
    call(&plugin, "POST", "/delete", &pod_of(&body)).await;
    assert_eq!(left_behind(&client, ns.name(), &uid).await, 0);
    assert!(plugin.stop().success());
}

/// Containers that `interlink.eu/disable-offload-containers` / `-init-containers` keep local: interLink
/// leaves them out of `/create` (and the plugin would too), the remote pod has only the others, and
/// `/status`, which receives the whole pod, reports only the offloaded ones (the Virtual Kubelet keeps the
/// local ones' status). Relies on: pod create and a pod watch; kwok running the remote containers.
#[tokio::test]
async fn containers_kept_local_are_neither_created_nor_reported() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-local-containers").await else {
        return;
    };
    let prefix = format!("loc{}", &new_uid()[..8]);
    let mut plugin = instance(&cluster, "local-containers", &prefix, ns.name()).await;
    let uid = new_uid();
    let mut body = fixture("init-containers-pod", ns.name(), &uid);
    body["pod"]["metadata"]["annotations"] = json!({
        "interlink.eu/disable-offload-containers": "sidecar",
        "interlink.eu/pod-ip": "10.244.9.9"
    });
    let full = pod_of(&body);
    // As interLink sends it: the local container is not in the create request's spec.
    let containers = body["pod"]["spec"]["containers"]
        .as_array_mut()
        .expect("containers");
    containers.retain(|c| c["name"] != "sidecar");
    call(&plugin, "POST", "/create", &body).await;

    let pods: Api<Pod> = Api::namespaced(cluster.client(), ns.name());
    let remote = pods
        .list(&ListParams::default().labels(&format!("interlink.io/source.pod_uid={uid}")))
        .await
        .expect("remote pod")
        .items;
    assert_eq!(remote.len(), 1);
    let spec = remote[0].spec.as_ref().expect("spec");
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["main"]);
    let pod_ip: Vec<_> = spec.containers[0]
        .env
        .iter()
        .flatten()
        .filter(|e| e.name == "POD_IP")
        .map(|e| e.value.clone())
        .collect();
    assert_eq!(pod_ip, [Some("10.244.9.9".to_owned())]);

    let entry = wait_status(&plugin, &full, "Running", all_running).await;
    let reported: Vec<&str> = entry["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(reported, ["main"], "{entry}");
    call(&plugin, "POST", "/delete", &full).await;
    assert!(plugin.stop().success());
}
