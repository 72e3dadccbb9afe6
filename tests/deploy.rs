//! `deploy/` against the test control plane: every document of every file is accepted by the API server,
//! in a server-side dry run of the whole directory in file order, as `kubectl apply --dry-run=server -f
//! deploy/` would send it.
//!
//! Relies on, from the real kube-apiserver: discovery (to map each apiVersion/kind to its resource and
//! scope), server-side apply with `dryRun=All` (the object is defaulted, validated and admitted, nothing is
//! stored), and the NamespaceLifecycle admission plugin rejecting objects in a namespace that does not
//! exist, which is why each file's namespaces are created first (as the real apply would have just done).

mod support;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::{Api, ResourceExt};
use serde_json::Value;
use support::cluster::TestCluster;
use support::identity::deploy_documents;

/// The `.yaml` files of `deploy/`, sorted as `kubectl apply -f deploy/` reads them.
fn deploy_files() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("deploy/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
        .collect();
    files.sort();
    files
}

/// `deploy/interlink-with-ikp.yaml` once failed on a fresh cluster with `namespaces "interlink" not found`,
/// held its Secret only as a command in a comment, and had no Service for the InterLink API port.
#[tokio::test]
async fn deploy_directory_passes_a_server_side_dry_run() {
    let Some(cluster) = TestCluster::connect().await else {
        return;
    };
    let client = cluster.client();
    let files = deploy_files();
    assert!(files.len() >= 3, "{files:?}");
    let mut kinds = Vec::new();
    // Namespaces a file creates, made for real (under the file's names, empty) before its other objects
    // are dry-run, and left in place: deleting them would leave them Terminating for a while, and a run
    // right after this one (or a parallel one) would then be refused objects in a terminating namespace.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for file in &files {
        let documents = deploy_documents(file);
        for document in &documents {
            if document["kind"] == "Namespace" {
                let name = document["metadata"]["name"]
                    .as_str()
                    .expect("name")
                    .to_owned();
                if namespaces.get_opt(&name).await.expect("get").is_none() {
                    let ns = Namespace {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            labels: Some(
                                [(
                                    support::cluster::NAMESPACE_LABEL.to_owned(),
                                    "true".to_owned(),
                                )]
                                .into(),
                            ),
                            ..ObjectMeta::default()
                        },
                        ..Namespace::default()
                    };
                    match namespaces.create(&PostParams::default(), &ns).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.is_already_exists() => {}
                        Err(err) => panic!("create namespace {name}: {err}"),
                    }
                }
            }
        }
        for document in documents {
            let object: DynamicObject =
                serde_json::from_value(document.clone()).expect("a Kubernetes object");
            let types = object.types.clone().expect("apiVersion and kind");
            let gvk = GroupVersionKind::try_from(&types).expect("apiVersion");
            let (resource, capabilities) = discovery::pinned_kind(&client, &gvk)
                .await
                .unwrap_or_else(|e| panic!("{file}: unknown kind {gvk:?}: {e}"));
            let api: Api<DynamicObject> = match capabilities.scope {
                Scope::Namespaced => Api::namespaced_with(
                    client.clone(),
                    object.namespace().as_deref().unwrap_or_else(|| {
                        panic!("{file}: {} has no namespace", object.name_any())
                    }),
                    &resource,
                ),
                Scope::Cluster => Api::all_with(client.clone(), &resource),
            };
            let params = PatchParams::apply("ikp-deploy-test").dry_run().force();
            let result = api
                .patch(&object.name_any(), &params, &Patch::Apply(&document))
                .await;
            if let Err(err) = result {
                panic!(
                    "{file}: {} {} refused in a server-side dry run: {err}",
                    types.kind,
                    object.name_any()
                );
            }
            kinds.push(format!("{}/{}", types.kind, object.name_any()));
        }
    }
    for expected in [
        "Namespace/interlink",
        "Secret/ikp-remote-kubeconfig",
        "Service/interlink",
        "Deployment/interlink",
        "ServiceAccount/ikp",
        "ClusterRole/ikp-offload",
        "ClusterRole/ikp-tcp-tunnel",
        "ClusterRoleBinding/ikp-offload",
        "ClusterRoleBinding/ikp-tcp-tunnel",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} missing: {kinds:?}"
        );
    }
}

/// The Secret template's kubeconfig is a kubeconfig (placeholders in the server's CA and token only), and
/// the Service selects the pod of the Deployment.
#[test]
fn deploy_manifest_wires_secret_service_and_deployment_together() {
    let documents = deploy_documents("interlink-with-ikp.yaml");
    let find = |kind: &str| -> &Value {
        documents
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let kubeconfig = find("Secret")["stringData"]["kubeconfig"]
        .as_str()
        .expect("stringData.kubeconfig");
    kube::config::Kubeconfig::from_yaml(kubeconfig).expect("the template parses as a kubeconfig");
    let deployment = find("Deployment");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selector = find("Service")["spec"]["selector"]
        .as_object()
        .expect("selector");
    for (key, value) in selector {
        assert_eq!(&pod_labels[key], value, "Service selector {key}");
    }
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes");
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == find("Secret")["metadata"]["name"])
    );
}
