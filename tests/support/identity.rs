//! A remote-cluster identity with exactly the permissions `deploy/` documents: the ServiceAccount and
//! ClusterRoles of `deploy/remote-rbac*.yaml`, bound in the test cluster, and a kubeconfig that
//! authenticates as that ServiceAccount with a token from the TokenRequest API.
//!
//! The ClusterRoles are created under a name unique to the test (`<name>-<test namespace>`) and deleted
//! again when the identity drops, so parallel tests and other checkouts never share or change one; the
//! ServiceAccount lives in the test's namespace. The rules are read from the files as they are, so a test
//! running as this identity proves the documented roles suffice.
//!
//! Relies on: RBAC authorization (`--authorization-mode=Node,RBAC`), the TokenRequest API
//! (`serviceaccounts/token`, signed with the cluster's service-account key) and SelfSubjectAccessReview,
//! used to wait until the new bindings are in the authorizer's cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::Value;

use super::cluster::{TestCluster, TestNamespace};

/// The deploy file with the roles every `ikp serve` needs.
pub const OFFLOAD_ROLES: &str = "remote-rbac.yaml";
/// The deploy file with the extra roles of `[tcp_tunnel]`.
pub const TUNNEL_ROLES: &str = "remote-rbac-tcp-tunnel.yaml";

/// A ServiceAccount of the test cluster bound to the ClusterRoles of some `deploy/` files.
pub struct RemoteIdentity {
    kubeconfig: PathBuf,
    cluster_objects: Vec<String>,
    admin_kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

/// Every document of a `deploy/` file.
pub fn deploy_documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    ikp::compat::readback::read_documents(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|value| !value.is_null())
        .collect()
}

impl RemoteIdentity {
    /// The ServiceAccount of `deploy/remote-rbac.yaml`, in `ns`, bound to the ClusterRoles of `files`.
    pub async fn from_deploy(cluster: &TestCluster, ns: &TestNamespace, files: &[&str]) -> Self {
        Self::from_deploy_without(cluster, ns, files, None).await
    }

    /// Like [`from_deploy`](Self::from_deploy), with `(verb, resource)` taken out of the rules that grant
    /// it: an identity lacking exactly one documented permission.
    pub async fn from_deploy_without(
        cluster: &TestCluster,
        ns: &TestNamespace,
        files: &[&str],
        without: Option<(&str, &str)>,
    ) -> Self {
        let client = cluster.client();
        let account_name = deploy_documents(OFFLOAD_ROLES)
            .iter()
            .find(|d| d["kind"] == "ServiceAccount")
            .and_then(|d| d["metadata"]["name"].as_str().map(str::to_owned))
            .expect("deploy/remote-rbac.yaml has a ServiceAccount");
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns.name());
        let account = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(account_name.clone()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        accounts
            .create(&PostParams::default(), &account)
            .await
            .expect("create ServiceAccount");

        let mut identity = RemoteIdentity {
            kubeconfig: PathBuf::new(),
            cluster_objects: Vec::new(),
            admin_kubeconfig: cluster.kubeconfig().to_owned(),
            _dir: tempfile::tempdir().expect("tempdir"),
        };
        let roles: Api<ClusterRole> = Api::all(client.clone());
        let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
        for file in files {
            for document in deploy_documents(file) {
                if document["kind"] != "ClusterRole" {
                    continue;
                }
                let mut role: ClusterRole = serde_json::from_value(document).expect("ClusterRole");
                let name = format!(
                    "{}-{}",
                    role.metadata.name.as_deref().unwrap_or("role"),
                    ns.name()
                );
                role.metadata = ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                };
                if let Some((verb, resource)) = without {
                    for rule in role.rules.iter_mut().flatten() {
                        if rule.resources.iter().flatten().any(|r| r == resource) {
                            rule.verbs.retain(|v| v != verb);
                        }
                    }
                }
                identity.cluster_objects.push(name.clone());
                roles
                    .create(&PostParams::default(), &role)
                    .await
                    .expect("create ClusterRole");
                let binding = ClusterRoleBinding {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        ..ObjectMeta::default()
                    },
                    role_ref: RoleRef {
                        api_group: Some("rbac.authorization.k8s.io".to_owned()),
                        kind: "ClusterRole".to_owned(),
                        name: name.clone(),
                    },
                    subjects: Some(vec![Subject {
                        kind: "ServiceAccount".to_owned(),
                        name: account_name.clone(),
                        namespace: Some(ns.name().to_owned()),
                        ..Subject::default()
                    }]),
                };
                bindings
                    .create(&PostParams::default(), &binding)
                    .await
                    .expect("create ClusterRoleBinding");
            }
        }

        let token = accounts
            .create_token_request(
                &account_name,
                &PostParams::default(),
                &TokenRequest {
                    spec: Some(TokenRequestSpec {
                        expiration_seconds: Some(3600),
                        ..TokenRequestSpec::default()
                    }),
                    ..TokenRequest::default()
                },
            )
            .await
            .expect("TokenRequest")
            .status
            .expect("token status")
            .token
            .expect("token");
        identity.kubeconfig = identity._dir.path().join("remote-kubeconfig.yaml");
        write_token_kubeconfig(cluster.kubeconfig(), &token, &identity.kubeconfig);
        identity.wait_until_bound().await;
        identity
    }

    /// The kubeconfig that authenticates as the ServiceAccount.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Waits until the authorizer lets the account list pods everywhere, which every identity made here
    /// may (RBAC picks up new bindings from an informer, a few milliseconds after they are written).
    async fn wait_until_bound(&self) {
        let file = Kubeconfig::read_from(&self.kubeconfig).expect("own kubeconfig");
        let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .expect("own kubeconfig loads");
        let client = Client::try_from(config).expect("client");
        let api: Api<SelfSubjectAccessReview> = Api::all(client);
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some("watch".to_owned()),
                    resource: Some("pods".to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = api
                .create(&PostParams::default(), &review)
                .await
                .expect("SelfSubjectAccessReview");
            if answer.status.is_some_and(|s| s.allowed) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the ServiceAccount's bindings never took effect"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Writes a kubeconfig for the admin kubeconfig's cluster (server and CA) with `token` as the user.
fn write_token_kubeconfig(admin: &Path, token: &str, out: &Path) {
    let text = std::fs::read_to_string(admin).expect("admin kubeconfig");
    let admin = ikp::compat::readback::read_document(&text).expect("admin kubeconfig YAML");
    let current = admin["current-context"].as_str().unwrap_or_default();
    let context = admin["contexts"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == current))
        .or_else(|| admin["contexts"].get(0))
        .expect("admin kubeconfig has a context");
    let cluster_name = context["context"]["cluster"].as_str().unwrap_or_default();
    let cluster = admin["clusters"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == cluster_name))
        .expect("admin kubeconfig has the context's cluster");
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "remote", "cluster": cluster["cluster"]}],
        "users": [{"name": "ikp", "user": {"token": token}}],
        "contexts": [{"name": "remote", "context": {"cluster": "remote", "user": "ikp"}}],
        "current-context": "remote",
    });
    std::fs::write(
        out,
        ikp::compat::toyaml::to_yaml_document(&kubeconfig).expect("kubeconfig YAML"),
    )
    .expect("write kubeconfig");
}

impl Drop for RemoteIdentity {
    fn drop(&mut self) {
        if self.cluster_objects.is_empty() {
            return;
        }
        // As for test namespaces: Drop cannot await, so the deletes run on a private runtime in a thread.
        let names = std::mem::take(&mut self.cluster_objects);
        let admin = self.admin_kubeconfig.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let file = Kubeconfig::read_from(&admin).expect("admin kubeconfig");
                let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                    .await
                    .expect("admin kubeconfig loads");
                let client = Client::try_from(config).expect("client");
                let roles: Api<ClusterRole> = Api::all(client.clone());
                let bindings: Api<ClusterRoleBinding> = Api::all(client);
                for name in &names {
                    let _ = bindings.delete(name, &DeleteParams::default()).await;
                    let _ = roles.delete(name, &DeleteParams::default()).await;
                }
            });
        })
        .join();
    }
}
