//! Names, labels and annotations of remote objects: the original plugin's scheme (so existing remote
//! objects and RBAC keep working) with its collisions fixed: a name that does not fit is shortened with a
//! hash of the full name instead of being cut.

use sha2::{Digest, Sha256};

use crate::k8s::syntax;

/// Label on every remote object and namespace the plugin creates (value [`OFFLOADING_VALUE`]).
pub(super) const OFFLOADING_LABEL: &str = "interlink.io";
/// Value of [`OFFLOADING_LABEL`].
pub(super) const OFFLOADING_VALUE: &str = "offloading";
/// Label naming the plugin instance that created an object, on every remote object of a pod: the
/// instance's namespace prefix (empty when it has none). Processes with the same prefix are replicas of
/// one instance; the status watch selects on this label, so a plugin never sees another one's pods.
pub const INSTANCE_LABEL: &str = "interlink.io/plugin-instance";
/// Label carrying the local pod UID on every object created for that pod.
pub(crate) const POD_UID_LABEL: &str = "interlink.io/source.pod_uid";
/// Label marking the TCP tunnel's objects (headless Services, bastion releases), so they are told apart
/// from the pod's own objects.
pub const TUNNEL_COMPONENT_LABEL: &str = "interlink.io/component";
/// Value of [`TUNNEL_COMPONENT_LABEL`] on tunnel objects.
pub const TUNNEL_COMPONENT_VALUE: &str = "tcp-tunnel";
/// Label telling the Leases the plugin writes apart: [`DELETED_POD_LEASE`] marks a pod deleted through
/// `/delete` (the leader Lease of the instance has no such label).
pub(super) const LEASE_ROLE_LABEL: &str = "interlink.io/lease";
/// Value of [`LEASE_ROLE_LABEL`] on the deletion markers of [`deletion_marker_name`].
pub(super) const DELETED_POD_LEASE: &str = "deleted-pod";

/// Name of the Lease in a pod's remote namespace that marks local pod `uid` as deleted: a `/delete` that
/// cannot tell whether a create of the pod is still running (on another replica) writes it first, and
/// every create looks for it once done, so the two cannot leave objects behind whichever replica runs them.
pub(super) fn deletion_marker_name(uid: &str) -> String {
    format!("ikp-deleted-{uid}")
}

/// Annotation: UID of the source object (pod, ConfigMap, Secret, PVC).
pub(super) const SOURCE_UID_ANNOTATION: &str = "interlink.io/source.uid";
/// Annotation: name of the source object.
pub(super) const SOURCE_NAME_ANNOTATION: &str = "interlink.io/source.name";
/// Annotation: namespace of the source object.
pub(super) const SOURCE_NAMESPACE_ANNOTATION: &str = "interlink.io/source.namespace";
/// Local pod annotation: comma-separated PVC claim names to offload.
pub(super) const REMOTE_PVC_ANNOTATION: &str = "interlink.io/remote-pvc";
/// PVC annotation: `delete` in its comma-separated list deletes the PVC with the pod.
pub(super) const PVC_RETENTION_ANNOTATION: &str = "interlink.io/pvc-retention-policy";

/// Remote pod annotation written by the plugin: the names of the ConfigMaps, Secrets and claims created
/// with the pod, as JSON (see `transform::PodObjects`), so a `/delete` removes them by name, without
/// listing. A value arriving on the local pod is replaced.
pub(super) const OBJECTS_ANNOTATION: &str = "interlink.io/objects";

/// Local annotation `kubectl apply` writes: the whole applied object (a pod's env values, a Secret's data).
pub(super) const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Pod annotation with the Virtual Kubelet's WireGuard client configuration (a private key inside).
pub(super) const WIREGUARD_SNIPPET_ANNOTATION: &str = "interlink.eu/wireguard-client-snippet";
/// Pod annotation with the shell commands starting the wstunnel client of a pod's exposed ports.
pub(super) const WSTUNNEL_COMMANDS_ANNOTATION: &str = "interlink.eu/wstunnel-client-commands";
/// Pod annotation with the IP the Virtual Kubelet reports for the pod.
pub(super) const POD_IP_ANNOTATION: &str = "interlink.eu/pod-ip";
/// Pod annotation: comma-separated containers the Virtual Kubelet runs locally instead of offloading.
pub(super) const DISABLE_OFFLOAD_CONTAINERS_ANNOTATION: &str =
    "interlink.eu/disable-offload-containers";
/// Pod annotation: comma-separated init containers the Virtual Kubelet runs locally.
pub(super) const DISABLE_OFFLOAD_INIT_CONTAINERS_ANNOTATION: &str =
    "interlink.eu/disable-offload-init-containers";

/// Local pod annotations that never reach the remote pod: credentials of the local side (WireGuard keys,
/// the wstunnel path secret, the mesh script — each used through a per-pod Secret instead) and the
/// `kubectl apply` record, which can hold the whole local spec with its env values.
pub(super) const LOCAL_ONLY_ANNOTATIONS: &[&str] = &[
    LAST_APPLIED_ANNOTATION,
    WIREGUARD_SNIPPET_ANNOTATION,
    WSTUNNEL_COMMANDS_ANNOTATION,
    crate::plugin::mesh::PRE_EXEC_ANNOTATION,
];

/// The names in a comma-separated container list annotation (trimmed, empty entries dropped), as the
/// Virtual Kubelet parses `interlink.eu/disable-offload-containers`.
pub(super) fn container_list(annotation: Option<&str>) -> Vec<String> {
    remote_pvc_claims(annotation)
}

/// Kubernetes' limit for names that must be DNS labels, and what the original used for every name.
const MAX_NAME_LEN: usize = 63;
/// Hex digits of the SHA-256 of the full name kept in shortened names.
const HASH_LEN: usize = 10;

/// Whether a scoped name must be an RFC 1123 label (Services) or may be a subdomain (pods, ConfigMaps...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// Dots allowed (pods, ConfigMaps, Secrets).
    Subdomain,
    /// No dots (Services, Helm-like release names).
    Label,
}

/// Whether `uid` can be embedded in names as is: 1..=36 of `[a-z0-9-]`, alphanumeric at both ends (what
/// Kubernetes UUIDs look like).
pub(crate) fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 36
        && uid
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && uid
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && uid
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Whether `name` is a valid name of `kind` (at most 63 characters; subdomains are limited here to 63 as
/// well, since the original used that bound for every name).
pub fn is_valid_name(name: &str, kind: NameKind) -> bool {
    match kind {
        NameKind::Label => syntax::is_dns1123_label(name),
        NameKind::Subdomain => name.len() <= MAX_NAME_LEN && syntax::is_dns1123_subdomain(name),
    }
}

/// The remote name of a local object `name` belonging to the pod with `pod_uid` (which must satisfy
/// [`is_valid_uid`]).
///
/// `<name>-<uid>` when that is a valid name (identical to the original); otherwise
/// `<sanitised prefix>-<hash of name>-<uid>`, so two different names never map to the same remote name.
pub(super) fn scoped_name(name: &str, pod_uid: &str, kind: NameKind) -> String {
    let joined = format!("{name}-{pod_uid}");
    if is_valid_name(&joined, kind) {
        return joined;
    }
    let hash = short_hash(name);
    let budget = MAX_NAME_LEN - pod_uid.len() - HASH_LEN - 2;
    let prefix = sanitised_prefix(name, budget);
    if prefix.is_empty() {
        format!("{hash}-{pod_uid}")
    } else {
        format!("{prefix}-{hash}-{pod_uid}")
    }
}

/// The remote namespace of local namespace `namespace`: `<prefix>-<namespace>` unless the prefix is empty or
/// the namespace is excluded; shortened with a hash when longer than 63 characters.
pub(super) fn remote_namespace(namespace: &str, prefix: &str, exclusions: &[String]) -> String {
    if prefix.is_empty() || exclusions.iter().any(|e| e == namespace) {
        return namespace.to_owned();
    }
    let joined = format!("{prefix}-{namespace}");
    if is_valid_name(&joined, NameKind::Label) {
        return joined;
    }
    let hash = short_hash(namespace);
    let budget = MAX_NAME_LEN.saturating_sub(prefix.len() + HASH_LEN + 2);
    let middle = sanitised_prefix(namespace, budget);
    if middle.is_empty() {
        format!(
            "{}-{hash}",
            sanitised_prefix(prefix, MAX_NAME_LEN - HASH_LEN - 1)
        )
    } else {
        format!("{prefix}-{middle}-{hash}")
    }
}

/// Claim names listed in the `interlink.io/remote-pvc` annotation (entries trimmed, empty ones dropped).
pub(super) fn remote_pvc_claims(annotation: Option<&str>) -> Vec<String> {
    annotation
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .take(HASH_LEN)
        .map(|nibble| char::from_digit(u32::from(nibble), 16).unwrap_or('0'))
        .collect()
}

/// Lower-cases, maps everything outside `[a-z0-9]` to `-`, collapses runs of `-`, trims `-` at both ends
/// and keeps at most `max` characters.
fn sanitised_prefix(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.truncate(max);
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UID: &str = "6c1f2e0a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn short_names_match_the_original() {
        assert_eq!(
            scoped_name("web-5f7c9", UID, NameKind::Subdomain),
            "web-5f7c9-6c1f2e0a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
        );
        assert_eq!(
            scoped_name("app-config", UID, NameKind::Subdomain),
            "app-config-6c1f2e0a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
        );
        assert_eq!(
            remote_namespace("team-a", "offloading", &[]),
            "offloading-team-a"
        );
        assert_eq!(remote_namespace("team-a", "", &[]), "team-a");
        assert_eq!(
            remote_namespace("kube-system", "offloading", &["kube-system".into()]),
            "kube-system"
        );
    }

    #[test]
    fn long_names_keep_the_full_uid_and_differ() {
        let a = scoped_name(
            "a-very-long-configmap-name-number-one",
            UID,
            NameKind::Subdomain,
        );
        let b = scoped_name(
            "a-very-long-configmap-name-number-two",
            UID,
            NameKind::Subdomain,
        );
        assert_ne!(a, b);
        assert!(a.ends_with(UID) && b.ends_with(UID));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert!(a.starts_with("a-very-long-con"), "{a}");
    }

    #[test]
    fn dots_are_kept_for_subdomains_but_not_labels() {
        assert_eq!(
            scoped_name("web.v1", UID, NameKind::Subdomain),
            format!("web.v1-{UID}")
        );
        let label = scoped_name("web.v1", UID, NameKind::Label);
        assert!(is_valid_name(&label, NameKind::Label), "{label}");
        assert_ne!(label, scoped_name("web-v1", UID, NameKind::Label));
    }

    #[test]
    fn long_namespaces_are_shortened_without_collisions() {
        let ns1 = "a".repeat(60);
        let ns2 = format!("{}b", "a".repeat(59));
        let r1 = remote_namespace(&ns1, "offloading", &[]);
        let r2 = remote_namespace(&ns2, "offloading", &[]);
        assert!(
            is_valid_name(&r1, NameKind::Label) && is_valid_name(&r2, NameKind::Label),
            "{r1} {r2}"
        );
        assert_ne!(r1, r2);
    }

    #[test]
    fn pvc_annotation_entries_are_trimmed() {
        assert_eq!(remote_pvc_claims(Some("a, b ,,c")), ["a", "b", "c"]);
        assert!(remote_pvc_claims(None).is_empty());
    }

    #[test]
    fn uid_validation() {
        assert!(is_valid_uid(UID));
        assert!(!is_valid_uid(""));
        assert!(!is_valid_uid("UPPER"));
        assert!(!is_valid_uid(&"a".repeat(37)));
        assert!(!is_valid_uid("-a"));
    }

    proptest! {
        #[test]
        fn scoped_names_are_valid_and_injective(
            a in "[a-zA-Z0-9._-]{1,80}",
            b in "[a-zA-Z0-9._-]{1,80}",
            uid in "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}",
            label in proptest::bool::ANY,
        ) {
            let kind = if label { NameKind::Label } else { NameKind::Subdomain };
            let na = scoped_name(&a, &uid, kind);
            let nb = scoped_name(&b, &uid, kind);
            prop_assert!(is_valid_name(&na, kind), "{}", na);
            prop_assert!(na.ends_with(&uid));
            if a != b {
                prop_assert_ne!(na, nb);
            }
        }

        #[test]
        fn remote_namespaces_are_valid_labels(ns in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", prefix in "[a-z]{1,20}") {
            let remote = remote_namespace(&ns, &prefix, &[]);
            prop_assert!(is_valid_name(&remote, NameKind::Label), "{}", remote);
        }
    }
}
