//! `ikp apply --take-ownership` over releases installed by real Helm 3.19 (client-side apply) and Helm
//! 4.1 (server-side apply), then `helm uninstall` and `ikp uninstall`, on the project's test control plane.
//!
//! Helm installs `benches/helm-gateway`, the Go-template twin of the built-in gateway chart (it renders
//! the same bytes as `ikp render`, except `app.kubernetes.io/managed-by`).
//!
//! The Helm binaries come from `IKP_TEST_HELM` and `IKP_TEST_HELM4`, else `target/tools/helm` and
//! `target/tools/helm4` (`tests/tools/install-helm target/tools`, which `.ci/run` runs). Without them the
//! tests are skipped with a SKIPPED line, except under `CI=true`, where they fail.
//!
//! Node ports 30611–30620 are reserved for this file.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use ikp::deploy::helm::{HELM_FIELD_MANAGER, HELM_RELEASE_NAME_ANNOTATION, RETIRED_LABEL};
use ikp::deploy::inventory;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};
use support::cluster::{TestCluster, wait_for};

/// Throwaway public key (`examples/id_ed25519.pub`); it protects nothing.
const PUBLIC_KEY_FILE: &str = "examples/id_ed25519.pub";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn running_in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"))
        .unwrap_or(false)
}

/// The Helm binary named by `env` (or `target/tools/<file>`); `None` (with a SKIPPED line) when there is
/// none outside CI. In CI a missing Helm fails the test.
fn helm_binary(env: &str, file: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/tools").join(file));
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "no Helm binary at {} (set {env}, or run `tests/tools/install-helm target/tools`)",
        path.display()
    );
    if running_in_ci() {
        panic!("{why}; in CI the Helm take-over tests must run");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED (needs Helm): {why}");
    None
}

fn run(mut cmd: StdCommand) -> std::process::Output {
    let shown = format!("{cmd:?}");
    cmd.output().unwrap_or_else(|e| panic!("{shown}: {e}"))
}

fn text(output: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn helm(helm: &Path, cluster: &TestCluster, args: &[&str]) -> std::process::Output {
    let mut cmd = StdCommand::new(helm);
    cmd.current_dir(repo())
        .args(args)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        // Helm keeps caches and plugins here; never the developer's own.
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("ikp-test-helm/cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("ikp-test-helm/config"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("ikp-test-helm/data"),
        );
    run(cmd)
}

/// UIDs of the release's Deployment, ConfigMap and Services, by `Kind/name`.
async fn uids(client: &kube::Client, ns: &str, release: &str) -> Vec<(String, String)> {
    let lp = ListParams::default().labels(&format!("app.kubernetes.io/instance={release}"));
    let mut out = Vec::new();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for o in deployments.list(&lp).await.expect("list").items {
        out.push((
            format!("Deployment/{}", o.name_any()),
            o.uid().unwrap_or_default(),
        ));
    }
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for o in configmaps.list(&lp).await.expect("list").items {
        out.push((
            format!("ConfigMap/{}", o.name_any()),
            o.uid().unwrap_or_default(),
        ));
    }
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    for o in services.list(&lp).await.expect("list").items {
        out.push((
            format!("Service/{}", o.name_any()),
            o.uid().unwrap_or_default(),
        ));
    }
    out.sort();
    out
}

async fn pod_names(client: &kube::Client, ns: &str, release: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("app.kubernetes.io/instance={release}"));
    let mut names: Vec<String> = pods
        .list(&lp)
        .await
        .expect("list pods")
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    names
}

/// Names of the release's ReplicaSets: a new one appears whenever the Deployment rolls out.
async fn replica_sets(client: &kube::Client, ns: &str, release: &str) -> Vec<String> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("app.kubernetes.io/instance={release}"));
    let mut names: Vec<String> = api
        .list(&lp)
        .await
        .expect("list replica sets")
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    names
}

/// Managers of an object's fields and its annotations.
fn managers<K: Resource>(object: &K) -> Vec<String> {
    object
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect()
}

/// Install with `helm_path` (`extra` flags), upgrade once (two Helm revisions), take over with ikp, then
/// check the object identities, field managers, `helm uninstall` and `ikp uninstall`.
///
/// Relies on: SSA with force taking fields from an Update manager (Helm 3) and from another Apply manager
/// (Helm 4); a merge PATCH that sets `metadata.managedFields` replacing them as sent; label selectors on
/// Secrets; a Deployment rolling out only when its pod template changes; kwok running the pods.
async fn take_over(helm_path: &Path, prefix: &str, port: u16, extra: &[&str]) {
    let Some((cluster, ns)) = TestCluster::with_namespace(prefix).await else {
        return;
    };
    let client = cluster.client();
    let release = "gw";
    let port_value = format!("service.port={port}");
    let key_file = format!("ssh.publicKey={PUBLIC_KEY_FILE}");
    let mut install = vec![
        "install",
        release,
        "benches/helm-gateway",
        "-n",
        ns.name(),
        "--set-file",
        &key_file,
        "--set",
        &port_value,
    ];
    install.extend_from_slice(extra);
    let out = helm(helm_path, &cluster, &install);
    assert!(out.status.success(), "helm install: {}", text(&out));
    let mut upgrade = vec![
        "upgrade",
        release,
        "benches/helm-gateway",
        "-n",
        ns.name(),
        "--set-file",
        &key_file,
        "--set",
        &port_value,
    ];
    upgrade.extend_from_slice(extra);
    let out = helm(helm_path, &cluster, &upgrade);
    assert!(out.status.success(), "helm upgrade: {}", text(&out));

    let pods_before = wait_for("the gateway pod", Duration::from_secs(60), || async {
        let names = pod_names(&client, ns.name(), release).await;
        (names.len() == 1).then_some(names)
    })
    .await;
    let uids_before = uids(&client, ns.name(), release).await;
    assert!(uids_before.len() >= 3, "{uids_before:?}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let replica_sets_before = replica_sets(&client, ns.name(), release).await;
    assert_eq!(replica_sets_before.len(), 1, "{replica_sets_before:?}");

    // `ikp list --all` offers the Helm release.
    let listed = cluster
        .ikp()
        .args(["list", "--all", "-n", ns.name()])
        .output()
        .expect("list");
    let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("gw ") && l.contains("gateway-1.0.0") && l.ends_with(" helm")),
        "{listing}"
    );

    let ikp_args = |extra: &[&str]| {
        let mut args: Vec<String> = ["apply", release, "gateway", "-n", ns.name(), "--set-file"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(key_file.clone());
        args.push("--set".into());
        args.push(port_value.clone());
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    // Without the flag: refused, naming the Helm release and the flag; nothing changes.
    let refused = cluster.ikp().args(ikp_args(&[])).output().expect("apply");
    let refusal = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        refusal.contains("is a Helm release") && refusal.contains("--take-ownership"),
        "{refusal}"
    );
    assert!(
        inventory::load(&client, ns.name(), release)
            .await
            .expect("load")
            .is_none(),
        "a refused take-over records nothing"
    );

    // `ikp diff --take-ownership` previews the take-over: every rendered object is noted as taken over
    // from the Helm release, the Deployment's pod template does not change, and nothing is applied.
    let mut diff_args = ikp_args(&["--take-ownership", "-o", "json"]);
    diff_args[0] = "diff".into();
    let diff = cluster.ikp().args(&diff_args).output().expect("diff");
    support::logs::record("diff --take-ownership of a Helm release", &diff);
    assert_eq!(diff.status.code(), Some(1), "{}", text(&diff));
    let report: serde_json::Value = serde_json::from_slice(&diff.stdout).expect("diff JSON");
    let changed = report["changed"].as_array().expect("changed");
    assert!(changed.len() >= 3, "{report}");
    let helm_owner = format!("Helm release \"{}/{release}\"", ns.name());
    for entry in changed {
        assert_eq!(entry["action"], "update", "{entry}");
        assert!(
            entry["note"]
                .as_str()
                .is_some_and(|n| n.contains(&helm_owner)),
            "{entry}"
        );
        assert!(
            !entry["diff"]
                .as_str()
                .unwrap_or("")
                .contains("+    meta.helm.sh"),
            "{entry}"
        );
        if entry["kind"] == "Deployment" {
            let fields = entry["fields"].as_array().expect("fields");
            assert!(
                !fields.iter().any(|f| f == "spec.template"),
                "the take-over would change the pod template: {entry}"
            );
        }
    }
    assert_eq!(uids(&client, ns.name(), release).await, uids_before);
    assert!(
        inventory::load(&client, ns.name(), release)
            .await
            .expect("load")
            .is_none(),
        "a diff records nothing"
    );

    let taken = cluster
        .ikp()
        .args(ikp_args(&["--take-ownership"]))
        .output()
        .expect("apply");
    assert!(taken.status.success(), "{}", text(&taken));

    // Same objects, same pod, no rollout (the annotation changes bump the Deployment's generation, but
    // its pod template is unchanged, so no new ReplicaSet).
    assert_eq!(uids(&client, ns.name(), release).await, uids_before);
    let deployment = deployments.get("gw-gateway").await.expect("deployment");
    assert_eq!(
        replica_sets(&client, ns.name(), release).await,
        replica_sets_before
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pod_names(&client, ns.name(), release).await, pods_before);

    // ikp owns every field Helm set; Helm's annotations are gone.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let services: Api<Service> = Api::namespaced(client.clone(), ns.name());
    let mut objects: Vec<(String, Vec<String>, ObjectMeta)> = vec![(
        "Deployment".into(),
        managers(&deployment),
        deployment.metadata.clone(),
    )];
    let cm = configmaps.get("gw-gateway").await.expect("configmap");
    objects.push(("ConfigMap".into(), managers(&cm), cm.metadata.clone()));
    for svc in services
        .list(&ListParams::default().labels("app.kubernetes.io/instance=gw"))
        .await
        .expect("services")
        .items
    {
        objects.push((
            format!("Service {}", svc.name_any()),
            managers(&svc),
            svc.metadata.clone(),
        ));
    }
    for (what, managers, meta) in &objects {
        assert!(managers.iter().any(|m| m == "ikp"), "{what}: {managers:?}");
        assert!(
            !managers.iter().any(|m| m == HELM_FIELD_MANAGER),
            "{what}: {managers:?}"
        );
        let annotations = meta.annotations.clone().unwrap_or_default();
        assert!(
            !annotations.contains_key(HELM_RELEASE_NAME_ANNOTATION),
            "{what}: {annotations:?}"
        );
        assert_eq!(
            meta.labels.clone().unwrap_or_default()["app.kubernetes.io/managed-by"],
            "ikp",
            "{what}"
        );
    }

    // ikp's record summarises Helm's two revisions; Helm's Secrets are kept but retired.
    let record = inventory::load(&client, ns.name(), release)
        .await
        .expect("load")
        .expect("ikp record");
    let origin = record.helm.expect("Helm origin recorded");
    let numbers: Vec<u32> = origin.revisions.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(origin.revisions[1].status, "deployed");
    assert_eq!(origin.revisions[1].chart, "gateway-1.0.0");
    assert_eq!(record.revisions.len(), 1);
    assert!(
        record.revisions[0].description.contains("Helm revision 2"),
        "{:?}",
        record.revisions[0]
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let retired = secrets
        .list(&ListParams::default().labels(&format!("{RETIRED_LABEL}=gw")))
        .await
        .expect("secrets");
    assert_eq!(retired.items.len(), 2);

    // A second apply with the same values changes nothing and needs no flag.
    let again = cluster.ikp().args(ikp_args(&[])).output().expect("apply");
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        replica_sets(&client, ns.name(), release).await,
        replica_sets_before
    );
    assert_eq!(pod_names(&client, ns.name(), release).await, pods_before);

    // Helm no longer knows the release: its uninstall deletes nothing.
    let helm_uninstall = helm(
        helm_path,
        &cluster,
        &["uninstall", release, "-n", ns.name()],
    );
    assert!(
        !helm_uninstall.status.success(),
        "{}",
        text(&helm_uninstall)
    );
    assert!(
        String::from_utf8_lossy(&helm_uninstall.stderr).contains("not found"),
        "{}",
        text(&helm_uninstall)
    );
    assert_eq!(uids(&client, ns.name(), release).await, uids_before);

    // ikp's uninstall removes everything.
    let removed = cluster
        .ikp()
        .args(["uninstall", release, "-n", ns.name()])
        .output()
        .expect("uninstall");
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(uids(&client, ns.name(), release).await.is_empty());
    assert!(
        inventory::load(&client, ns.name(), release)
            .await
            .expect("load")
            .is_none()
    );
}

#[tokio::test]
async fn take_over_a_helm3_release_in_place() {
    let Some(helm) = helm_binary("IKP_TEST_HELM", "helm") else {
        return;
    };
    take_over(&helm, "helm3-takeover", 30611, &[]).await;
}

#[tokio::test]
async fn take_over_a_helm4_server_side_release_in_place() {
    let Some(helm) = helm_binary("IKP_TEST_HELM4", "helm4") else {
        return;
    };
    take_over(&helm, "helm4-takeover", 30612, &["--server-side=true"]).await;
}

/// An object that exists but was made by neither ikp nor Helm is refused, naming it and the flag; with
/// `--take-ownership` it is taken over in place.
///
/// Relies on: SSA with force over an object created by a plain create (manager `ikp-test`).
#[tokio::test]
async fn objects_nobody_released_need_take_ownership() {
    let Some((cluster, ns)) = TestCluster::with_namespace("helm-notmanaged").await else {
        return;
    };
    let client = cluster.client();
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let existing = ConfigMap {
        metadata: ObjectMeta {
            name: Some("stray-gateway".into()),
            ..ObjectMeta::default()
        },
        data: Some([("PUBLIC_KEY".to_string(), "old".to_string())].into()),
        ..ConfigMap::default()
    };
    let created = configmaps
        .create(
            &PostParams {
                field_manager: Some("ikp-test".into()),
                ..PostParams::default()
            },
            &existing,
        )
        .await
        .expect("create");
    let args = |extra: &[&str]| {
        let mut args: Vec<String> = ["apply", "stray", "gateway", "-n", ns.name(), "--set-file"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(format!(
            "ssh.publicKey={}",
            repo().join(PUBLIC_KEY_FILE).display()
        ));
        args.extend(["--set".into(), "service.port=30613".into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let refused = cluster.ikp().args(args(&[])).output().expect("apply");
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        stderr.contains("ConfigMap")
            && stderr.contains("stray-gateway")
            && stderr.contains("not made by ikp or Helm")
            && stderr.contains("--take-ownership"),
        "{stderr}"
    );
    assert_eq!(
        configmaps.get("stray-gateway").await.expect("get").data,
        existing.data,
        "nothing changed"
    );
    // `ikp diff` refuses the object as apply does (exit 2); `--take-ownership` previews the take-over.
    let diff_args = |extra: &[&str]| {
        let mut args = args(extra);
        args[0] = "diff".into();
        args
    };
    let refused = cluster.ikp().args(diff_args(&[])).output().expect("diff");
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--take-ownership"),
        "{}",
        text(&refused)
    );
    let preview = cluster
        .ikp()
        .args(diff_args(&["--take-ownership"]))
        .output()
        .expect("diff");
    support::logs::record("diff --take-ownership of a stray object", &preview);
    assert_eq!(preview.status.code(), Some(1), "{}", text(&preview));
    let shown = String::from_utf8_lossy(&preview.stdout).into_owned();
    assert!(
        shown.contains(&format!(
            "# ConfigMap {}/stray-gateway: --take-ownership takes it over (made by neither ikp nor Helm)",
            ns.name()
        )),
        "{shown}"
    );
    assert!(shown.contains("-  PUBLIC_KEY: old"), "{shown}");
    assert_eq!(
        configmaps.get("stray-gateway").await.expect("get").data,
        existing.data,
        "a diff changes nothing"
    );
    let taken = cluster
        .ikp()
        .args(args(&["--take-ownership"]))
        .output()
        .expect("apply");
    assert!(taken.status.success(), "{}", text(&taken));
    let cm = configmaps.get("stray-gateway").await.expect("get");
    assert_eq!(cm.uid(), created.uid());
    assert_ne!(cm.data, existing.data);
}
