//! Benchmark of `/status` with 1,000 offloaded pods (a bench binary, not a timed test).
//!
//! Needs the test control plane: `eval "$(tests/cluster/up)"; cargo bench --bench status; tests/cluster/down`.
//! Starts the real `ikp serve` on a unix socket, offloads 1,000 pods (a kwok node with room for them is added),
//! then measures, over keep-alive connections like the InterLink API server's:
//! - sequential one-pod `/status` calls (the Virtual Kubelet's pattern): p50/p99 latency;
//! - remote API requests per call, from the plugin's own `ikp_remote_api_requests_total` counter;
//! - 50 concurrent callers: latency and throughput, compared with the sequential rate;
//! - one `/status` call listing all 1,000 pods.
//!
//! Environment: `IKP_BENCH_PODS` (default 1000), `IKP_BENCH_CALLS` (sequential calls, default 5000).

#[path = "../tests/serve_common/mod.rs"]
mod serve_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::{Value, json};
use serve_common::{Listen, Plugin, PluginOptions, fixture, new_uid, pod_of};

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

    async fn call(&mut self, method: &str, path: &str, body: Bytes) -> (u16, Bytes) {
        self.sender.ready().await.expect("connection ready");
        let request = hyper::Request::builder()
            .method(method)
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

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    format!(
        "n={} p50={:.3}ms p99={:.3}ms max={:.3}ms mean={:.3}ms",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3
    )
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let Some(kubeconfig) = std::env::var_os("IKP_TEST_KUBECONFIG").filter(|v| !v.is_empty()) else {
        eprintln!("status bench needs the test cluster: eval \"$(tests/cluster/up)\" first");
        std::process::exit(2);
    };
    let kubeconfig = std::path::PathBuf::from(kubeconfig);
    let pods_wanted = env_number("IKP_BENCH_PODS", 1000);
    let calls = env_number("IKP_BENCH_CALLS", 5000);
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

    let plugin = Arc::new(Plugin::start(PluginOptions::new("bench", &kubeconfig)).await);
    plugin.wait_ready().await;

    // Offload the pods, 16 creates at a time.
    let started = Instant::now();
    let mut pods = Vec::with_capacity(pods_wanted);
    let bodies: Vec<Value> = (0..pods_wanted)
        .map(|i| {
            let mut body = fixture("simple-pod", &ns_name, &new_uid());
            body["pod"]["metadata"]["name"] = json!(format!("bench-{i}"));
            body
        })
        .collect();
    for chunk in bodies.chunks(16) {
        let mut tasks = Vec::new();
        for body in chunk {
            let plugin = plugin.clone();
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = Connection::open(&plugin).await;
                let (status, reply) = conn
                    .call("POST", "/create", Bytes::from(body.to_string()))
                    .await;
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
            }));
        }
        for task in tasks {
            task.await.expect("create task");
        }
        pods.extend(chunk.iter().map(pod_of));
    }
    let create_time = started.elapsed();
    println!(
        "created {} pods in {:.1}s ({:.0} creates/s, 16 concurrent)",
        pods.len(),
        create_time.as_secs_f64(),
        pods.len() as f64 / create_time.as_secs_f64()
    );
    while plugin.metric("ikp_offloaded_pods").await < pods_wanted as f64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let bodies: Vec<Bytes> = pods
        .iter()
        .map(|p| Bytes::from(Value::Array(vec![p.clone()]).to_string()))
        .collect();

    // Warm-up, then sequential one-pod calls on one keep-alive connection.
    let mut conn = Connection::open(&plugin).await;
    for body in bodies.iter().take(200) {
        conn.call("GET", "/status", body.clone()).await;
    }
    let api_before = plugin.metric("ikp_remote_api_requests_total").await;
    let mut samples = Vec::with_capacity(calls);
    let sequential_started = Instant::now();
    for i in 0..calls {
        let body = bodies[i % bodies.len()].clone();
        let t = Instant::now();
        let (status, reply) = conn.call("GET", "/status", body).await;
        samples.push(t.elapsed());
        assert_eq!(status, 200);
        assert!(reply.len() > 50, "non-trivial status entry");
    }
    let sequential = sequential_started.elapsed();
    let api_after = plugin.metric("ikp_remote_api_requests_total").await;
    println!(
        "sequential /status (1 pod per call, {} pods cached): {}",
        pods.len(),
        summary(samples)
    );
    println!(
        "  throughput {:.0} calls/s; remote API requests during the run: {} ({:.4} per call)",
        calls as f64 / sequential.as_secs_f64(),
        api_after - api_before,
        (api_after - api_before) / calls as f64
    );

    // 50 concurrent callers, each on its own keep-alive connection.
    let callers = 50;
    let per_caller = calls / callers;
    let bodies = Arc::new(bodies);
    let concurrent_started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let plugin = plugin.clone();
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(&plugin).await;
            let mut samples = Vec::with_capacity(per_caller);
            for i in 0..per_caller {
                let body = bodies[(c * per_caller + i) % bodies.len()].clone();
                let t = Instant::now();
                let (status, _) = conn.call("GET", "/status", body).await;
                samples.push(t.elapsed());
                assert_eq!(status, 200);
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("caller"));
    }
    let concurrent = concurrent_started.elapsed();
    let total = all.len();
    println!(
        "{callers} concurrent callers x {per_caller} calls: {}",
        summary(all)
    );
    println!(
        "  wall {:.2}s, throughput {:.0} calls/s (sequential: {:.0} calls/s)",
        concurrent.as_secs_f64(),
        total as f64 / concurrent.as_secs_f64(),
        calls as f64 / sequential.as_secs_f64()
    );

    // One call with every pod.
    let everything = Bytes::from(Value::Array(pods.clone()).to_string());
    let mut samples = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (status, reply) = conn.call("GET", "/status", everything.clone()).await;
        samples.push(t.elapsed());
        assert_eq!(status, 200);
        let entries: Value = serde_json::from_slice(&reply).expect("json");
        assert_eq!(entries.as_array().map(Vec::len), Some(pods.len()));
    }
    println!(
        "/status with all {} pods in one call: {}",
        pods.len(),
        summary(samples)
    );

    // Clean up.
    for chunk in pods.chunks(32) {
        let mut tasks = Vec::new();
        for pod in chunk {
            let plugin = plugin.clone();
            let body = Bytes::from(pod.to_string());
            tasks.push(tokio::spawn(async move {
                let mut conn = Connection::open(&plugin).await;
                conn.call("POST", "/delete", body).await
            }));
        }
        for task in tasks {
            let (status, _) = task.await.expect("delete");
            assert_eq!(status, 200);
        }
    }
    plugin.assert_no_secrets_logged();
    let _ = namespaces
        .delete(&ns_name, &DeleteParams::background())
        .await;
    let _ = nodes.delete(&node_name, &DeleteParams::default()).await;
}
