//! Benchmark of `/delete` against `/create` (a bench binary, not a timed test).
//!
//! Needs the test control plane:
//! `eval "$(tests/cluster/up)"; cargo bench --profile dev --bench delete; tests/cluster/down`.
//! Starts the real `ikp serve` on a unix socket and, for pods with one ConfigMap and one Secret each
//! (`IKP_BENCH_PODS`, default 100), measures in one run:
//! - sequential `/create` then sequential `/delete` of every pod (one caller, keep-alive connection);
//! - the same with 10 concurrent callers;
//!
//! reporting pods/s, p50/p99 latency and the remote API requests per pod, from the plugin's own
//! `ikp_remote_api_requests_total` counter. After each round it checks that nothing of the pods is
//! left remotely (no pod, ConfigMap or Secret with the pods' UID labels).

#[path = "../tests/serve_common/mod.rs"]
mod serve_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, Secret, ServiceAccount};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::{Value, json};
use serve_common::{Listen, Plugin, PluginOptions, new_uid, pod_of};

/// A keep-alive HTTP/1.1 connection to the plugin's unix socket.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(plugin: &Plugin) -> Connection {
        let Listen::Unix(path) = &plugin.listen else {
            panic!("bench uses the unix socket")
        };
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .expect("connect");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Connection { sender }
    }

    async fn call(&mut self, path: &str, body: Bytes) -> (u16, Bytes) {
        self.sender.ready().await.expect("connection ready");
        let request = hyper::Request::builder()
            .method("POST")
            .uri(path)
            .header("Host", "unix")
            .header("Content-Type", "application/json")
            .body(Full::new(body))
            .expect("request");
        let response = self.sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, body)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// One measured phase: every call's latency, the wall time and the requests the plugin made.
struct Phase {
    samples: Vec<Duration>,
    wall: Duration,
    requests: f64,
}

impl Phase {
    fn report(&self, what: &str) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let p50 = percentile(&sorted, 0.50);
        println!(
            "{what:<34} {:>6.1} pods/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:.2} API requests/pod",
            sorted.len() as f64 / self.wall.as_secs_f64(),
            p50.as_secs_f64() * 1e3,
            percentile(&sorted, 0.99).as_secs_f64() * 1e3,
            self.requests / sorted.len() as f64
        );
        p50
    }
}

/// Runs `path` for every body with `callers` concurrent callers, each on its own keep-alive connection.
async fn phase(
    plugin: &Arc<Plugin>,
    path: &'static str,
    bodies: &[Bytes],
    callers: usize,
) -> Phase {
    let before = plugin.metric("ikp_remote_api_requests_total").await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let plugin = plugin.clone();
        let mine: Vec<Bytes> = bodies.iter().skip(c).step_by(callers).cloned().collect();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(&plugin).await;
            let mut samples = Vec::with_capacity(mine.len());
            for body in mine {
                let t = Instant::now();
                let (status, reply) = conn.call(path, body).await;
                samples.push(t.elapsed());
                assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&reply));
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.expect("caller"));
    }
    let wall = started.elapsed();
    let requests = plugin.metric("ikp_remote_api_requests_total").await - before;
    Phase {
        samples,
        wall,
        requests,
    }
}

/// A `/create` body: a pod with a ConfigMap volume and a Secret volume.
fn create_body(namespace: &str, index: usize) -> Value {
    let uid = new_uid();
    json!({
        "pod": {
            "metadata": {"name": format!("bench-{index}"), "namespace": namespace, "uid": uid,
                         "labels": {"app": "delete-bench"}},
            "spec": {
                "containers": [{"name": "main", "image": "busybox:1.36",
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/config"},
                                                 {"name": "secret", "mountPath": "/etc/secret"}]}],
                "volumes": [{"name": "config", "configMap": {"name": "bench-config"}},
                            {"name": "secret", "secret": {"secretName": "bench-secret"}}],
                "restartPolicy": "Always"
            },
            "status": {"phase": "Pending"}
        },
        "container": [{
            "name": "main",
            "configMaps": [{"metadata": {"name": "bench-config", "namespace": namespace},
                            "data": {"settings": "value"}}],
            "secrets": [{"metadata": {"name": "bench-secret", "namespace": namespace},
                         "data": {"key": "YmVuY2g="}, "type": "Opaque"}],
            "projectedvolumemaps": null, "emptyDirs": null
        }]
    })
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits until the plugin's cache holds `count` pods (a `/delete` right after its `/create` would
/// otherwise find the pod not yet cached and take the listing path).
async fn wait_cached(plugin: &Plugin, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while plugin.metric("ikp_offloaded_pods").await != count as f64 {
        assert!(
            Instant::now() < deadline,
            "cache never reached {count} pods"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fails when anything labelled with the pods' instance is left in the namespace.
async fn assert_nothing_left(client: &Client, namespace: &str) {
    let selector = "interlink.io=offloading";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let params = ListParams::default().labels(selector);
        let pods = Api::<Pod>::namespaced(client.clone(), namespace)
            .list_metadata(&params)
            .await
            .expect("list pods")
            .items
            .len();
        let maps = Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .list_metadata(&params)
            .await
            .expect("list configmaps")
            .items
            .len();
        let secrets = Api::<Secret>::namespaced(client.clone(), namespace)
            .list_metadata(&params)
            .await
            .expect("list secrets")
            .items
            .len();
        if maps == 0 && secrets == 0 && pods == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: {pods} pods, {maps} ConfigMaps, {secrets} Secrets"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() {
    let Some(kubeconfig) = std::env::var_os("IKP_TEST_KUBECONFIG").filter(|v| !v.is_empty()) else {
        eprintln!("delete bench needs the test cluster: eval \"$(tests/cluster/up)\" first");
        std::process::exit(2);
    };
    let kubeconfig = std::path::PathBuf::from(kubeconfig);
    let count = env_number("IKP_BENCH_PODS", 100);
    let file = Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("config");
    let client = Client::try_from(config).expect("client");

    let ns_name = format!("ikp-bench-{}", &new_uid()[..8]);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns_name}})).expect("ns");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns_name);
    while accounts.get_opt("default").await.expect("sa").is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let node_name = format!("bench-{}", &new_uid()[..8]);
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": node_name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                     "labels": {"kubernetes.io/hostname": node_name, "type": "kwok"}},
        "status": {"capacity": {"cpu": "1000", "memory": "4Ti", "pods": "1500"},
                   "allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "1500"}}
    }))
    .expect("node");
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create node");

    let mut options = PluginOptions::new("bench-delete", &kubeconfig);
    // The pods' namespace is used as it is on the remote side.
    options.env = vec![("OFFLOADING_NAMESPACE_PREFIX", String::new())];
    let plugin = Arc::new(Plugin::start(options).await);
    plugin.wait_ready().await;
    // The leader's sweep at start-up (after taking over a Lease an earlier run left held, if one did)
    // is over before anything is measured, so its lists are not counted against the calls.
    let leading = Instant::now() + Duration::from_secs(60);
    while plugin.metric("ikp_orphan_sweeps").await < 1.0 {
        assert!(Instant::now() < leading, "the plugin never led and swept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A warm-up round (connections, the namespace lookup), not reported.
    let warm: Vec<Value> = (0..10).map(|i| create_body(&ns_name, 10_000 + i)).collect();
    let bodies =
        |v: &[Value]| -> Vec<Bytes> { v.iter().map(|b| Bytes::from(b.to_string())).collect() };
    let deletes = |v: &[Value]| -> Vec<Bytes> {
        v.iter()
            .map(|b| Bytes::from(pod_of(b).to_string()))
            .collect()
    };
    phase(&plugin, "/create", &bodies(&warm), 1).await;
    wait_cached(&plugin, warm.len()).await;
    phase(&plugin, "/delete", &deletes(&warm), 1).await;
    wait_cached(&plugin, 0).await;

    println!("{count} pods with one ConfigMap and one Secret each:");
    let mut p50s = Vec::new();
    for (round, callers) in [(1, 1), (2, 10)] {
        let pods: Vec<Value> = (0..count)
            .map(|i| create_body(&ns_name, round * 1000 + i))
            .collect();
        let label = if callers == 1 {
            "sequential".to_owned()
        } else {
            format!("{callers} concurrent")
        };
        let created = phase(&plugin, "/create", &bodies(&pods), callers).await;
        wait_cached(&plugin, count).await;
        let deleted = phase(&plugin, "/delete", &deletes(&pods), callers).await;
        let create_p50 = created.report(&format!("{label} /create"));
        let delete_p50 = deleted.report(&format!("{label} /delete"));
        p50s.push((label, create_p50, delete_p50));
        assert_nothing_left(&client, &ns_name).await;
        wait_cached(&plugin, 0).await;
    }
    for (label, create, delete) in p50s {
        println!(
            "{label}: /delete p50 is {:.2}x /create p50",
            delete.as_secs_f64() / create.as_secs_f64()
        );
    }
    plugin.assert_no_secrets_logged();
    // A clean stop releases the leader Lease for the next run.
    if let Ok(mut plugin) = Arc::try_unwrap(plugin) {
        plugin.stop();
    }
    let _ = namespaces
        .delete(&ns_name, &DeleteParams::background())
        .await;
    let _ = nodes.delete(&node_name, &DeleteParams::default()).await;
}
