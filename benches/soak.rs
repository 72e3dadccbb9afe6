//! Soak of `ikp serve` with the TCP tunnel on: `IKP_SOAK_CLIENTS` (default 20) concurrent clients each
//! cycle `/create` → `/status` (until every container runs) → `/getLogs` → `/delete` of a fresh pod with
//! ConfigMaps, a Secret and two TCP ports, for `IKP_SOAK_SECONDS` (default 600), against the test
//! cluster (`IKP_TEST_KUBECONFIG`). A bench binary (`harness = false`), not a test: it asserts nothing
//! about time, it reports.
//!
//! Printed: the plugin's resident memory (`VmRSS`), open file descriptors (`/proc/PID/fd`) and tokio
//! tasks alive (`ikp_runtime_alive_tasks` from `/metrics`) at start (plugin ready, idle), after the
//! first 30 s of load (warm: connection pools, caches), 10 s after the load stopped, and at the end,
//! after `IKP_SOAK_IDLE_SECONDS` (default 100) idle — longer than the kube client keeps an idle
//! connection (90 s), so `end` is comparable with `start`; request counts and errors per call; objects
//! left by any cycle (remote pods, ConfigMaps, Secrets, tunnel Services, bastion
//! Deployments/Secrets/ConfigMaps, release records) and the `ikp_pending_cleanups` gauge. Exits non-zero
//! when there were errors or objects are left.
//!
//! Settings (environment): `IKP_SOAK_SECONDS` (load duration, default 600), `IKP_SOAK_CLIENTS`
//! (concurrent clients, default 20), `IKP_SOAK_IDLE_SECONDS` (idle time before the end sample, default
//! 100, at least 10). Run it against a cluster of its own — the plugin's orphan sweep looks at the whole
//! cluster:
//!
//! ```sh
//! eval "$(tests/cluster/up)"
//! nice -n 10 cargo bench --profile dev --bench soak     # IKP_SOAK_SECONDS=60 for a short run
//! tests/cluster/down "$IKP_TEST_CLUSTER_DIR"
//! ```

#[path = "../tests/serve_common/mod.rs"]
mod serve_common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use serve_common::{Plugin, PluginOptions, all_running, fixture, new_uid, pod_of};
use support::cluster::TestCluster;
use tokio::sync::Mutex;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn private_key_base64() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tunnel/id_ed25519.b64"
    ))
    .expect("key fixture")
    .trim()
    .to_owned()
}

/// One reading of the plugin process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rss_kib: u64,
    fds: usize,
    tasks: i64,
}

async fn sample(plugin: &Plugin) -> Sample {
    let pid = plugin.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let tasks = metric(plugin, "ikp_runtime_alive_tasks")
        .await
        .unwrap_or(-1);
    Sample {
        rss_kib,
        fds,
        tasks,
    }
}

async fn metric(plugin: &Plugin, name: &str) -> Option<i64> {
    let text = plugin.request("GET", "/metrics", None).await.ok()?.text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

fn log_request(pod: &Value, container: &str) -> Value {
    json!({"Namespace": pod["metadata"]["namespace"], "PodUID": pod["metadata"]["uid"],
           "PodName": pod["metadata"]["name"], "ContainerName": container,
           "Opts": {"Tail": 0, "Bytes": 0, "Timestamps": false, "Follow": false, "Previous": false,
                    "SinceSeconds": 0, "SinceTime": "0001-01-01T00:00:00Z"}})
}

#[derive(Default)]
struct Tally {
    calls: BTreeMap<&'static str, u64>,
    errors: BTreeMap<&'static str, u64>,
    first_errors: Vec<String>,
    cycles: u64,
}

impl Tally {
    fn ok(&mut self, call: &'static str) {
        *self.calls.entry(call).or_default() += 1;
    }

    fn error(&mut self, call: &'static str, detail: String) {
        *self.calls.entry(call).or_default() += 1;
        *self.errors.entry(call).or_default() += 1;
        if self.first_errors.len() < 10 {
            self.first_errors.push(format!("{call}: {detail}"));
        }
    }
}

/// One create/status/logs/delete cycle; returns the pod UID.
async fn cycle(plugin: &Plugin, namespace: &str, tally: &Mutex<Tally>) -> String {
    let uid = new_uid();
    let create = fixture("microservice-pod", namespace, &uid);
    let pod = pod_of(&create);
    match plugin.request("POST", "/create", Some(&create)).await {
        Ok(r) if r.status == 200 => tally.lock().await.ok("create"),
        Ok(r) => tally
            .lock()
            .await
            .error("create", format!("{} {}", r.status, r.text())),
        Err(e) => tally.lock().await.error("create", e),
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match plugin
            .request("GET", "/status", Some(&Value::Array(vec![pod.clone()])))
            .await
        {
            Ok(r) if r.status == 200 => {
                tally.lock().await.ok("status");
                if all_running(&r.json()[0]) {
                    break;
                }
            }
            Ok(r) => {
                tally
                    .lock()
                    .await
                    .error("status", format!("{} {}", r.status, r.text()));
                break;
            }
            Err(e) => {
                tally.lock().await.error("status", e);
                break;
            }
        }
        if Instant::now() > deadline {
            tally
                .lock()
                .await
                .error("status", "not running after 60 s".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    match plugin
        .request("GET", "/getLogs", Some(&log_request(&pod, "httpbin")))
        .await
    {
        Ok(r) if r.status == 200 && !r.body.is_empty() => tally.lock().await.ok("getLogs"),
        Ok(r) => tally
            .lock()
            .await
            .error("getLogs", format!("{} {}", r.status, r.text())),
        Err(e) => tally.lock().await.error("getLogs", e),
    }
    match plugin.request("POST", "/delete", Some(&pod)).await {
        Ok(r) if r.status == 200 => tally.lock().await.ok("delete"),
        Ok(r) => tally
            .lock()
            .await
            .error("delete", format!("{} {}", r.status, r.text())),
        Err(e) => tally.lock().await.error("delete", e),
    }
    tally.lock().await.cycles += 1;
    uid
}

/// Objects of the plugin (labelled with a pod UID) not being deleted, in the two namespaces, plus
/// bastion release records.
async fn objects_left(client: &Client, namespaces: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    let params = ListParams::default().labels("interlink.io/source.pod_uid");
    for ns in namespaces {
        macro_rules! alive {
            ($kind:ty, $name:literal) => {
                let api: Api<$kind> = Api::namespaced(client.clone(), ns);
                match api.list(&params).await {
                    Ok(list) => {
                        for item in list.items {
                            if item.meta().deletion_timestamp.is_none() {
                                left.push(format!("{} {ns}/{}", $name, item.name_any()));
                            }
                        }
                    }
                    Err(e) => left.push(format!("cannot list {} in {ns}: {e}", $name)),
                }
            };
        }
        alive!(Pod, "Pod");
        alive!(ConfigMap, "ConfigMap");
        alive!(Secret, "Secret");
        alive!(Service, "Service");
        alive!(Deployment, "Deployment");
        let records: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        if let Ok(list) = records.list(&ListParams::default()).await {
            left.extend(
                list.items
                    .iter()
                    .map(|cm| cm.name_any())
                    .filter(|n| n.starts_with("ikp.release.bastion-"))
                    .map(|n| format!("record {ns}/{n}")),
            );
        }
        let records: Api<Secret> = Api::namespaced(client.clone(), ns);
        if let Ok(list) = records.list(&ListParams::default()).await {
            left.extend(
                list.items
                    .iter()
                    .map(|s| s.name_any())
                    .filter(|n| n.starts_with("ikp.release.bastion-"))
                    .map(|n| format!("record {ns}/{n}")),
            );
        }
    }
    left
}

fn show(label: &str, s: Sample) {
    println!(
        "{label:<8} RSS {:>7.1} MiB   open fds {:>4}   tokio tasks alive {:>4}",
        s.rss_kib as f64 / 1024.0,
        s.fds,
        s.tasks
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Exit only after `run` dropped the plugin (killed) and the test namespaces (deleted).
    let passed = run().await;
    std::process::exit(if passed { 0 } else { 1 });
}

/// Runs the soak; whether there were neither errors nor objects left.
async fn run() -> bool {
    let seconds = env_number("IKP_SOAK_SECONDS", 600);
    let clients = env_number("IKP_SOAK_CLIENTS", 20);
    let idle_seconds = env_number("IKP_SOAK_IDLE_SECONDS", 100).max(10);
    let Some((cluster, remote_ns)) = TestCluster::with_namespace("soak").await else {
        eprintln!("soak: no test cluster (IKP_TEST_KUBECONFIG); start one with tests/cluster/up");
        return false;
    };
    let bastion_ns = cluster.namespace("soak-bastion").await;
    let mut options = PluginOptions::new("soak", cluster.kubeconfig());
    options.env = vec![
        ("RUST_LOG", "warn".to_owned()),
        ("OFFLOADING_NAMESPACE_PREFIX", String::new()),
        ("TCP_TUNNEL_ENABLED", "true".to_owned()),
        ("TCP_TUNNEL_GATEWAY_HOST", "gateway.example.org".to_owned()),
        ("TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY", private_key_base64()),
        ("TCP_TUNNEL_BASTION_NAMESPACE", bastion_ns.name().to_owned()),
    ];
    let plugin = Arc::new(Plugin::start(options).await);
    plugin.wait_ready().await;
    println!(
        "soak: {clients} clients, {seconds} s, then {idle_seconds} s idle, tunnel on, plugin pid {}",
        plugin.pid()
    );
    let start = sample(&plugin).await;
    show("start", start);

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (plugin, tally, stop) = (plugin.clone(), tally.clone(), stop.clone());
        let ns = remote_ns.name().to_owned();
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                cycle(&plugin, &ns, &tally).await;
            }
        }));
    }
    let warm_at = Duration::from_secs(30.min(seconds / 2));
    tokio::time::sleep(warm_at).await;
    let warm = sample(&plugin).await;
    show("warm", warm);
    let mut next_report = Instant::now() + Duration::from_secs(60);
    while began.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(60);
            let s = sample(&plugin).await;
            let t = tally.lock().await;
            println!(
                "t={:>4}s  cycles {:>6}  errors {:>3}  RSS {:.1} MiB  fds {}  tasks {}",
                began.elapsed().as_secs(),
                t.cycles,
                t.errors.values().sum::<u64>(),
                s.rss_kib as f64 / 1024.0,
                s.fds,
                s.tasks
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        let _ = worker.await;
    }
    let load_time = began.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let stopped = sample(&plugin).await;
    show("stopped", stopped);
    // The kube client keeps idle connections (one fd and one task each) for 90 s: only after that is
    // the plugin back to its idle state, comparable with `start`.
    tokio::time::sleep(Duration::from_secs(idle_seconds.saturating_sub(10))).await;
    let end = sample(&plugin).await;
    show("end", end);

    // Deletions of Deployments and pods finish asynchronously: give them a moment before counting.
    let client = cluster.client();
    let namespaces = [remote_ns.name(), bastion_ns.name()];
    let mut left = objects_left(&client, &namespaces).await;
    let settle = Instant::now() + Duration::from_secs(30);
    while !left.is_empty() && Instant::now() < settle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        left = objects_left(&client, &namespaces).await;
    }
    let pending = metric(&plugin, "ikp_pending_cleanups").await.unwrap_or(-1);
    let t = tally.lock().await;
    println!(
        "cycles {} in {:.0} s ({:.2}/s)",
        t.cycles,
        load_time.as_secs_f64(),
        t.cycles as f64 / load_time.as_secs_f64()
    );
    for (call, count) in &t.calls {
        println!(
            "  {call:<8} {count:>7} requests, {:>3} errors",
            t.errors.get(call).copied().unwrap_or(0)
        );
    }
    for error in &t.first_errors {
        println!("  error: {error}");
    }
    println!("objects left: {}   pending cleanups: {pending}", left.len());
    for object in left.iter().take(20) {
        println!("  left: {object}");
    }
    println!(
        "RSS {:.1} → {:.1} MiB (warm {:.1}, 10 s after the load {:.1}), fds {} → {} (warm {}, {}), \
         tasks {} → {} (warm {}, {})",
        start.rss_kib as f64 / 1024.0,
        end.rss_kib as f64 / 1024.0,
        warm.rss_kib as f64 / 1024.0,
        stopped.rss_kib as f64 / 1024.0,
        start.fds,
        end.fds,
        warm.fds,
        stopped.fds,
        start.tasks,
        end.tasks,
        warm.tasks,
        stopped.tasks
    );
    let errors: u64 = t.errors.values().sum();
    drop(t);
    plugin.assert_no_secrets_logged();
    errors == 0 && left.is_empty() && pending == 0
}
