//! `ikp::deploy` against the project's test control plane (etcd + kube-apiserver v1.36 + controller-manager
//! + scheduler + kwok), one namespace per test.
//!
//! The plans are built from manifests shaped exactly like the gateway/bastion charts' output (the seed
//! examples of `charts.md`), with node ports chosen per test so tests can run in parallel.
//!
//! API behaviours relied on, per test, are listed in each test's doc comment. Common to all: server-side
//! apply (`PATCH` with `application/apply-patch+yaml`, `fieldManager`, `force`), discovery of core/v1 and
//! apps/v1, `metadata.managedFields` reporting, delete with background propagation.

mod support;

use std::time::{Duration, Instant};

use ikp::deploy::{
    self, ApplyError, ApplyOptions, DiffOptions, ObjectChange, ObjectRef, PlanMeta, ReleasePlan,
    RenderedManifest, Reporter, RevisionStatus, UninstallOptions, inventory,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use support::cluster::TestCluster;

/// Gateway chart inputs that change between tests.
#[derive(Clone)]
struct Gateway {
    release: String,
    node_port: u16,
    tunnel: Option<(u16, u16)>,
    node_selector: Option<(&'static str, &'static str)>,
    extra_selector_label: bool,
    user: &'static str,
}

impl Gateway {
    fn new(release: &str, node_port: u16) -> Self {
        Gateway {
            release: release.to_string(),
            node_port,
            tunnel: None,
            node_selector: None,
            extra_selector_label: false,
            user: "interlink-user",
        }
    }

    fn labels(&self, indent: &str) -> String {
        [
            "helm.sh/chart: gateway-1.0.0",
            "app.kubernetes.io/name: gateway",
            &format!("app.kubernetes.io/instance: {}", self.release),
            "app.kubernetes.io/version: \"1.0.0\"",
            "app.kubernetes.io/managed-by: ikp",
            "interlink.io/role: gateway",
        ]
        .iter()
        .map(|l| format!("{indent}{l}\n"))
        .collect()
    }

    fn manifests(&self) -> Vec<RenderedManifest> {
        let r = &self.release;
        let full = format!("{r}-gateway");
        let labels = self.labels("    ");
        let mut docs = vec![
            (
                "gateway/templates/configMap.yaml",
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {full}\n  labels:\n{labels}data:\n  \
                     PUBLIC_KEY: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyForTests test\n  USER_NAME: {}\n",
                    self.user
                ),
            ),
            (
                "gateway/templates/service.yaml",
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {full}\n  labels:\n{labels}spec:\n  type: ClusterIP\n  \
                     clusterIP: None\n  ports:\n    - port: 2222\n      targetPort: 2222\n      protocol: TCP\n  \
                     selector:\n    app.kubernetes.io/name: gateway\n    app.kubernetes.io/instance: {r}\n"
                ),
            ),
            (
                "gateway/templates/service.yaml",
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {full}-nodeport\n  labels:\n{labels}spec:\n  \
                     type: NodePort\n  ports:\n    - port: 2222\n      targetPort: 2222\n      nodePort: {}\n      \
                     protocol: TCP\n  selector:\n    app.kubernetes.io/name: gateway\n    \
                     app.kubernetes.io/instance: {r}\n    interlink.io/role: gateway\n",
                    self.node_port
                ),
            ),
        ];
        if let Some((source_port, node_port)) = self.tunnel {
            docs.push((
                "gateway/templates/service.yaml",
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {full}-{node_port}\n  labels:\n{labels}spec:\n  \
                     type: NodePort\n  ports:\n    - port: {source_port}\n      targetPort: {source_port}\n      \
                     nodePort: {node_port}\n      protocol: TCP\n  selector:\n    app.kubernetes.io/name: gateway\n    \
                     app.kubernetes.io/instance: {r}\n    interlink.io/role: gateway\n"
                ),
            ));
        }
        let extra = if self.extra_selector_label {
            "      tier: tunnel\n"
        } else {
            ""
        };
        let pod_extra = if self.extra_selector_label {
            "        tier: tunnel\n"
        } else {
            ""
        };
        let node_selector = match self.node_selector {
            Some((k, v)) => format!("      nodeSelector:\n        {k}: \"{v}\"\n"),
            None => String::new(),
        };
        docs.push((
            "gateway/templates/deployment.yaml",
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {full}\n  labels:\n{labels}spec:\n  \
                 replicas: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: gateway\n      \
                 app.kubernetes.io/instance: {r}\n      interlink.io/role: gateway\n{extra}  template:\n    \
                 metadata:\n      labels:\n{}{pod_extra}    spec:\n{node_selector}      containers:\n        \
                 - name: openssh-server\n          image: \"docker.io/mginfn/openssh-server:latest\"\n          \
                 imagePullPolicy: IfNotPresent\n          ports:\n            - containerPort: 2222\n          \
                 envFrom:\n            - configMapRef:\n                name: {full}\n",
                self.labels("        ")
            ),
        ));
        docs.into_iter()
            .map(|(source, yaml)| RenderedManifest::from_yaml(source, &yaml).expect("fixture YAML"))
            .collect()
    }

    fn plan(&self, namespace: &str) -> ReleasePlan {
        let digest = deploy::plan::values_digest(&serde_json::json!({
            "nodePort": self.node_port, "tunnel": self.tunnel.map(|t| vec![t.0, t.1]), "user": self.user
        }));
        let meta = PlanMeta {
            name: self.release.clone(),
            namespace: namespace.to_owned(),
            chart_name: "gateway".into(),
            chart_version: "1.0.0".into(),
            app_version: Some("1.0.0".into()),
            values_digest: digest,
        };
        ReleasePlan::from_manifests(meta, &self.manifests(), Some("gateway notes".to_string()))
            .expect("fixture manifests are valid")
    }
}

/// A bastion-shaped release: a Secret holding a (fake) private key, a ConfigMap and a Deployment.
fn bastion_plan(release: &str, namespace: &str, key_b64: &str) -> ReleasePlan {
    let full = format!("{release}-bastion");
    let docs = [
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {full}\n  labels:\n    app.kubernetes.io/name: bastion\n    \
             app.kubernetes.io/instance: {release}\ntype: Opaque\ndata:\n  SSH_PRIVATE_KEY: {key_b64}\n"
        ),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {full}\ndata:\n  GATEWAY_HOST: \"10.0.0.1\"\n"
        ),
    ];
    let manifests: Vec<RenderedManifest> = docs
        .iter()
        .map(|yaml| {
            RenderedManifest::from_yaml("bastion/templates/x.yaml", yaml).expect("fixture YAML")
        })
        .collect();
    let meta = PlanMeta {
        name: release.to_owned(),
        namespace: namespace.to_owned(),
        chart_name: "bastion".into(),
        chart_version: "1.0.0".into(),
        app_version: None,
        values_digest: "digest".into(),
    };
    ReleasePlan::from_manifests(meta, &manifests, None).expect("fixture manifests are valid")
}

/// Records every reporter call, so tests can see progress output without a terminal.
#[derive(Default)]
struct Recorder {
    changes: Vec<(String, ObjectChange)>,
    waits: Vec<String>,
    notes: Vec<String>,
}

impl Reporter for Recorder {
    fn changed(&mut self, object: &ObjectRef, change: ObjectChange) {
        self.changes.push((object.name.clone(), change));
    }
    fn waiting(&mut self, object: &ObjectRef, waiting_for: &str, _elapsed: Duration) {
        self.waits.push(format!("{object}: {waiting_for}"));
    }
    fn note(&mut self, message: &str) {
        self.notes.push(message.to_string());
    }
}

fn opts() -> ApplyOptions {
    ApplyOptions::default()
}

async fn names_with_release_label<K>(client: &Client, ns: &str, release: &str) -> Vec<String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("app.kubernetes.io/instance={release}"));
    api.list(&lp)
        .await
        .expect("list")
        .items
        .iter()
        .map(|o| o.name_any())
        .collect()
}

/// Whether a Service exists.
async fn service_exists(client: &Client, ns: &str, name: &str) -> bool {
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    services.get_opt(name).await.expect("get service").is_some()
}

/// `USER_NAME` of a gateway ConfigMap.
async fn user_name(client: &Client, ns: &str, name: &str) -> String {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = configmaps.get(name).await.expect("get configmap");
    cm.data
        .unwrap_or_default()
        .remove("USER_NAME")
        .unwrap_or_default()
}

/// Asserts that no Service, ConfigMap or Deployment carries the release label and no inventory exists.
async fn assert_release_gone(client: &Client, ns: &str, release: &str) {
    let services = names_with_release_label::<Service>(client, ns, release).await;
    let configmaps = names_with_release_label::<ConfigMap>(client, ns, release).await;
    let deployments = names_with_release_label::<Deployment>(client, ns, release).await;
    assert!(
        services.is_empty() && configmaps.is_empty() && deployments.is_empty(),
        "left behind: {services:?} {configmaps:?} {deployments:?}"
    );
    let record = inventory::load(client, ns, release).await.expect("load");
    assert!(record.is_none(), "inventory left behind: {record:?}");
}

/// Install of the seed example: every object exists, is managed by field manager `ikp` through an Apply
/// operation, carries the release labels/annotation, and the inventory records revision 1 with uids.
///
/// Relies on: SSA creating objects; `managedFields` entries with `manager`/`operation`; NodePort allocation
/// of an explicit nodePort (30222/30181 from the seed example; no other test uses them).
#[tokio::test]
async fn install_seed_gateway_is_applied_by_field_manager_ikp() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-install").await else {
        return;
    };
    let client = cluster.client();
    let mut gw = Gateway::new("msoff", 30222);
    gw.tunnel = Some((8181, 30181));
    let plan = gw.plan(ns.name());
    let mut recorder = Recorder::default();
    let outcome = deploy::apply_release(&client, &plan, &opts(), &mut recorder)
        .await
        .expect("apply");
    assert_eq!(outcome.revision, 1);
    assert!(
        outcome
            .changes
            .iter()
            .all(|(_, c)| *c == ObjectChange::Created),
        "{:?}",
        outcome.changes
    );

    let services: Api<Service> = Api::namespaced(client.clone(), ns.name());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let mut live: Vec<(String, Vec<kube::api::ObjectMeta>)> = Vec::new();
    live.push((
        "cm".into(),
        vec![
            configmaps
                .get("msoff-gateway")
                .await
                .expect("configmap")
                .metadata,
        ],
    ));
    let mut svc = Vec::new();
    for name in [
        "msoff-gateway",
        "msoff-gateway-nodeport",
        "msoff-gateway-30181",
    ] {
        svc.push(
            services
                .get(name)
                .await
                .unwrap_or_else(|e| panic!("service {name}: {e}"))
                .metadata,
        );
    }
    live.push(("svc".into(), svc));
    live.push((
        "deploy".into(),
        vec![
            deployments
                .get("msoff-gateway")
                .await
                .expect("deployment")
                .metadata,
        ],
    ));
    for meta in live.iter().flat_map(|(_, m)| m) {
        let name = meta.name.clone().unwrap_or_default();
        let managers: Vec<(String, String)> = meta
            .managed_fields
            .iter()
            .flatten()
            .map(|m| {
                (
                    m.manager.clone().unwrap_or_default(),
                    m.operation.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert!(
            managers.contains(&("ikp".to_string(), "Apply".to_string())),
            "{name}: managers {managers:?}"
        );
        let labels = meta.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("app.kubernetes.io/instance").map(String::as_str),
            Some("msoff"),
            "{name}"
        );
        assert_eq!(
            labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("ikp"),
            "{name}"
        );
        let annotations = meta.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations
                .get(deploy::RELEASE_NAME_ANNOTATION)
                .map(String::as_str),
            Some("msoff")
        );
    }

    let record = inventory::load_existing(&client, ns.name(), "msoff")
        .await
        .expect("inventory");
    let latest = record.latest().expect("a revision");
    assert_eq!(
        (latest.revision, latest.status),
        (1, RevisionStatus::Deployed)
    );
    assert_eq!(latest.objects.len(), 5);
    let deployment_uid = deployments
        .get("msoff-gateway")
        .await
        .expect("deployment")
        .uid();
    let recorded = latest
        .objects
        .iter()
        .find(|o| o.kind == "Deployment")
        .expect("deployment recorded");
    assert_eq!(recorded.uid, deployment_uid);
    assert_eq!(
        (recorded.group.as_str(), recorded.version.as_str()),
        ("apps", "v1")
    );

    // The inventory is a ConfigMap named after the release, holding references only.
    let inventory_cm = configmaps
        .get("ikp.release.msoff")
        .await
        .expect("inventory configmap");
    let text = serde_json::to_string(&inventory_cm.data).expect("json");
    assert!(
        !text.contains("PUBLIC_KEY") && !text.contains("ssh-ed25519"),
        "{text}"
    );
}

/// Upgrade with `tunnel.service.*` added (the tunnel Service appears), then removed (it is pruned);
/// a no-op re-apply changes nothing.
///
/// Relies on: SSA no-op apply keeping `resourceVersion`; GET 404 after a delete of a Service (Services have
/// no finalizers here, so deletion is immediate).
#[tokio::test]
async fn upgrade_adds_then_prunes_the_tunnel_service() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-prune").await else {
        return;
    };
    let client = cluster.client();
    let mut gw = Gateway::new("prune", 30301);
    deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("install");

    gw.tunnel = Some((8181, 30302));
    let outcome = deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("upgrade");
    assert_eq!(outcome.revision, 2);
    assert!(service_exists(&client, ns.name(), "prune-gateway-30302").await);
    let created: Vec<&str> = outcome
        .changes
        .iter()
        .filter(|(_, c)| *c == ObjectChange::Created)
        .map(|(o, _)| o.name.as_str())
        .collect();
    assert_eq!(created, vec!["prune-gateway-30302"]);

    gw.tunnel = None;
    let outcome = deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("downgrade");
    assert_eq!(outcome.revision, 3);
    let pruned: Vec<&str> = outcome.pruned.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(pruned, vec!["prune-gateway-30302"]);
    assert!(!service_exists(&client, ns.name(), "prune-gateway-30302").await);

    let again = deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("no-op");
    assert!(
        again
            .changes
            .iter()
            .all(|(_, c)| *c == ObjectChange::Unchanged),
        "{:?}",
        again.changes
    );
    assert!(again.pruned.is_empty());

    let record = inventory::load_existing(&client, ns.name(), "prune")
        .await
        .expect("inventory");
    let statuses: Vec<(u32, RevisionStatus)> = record
        .revisions
        .iter()
        .map(|r| (r.revision, r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (1, RevisionStatus::Superseded),
            (2, RevisionStatus::Superseded),
            (3, RevisionStatus::Superseded),
            (4, RevisionStatus::Deployed)
        ]
    );
}

/// History is bounded by `history_max`.
///
/// Relies on: nothing beyond SSA of ConfigMaps.
#[tokio::test]
async fn history_keeps_only_the_newest_revisions() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-history").await else {
        return;
    };
    let client = cluster.client();
    let gw = Gateway::new("hist", 30303);
    let options = ApplyOptions {
        history_max: 2,
        ..opts()
    };
    for _ in 0..4 {
        deploy::apply_release(&client, &gw.plan(ns.name()), &options, &mut ())
            .await
            .expect("apply");
    }
    let record = inventory::load_existing(&client, ns.name(), "hist")
        .await
        .expect("inventory");
    let numbers: Vec<u32> = record.revisions.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, vec![3, 4]);
}

/// A `kubectl edit`-style change (an Update by manager `kubectl-edit`) shows up in `diff` (changes found),
/// a plain re-apply then reports the conflict naming field and owner, `--force-conflicts` resolves it, and
/// `diff` is clean afterwards.
///
/// Relies on: ownership of a field moving to the updating manager on a non-apply PATCH; SSA returning
/// 409 with `FieldManagerConflict` causes; `dryRun=All` SSA returning the merged object without storing it.
#[tokio::test]
async fn diff_shows_drift_then_conflict_then_clean_after_forced_apply() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-diff").await else {
        return;
    };
    let client = cluster.client();
    let gw = Gateway::new("drift", 30304);
    let plan = gw.plan(ns.name());
    deploy::apply_release(&client, &plan, &opts(), &mut ())
        .await
        .expect("install");
    let clean = deploy::diff_release(&client, &plan, &DiffOptions::default())
        .await
        .expect("diff");
    assert!(!clean.has_changes(), "{:?}", clean.changed);
    assert_eq!(clean.unchanged.len(), 4);

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let edit = serde_json::json!({"data": {"USER_NAME": "mallory"}});
    configmaps
        .patch(
            "drift-gateway",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&edit),
        )
        .await
        .expect("edit");

    let drift = deploy::diff_release(&client, &plan, &DiffOptions::default())
        .await
        .expect("diff");
    assert!(drift.has_changes());
    let entry = &drift.changed[0];
    assert_eq!(entry.object.name, "drift-gateway");
    assert!(
        entry.unified.contains("-  USER_NAME: mallory")
            && entry.unified.contains("+  USER_NAME: interlink-user"),
        "{}",
        entry.unified
    );
    assert!(
        !entry.unified.contains("managedFields") && !entry.unified.contains("resourceVersion"),
        "{}",
        entry.unified
    );
    assert!(
        entry
            .note
            .as_deref()
            .is_some_and(|n| n.contains("--force-conflicts")),
        "{:?}",
        entry.note
    );

    let err = deploy::apply_release(&client, &plan, &opts(), &mut ())
        .await
        .expect_err("conflict");
    let text = err.to_string();
    assert!(matches!(err, ApplyError::Conflict { .. }), "{err:?}");
    assert!(
        text.contains(".data.USER_NAME")
            && text.contains("kubectl-edit")
            && text.contains("--force-conflicts"),
        "{text}"
    );
    assert_eq!(
        user_name(&client, ns.name(), "drift-gateway").await,
        "mallory"
    );

    let forced = ApplyOptions {
        force_conflicts: true,
        ..opts()
    };
    deploy::apply_release(&client, &plan, &forced, &mut ())
        .await
        .expect("forced apply");
    assert_eq!(
        user_name(&client, ns.name(), "drift-gateway").await,
        "interlink-user"
    );
    let after = deploy::diff_release(&client, &plan, &DiffOptions::default())
        .await
        .expect("diff");
    assert!(!after.has_changes(), "{:?}", after.changed);
}

/// Another field manager that server-side applies a field ikp also sets: ikp's apply fails naming the
/// field and the owner; with `force_conflicts` ikp takes the field over.
///
/// Relies on: SSA conflict detection between two Apply managers; `force=true` moving ownership.
#[tokio::test]
async fn conflict_with_another_apply_manager_needs_force() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-conflict").await else {
        return;
    };
    let client = cluster.client();
    let mut gw = Gateway::new("conf", 30305);
    deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("install");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let other = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf-gateway"},
        "data": {"USER_NAME": "other-user"}});
    configmaps
        .patch(
            "conf-gateway",
            &PatchParams::apply("other-tool").force(),
            &Patch::Apply(&other),
        )
        .await
        .expect("other manager applies");

    gw.user = "new-user";
    let err = deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect_err("conflict");
    let text = err.to_string();
    assert!(
        text.contains("ConfigMap") && text.contains("conf-gateway"),
        "{text}"
    );
    assert!(
        text.contains(".data.USER_NAME") && text.contains("\"other-tool\""),
        "{text}"
    );
    assert!(text.contains("--force-conflicts"), "{text}");
    let record = inventory::load_existing(&client, ns.name(), "conf")
        .await
        .expect("inventory");
    assert_eq!(
        record.latest().map(|r| r.status),
        Some(RevisionStatus::Failed)
    );

    let forced = ApplyOptions {
        force_conflicts: true,
        ..opts()
    };
    deploy::apply_release(&client, &gw.plan(ns.name()), &forced, &mut ())
        .await
        .expect("forced");
    let cm = configmaps.get("conf-gateway").await.expect("get");
    assert_eq!(cm.data.unwrap_or_default()["USER_NAME"], "new-user");
    let owners: Vec<String> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:data/f:USER_NAME").is_some())
        })
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(owners, vec!["ikp".to_string()]);
}

/// Changing a Deployment's selector is reported as an immutable field with the fix; `force_recreate`
/// deletes and re-creates the Deployment.
///
/// Relies on: apps/v1 Deployment validation rejecting a changed `spec.selector` with 422 and a cause on
/// `spec.selector` mentioning "immutable".
#[tokio::test]
async fn immutable_selector_change_is_reported_with_the_fix() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-immutable").await else {
        return;
    };
    let client = cluster.client();
    let mut gw = Gateway::new("imm", 30306);
    deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("install");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let old_uid = deployments.get("imm-gateway").await.expect("get").uid();

    gw.extra_selector_label = true;
    let err = deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect_err("immutable");
    let text = err.to_string();
    assert!(matches!(err, ApplyError::Immutable { .. }), "{err:?}");
    assert!(
        text.contains("Deployment.apps") && text.contains("imm-gateway"),
        "{text}"
    );
    assert!(
        text.contains("spec.selector") && text.contains("--force-recreate"),
        "{text}"
    );
    assert!(text.contains("set by field manager \"ikp\""), "{text}");

    let recreate = ApplyOptions {
        force_recreate: true,
        ..opts()
    };
    let mut recorder = Recorder::default();
    deploy::apply_release(&client, &gw.plan(ns.name()), &recreate, &mut recorder)
        .await
        .expect("recreate");
    assert!(
        recorder
            .changes
            .contains(&("imm-gateway".to_string(), ObjectChange::Recreated)),
        "{:?}",
        recorder.changes
    );
    let new = deployments.get("imm-gateway").await.expect("get");
    assert_ne!(new.uid(), old_uid);
    let selector = new
        .spec
        .expect("spec")
        .selector
        .match_labels
        .unwrap_or_default();
    assert_eq!(selector.get("tier").map(String::as_str), Some("tunnel"));
}

/// `--wait` succeeds once kwok runs the pod and the Deployment controller marks it available.
///
/// Relies on: kube-controller-manager's Deployment/ReplicaSet controllers, the scheduler binding the pod to
/// the kwok node, kwok's pod-ready stage, Deployment status `availableReplicas`/`observedGeneration`.
#[tokio::test]
async fn wait_succeeds_when_the_deployment_becomes_available() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-wait").await else {
        return;
    };
    let client = cluster.client();
    let gw = Gateway::new("waitok", 30307);
    let options = ApplyOptions {
        wait: true,
        timeout: Duration::from_secs(90),
        ..opts()
    };
    let started = Instant::now();
    let mut recorder = Recorder::default();
    deploy::apply_release(&client, &gw.plan(ns.name()), &options, &mut recorder)
        .await
        .expect("apply --wait");
    eprintln!(
        "wait took {:?}; progress: {:?}",
        started.elapsed(),
        recorder.waits
    );
    let deployment: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let status = deployment
        .get("waitok-gateway")
        .await
        .expect("get")
        .status
        .expect("status");
    assert_eq!(status.available_replicas, Some(1));
}

/// `--wait` with an unschedulable node selector times out naming the Deployment, what it waited for, and
/// the scheduler's complaint.
///
/// Relies on: kube-scheduler emitting a `FailedScheduling` event for a pod whose nodeSelector matches no
/// node; the Deployment controller's `Available=False` condition.
#[tokio::test]
async fn wait_timeout_names_the_blocking_object_and_its_last_event() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-timeout").await else {
        return;
    };
    let client = cluster.client();
    let mut gw = Gateway::new("stuck", 30308);
    gw.node_selector = Some(("ikp.test/no-such-node", "true"));
    let options = ApplyOptions {
        wait: true,
        timeout: Duration::from_secs(8),
        ..opts()
    };
    let err = deploy::apply_release(&client, &gw.plan(ns.name()), &options, &mut ())
        .await
        .expect_err("timeout");
    eprintln!("{err}");
    let ApplyError::WaitTimeout { blockers, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(blockers.len(), 1, "{blockers:?}");
    let blocker = &blockers[0];
    assert!(
        blocker.object.contains("Deployment.apps") && blocker.object.contains("stuck-gateway"),
        "{blocker:?}"
    );
    assert!(blocker.waiting_for.contains("0/1"), "{blocker:?}");
    let event = blocker.last_event.as_deref().unwrap_or("");
    assert!(
        event.contains("FailedScheduling") && event.contains("node"),
        "{blocker:?}"
    );
    let record = inventory::load_existing(&client, ns.name(), "stuck")
        .await
        .expect("inventory");
    assert_eq!(
        record.latest().map(|r| r.status),
        Some(RevisionStatus::Failed)
    );
}

/// `--atomic` on an upgrade whose wait fails restores the previous revision: the Deployment loses the new
/// node selector, the Service the upgrade added is deleted, and the history shows the rollback.
///
/// Relies on: what the wait tests rely on, plus SSA releasing (and so removing) fields the manager no longer
/// applies.
#[tokio::test]
async fn atomic_upgrade_rolls_back_to_the_previous_revision() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-atomic").await else {
        return;
    };
    let client = cluster.client();
    let mut gw = Gateway::new("atom", 30309);
    deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("install");

    gw.node_selector = Some(("ikp.test/no-such-node", "true"));
    gw.tunnel = Some((8181, 30310));
    gw.user = "changed";
    let options = ApplyOptions {
        wait: true,
        atomic: true,
        timeout: Duration::from_secs(8),
        ..opts()
    };
    let err = deploy::apply_release(&client, &gw.plan(ns.name()), &options, &mut ())
        .await
        .expect_err("rolled back");
    eprintln!("{err}");
    let ApplyError::RolledBack { cause, outcome } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(**cause, ApplyError::WaitTimeout { .. }),
        "{cause:?}"
    );
    assert_eq!(outcome, "restored revision 1 as revision 3");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let spec = deployments
        .get("atom-gateway")
        .await
        .expect("get")
        .spec
        .expect("spec");
    assert_eq!(spec.template.spec.expect("pod spec").node_selector, None);
    assert!(!service_exists(&client, ns.name(), "atom-gateway-30310").await);
    assert_eq!(
        user_name(&client, ns.name(), "atom-gateway").await,
        "interlink-user"
    );

    let record = inventory::load_existing(&client, ns.name(), "atom")
        .await
        .expect("inventory");
    let statuses: Vec<(u32, RevisionStatus)> = record
        .revisions
        .iter()
        .map(|r| (r.revision, r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (1, RevisionStatus::Superseded),
            (2, RevisionStatus::Failed),
            (3, RevisionStatus::Deployed)
        ]
    );
    assert!(
        record.revisions[2].description.contains("rollback to 1"),
        "{:?}",
        record.revisions[2]
    );
}

/// `--atomic` on a first install whose wait fails removes everything, inventory included.
///
/// Relies on: as the wait timeout test.
#[tokio::test]
async fn atomic_first_install_leaves_nothing_behind() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-atomic-first").await else {
        return;
    };
    let client = cluster.client();
    let mut gw = Gateway::new("first", 30311);
    gw.node_selector = Some(("ikp.test/no-such-node", "true"));
    let options = ApplyOptions {
        wait: true,
        atomic: true,
        timeout: Duration::from_secs(5),
        ..opts()
    };
    let err = deploy::apply_release(&client, &gw.plan(ns.name()), &options, &mut ())
        .await
        .expect_err("rolled back");
    let ApplyError::RolledBack { cause, outcome } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(**cause, ApplyError::WaitTimeout { .. }),
        "{cause:?}"
    );
    assert_eq!(outcome, "removed the objects of the failed first install");
    assert_release_gone(&client, ns.name(), "first").await;
}

/// Uninstall deletes every object with the release label and the inventory; a second uninstall is a clear
/// "not found".
///
/// Relies on: list by label selector; deletion of Deployments (background propagation; the garbage
/// collector in kube-controller-manager removes ReplicaSets/pods later).
#[tokio::test]
async fn uninstall_leaves_nothing_with_the_release_label() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-uninstall").await else {
        return;
    };
    let client = cluster.client();
    let mut gw = Gateway::new("gone", 30312);
    gw.tunnel = Some((8181, 30313));
    deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("install");
    let options = UninstallOptions {
        wait: true,
        timeout: Duration::from_secs(30),
    };
    let deleted = deploy::uninstall_release(&client, ns.name(), "gone", &options, &mut ())
        .await
        .expect("uninstall");
    assert_eq!(deleted.len(), 5);
    assert_release_gone(&client, ns.name(), "gone").await;

    let err = deploy::uninstall_release(&client, ns.name(), "gone", &options, &mut ())
        .await
        .expect_err("second");
    assert!(matches!(err, ApplyError::ReleaseNotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("release \"gone\" not found"),
        "{err}"
    );
}

/// Panics from inside the reporter after the named object is applied: the apply future dies mid-way
/// without running any cleanup, as a killed process would.
struct DieAfter(&'static str);

impl Reporter for DieAfter {
    fn changed(&mut self, object: &ObjectRef, _change: ObjectChange) {
        if object.name == self.0 {
            panic!("simulated kill after {}", object.name);
        }
    }
}

/// An apply interrupted half-way (the tunnel Service created, the Deployment not yet updated, the revision
/// still pending) is converged by the next apply: no "operation in progress" error, the half-created
/// Service that the new rendering drops is pruned, and the interrupted revision is marked failed.
///
/// Relies on: as the prune test.
#[tokio::test]
async fn interrupted_apply_converges_on_the_next_apply() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-interrupt").await else {
        return;
    };
    let client = cluster.client();
    let mut gw = Gateway::new("intr", 30314);
    deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("install");

    gw.tunnel = Some((8181, 30315));
    gw.user = "half-way";
    let plan = gw.plan(ns.name());
    let killed = {
        let client = client.clone();
        tokio::spawn(async move {
            deploy::apply_release(
                &client,
                &plan,
                &ApplyOptions::default(),
                &mut DieAfter("intr-gateway-30315"),
            )
            .await
        })
        .await
    };
    assert!(
        killed.is_err_and(|e| e.is_panic()),
        "the simulated kill must abort the apply"
    );
    assert!(service_exists(&client, ns.name(), "intr-gateway-30315").await);
    let record = inventory::load_existing(&client, ns.name(), "intr")
        .await
        .expect("inventory");
    assert_eq!(
        record.latest().map(|r| r.status),
        Some(RevisionStatus::Pending)
    );

    gw.tunnel = None;
    gw.user = "final";
    let outcome = deploy::apply_release(&client, &gw.plan(ns.name()), &opts(), &mut ())
        .await
        .expect("converge");
    assert_eq!(outcome.revision, 3);
    let pruned: Vec<&str> = outcome.pruned.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(pruned, vec!["intr-gateway-30315"]);
    assert!(!service_exists(&client, ns.name(), "intr-gateway-30315").await);
    assert_eq!(user_name(&client, ns.name(), "intr-gateway").await, "final");
    let record = inventory::load_existing(&client, ns.name(), "intr")
        .await
        .expect("inventory");
    let statuses: Vec<RevisionStatus> = record.revisions.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![
            RevisionStatus::Superseded,
            RevisionStatus::Failed,
            RevisionStatus::Deployed
        ]
    );
    assert!(
        record.revisions[1].description.starts_with("interrupted"),
        "{:?}",
        record.revisions[1]
    );
}

/// `--dry-run=server` reports a verdict per object and creates nothing, not even the inventory.
///
/// Relies on: `dryRun=All` on SSA create; the API server not persisting dry-run requests.
#[tokio::test]
async fn server_dry_run_creates_nothing() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-dryrun").await else {
        return;
    };
    let client = cluster.client();
    let gw = Gateway::new("dry", 30316);
    let verdicts = deploy::dry_run_server(&client, &gw.plan(ns.name()), &opts())
        .await
        .expect("dry run");
    let outcomes: Vec<(String, String)> = verdicts
        .iter()
        .map(|v| {
            (
                v.object.name.clone(),
                v.outcome
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|e| e.to_string()),
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert!(outcomes.iter().all(|(_, o)| o == "created"), "{outcomes:?}");
    assert_release_gone(&client, ns.name(), "dry").await;
}

/// Secret data never reaches the inventory, and `diff` redacts it unless asked, while still showing that
/// it changed.
///
/// Relies on: Secret `data` round-tripping base64 through SSA.
#[tokio::test]
async fn secret_data_is_kept_out_of_the_inventory_and_redacted_in_diff() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-secret").await else {
        return;
    };
    let client = cluster.client();
    let old_key = "b2xkLXByaXZhdGUta2V5"; // "old-private-key"
    let new_key = "bmV3LXByaXZhdGUta2V5"; // "new-private-key"
    deploy::apply_release(
        &client,
        &bastion_plan("bas", ns.name(), old_key),
        &opts(),
        &mut (),
    )
    .await
    .expect("install");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let inventory_text = serde_json::to_string(
        &configmaps
            .get("ikp.release.bas")
            .await
            .expect("inventory")
            .data,
    )
    .expect("json");
    assert!(!inventory_text.contains(old_key), "{inventory_text}");
    assert!(
        inventory_text.contains("Secret") && inventory_text.contains("bas-bastion"),
        "{inventory_text}"
    );

    let plan = bastion_plan("bas", ns.name(), new_key);
    let report = deploy::diff_release(&client, &plan, &DiffOptions::default())
        .await
        .expect("diff");
    let text: String = report.changed.iter().map(|e| e.unified.clone()).collect();
    assert!(
        text.contains("*** (before)") && text.contains("*** (after)"),
        "{text}"
    );
    assert!(!text.contains(old_key) && !text.contains(new_key), "{text}");
    let shown = DiffOptions {
        show_secrets: true,
        ..DiffOptions::default()
    };
    let report = deploy::diff_release(&client, &plan, &shown)
        .await
        .expect("diff");
    let text: String = report.changed.iter().map(|e| e.unified.clone()).collect();
    assert!(text.contains(old_key) && text.contains(new_key), "{text}");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    assert!(secrets.get_opt("bas-bastion").await.expect("get").is_some());
}

/// An object that belongs to another release is not taken over: the apply fails naming the owner, before
/// changing it.
///
/// Relies on: annotations round-tripping through SSA.
#[tokio::test]
async fn objects_of_another_release_are_not_taken_over() {
    let Some((cluster, ns)) = TestCluster::with_namespace("apply-owner").await else {
        return;
    };
    let client = cluster.client();
    let shared = |release: &str, value: &str| {
        let yaml = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  V: {value}\n"
        );
        let manifest =
            RenderedManifest::from_yaml("x/templates/cm.yaml", &yaml).expect("fixture YAML");
        let meta = PlanMeta {
            name: release.to_owned(),
            namespace: ns.name().to_owned(),
            chart_name: "x".into(),
            chart_version: "1".into(),
            app_version: None,
            values_digest: "d".into(),
        };
        ReleasePlan::from_manifests(meta, [&manifest], None).expect("plan")
    };
    deploy::apply_release(&client, &shared("first", "one"), &opts(), &mut ())
        .await
        .expect("first release");
    let err = deploy::apply_release(&client, &shared("second", "two"), &opts(), &mut ())
        .await
        .expect_err("owned by first");
    let text = err.to_string();
    assert!(
        matches!(err, ApplyError::OwnedByOtherRelease { .. }),
        "{err:?}"
    );
    assert!(
        text.contains("ConfigMap") && text.contains("shared"),
        "{text}"
    );
    assert!(text.contains(&format!("{}/first", ns.name())), "{text}");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let cm = configmaps.get("shared").await.expect("get");
    assert_eq!(cm.data.unwrap_or_default()["V"], "one");
    let second = inventory::load(&client, ns.name(), "second")
        .await
        .expect("load");
    assert!(
        second.is_none(),
        "a refused apply records nothing: {second:?}"
    );
}
