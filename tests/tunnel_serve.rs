//! The TCP tunnel of `ikp serve` (`[tcp_tunnel]`) against the test control plane as the remote cluster.
//!
//! Relies on, from the real kube-apiserver v1.36 + controller-manager + scheduler + kwok of `tests/cluster/up`:
//! - server-side apply (field manager `ikp`) of Services, Secrets, ConfigMaps and Deployments, with API
//!   defaulting of the applied objects (compared here as "what ikp render prints is contained in the live object");
//! - list by label selector and delete of those kinds, and namespace creation;
//! - the pod create/delete flow of `ikp serve` (kwok schedules and runs the pod);
//! - RBAC: the plugin runs as a ServiceAccount bound to exactly the ClusterRoles of `deploy/remote-rbac.yaml`
//!   and `deploy/remote-rbac-tcp-tunnel.yaml` (`support::identity`), so those roles are proven sufficient.

mod serve_common;
mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use serve_common::{Plugin, PluginOptions, fixture, new_uid, pod_of};
use support::cluster::TestCluster;
use support::identity::{OFFLOAD_ROLES, RemoteIdentity, TUNNEL_ROLES};

const GATEWAY_HOST: &str = "gateway.example.org";
const GATEWAY_SSH_PORT: u16 = 2200;
const PORTS: [u16; 2] = [8080, 9090];

fn private_key_base64() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tunnel/id_ed25519.b64"
    ))
    .expect("key fixture")
    .trim()
    .to_owned()
}

fn tunnel_env(bastion_namespace: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OFFLOADING_NAMESPACE_PREFIX", String::new()),
        ("TCP_TUNNEL_ENABLED", "true".to_owned()),
        ("TCP_TUNNEL_GATEWAY_HOST", GATEWAY_HOST.to_owned()),
        ("TCP_TUNNEL_GATEWAY_PORT", GATEWAY_SSH_PORT.to_string()),
        ("TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY", private_key_base64()),
        ("TCP_TUNNEL_BASTION_NAMESPACE", bastion_namespace.to_owned()),
    ]
}

async fn start_plugin(identity: &RemoteIdentity, name: &str, bastion_namespace: &str) -> Plugin {
    let mut options = PluginOptions::new(name, identity.kubeconfig());
    options.env = tunnel_env(bastion_namespace);
    let plugin = Plugin::start(options).await;
    plugin.wait_ready().await;
    plugin
}

/// A create request for a pod with two TCP ports and one UDP port on its container.
fn two_port_pod(namespace: &str, uid: &str) -> Value {
    let mut create = fixture("simple-pod", namespace, uid);
    create["pod"]["spec"]["containers"][0]["ports"] = json!([
        {"containerPort": PORTS[0]},
        {"containerPort": PORTS[1], "protocol": "TCP"},
        {"containerPort": 5353, "protocol": "UDP"}
    ]);
    create
}

/// Names of the live objects of one kind carrying the pod's tunnel labels.
async fn labelled<K>(client: &Client, namespace: &str, uid: &str) -> Vec<String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let selector = format!("interlink.io/source.pod_uid={uid},interlink.io/component=tcp-tunnel");
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default().labels(&selector))
        .await
        .expect("list")
        .items
        .iter()
        .filter(|o| o.meta().deletion_timestamp.is_none())
        .map(|o| format!("{}/{}", K::kind(&K::DynamicType::default()), o.name_any()))
        .collect()
}

/// Every tunnel object of the pod, plus the release records of its bastion releases.
async fn tunnel_objects(
    client: &Client,
    remote_ns: &str,
    bastion_ns: &str,
    uid: &str,
) -> Vec<String> {
    let mut found = labelled::<Service>(client, remote_ns, uid).await;
    found.extend(labelled::<Deployment>(client, bastion_ns, uid).await);
    found.extend(labelled::<ConfigMap>(client, bastion_ns, uid).await);
    found.extend(labelled::<Secret>(client, bastion_ns, uid).await);
    let records = |names: Vec<String>| {
        names
            .into_iter()
            .filter(|n| n.starts_with("ikp.release.") && n.contains(uid))
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), bastion_ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), bastion_ns);
    let cm_names = cms.list(&ListParams::default()).await.expect("list").items;
    let secret_names = secrets
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    found.extend(
        records(cm_names.iter().map(|o| o.name_any()).collect()).map(|n| format!("record {n}")),
    );
    found.extend(
        records(secret_names.iter().map(|o| o.name_any()).collect()).map(|n| format!("record {n}")),
    );
    found.sort();
    found
}

/// Whether every field of `expected` is in `live` with the same value (lists element-wise).
fn contained(expected: &Value, live: &Value, path: &str) -> Result<(), String> {
    match (expected, live) {
        (Value::Object(e), Value::Object(l)) => e.iter().try_for_each(|(key, value)| {
            contained(
                value,
                l.get(key).unwrap_or(&Value::Null),
                &format!("{path}.{key}"),
            )
        }),
        (Value::Array(e), Value::Array(l)) if e.len() == l.len() => e
            .iter()
            .zip(l)
            .enumerate()
            .try_for_each(|(i, (e, l))| contained(e, l, &format!("{path}[{i}]"))),
        _ if expected == live => Ok(()),
        _ => Err(format!("{path}: rendered {expected} but live {live}")),
    }
}

/// `ikp render` of the same bastion release, with the values the plugin derives from its config.
fn rendered_bastion(cluster: &TestCluster, port: u16, uid: &str, remote_ns: &str) -> Vec<Value> {
    let output = cluster
        .ikp()
        .args(["render", &format!("bastion-{port}-{uid}"), "bastion"])
        .arg(format!("--set=tunnel.gateway.host={GATEWAY_HOST}"))
        .arg(format!("--set=tunnel.gateway.ssh.port={GATEWAY_SSH_PORT}"))
        .arg(format!(
            "--set=tunnel.gateway.ssh.privateKey={}",
            private_key_base64()
        ))
        .arg(format!("--set=tunnel.service.gatewayPort={port}"))
        .arg(format!(
            "--set=tunnel.service.targetHost=tunnel-{port}-{uid}.{remote_ns}.svc"
        ))
        .arg(format!("--set=tunnel.service.targetPort={port}"))
        .output()
        .expect("run ikp render");
    assert!(
        output.status.success(),
        "ikp render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    ikp::compat::readback::read_documents(&text).expect("yaml")
}

#[tokio::test]
async fn two_port_pod_gets_a_service_and_a_bastion_release_per_port() {
    let Some((cluster, remote_ns)) = TestCluster::with_namespace("tunnel").await else {
        return;
    };
    let bastion_ns = cluster.namespace("tunnel-bastion").await;
    let identity =
        RemoteIdentity::from_deploy(&cluster, &remote_ns, &[OFFLOAD_ROLES, TUNNEL_ROLES]).await;
    let client = cluster.client();
    let plugin = start_plugin(&identity, "tunnel-two-ports", bastion_ns.name()).await;
    let uid = new_uid();
    let create = two_port_pod(remote_ns.name(), &uid);

    let reply = plugin
        .request("POST", "/create", Some(&create))
        .await
        .expect("create");
    assert_eq!(reply.status, 200, "{}", reply.text());

    let services: Api<Service> = Api::namespaced(client.clone(), remote_ns.name());
    for port in PORTS {
        let service = services
            .get(&format!("tunnel-{port}-{uid}"))
            .await
            .expect("tunnel Service");
        let spec = service.spec.expect("spec");
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"), "headless");
        let ports = spec.ports.expect("ports");
        assert_eq!((ports[0].port, ports.len()), (i32::from(port), 1));
        assert_eq!(
            spec.selector.expect("selector")["interlink.io/source.pod_uid"],
            uid
        );

        for rendered in rendered_bastion(&cluster, port, &uid, remote_ns.name()) {
            let kind = rendered["kind"].as_str().expect("kind").to_owned();
            let name = rendered["metadata"]["name"]
                .as_str()
                .expect("name")
                .to_owned();
            let live: Value = match kind.as_str() {
                "Secret" => serde_json::to_value(
                    Api::<Secret>::namespaced(client.clone(), bastion_ns.name())
                        .get(&name)
                        .await
                        .expect("Secret"),
                ),
                "ConfigMap" => serde_json::to_value(
                    Api::<ConfigMap>::namespaced(client.clone(), bastion_ns.name())
                        .get(&name)
                        .await
                        .expect("ConfigMap"),
                ),
                "Deployment" => serde_json::to_value(
                    Api::<Deployment>::namespaced(client.clone(), bastion_ns.name())
                        .get(&name)
                        .await
                        .expect("Deployment"),
                ),
                other => panic!("unexpected kind {other} in the bastion chart"),
            }
            .expect("json");
            contained(&rendered, &live, &format!("{kind}/{name}"))
                .unwrap_or_else(|e| panic!("{e}"));
            // Apart from the release's own labels, only the labels tying it to the pod are added.
            let rendered_labels = rendered["metadata"]["labels"].as_object().expect("labels");
            let extra: Vec<&String> = live["metadata"]["labels"]
                .as_object()
                .expect("labels")
                .keys()
                .filter(|k| !rendered_labels.contains_key(*k))
                .collect();
            assert_eq!(
                extra,
                [
                    "interlink.io/component",
                    "interlink.io/source.pod_uid",
                    "interlink.io/tunnel-port"
                ],
                "{kind}/{name}"
            );
        }
    }
    assert_eq!(
        tunnel_objects(&client, remote_ns.name(), bastion_ns.name(), &uid)
            .await
            .len(),
        // 2 Services, 3 bastion objects per port, and per bastion release its record (ConfigMap).
        2 + 3 * 2 + 2
    );
    // A tunnel release keeps no revision data (values, manifest): that would be one more Secret
    // holding the tunnel's private key, and more API requests per pod.
    let revision_data = Api::<Secret>::namespaced(client.clone(), bastion_ns.name())
        .list(&ListParams::default().fields("type=ikp.io/release.v1"))
        .await
        .expect("list revision data");
    assert!(
        revision_data.items.is_empty(),
        "{:?}",
        revision_data
            .items
            .iter()
            .map(|s| s.name_any())
            .collect::<Vec<_>>()
    );

    let delete = pod_of(&create);
    let reply = plugin
        .request("POST", "/delete", Some(&delete))
        .await
        .expect("delete");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        tunnel_objects(&client, remote_ns.name(), bastion_ns.name(), &uid).await,
        Vec::<String>::new()
    );
    plugin.assert_no_secrets_logged();
    assert!(
        !plugin.log_text().contains(&private_key_base64()),
        "private key logged"
    );
}

#[tokio::test]
async fn a_failed_bastion_apply_rolls_back_every_tunnel_object() {
    let Some((cluster, remote_ns)) = TestCluster::with_namespace("tunnel-fail").await else {
        return;
    };
    let bastion_ns = cluster.namespace("tunnel-fail-bastion").await;
    let identity =
        RemoteIdentity::from_deploy(&cluster, &remote_ns, &[OFFLOAD_ROLES, TUNNEL_ROLES]).await;
    let client = cluster.client();
    let uid = new_uid();
    // The second port's bastion ConfigMap name is taken by another release: its apply is refused after
    // the first port's Service and release exist.
    let squatter: ConfigMap = serde_json::from_value(json!({
        "metadata": {
            "name": format!("bastion-{}-{uid}", PORTS[1]),
            "annotations": {
                "ikp.io/release-name": "someone-else",
                "ikp.io/release-namespace": bastion_ns.name()
            }
        },
        "data": {"owner": "someone-else"}
    }))
    .expect("ConfigMap");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), bastion_ns.name());
    cms.create(&PostParams::default(), &squatter)
        .await
        .expect("create squatter");

    let plugin = start_plugin(&identity, "tunnel-rollback", bastion_ns.name()).await;
    let create = two_port_pod(remote_ns.name(), &uid);
    let reply = plugin
        .request("POST", "/create", Some(&create))
        .await
        .expect("create");
    assert!(reply.status >= 400, "create must fail: {}", reply.text());
    assert!(reply.text().contains("someone-else"), "{}", reply.text());

    assert_eq!(
        tunnel_objects(&client, remote_ns.name(), bastion_ns.name(), &uid).await,
        Vec::<String>::new()
    );
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client.clone(), remote_ns.name());
    let left = pods
        .list(&ListParams::default().labels(&format!("interlink.io/source.pod_uid={uid}")))
        .await
        .expect("list pods");
    assert!(
        left.items
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some()),
        "pod left behind"
    );
    let kept = cms.get(&squatter.name_any()).await.expect("squatter kept");
    assert_eq!(kept.data.expect("data")["owner"], "someone-else");
}

#[tokio::test]
async fn delete_after_a_restart_still_removes_the_tunnel() {
    let Some((cluster, remote_ns)) = TestCluster::with_namespace("tunnel-restart").await else {
        return;
    };
    let bastion_ns = cluster.namespace("tunnel-restart-bastion").await;
    let identity =
        RemoteIdentity::from_deploy(&cluster, &remote_ns, &[OFFLOAD_ROLES, TUNNEL_ROLES]).await;
    let client = cluster.client();
    let uid = new_uid();
    let create = two_port_pod(remote_ns.name(), &uid);

    let mut first = start_plugin(&identity, "tunnel-restart-1", bastion_ns.name()).await;
    let reply = first
        .request("POST", "/create", Some(&create))
        .await
        .expect("create");
    assert_eq!(reply.status, 200, "{}", reply.text());
    first.stop();
    assert!(
        !tunnel_objects(&client, remote_ns.name(), bastion_ns.name(), &uid)
            .await
            .is_empty()
    );

    let second = start_plugin(&identity, "tunnel-restart-2", bastion_ns.name()).await;
    let reply = second
        .request("POST", "/delete", Some(&pod_of(&create)))
        .await
        .expect("delete");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        tunnel_objects(&client, remote_ns.name(), bastion_ns.name(), &uid).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_bad_gateway_host_stops_the_start_up() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ikp"))
        .env_clear()
        .args(["serve", "--check-config"])
        .env("TCP_TUNNEL_ENABLED", "true")
        .env("TCP_TUNNEL_GATEWAY_HOST", "not a host")
        .env("TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY", private_key_base64())
        .output()
        .expect("run ikp serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tunnel.gateway.host"), "{stderr}");
    assert!(!stderr.contains(&private_key_base64()), "{stderr}");
}

/// Every object of the pods with these UIDs that is not being deleted: remote pods, ConfigMaps and
/// Secrets in the remote namespace, tunnel Services, bastion Deployments, ConfigMaps and Secrets.
async fn left_of(
    client: &Client,
    remote_ns: &str,
    bastion_ns: &str,
    uids: &[String],
) -> Vec<String> {
    let mut left = Vec::new();
    for uid in uids {
        let selector = format!("interlink.io/source.pod_uid={uid}");
        let params = ListParams::default().labels(&selector);
        let alive = |meta: &kube::api::ObjectMeta| meta.deletion_timestamp.is_none();
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), remote_ns);
        for pod in pods.list(&params).await.expect("list pods").items {
            if alive(&pod.metadata) {
                left.push(format!("Pod {}", pod.name_any()));
            }
        }
        for ns in [remote_ns, bastion_ns] {
            let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
            for cm in cms.list(&params).await.expect("list").items {
                left.push(format!("ConfigMap {ns}/{}", cm.name_any()));
            }
            let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
            for secret in secrets.list(&params).await.expect("list").items {
                left.push(format!("Secret {ns}/{}", secret.name_any()));
            }
        }
        left.extend(tunnel_objects(client, remote_ns, bastion_ns, uid).await);
    }
    left.sort();
    left.dedup();
    left
}

/// `/create` and `/delete` of the same pod (ConfigMaps, a Secret, TCP ports 8080 and 22, tunnel on) sent
/// 0-240 ms apart, the delete never repeated (the Virtual Kubelet does not): whichever of the two the
/// plugin serves first, nothing of the pod stays — no remote pod, no tunnel Service, no bastion
/// Deployment, no bastion Secret with the tunnel's private key. The delete always answers 200; the create
/// answers 200 or, when the delete came first or stopped it, 409.
///
/// Relies on: create/list(label selector)/delete of Pods, ConfigMaps, Secrets, Services and Deployments,
/// server-side apply, and kwok removing deleted pods (objects being deleted are not counted).
#[tokio::test]
async fn racing_create_and_delete_leave_nothing_behind() {
    let Some((cluster, remote_ns)) = TestCluster::with_namespace("tunnel-race").await else {
        return;
    };
    let bastion_ns = cluster.namespace("tunnel-race-bastion").await;
    let client = cluster.client();
    let identity =
        RemoteIdentity::from_deploy(&cluster, &remote_ns, &[OFFLOAD_ROLES, TUNNEL_ROLES]).await;
    let plugin = start_plugin(&identity, "tunnel-race", bastion_ns.name()).await;
    let delays_ms = [
        0, 240, 30, 0, 60, 120, 10, 180, 90, 0, 200, 45, 0, 150, 20, 75,
    ];
    let mut uids = Vec::new();
    for delay in delays_ms {
        let uid = new_uid();
        let create = fixture("microservice-pod", remote_ns.name(), &uid);
        let delete = pod_of(&create);
        let (created, deleted) =
            tokio::join!(plugin.request("POST", "/create", Some(&create)), async {
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                plugin.request("POST", "/delete", Some(&delete)).await
            });
        let created = created.expect("create answered");
        let deleted = deleted.expect("delete answered");
        assert_eq!(
            deleted.status,
            200,
            "delete after {delay} ms: {}",
            deleted.text()
        );
        assert!(
            matches!(created.status, 200 | 409),
            "create raced by a delete after {delay} ms: {} {}",
            created.status,
            created.text()
        );
        uids.push(uid);
    }
    // Deletions of Deployments and pods finish asynchronously; anything still there after this is a leak.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = left_of(&client, remote_ns.name(), bastion_ns.name(), &uids).await;
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind by racing create/delete: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    plugin.assert_no_secrets_logged();
}
