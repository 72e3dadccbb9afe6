//! The permissions `ikp serve` needs on the remote cluster, derived from its configuration, and the check
//! of them against the API server with SelfSubjectAccessReviews (what `ikp serve --check-config --connect`
//! prints). `deploy/remote-rbac.yaml` and `deploy/remote-rbac-tcp-tunnel.yaml` grant exactly this list; a
//! test holds the two together.

use std::fmt;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use crate::plugin::config::ServeConfig;

/// One verb on one resource, in all namespaces or in one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// API verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`).
    pub verb: &'static str,
    /// API group; `""` is the core group.
    pub group: &'static str,
    /// Resource, plural (`pods`).
    pub resource: &'static str,
    /// Subresource (`log`), or `""`.
    pub subresource: &'static str,
    /// `None`: cluster-scoped resources, or every namespace; `Some`: that namespace only.
    pub namespace: Option<String>,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        if !self.group.is_empty() {
            write!(f, " ({})", self.group)?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None if self.resource == "namespaces" => Ok(()),
            None => f.write_str(" in all namespaces"),
        }
    }
}

/// (group, resource, subresource, verbs) needed in every offloading namespace (or cluster-wide).
type Rule = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// What offloading pods needs, tunnel or not: remote namespaces looked up and created; pods created,
/// read, deleted, listed and watched everywhere (the status cache), patched (the instance label put on
/// pods of older versions at start-up); their logs; the ConfigMaps, Secrets
/// and claims they mount, created, replaced on a repeated create, found by label and deleted; Leases: the
/// leader Lease of the replicas (read, created, renewed), and the deletion markers a `/delete` writes in
/// a pod's namespace and the leader's sweep lists and deletes once old.
const OFFLOAD: &[Rule] = &[
    ("", "namespaces", "", &["get", "create"]),
    (
        "",
        "pods",
        "",
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    ("", "pods", "log", &["get"]),
    (
        "",
        "configmaps",
        "",
        &["get", "list", "create", "update", "delete"],
    ),
    (
        "",
        "secrets",
        "",
        &["get", "list", "create", "update", "delete"],
    ),
    (
        "",
        "persistentvolumeclaims",
        "",
        &["get", "list", "create", "update", "delete"],
    ),
    (
        "coordination.k8s.io",
        "leases",
        "",
        &["get", "list", "create", "update", "delete"],
    ),
];

/// With `ping.resources = remote` (the default): the nodes listed and watched for the capacity the ping
/// reports (pods are already listed and watched everywhere).
const CAPACITY: &[Rule] = &[("", "nodes", "", &["list", "watch"])];

/// With `[tcp_tunnel]`: the bastion namespace applied (server-side apply); a headless Service per port in
/// the pod's namespace. A server-side apply that creates an object is authorized as `patch` and `create`.
const TUNNEL_EVERYWHERE: &[Rule] = &[
    ("", "namespaces", "", &["get", "create", "patch"]),
    (
        "",
        "services",
        "",
        &["get", "list", "create", "patch", "delete"],
    ),
];

/// With `[tcp_tunnel]`, in `bastion_namespace`: the bastion releases (Deployment, ConfigMap, Secret and
/// the release record ConfigMap), server-side applied, found by label and deleted.
const TUNNEL_BASTION: &[Rule] = &[
    (
        "",
        "configmaps",
        "",
        &["get", "list", "create", "patch", "delete"],
    ),
    (
        "",
        "secrets",
        "",
        &["get", "list", "create", "patch", "delete"],
    ),
    (
        "apps",
        "deployments",
        "",
        &["get", "list", "create", "patch", "delete"],
    ),
];

fn expand(rules: &[Rule], namespace: Option<&str>, out: &mut Vec<Permission>) {
    for &(group, resource, subresource, verbs) in rules {
        for &verb in verbs {
            out.push(Permission {
                verb,
                group,
                resource,
                subresource,
                namespace: namespace.map(str::to_owned),
            });
        }
    }
}

/// Every permission `ikp serve` with `config` uses on the remote cluster, sorted, without repeats.
pub fn required(config: &ServeConfig) -> Vec<Permission> {
    let mut out = Vec::new();
    expand(OFFLOAD, None, &mut out);
    if matches!(
        config.ping.resources,
        crate::plugin::config::ResourceReport::Remote { .. }
    ) {
        expand(CAPACITY, None, &mut out);
    }
    if config.tcp_tunnel.enabled {
        expand(TUNNEL_EVERYWHERE, None, &mut out);
        expand(
            TUNNEL_BASTION,
            Some(&config.tcp_tunnel.bastion_namespace),
            &mut out,
        );
    }
    out.sort();
    out.dedup();
    out
}

/// Asks the API server, for each permission, whether the client's identity has it; returns those it
/// lacks, in order.
pub async fn missing(
    client: &kube::Client,
    permissions: &[Permission],
) -> Result<Vec<Permission>, kube::Error> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut missing = Vec::new();
    for permission in permissions {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(permission.verb.to_owned()),
                    group: Some(permission.group.to_owned()),
                    resource: Some(permission.resource.to_owned()),
                    subresource: (!permission.subresource.is_empty())
                        .then(|| permission.subresource.to_owned()),
                    namespace: permission.namespace.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = api.create(&PostParams::default(), &review).await?;
        if !answer.status.is_some_and(|status| status.allowed) {
            missing.push(permission.clone());
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::config::{ConfigSources, FlagOverrides};

    fn config(env: &[(&str, &str)]) -> ServeConfig {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        crate::plugin::config::load(ConfigSources {
            file: None,
            env: &lookup,
            flags: FlagOverrides::default(),
        })
        .expect("config")
    }

    /// The rules of the ClusterRoles in `files` under `deploy/`, expanded to (verb, group, resource,
    /// subresource) tuples.
    fn granted(files: &[&str]) -> Vec<(String, String, String, String)> {
        let mut out = Vec::new();
        for file in files {
            let path = format!("{}/deploy/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect("deploy file");
            for value in crate::compat::readback::read_documents(&text).expect("YAML") {
                if value["kind"] != "ClusterRole" {
                    continue;
                }
                for rule in value["rules"].as_array().expect("rules") {
                    let list = |key: &str| -> Vec<String> {
                        rule[key]
                            .as_array()
                            .expect(key)
                            .iter()
                            .map(|v| v.as_str().expect("string").to_owned())
                            .collect()
                    };
                    for group in list("apiGroups") {
                        for resource in list("resources") {
                            let (resource, sub) = match resource.split_once('/') {
                                Some((r, s)) => (r.to_owned(), s.to_owned()),
                                None => (resource.clone(), String::new()),
                            };
                            for verb in list("verbs") {
                                out.push((verb, group.clone(), resource.clone(), sub.clone()));
                            }
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn as_tuples(permissions: &[Permission]) -> Vec<(String, String, String, String)> {
        let mut out: Vec<_> = permissions
            .iter()
            .map(|p| {
                (
                    p.verb.to_owned(),
                    p.group.to_owned(),
                    p.resource.to_owned(),
                    p.subresource.to_owned(),
                )
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The documented roles once lacked what the tunnel needs (`patch services`, Deployments): the roles in
    /// deploy/ and the list `--check-config --connect` asks for must be the same, tunnel off and on.
    #[test]
    fn deploy_roles_grant_exactly_the_required_permissions() {
        let off = config(&[]);
        assert_eq!(
            granted(&["remote-rbac.yaml"]),
            as_tuples(&required(&off)),
            "tunnel off"
        );
        let on = config(&[
            ("TCP_TUNNEL_ENABLED", "true"),
            ("TCP_TUNNEL_BASTION_NAMESPACE", "bastions"),
        ]);
        assert_eq!(
            granted(&["remote-rbac.yaml", "remote-rbac-tcp-tunnel.yaml"]),
            as_tuples(&required(&on)),
            "tunnel on"
        );
    }

    #[test]
    fn tunnel_permissions_name_the_bastion_namespace() {
        let on = config(&[
            ("TCP_TUNNEL_ENABLED", "true"),
            ("TCP_TUNNEL_BASTION_NAMESPACE", "bastions"),
        ]);
        let shown: Vec<String> = required(&on).iter().map(ToString::to_string).collect();
        assert!(
            shown.contains(&"patch deployments (apps) in namespace bastions".to_owned()),
            "{shown:?}"
        );
        assert!(
            shown.contains(&"get pods/log in all namespaces".to_owned()),
            "{shown:?}"
        );
        assert!(shown.contains(&"create namespaces".to_owned()), "{shown:?}");
    }
}
