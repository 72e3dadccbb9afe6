//! Faults of the remote API server during `ikp serve`'s `/create` and `/delete` and during `ikp apply` and
//! `ikp uninstall`: the kube-apiserver is paused (SIGSTOP/SIGCONT) or killed (SIGKILL, then started again
//! with its recorded command line) at several points of a call. Every call must answer with a clear error
//! within its configured timeout, and once the API server is back nothing of the pod or release may
//! remain (cleanups finished in the background, or by the next apply/uninstall).
//!
//! Each test brings up a cluster of its own (`support::faults::PrivateCluster`), one at a time: pausing
//! the shared test cluster would break every other test running against it.
//!
//! Relies on, from the real kube-apiserver v1.36 + etcd + controller-manager + scheduler + kwok:
//! - requests to a stopped apiserver process being accepted by the kernel and never answered, and being
//!   processed when it continues (so a create in flight may be committed after the client gave up);
//! - connections to a killed apiserver being refused, and a restarted apiserver on the same port and
//!   etcd serving the same objects;
//! - create/list(label selector)/delete of Pods, ConfigMaps, Secrets, Services, Deployments; server-side
//!   apply; kwok removing deleted pods.

mod serve_common;
mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::Value;
use serve_common::{Plugin, PluginOptions, fixture, new_uid, pod_of};
use support::faults::PrivateCluster;

/// `request_timeout_seconds` of the plugin under test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Allowed on top of a timeout for the reply to travel (process scheduling on a loaded 2-core machine).
const SLACK: Duration = Duration::from_millis(2500);
/// How long the background cleanup may take once the API server is back (its backoff is capped at 30 s).
const RECOVERY: Duration = Duration::from_secs(90);
/// How long a later apply may keep failing on "provided port is already allocated": a NodePort Service
/// create that the pause cut off after the API server allocated its port (but before the Service was
/// stored) leaks the allocation until the API server's node-port repair loop, which runs every 3 minutes,
/// gives it back. Nothing a client sends frees it sooner.
const NODE_PORT_REPAIR: Duration = Duration::from_secs(200);
const REMOTE_NS: &str = "faults-remote";
const BASTION_NS: &str = "faults-bastion";

fn private_key_base64() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tunnel/id_ed25519.b64"
    ))
    .expect("key fixture")
    .trim()
    .to_owned()
}

async fn namespaces(client: &Client) {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in [REMOTE_NS, BASTION_NS] {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(err) => panic!("create namespace {name}: {err}"),
        }
    }
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), REMOTE_NS);
    support::cluster::wait_for(
        "default ServiceAccount",
        Duration::from_secs(30),
        || async { accounts.get_opt("default").await.ok().flatten() },
    )
    .await;
}

async fn tunnel_plugin(cluster: &PrivateCluster, name: &str) -> Plugin {
    let mut options = PluginOptions::new(name, cluster.kubeconfig());
    options.env = vec![
        ("OFFLOADING_NAMESPACE_PREFIX", String::new()),
        (
            "K8S_REQUEST_TIMEOUT_SECONDS",
            REQUEST_TIMEOUT.as_secs().to_string(),
        ),
        ("TCP_TUNNEL_ENABLED", "true".to_owned()),
        ("TCP_TUNNEL_GATEWAY_HOST", "gateway.example.org".to_owned()),
        ("TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY", private_key_base64()),
        ("TCP_TUNNEL_BASTION_NAMESPACE", BASTION_NS.to_owned()),
    ];
    let plugin = Plugin::start(options).await;
    plugin.wait_ready().await;
    plugin
}

/// Live objects (not being deleted) of the pods with `uids`, in both namespaces.
async fn left_of(client: &Client, uids: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    for uid in uids {
        let params = ListParams::default().labels(&format!("interlink.io/source.pod_uid={uid}"));
        for ns in [REMOTE_NS, BASTION_NS] {
            macro_rules! alive {
                ($kind:ty, $name:literal) => {
                    let api: Api<$kind> = Api::namespaced(client.clone(), ns);
                    for item in api.list(&params).await.expect("list").items {
                        if item.meta().deletion_timestamp.is_none() {
                            left.push(format!("{} {ns}/{}", $name, item.name_any()));
                        }
                    }
                };
            }
            alive!(Pod, "Pod");
            alive!(ConfigMap, "ConfigMap");
            alive!(Secret, "Secret");
            alive!(Service, "Service");
            alive!(Deployment, "Deployment");
            // Release records of the bastion releases are named after them, not labelled.
            let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
            for cm in cms.list(&ListParams::default()).await.expect("list").items {
                if cm.name_any().starts_with("ikp.release.") && cm.name_any().contains(uid.as_str())
                {
                    left.push(format!("record {ns}/{}", cm.name_any()));
                }
            }
            let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
            for secret in secrets
                .list(&ListParams::default())
                .await
                .expect("list")
                .items
            {
                if secret.name_any().starts_with("ikp.release.")
                    && secret.name_any().contains(uid.as_str())
                {
                    left.push(format!("record {ns}/{}", secret.name_any()));
                }
            }
        }
    }
    left.sort();
    left.dedup();
    left
}

/// Waits until nothing of the pods is left; panics naming what stayed.
async fn converges(client: &Client, uids: &[String], what: &str) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let left = left_of(client, uids).await;
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still left {RECOVERY:?} after the API server came back: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How the API server fails during a call.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Pause,
    Kill,
}

impl Fault {
    fn inject(self, cluster: &PrivateCluster) {
        match self {
            Fault::Pause => cluster.pause(),
            Fault::Kill => cluster.kill(),
        }
    }

    async fn recover(self, cluster: &PrivateCluster) {
        match self {
            Fault::Pause => cluster.resume(),
            Fault::Kill => cluster.restart().await,
        }
        cluster.wait_ready().await;
    }
}

/// Sends `/create` of a tunnelled pod with ConfigMaps, a Secret and two TCP ports, and `after` into it
/// makes the API server fail. Returns the reply status and how long the reply took.
async fn create_with_fault(
    plugin: &Plugin,
    cluster: &PrivateCluster,
    create: &Value,
    fault: Fault,
    after: Duration,
) -> (u16, String, Duration) {
    let started = Instant::now();
    let (reply, ()) = tokio::join!(plugin.request("POST", "/create", Some(create)), async {
        tokio::time::sleep(after).await;
        fault.inject(cluster);
    });
    let elapsed = started.elapsed();
    let reply = reply.expect("create answered");
    (reply.status, reply.text(), elapsed)
}

/// A paused (or killed) API server during a tunnel `/create`: the reply comes within
/// `request_timeout_seconds` (504 for a pause, 502/504 for a kill, 200 if the create was done first),
/// never the 20 s of a client without timeouts; once the API server is back, the rollback finishes in
/// the background and nothing of the pod is left, also objects whose create was in flight.
async fn create_faults(fault: Fault, points_ms: &[u64]) {
    let Some(cluster) = PrivateCluster::up() else {
        return;
    };
    let client = cluster.client().await;
    namespaces(&client).await;
    let plugin = tunnel_plugin(&cluster, &format!("faults-create-{fault:?}")).await;
    for &after in points_ms {
        let uid = new_uid();
        let create = fixture("microservice-pod", REMOTE_NS, &uid);
        let (status, text, elapsed) = create_with_fault(
            &plugin,
            &cluster,
            &create,
            fault,
            Duration::from_millis(after),
        )
        .await;
        let what = format!("{fault:?} {after} ms into /create");
        eprintln!("fault matrix: {what}: {status} after {elapsed:?}");
        assert!(
            elapsed <= REQUEST_TIMEOUT + SLACK,
            "{what}: answered after {elapsed:?} ({status} {text})"
        );
        assert!(
            matches!(status, 200 | 502 | 503 | 504),
            "{what}: {status} {text}"
        );
        if status != 200 {
            assert!(
                text.contains("error") && !text.contains(&private_key_base64()),
                "{what}: {text}"
            );
        }
        // Keep the API server down past the create's deadline, as the incident did.
        tokio::time::sleep((REQUEST_TIMEOUT + Duration::from_secs(1)).saturating_sub(elapsed))
            .await;
        fault.recover(&cluster).await;
        if status == 200 {
            let reply = plugin
                .request("POST", "/delete", Some(&pod_of(&create)))
                .await
                .expect("delete");
            // Without a fault too, a loaded machine can make the delete outlast the 3 s timeout: it
            // then finishes in the background, which `converges` checks.
            assert!(
                matches!(reply.status, 200 | 504),
                "{what}: delete {} {}",
                reply.status,
                reply.text()
            );
        }
        converges(&client, std::slice::from_ref(&uid), &what).await;
    }
    assert_metric_zero(&plugin, "ikp_pending_cleanups").await;
    plugin.assert_no_secrets_logged();
}

async fn assert_metric_zero(plugin: &Plugin, name: &str) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let text = plugin
            .request("GET", "/metrics", None)
            .await
            .expect("metrics")
            .text();
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .map(str::to_owned);
        if value.as_deref() == Some("0") {
            return;
        }
        assert!(Instant::now() < deadline, "{name} stays {value:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn paused_tunnel_create_answers_within_the_request_timeout_and_leaves_nothing() {
    create_faults(Fault::Pause, &[0, 30, 50, 150, 400]).await;
}

#[tokio::test]
async fn killed_create_is_rolled_back_once_the_api_server_is_back() {
    create_faults(Fault::Kill, &[30, 50, 150]).await;
}

/// A `/delete` while the API server is paused or killed: an error within the timeout (the Virtual Kubelet
/// does not repeat it), and once the API server is back the background retry removes everything.
#[tokio::test]
async fn failed_delete_is_finished_once_the_api_server_is_back() {
    let Some(cluster) = PrivateCluster::up() else {
        return;
    };
    let client = cluster.client().await;
    namespaces(&client).await;
    let plugin = tunnel_plugin(&cluster, "faults-delete").await;
    for (fault, after_ms) in [
        (Fault::Pause, 0),
        (Fault::Pause, 40),
        (Fault::Kill, 0),
        (Fault::Kill, 40),
    ] {
        let (create, uids) = created_pod(&plugin).await;
        let delete = pod_of(&create);
        let started = Instant::now();
        let (reply, ()) = tokio::join!(plugin.request("POST", "/delete", Some(&delete)), async {
            tokio::time::sleep(Duration::from_millis(after_ms)).await;
            fault.inject(&cluster);
        });
        let elapsed = started.elapsed();
        let reply = reply.expect("delete answered");
        let what = format!("{fault:?} {after_ms} ms into /delete");
        eprintln!("fault matrix: {what}: {} after {elapsed:?}", reply.status);
        assert!(
            elapsed <= REQUEST_TIMEOUT + SLACK,
            "{what}: answered after {elapsed:?}: {}",
            reply.text()
        );
        assert!(
            matches!(reply.status, 200 | 502 | 503 | 504),
            "{what}: {} {}",
            reply.status,
            reply.text()
        );
        tokio::time::sleep((REQUEST_TIMEOUT + Duration::from_secs(1)).saturating_sub(elapsed))
            .await;
        fault.recover(&cluster).await;
        converges(&client, &uids, &what).await;
    }
    assert_metric_zero(&plugin, "ikp_pending_cleanups").await;
}

/// `/create`s a tunnelled pod with no fault injected, for a test of its `/delete`; returns its body and
/// the UIDs of every pod tried. Without a fault a tunnelled create (a dozen API calls) still answers 504
/// when a loaded 2-core machine makes it take longer than the test's 3 s `request_timeout_seconds`;
/// that create is rolled back in the background, its UID stays in the list for the leftover check, and
/// a fresh pod is tried, at most 5 times.
async fn created_pod(plugin: &Plugin) -> (Value, Vec<String>) {
    let mut uids = Vec::new();
    loop {
        let uid = new_uid();
        uids.push(uid.clone());
        let create = fixture("microservice-pod", REMOTE_NS, &uid);
        let reply = plugin
            .request("POST", "/create", Some(&create))
            .await
            .expect("create");
        if reply.status == 200 {
            return (create, uids);
        }
        eprintln!(
            "fault matrix: /create without a fault: {} {}",
            reply.status,
            reply.text()
        );
        assert!(
            reply.status == 504 && uids.len() < 5,
            "/create without a fault: {} {}",
            reply.status,
            reply.text()
        );
    }
}

/// Throwaway key of the Helm reference corpus; it protects nothing.
const PUBLIC_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKb+Ny6AabMc+bhMQqBVWV/v8ufuGZTK6pVkEbKAhDTW helm-ref-test-ed25519";

fn ikp(cluster: &PrivateCluster, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ikp"));
    cmd.args(args)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT");
    cmd
}

/// The node port of a release `gw<N>`: one per release, so a port the previous case's cut-off create or
/// delete still holds in the API server's allocator cannot refuse the next case's Service.
fn gateway_node_port(release: &str) -> u16 {
    let index: u16 = release
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    30300 + index
}

fn gateway_apply(release: &str, timeout: &str) -> Vec<String> {
    [
        "apply",
        release,
        "gateway",
        "-n",
        REMOTE_NS,
        "--set",
        &format!(
            "ssh.publicKey={PUBLIC_KEY},service.port={}",
            gateway_node_port(release)
        ),
        "--wait",
        "--timeout",
        timeout,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Objects (not being deleted) that carry the release's annotation, plus its record.
async fn release_left(client: &Client, release: &str) -> Vec<String> {
    let mut left = Vec::new();
    let owned = |meta: &ObjectMeta| {
        meta.deletion_timestamp.is_none()
            && meta
                .annotations
                .as_ref()
                .and_then(|a| a.get("ikp.io/release-name"))
                .is_some_and(|r| r == release)
    };
    macro_rules! owned_of {
        ($kind:ty, $name:literal) => {
            let api: Api<$kind> = Api::namespaced(client.clone(), REMOTE_NS);
            for item in api.list(&ListParams::default()).await.expect("list").items {
                if owned(item.meta()) {
                    left.push(format!("{} {}", $name, item.name_any()));
                }
            }
        };
    }
    owned_of!(ConfigMap, "ConfigMap");
    owned_of!(Secret, "Secret");
    owned_of!(Service, "Service");
    owned_of!(Deployment, "Deployment");
    if ikp::deploy::inventory::load(client, REMOTE_NS, release)
        .await
        .expect("read record")
        .is_some()
    {
        left.push(format!("record of {release}"));
    }
    left
}

/// Applies the release again until an apply succeeds, within [`RECOVERY`]: a later call converges.
///
/// Not only the first try: a paused API server that continues processes the requests that were waiting
/// in its sockets concurrently with new ones, `/readyz` answering or not — the create of a NodePort
/// Service the failed apply sent may still hold its port while the next apply creates the same Service
/// ("provided port is already allocated"), and commits a moment later. And the apply's own time is not
/// what is tested here: its `--wait` needs the controller-manager, scheduler and kwok to have caught up
/// with the recovered API server (after a restart their watches reconnect with a back-off), which on a
/// loaded 2-core machine can take longer than the 6 s of the failing call, so it gets 120 s.
async fn converging_apply(cluster: &PrivateCluster, release: &str, what: &str) {
    let args = gateway_apply(release, "120s");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let deadline = Instant::now() + NODE_PORT_REPAIR;
    for attempt in 1.. {
        let started = Instant::now();
        let output = ikp(cluster, &args).output().expect("apply again");
        support::logs::record("faults: next apply", &output);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        eprintln!(
            "fault matrix: {what}: next apply #{attempt}: exit {:?} after {:?}: {}",
            output.status.code(),
            started.elapsed(),
            stderr.lines().last().unwrap_or_default()
        );
        if output.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no apply succeeded within {NODE_PORT_REPAIR:?} after the API server came back; last: {stderr}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// `ikp apply --wait --timeout 6s` and `ikp uninstall --timeout 6s` with the API server paused or killed
/// at several points: the command exits non-zero with an error naming the timeout (or the refused
/// connection) within the timeout, counted from the start of the process; once the API server is back
/// a later apply succeeds ([`converging_apply`]) and the next uninstall removes every object and the
/// record.
#[tokio::test]
async fn apply_and_uninstall_with_a_failing_api_server_end_within_the_timeout_and_converge() {
    let Some(cluster) = PrivateCluster::up() else {
        return;
    };
    let client = cluster.client().await;
    namespaces(&client).await;
    let timeout = Duration::from_secs(6);
    for (i, (fault, after_ms)) in [
        (Fault::Pause, 0),
        (Fault::Pause, 150),
        (Fault::Pause, 600),
        (Fault::Kill, 150),
    ]
    .into_iter()
    .enumerate()
    {
        let release = format!("gw{i}");
        let what = format!("{fault:?} {after_ms} ms into apply of {release}");
        let args = gateway_apply(&release, &format!("{}s", timeout.as_secs()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = ikp(&cluster, &args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn ikp apply");
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        fault.inject(&cluster);
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("ikp apply");
        let elapsed = started.elapsed();
        support::logs::record("faults: apply with a failing API server", &output);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        eprintln!(
            "fault matrix: {what}: exit {:?} after {elapsed:?}: {}",
            output.status.code(),
            stderr.lines().last().unwrap_or_default()
        );
        assert!(
            elapsed <= timeout + SLACK,
            "{what}: exited after {elapsed:?}: {stderr}"
        );
        if !output.status.success() {
            assert!(
                stderr.contains("did not finish within 6s")
                    || stderr.contains("timed out after 6s")
                    || stderr.contains("cannot reach the Kubernetes API server"),
                "{what}: unclear error: {stderr}"
            );
        }
        fault.recover(&cluster).await;
        converging_apply(&cluster, &release, &what).await;

        // Uninstall with the API server failing, then again once it is back.
        let child = ikp(
            &cluster,
            &[
                "uninstall",
                &release,
                "-n",
                REMOTE_NS,
                "--wait",
                "--timeout",
                "6s",
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ikp uninstall");
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(after_ms / 3)).await;
        fault.inject(&cluster);
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("ikp uninstall");
        let elapsed = started.elapsed();
        support::logs::record("faults: uninstall with a failing API server", &output);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        eprintln!(
            "fault matrix: {what} / uninstall: exit {:?} after {elapsed:?}: {}",
            output.status.code(),
            stderr.lines().last().unwrap_or_default()
        );
        assert!(
            elapsed <= timeout + SLACK,
            "{what}: uninstall exited after {elapsed:?}: {stderr}"
        );
        fault.recover(&cluster).await;
        if !release_left(&client, &release).await.is_empty() {
            let again = ikp(&cluster, &["uninstall", &release, "-n", REMOTE_NS])
                .output()
                .expect("uninstall again");
            support::logs::record("faults: next uninstall", &again);
            assert!(
                again.status.success(),
                "{what}: next uninstall: {}",
                String::from_utf8_lossy(&again.stderr)
            );
        }
        assert_eq!(
            release_left(&client, &release).await,
            Vec::<String>::new(),
            "{what}"
        );
    }
}

/// What a plugin that died half-way through a create (or during a failed delete's retries) leaves: a
/// ConfigMap and a Secret of the pod in its remote namespace and a bastion Secret, no remote pod; its
/// in-memory retry died with it. The next plugin's sweep (at start-up, then every grace period) removes
/// them once they are older than the grace period, and leaves alone the objects of a pod that exists.
/// No fault is injected here; the private cluster keeps the cluster-wide sweep away from other tests.
#[tokio::test]
async fn objects_left_by_a_dead_plugin_are_swept_by_the_next_one() {
    let Some(cluster) = PrivateCluster::up() else {
        return;
    };
    let client = cluster.client().await;
    namespaces(&client).await;
    let orphan = new_uid();
    let alive = new_uid();
    let make = |name: String, ns: &str, uid: &str, tunnel: bool| -> Value {
        let mut labels = serde_json::Map::new();
        labels.insert("interlink.io/source.pod_uid".into(), uid.into());
        if tunnel {
            labels.insert("interlink.io/component".into(), "tcp-tunnel".into());
        } else {
            labels.insert("interlink.io".into(), "offloading".into());
            // The sweep only looks at this instance's objects (prefix "" here), as it must
            // when several plugins share a remote cluster.
            labels.insert("interlink.io/plugin-instance".into(), "".into());
        }
        serde_json::json!({"metadata": {"name": name, "namespace": ns, "labels": labels},
                           "data": {"k": "dg=="}})
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), REMOTE_NS);
    let remote_secrets: Api<Secret> = Api::namespaced(client.clone(), REMOTE_NS);
    let bastion_secrets: Api<Secret> = Api::namespaced(client.clone(), BASTION_NS);
    for uid in [&orphan, &alive] {
        let mut cm = make(format!("cm-{uid}"), REMOTE_NS, uid, false);
        cm["data"] = serde_json::json!({"k": "v"});
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(cm).expect("cm"),
        )
        .await
        .expect("create ConfigMap");
        remote_secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(make(format!("s-{uid}"), REMOTE_NS, uid, false))
                    .expect("secret"),
            )
            .await
            .expect("create Secret");
        bastion_secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(make(format!("bastion-22-{uid}"), BASTION_NS, uid, true))
                    .expect("secret"),
            )
            .await
            .expect("create bastion Secret");
    }
    // The pod of `alive` exists: its objects are not orphans.
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("p-{alive}"), "namespace": REMOTE_NS,
                     "labels": {"interlink.io": "offloading", "interlink.io/plugin-instance": "",
                                "interlink.io/source.pod_uid": alive}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    Api::<Pod>::namespaced(client.clone(), REMOTE_NS)
        .create(&PostParams::default(), &pod)
        .await
        .expect("create pod");

    let plugin = tunnel_plugin(&cluster, "faults-sweep").await;
    // Grace: 2 × the 3 s timeout, at least 10 s, plus a minute; the sweep runs as often.
    let deadline = Instant::now() + Duration::from_secs(2 * 70 + 30);
    loop {
        let left = left_of(&client, std::slice::from_ref(&orphan)).await;
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "objects of a pod without a remote pod never swept: {left:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let kept = left_of(&client, std::slice::from_ref(&alive)).await;
    assert_eq!(kept.len(), 4, "objects of a live pod must stay: {kept:?}");
    assert!(
        plugin.log_text().contains("objects without a remote pod"),
        "the sweep says what it removes"
    );
}
