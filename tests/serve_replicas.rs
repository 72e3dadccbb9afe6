//! Replicas of `ikp serve`: several processes with one namespace prefix in front of one remote cluster,
//! any of them answering any call, the background sweep on exactly one of them (the leader Lease).
//!
//! Every plugin here runs as the ServiceAccount of `deploy/remote-rbac.yaml` (`support::identity`), so
//! that role is proven sufficient for replicas too; assertions use the admin client. Each test uses a
//! prefix of its own (with the test namespace excluded from prefixing, so pods land in it): its leader
//! Lease `ikp-leader-<prefix>` in namespace `default` is then its own, whatever else runs on the cluster.

mod serve_common;
mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::{Value, json};
use serve_common::{
    LOG_LINE, Plugin, PluginOptions, all_running, fixture, log_request, new_uid, owned_objects,
    pod_of, wait_status,
};
use support::cluster::{TestCluster, TestNamespace, wait_for};
use support::identity::{OFFLOAD_ROLES, RemoteIdentity};

const VANISHED_WARNING: &str = "remote pod disappeared without /delete";
/// Lease duration of the replicas here: short, so a takeover is quick to see.
const LEASE_SECONDS: u64 = 2;

/// A replica with namespace prefix `prefix` whose pods of `ns` stay in `ns`.
async fn replica(
    identity: &RemoteIdentity,
    name: &str,
    prefix: &str,
    ns: &TestNamespace,
) -> Plugin {
    let mut options = PluginOptions::new(name, identity.kubeconfig());
    options.env = vec![
        ("OFFLOADING_NAMESPACE_PREFIX", prefix.to_owned()),
        (
            "OFFLOADING_NAMESPACE_PREFIX_EXCLUSIONS",
            json!([ns.name()]).to_string(),
        ),
        ("REPLICAS_LEASE_DURATION_SECONDS", LEASE_SECONDS.to_string()),
    ];
    let plugin = Plugin::start(options).await;
    plugin.wait_ready().await;
    plugin
}

/// A prefix no other test uses.
fn own_prefix(what: &str) -> String {
    format!("{what}-{}", &new_uid()[..8])
}

async fn leader_lease(client: &kube::Client, prefix: &str) -> Option<Lease> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    leases
        .get_opt(&format!("ikp-leader-{prefix}"))
        .await
        .expect("get lease")
}

async fn remove_leader_lease(client: &kube::Client, prefix: &str) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let _ = leases
        .delete(
            &format!("ikp-leader-{prefix}"),
            &kube::api::DeleteParams::default(),
        )
        .await;
}

async fn post(plugin: &Plugin, path: &str, body: &Value) -> serve_common::Reply {
    plugin
        .request("POST", path, Some(body))
        .await
        .unwrap_or_else(|err| panic!("{path} answered nothing: {err}"))
}

/// Waits until nothing of the pods `uids` is left in `ns` (pods being deleted do not count: kwok
/// removes them).
async fn assert_nothing_left(client: &kube::Client, ns: &str, uids: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut left = Vec::new();
        for uid in uids {
            left.extend(owned_objects(client, ns, uid).await);
        }
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Create through one replica; status, logs and delete through the other; then the other way round.
/// Relies on: pod/ConfigMap/Secret create, get, list by label and delete; a label-selected pod watch on
/// every replica (each one's status cache sees the other's pods); kwok marking pods Running and serving
/// `pods/log`; pods with a deletionTimestamp removed by kwok.
#[tokio::test]
async fn any_replica_answers_for_pods_created_through_another() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-replicas").await else {
        return;
    };
    let client = cluster.client();
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let prefix = own_prefix("replicas");
    let mut a = replica(&identity, "replica-a", &prefix, &ns).await;
    let mut b = replica(&identity, "replica-b", &prefix, &ns).await;

    for (creator, other) in [(&a, &b), (&b, &a)] {
        let uid = new_uid();
        let body = fixture("microservice-pod", ns.name(), &uid);
        let pod = pod_of(&body);
        let created = post(creator, "/create", &body).await;
        assert_eq!(created.status, 200, "{}", created.text());

        let entry = wait_status(
            other,
            &pod,
            "Running through the other replica",
            all_running,
        )
        .await;
        assert_eq!(entry["UID"], json!(uid));
        assert!(entry["JID"].as_str().is_some_and(|jid| !jid.is_empty()));

        let logs = other
            .request(
                "GET",
                "/getLogs",
                Some(&log_request(&pod, "httpbin", json!({"Tail": 1}))),
            )
            .await
            .expect("logs");
        assert_eq!(logs.status, 200, "{}", logs.text());
        assert!(logs.text().contains(LOG_LINE), "{}", logs.text());

        let deleted = post(other, "/delete", &pod).await;
        assert_eq!(deleted.status, 200, "{}", deleted.text());
        assert_nothing_left(&client, ns.name(), std::slice::from_ref(&uid)).await;
        // The creator's watch saw the pod go without a /delete of its own; the Virtual Kubelet no longer
        // asks about a pod deleted through InterLink, so that alone is no reason to warn.
        wait_for(
            "the creator's cache to drop the pod",
            Duration::from_secs(20),
            || async { (creator.metric("ikp_offloaded_pods").await == 0.0).then_some(()) },
        )
        .await;
        let warned_before = creator.log_text().matches(VANISHED_WARNING).count();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            creator.log_text().matches(VANISHED_WARNING).count(),
            warned_before,
            "a pod deleted through another replica was reported as vanished"
        );
        // Asked about it anyway (as for a pod deleted outside InterLink), the creator reports it gone
        // and warns then, once.
        let mut running = pod.clone();
        running["status"] = json!({"phase": "Running"});
        for _ in 0..2 {
            let gone = wait_status(creator, &running, "gone on the creator", |_| true).await;
            assert_eq!(
                gone["containers"][0]["state"]["terminated"]["reason"], "RemotePodMissing",
                "{gone}"
            );
        }
        assert_eq!(
            creator.log_text().matches(VANISHED_WARNING).count(),
            warned_before + 1
        );
    }
    assert!(a.stop().success());
    assert!(b.stop().success());
    remove_leader_lease(&client, &prefix).await;
}

/// The sweep runs on the replica holding the leader Lease only; when that one stops renewing (killed:
/// nothing released), the other takes the Lease over after its duration and sweeps; a replica that shuts
/// down cleanly releases the Lease.
/// Relies on: Lease get/create/update with resourceVersion preconditions (409 Conflict on a stale write)
/// through the offloading ServiceAccount.
#[tokio::test]
async fn sweep_runs_on_one_replica_and_moves_when_its_leader_stops() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-leader").await else {
        return;
    };
    let client = cluster.client();
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let prefix = own_prefix("leader");
    let mut replicas = [
        replica(&identity, "leader-a", &prefix, &ns).await,
        replica(&identity, "leader-b", &prefix, &ns).await,
    ];

    let leader = wait_for("one leader", Duration::from_secs(20), || async {
        let mut leading = Vec::new();
        for (i, plugin) in replicas.iter().enumerate() {
            if plugin.metric("ikp_leader").await == 1.0
                && plugin.metric("ikp_orphan_sweeps").await >= 1.0
            {
                leading.push(i);
            }
        }
        (leading.len() == 1).then(|| leading[0])
    })
    .await;
    let follower = 1 - leader;
    let sweeps = replicas[leader].metric("ikp_orphan_sweeps").await;
    // For several renewal periods: still one leader, and the follower never swept. A renewal once counted
    // as a change of leadership and started a sweep each time: the leader sweeps again only after the
    // sweep interval (over a minute), so its count stays put.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(replicas[leader].metric("ikp_leader").await, 1.0);
        assert_eq!(replicas[follower].metric("ikp_leader").await, 0.0);
        assert_eq!(replicas[follower].metric("ikp_orphan_sweeps").await, 0.0);
    }
    assert_eq!(
        replicas[leader].metric("ikp_orphan_sweeps").await,
        sweeps,
        "renewals of the Lease started sweeps"
    );
    let lease = leader_lease(&client, &prefix).await.expect("leader Lease");
    let spec = lease.spec.expect("spec");
    assert!(
        spec.holder_identity
            .as_deref()
            .is_some_and(|holder| holder.ends_with(&format!("_{}", replicas[leader].pid()))),
        "{spec:?}"
    );
    assert_eq!(spec.lease_duration_seconds, Some(LEASE_SECONDS as i32));

    // The leader dies without releasing: the follower takes over once the Lease has not been renewed
    // for its duration, and sweeps at once.
    let killed_at = Instant::now();
    replicas[leader].kill();
    wait_for("takeover", Duration::from_secs(20), || async {
        (replicas[follower].metric("ikp_leader").await == 1.0
            && replicas[follower].metric("ikp_orphan_sweeps").await >= 1.0)
            .then_some(())
    })
    .await;
    let took = killed_at.elapsed();
    assert!(
        took >= Duration::from_secs(LEASE_SECONDS) - Duration::from_millis(500),
        "taken over after {took:?}, before the Lease could expire"
    );
    let spec = leader_lease(&client, &prefix)
        .await
        .and_then(|lease| lease.spec)
        .expect("lease spec");
    assert!(
        spec.holder_identity
            .as_deref()
            .is_some_and(|holder| holder.ends_with(&format!("_{}", replicas[follower].pid()))),
        "{spec:?}"
    );
    assert!(spec.lease_transitions.unwrap_or(0) >= 1, "{spec:?}");
    assert!(
        replicas[follower].log_text().contains("taking it over"),
        "the takeover is logged"
    );

    // A clean shutdown hands the Lease back.
    assert!(replicas[follower].stop().success());
    let spec = leader_lease(&client, &prefix)
        .await
        .and_then(|lease| lease.spec)
        .expect("lease spec");
    assert_eq!(spec.holder_identity, None, "{spec:?}");
    remove_leader_lease(&client, &prefix).await;
}

/// A `/create` on one replica raced by a `/delete` of the same pod on another once left the create's
/// objects behind: each replica's per-pod lock only serialised calls reaching that replica. Rounds with
/// the delete sent at different moments of the create, alternating which replica gets which call.
/// Relies on: pod/ConfigMap/Secret/Lease create, get, list by label and delete, a list reading every write
/// committed before it, and kwok removing pods being deleted (those are not counted).
#[tokio::test]
async fn create_racing_a_delete_on_another_replica_leaves_nothing() {
    let Some((cluster, ns)) = TestCluster::with_namespace("serve-replica-race").await else {
        return;
    };
    let client = cluster.client();
    let identity = RemoteIdentity::from_deploy(&cluster, &ns, &[OFFLOAD_ROLES]).await;
    let prefix = own_prefix("race");
    let a = replica(&identity, "race-a", &prefix, &ns).await;
    let b = replica(&identity, "race-b", &prefix, &ns).await;
    let delays_ms = [0, 5, 15, 30, 0, 60, 10, 90, 20, 0, 45, 120, 0, 25, 180, 8];
    let mut uids = Vec::new();
    for (round, delay) in delays_ms.into_iter().enumerate() {
        let (creator, deleter) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let uid = new_uid();
        let create = fixture("microservice-pod", ns.name(), &uid);
        let delete = pod_of(&create);
        let (created, deleted) = tokio::join!(post(creator, "/create", &create), async {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            post(deleter, "/delete", &delete).await
        });
        assert_eq!(
            deleted.status,
            200,
            "round {round}, delete after {delay} ms: {}",
            deleted.text()
        );
        assert!(
            matches!(created.status, 200 | 409),
            "round {round}, create raced by a delete after {delay} ms: {} {}",
            created.status,
            created.text()
        );
        uids.push(uid);
    }
    assert_nothing_left(&client, ns.name(), &uids).await;
    // And nothing comes back: a create that finished after its delete has undone itself by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_nothing_left(&client, ns.name(), &uids).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let live = pods
        .list(
            &kube::api::ListParams::default()
                .labels(&format!("interlink.io/plugin-instance={prefix}")),
        )
        .await
        .expect("list")
        .items
        .into_iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .count();
    assert_eq!(live, 0);
    drop((a, b));
    remove_leader_lease(&client, &prefix).await;
}
