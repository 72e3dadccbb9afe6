//! From an InterLink create request to the remote objects: the pod spec passes through whole except what
//! cannot work remotely (each such change is recorded as a [`Decision`]); ConfigMaps/Secrets are de-duplicated
//! and scoped by pod UID; references to them (volumes, `env`, `envFrom`) are rewritten consistently.
//! Pure code: no I/O, so every rule is unit-tested here.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, KeyToPath, PersistentVolumeClaim, Pod, PodSpec, Secret,
    SecretVolumeSource, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::interlink::CreateRequest;
use super::names::{
    self, INSTANCE_LABEL, NameKind, OFFLOADING_LABEL, OFFLOADING_VALUE, POD_UID_LABEL,
    SOURCE_NAME_ANNOTATION, SOURCE_NAMESPACE_ANNOTATION, SOURCE_UID_ANNOTATION,
};
use crate::plugin::config::OffloadingConfig;
use crate::plugin::mesh::{self, MeshOptions, MeshOutcome};

/// The identity of a local pod, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPod {
    /// Local name.
    pub name: String,
    /// Local namespace.
    pub namespace: String,
    /// Local UID.
    pub uid: String,
}

/// Why a request cannot be turned into remote objects; always the caller's fault (4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A required field is missing or empty.
    #[error("missing required field `{field}`")]
    Missing {
        /// JSON path of the field.
        field: String,
    },
    /// A field has a value that cannot be used.
    #[error("invalid value {value:?} for `{field}`: expected {expected}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// The value.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A container references a ConfigMap/Secret that the request does not carry and that is not optional;
    /// the InterLink API server only forwards mounted objects, so the remote container could never start.
    #[error(
        "`{field}` references {kind} {name:?}, which the request does not carry (the InterLink API server only forwards objects mounted as volumes); mount it or mark the reference optional"
    )]
    ObjectNotDelivered {
        /// JSON path of the reference.
        field: String,
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// The referenced name.
        name: String,
    },
}

impl RequestError {
    /// The JSON path of the offending field.
    pub fn field(&self) -> &str {
        match self {
            Self::Missing { field }
            | Self::Invalid { field, .. }
            | Self::ObjectNotDelivered { field, .. } => field,
        }
    }
}

/// One change made to the pod on its way to the remote cluster, logged at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What was changed (a JSON path or object).
    pub subject: String,
    /// What happened and why.
    pub action: String,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.action)
    }
}

/// Everything to create remotely for one pod, in creation order.
#[derive(Debug, Clone)]
pub struct RemotePlan {
    /// The local pod.
    pub local: LocalPod,
    /// Remote namespace.
    pub namespace: String,
    /// ConfigMaps to create.
    pub config_maps: Vec<ConfigMap>,
    /// Secrets to create.
    pub secrets: Vec<Secret>,
    /// PVCs to create unless they exist.
    pub pvcs: Vec<PersistentVolumeClaim>,
    /// The pod.
    pub pod: Pod,
    /// Changes made to the spec.
    pub decisions: Vec<Decision>,
    /// Requested features that were left out (logged as warnings; the pod is still created).
    pub warnings: Vec<Decision>,
}

/// The remote objects created with a pod, recorded on the remote pod in [`names::OBJECTS_ANNOTATION`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodObjects {
    /// Remote ConfigMap names.
    #[serde(default)]
    pub config_maps: Vec<String>,
    /// Remote Secret names.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Remote PersistentVolumeClaim names (created or used as they were).
    #[serde(default)]
    pub claims: Vec<String>,
}

impl PodObjects {
    /// The record on a remote pod of the local pod `uid`, if it has a readable one. Names that were not
    /// scoped to that pod (ending in `-<uid>`) are dropped from the ConfigMaps and Secrets: an edited
    /// annotation never makes a delete remove another pod's objects.
    pub fn of(pod: &Pod, uid: &str) -> Option<Self> {
        let text = pod
            .metadata
            .annotations
            .as_ref()?
            .get(names::OBJECTS_ANNOTATION)?;
        let mut objects: PodObjects = serde_json::from_str(text).ok()?;
        let suffix = format!("-{uid}");
        objects.config_maps.retain(|name| name.ends_with(&suffix));
        objects.secrets.retain(|name| name.ends_with(&suffix));
        Some(objects)
    }
}

/// Settings the transformation depends on.
#[derive(Debug, Clone, Default)]
pub struct TransformSettings {
    /// `[offloading]`.
    pub offloading: OffloadingConfig,
    /// `[mesh]`.
    pub mesh: MeshOptions,
}

/// Validates name, namespace and UID of a pod's metadata; `path` is the JSON path of the metadata.
pub fn local_pod(meta: &ObjectMeta, path: &str) -> Result<LocalPod, RequestError> {
    let required = |value: &Option<String>, key: &str| {
        value
            .clone()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| RequestError::Missing {
                field: format!("{path}.{key}"),
            })
    };
    let uid = required(&meta.uid, "uid")?;
    if !names::is_valid_uid(&uid) {
        return Err(RequestError::Invalid {
            field: format!("{path}.uid"),
            value: uid,
            expected: "a Kubernetes UID (lower-case letters, digits and '-', at most 36 characters)",
        });
    }
    Ok(LocalPod {
        name: required(&meta.name, "name")?,
        namespace: required(&meta.namespace, "namespace")?,
        uid,
    })
}

/// The remote namespace and pod name of a local pod.
pub(super) fn remote_location(local: &LocalPod, offloading: &OffloadingConfig) -> (String, String) {
    (
        names::remote_namespace(
            &local.namespace,
            &offloading.namespace_prefix,
            &offloading.namespace_prefix_exclusions,
        ),
        names::scoped_name(&local.name, &local.uid, NameKind::Subdomain),
    )
}

/// Builds the remote objects for a create request.
pub fn plan(
    request: &CreateRequest,
    settings: &TransformSettings,
) -> Result<RemotePlan, RequestError> {
    let local = local_pod(&request.pod.metadata, "pod.metadata")?;
    let spec = request
        .pod
        .spec
        .clone()
        .ok_or_else(|| RequestError::Missing {
            field: "pod.spec".into(),
        })?;
    if spec.containers.is_empty() {
        return Err(RequestError::Missing {
            field: "pod.spec.containers".into(),
        });
    }
    let (namespace, pod_name) = remote_location(&local, &settings.offloading);
    let mut decisions = Vec::new();
    let mut spec = spec;
    keep_offloaded_containers(&request.pod.metadata, &mut spec, &mut decisions)?;
    export_pod_ip(&request.pod.metadata, &mut spec, &mut decisions)?;
    let scope = |name: &str| names::scoped_name(name, &local.uid, NameKind::Subdomain);

    // ConfigMaps and Secrets are repeated for every container that mounts them: keep the first of each name.
    let mut config_maps = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    let mut projected: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut source_pvcs = BTreeMap::new();
    for (i, entry) in request.container.iter().enumerate() {
        for (j, cm) in entry.config_maps.iter().enumerate() {
            let name = object_name(
                &cm.metadata,
                &format!("container[{i}].configMaps[{j}].metadata.name"),
            )?;
            config_maps.entry(name).or_insert(cm);
        }
        for (j, secret) in entry.secrets.iter().enumerate() {
            let name = object_name(
                &secret.metadata,
                &format!("container[{i}].secrets[{j}].metadata.name"),
            )?;
            secrets.entry(name).or_insert(secret);
        }
        for (j, map) in entry.projectedvolumemaps.iter().enumerate() {
            let name = object_name(
                &map.metadata,
                &format!("container[{i}].projectedvolumemaps[{j}].metadata.name"),
            )?;
            projected
                .entry(name)
                .or_insert_with(|| map.data.clone().unwrap_or_default());
        }
        for (j, pvc) in entry.persistent_volume_claims.iter().enumerate() {
            let name = object_name(
                &pvc.metadata,
                &format!("container[{i}].persistentVolumeClaims[{j}].metadata.name"),
            )?;
            source_pvcs.entry(name).or_insert(pvc);
        }
    }

    let remote_pvcs = names::remote_pvc_claims(
        request
            .pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(names::REMOTE_PVC_ANNOTATION))
            .map(String::as_str),
    );

    let mut extra_secrets = Vec::new();
    let kept_volumes = rewrite_volumes(
        &mut spec,
        &VolumeContext {
            local: &local,
            config_maps: &config_maps.keys().cloned().collect(),
            secrets: &secrets.keys().cloned().collect(),
            projected: &projected,
            remote_pvcs: &remote_pvcs,
        },
        &mut extra_secrets,
        &mut decisions,
    )?;
    prune_mounts(&mut spec, &kept_volumes);
    rewrite_env_refs(
        &mut spec,
        &config_maps.keys().cloned().collect(),
        &secrets.keys().cloned().collect(),
        &scope,
    )?;
    adjust_scheduling(&mut spec, &settings.offloading, &mut decisions);

    let mut pod = Pod {
        metadata: remote_metadata(
            &request.pod.metadata,
            &pod_name,
            &namespace,
            &local,
            &local.uid,
            &settings.offloading,
        ),
        spec: Some(spec),
        status: None,
    };
    let mut warnings = Vec::new();
    match mesh::inject(&mut pod, &settings.mesh, &scope(mesh::SCRIPT_VOLUME_NAME)) {
        MeshOutcome::NotRequested => {}
        MeshOutcome::Injected(script) => {
            extra_secrets.push((
                mesh::SCRIPT_VOLUME_NAME.to_owned(),
                BTreeMap::from([(
                    mesh::SCRIPT_KEY.to_owned(),
                    ByteString(script.expose().as_bytes().to_vec()),
                )]),
            ));
            decisions.push(Decision {
                subject: "mesh".into(),
                action: format!(
                    "added the {} container from the pre-exec annotation, its script in a Secret",
                    mesh::MESH_CONTAINER_NAME
                ),
            });
        }
        MeshOutcome::Skipped(reason) => warnings.push(Decision {
            subject: "mesh".into(),
            action: format!(
                "not injected: {reason}; the {} annotation was dropped",
                mesh::PRE_EXEC_ANNOTATION
            ),
        }),
    }
    if let Some(annotations) = pod.metadata.annotations.as_mut() {
        for key in names::LOCAL_ONLY_ANNOTATIONS {
            annotations.remove(*key);
        }
    }

    let config_maps: Vec<ConfigMap> = config_maps
        .into_iter()
        .map(|(name, cm)| ConfigMap {
            metadata: remote_metadata(
                &cm.metadata,
                &scope(&name),
                &namespace,
                &local,
                &object_uid(&cm.metadata),
                &settings.offloading,
            ),
            data: cm.data.clone(),
            binary_data: cm.binary_data.clone(),
            immutable: cm.immutable,
        })
        .collect();
    let mut remote_secrets: Vec<Secret> = secrets
        .into_iter()
        .map(|(name, secret)| {
            let mut type_ = secret.type_.clone();
            if type_.as_deref() == Some("kubernetes.io/service-account-token") {
                // Such a Secret is only valid next to its ServiceAccount; remotely it is plain data.
                type_ = Some("Opaque".into());
                decisions.push(Decision {
                    subject: format!("Secret {name}"),
                    action: "type service-account-token created as Opaque".into(),
                });
            }
            Secret {
                metadata: remote_metadata(
                    &secret.metadata,
                    &scope(&name),
                    &namespace,
                    &local,
                    &object_uid(&secret.metadata),
                    &settings.offloading,
                ),
                data: secret.data.clone(),
                string_data: secret.string_data.clone(),
                type_,
                immutable: secret.immutable,
            }
        })
        .collect();
    for (volume, data) in extra_secrets {
        let name = scope(&volume);
        let meta = ObjectMeta {
            name: Some(volume.clone()),
            namespace: Some(local.namespace.clone()),
            ..ObjectMeta::default()
        };
        remote_secrets.push(Secret {
            metadata: remote_metadata(
                &meta,
                &name,
                &namespace,
                &local,
                &local.uid,
                &settings.offloading,
            ),
            data: Some(data),
            type_: Some("Opaque".into()),
            ..Secret::default()
        });
    }
    let pvcs = source_pvcs
        .into_iter()
        .filter(|(name, _)| remote_pvcs.contains(name))
        .map(|(name, pvc)| {
            let mut spec = pvc.spec.clone();
            if let Some(spec) = &mut spec {
                // A volumeName binds to a PersistentVolume of the local cluster.
                spec.volume_name = None;
            }
            PersistentVolumeClaim {
                metadata: remote_metadata(
                    &pvc.metadata,
                    &name,
                    &namespace,
                    &local,
                    &object_uid(&pvc.metadata),
                    &settings.offloading,
                ),
                spec,
                status: None,
            }
        })
        .collect();
    let name_of = |meta: &ObjectMeta| meta.name.clone().unwrap_or_default();
    let record = PodObjects {
        config_maps: config_maps.iter().map(|cm| name_of(&cm.metadata)).collect(),
        secrets: remote_secrets
            .iter()
            .map(|s| name_of(&s.metadata))
            .collect(),
        claims: remote_pvcs.clone(),
    };
    // Serialising a struct of strings cannot fail; an empty record would only cost the fast delete.
    let record = serde_json::to_string(&record).unwrap_or_default();
    pod.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(names::OBJECTS_ANNOTATION.into(), record);
    Ok(RemotePlan {
        local,
        namespace,
        config_maps,
        secrets: remote_secrets,
        pvcs,
        pod,
        decisions,
        warnings,
    })
}

/// The containers (`init` false) or init containers (`init` true) that the pod's
/// `interlink.eu/disable-offload-containers` / `-init-containers` annotation keeps local: the Virtual
/// Kubelet runs them in its local shadow pod and leaves them out of `/create`, but `/status` receives the
/// whole pod.
pub(super) fn local_only_containers(meta: &ObjectMeta, init: bool) -> Vec<String> {
    let key = if init {
        names::DISABLE_OFFLOAD_INIT_CONTAINERS_ANNOTATION
    } else {
        names::DISABLE_OFFLOAD_CONTAINERS_ANNOTATION
    };
    names::container_list(
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str),
    )
}

/// Leaves out the containers the disable-offload annotations keep local (the Virtual Kubelet already does;
/// a container named there never runs twice). At least one container must be left.
fn keep_offloaded_containers(
    meta: &ObjectMeta,
    spec: &mut PodSpec,
    decisions: &mut Vec<Decision>,
) -> Result<(), RequestError> {
    let local = local_only_containers(meta, false);
    let before = spec.containers.len();
    spec.containers.retain(|c| !local.contains(&c.name));
    if spec.containers.is_empty() {
        return Err(RequestError::Invalid {
            field: format!(
                "pod.metadata.annotations.{}",
                names::DISABLE_OFFLOAD_CONTAINERS_ANNOTATION
            ),
            value: local.join(","),
            expected: "names leaving at least one container to offload",
        });
    }
    if spec.containers.len() < before {
        decisions.push(Decision {
            subject: "spec.containers".into(),
            action: format!(
                "left out {} (kept local by {})",
                local.join(","),
                names::DISABLE_OFFLOAD_CONTAINERS_ANNOTATION
            ),
        });
    }
    let local_init = local_only_containers(meta, true);
    if let Some(init) = spec.init_containers.as_mut() {
        let before = init.len();
        init.retain(|c| !local_init.contains(&c.name));
        if init.len() < before {
            decisions.push(Decision {
                subject: "spec.initContainers".into(),
                action: format!(
                    "left out {} (kept local by {})",
                    local_init.join(","),
                    names::DISABLE_OFFLOAD_INIT_CONTAINERS_ANNOTATION
                ),
            });
        }
    }
    Ok(())
}

/// The environment variable carrying the `interlink.eu/pod-ip` address, as the Slurm plugin exports it.
const POD_IP_ENV: &str = "POD_IP";

/// Gives every container `POD_IP` = the `interlink.eu/pod-ip` annotation (the address the Virtual Kubelet
/// reports for the pod in the local cluster), unless the container sets `POD_IP` itself.
fn export_pod_ip(
    meta: &ObjectMeta,
    spec: &mut PodSpec,
    decisions: &mut Vec<Decision>,
) -> Result<(), RequestError> {
    let Some(text) = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(names::POD_IP_ANNOTATION))
    else {
        return Ok(());
    };
    let ip: std::net::IpAddr = text.trim().parse().map_err(|_| RequestError::Invalid {
        field: format!("pod.metadata.annotations.{}", names::POD_IP_ANNOTATION),
        value: text.clone(),
        expected: "an IPv4 or IPv6 address",
    })?;
    let mut set = Vec::new();
    for container in spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut())
    {
        let env = container.env.get_or_insert_with(Vec::new);
        if env.iter().any(|var| var.name == POD_IP_ENV) {
            continue;
        }
        env.push(EnvVar {
            name: POD_IP_ENV.into(),
            value: Some(ip.to_string()),
            value_from: None,
        });
        set.push(container.name.clone());
    }
    if !set.is_empty() {
        decisions.push(Decision {
            subject: names::POD_IP_ANNOTATION.into(),
            action: format!("{POD_IP_ENV}={ip} set in {}", set.join(",")),
        });
    }
    Ok(())
}

fn object_name(meta: &ObjectMeta, field: &str) -> Result<String, RequestError> {
    meta.name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| RequestError::Missing {
            field: field.into(),
        })
}

fn object_uid(meta: &ObjectMeta) -> String {
    meta.uid.clone().unwrap_or_default()
}

/// Source labels/annotations plus the plugin's; everything the server populates is dropped.
fn remote_metadata(
    source: &ObjectMeta,
    name: &str,
    namespace: &str,
    local: &LocalPod,
    source_uid: &str,
    offloading: &OffloadingConfig,
) -> ObjectMeta {
    let mut labels = source.labels.clone().unwrap_or_default();
    labels.insert(OFFLOADING_LABEL.into(), OFFLOADING_VALUE.into());
    labels.insert(INSTANCE_LABEL.into(), offloading.namespace_prefix.clone());
    labels.insert(POD_UID_LABEL.into(), local.uid.clone());
    let mut annotations = source.annotations.clone().unwrap_or_default();
    annotations.remove(names::LAST_APPLIED_ANNOTATION);
    annotations.insert(SOURCE_UID_ANNOTATION.into(), source_uid.into());
    annotations.insert(
        SOURCE_NAME_ANNOTATION.into(),
        source.name.clone().unwrap_or_default(),
    );
    annotations.insert(
        SOURCE_NAMESPACE_ANNOTATION.into(),
        source
            .namespace
            .clone()
            .unwrap_or_else(|| local.namespace.clone()),
    );
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some(labels),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}

struct VolumeContext<'a> {
    local: &'a LocalPod,
    config_maps: &'a BTreeSet<String>,
    secrets: &'a BTreeSet<String>,
    projected: &'a BTreeMap<String, BTreeMap<String, String>>,
    remote_pvcs: &'a [String],
}

/// Rewrites or drops each volume; returns the names of the volumes kept.
fn rewrite_volumes(
    spec: &mut PodSpec,
    ctx: &VolumeContext<'_>,
    extra_secrets: &mut Vec<(String, BTreeMap<String, ByteString>)>,
    decisions: &mut Vec<Decision>,
) -> Result<BTreeSet<String>, RequestError> {
    let scope = |name: &str| names::scoped_name(name, &ctx.local.uid, NameKind::Subdomain);
    let mut kept = BTreeSet::new();
    let mut volumes = Vec::new();
    for (i, mut volume) in spec
        .volumes
        .take()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let field = format!("pod.spec.volumes[{i}]");
        let volume_name = volume.name.clone();
        let drop = |decisions: &mut Vec<Decision>, why: String| {
            decisions.push(Decision {
                subject: format!("volume {volume_name}"),
                action: format!("dropped with its mounts: {why}"),
            });
        };
        if let Some(cm) = &mut volume.config_map {
            if !ctx.config_maps.contains(&cm.name) && cm.optional != Some(true) {
                return Err(RequestError::ObjectNotDelivered {
                    field: format!("{field}.configMap.name"),
                    kind: "ConfigMap",
                    name: cm.name.clone(),
                });
            }
            cm.name = scope(&cm.name);
        } else if let Some(secret) = &mut volume.secret {
            let name = secret.secret_name.clone().unwrap_or_default();
            if !ctx.secrets.contains(&name) && secret.optional != Some(true) {
                return Err(RequestError::ObjectNotDelivered {
                    field: format!("{field}.secret.secretName"),
                    kind: "Secret",
                    name,
                });
            }
            secret.secret_name = Some(scope(&name));
        } else if let Some(pvc) = &volume.persistent_volume_claim {
            if !ctx.remote_pvcs.contains(&pvc.claim_name) {
                drop(
                    decisions,
                    format!(
                        "claim {:?} is not listed in the {} annotation",
                        pvc.claim_name,
                        names::REMOTE_PVC_ANNOTATION
                    ),
                );
                continue;
            }
        } else if let Some(projected) = &volume.projected {
            let sources = projected.sources.as_deref().unwrap_or_default();
            if sources.iter().any(|s| s.service_account_token.is_some()) {
                drop(
                    decisions,
                    "service-account token of the local cluster; the remote cluster mounts its own"
                        .into(),
                );
                continue;
            }
            let Some(files) = ctx.projected.get(&volume.name) else {
                drop(
                    decisions,
                    "projected volume without content in projectedvolumemaps".into(),
                );
                continue;
            };
            // The content comes resolved by the Virtual Kubelet; it becomes one Secret (it may hold secret
            // data), with generated keys since file paths may contain '/'.
            let mut data = BTreeMap::new();
            let mut items = Vec::new();
            for (n, (path, content)) in files.iter().enumerate() {
                let key = format!("file-{n}");
                data.insert(key.clone(), ByteString(content.clone().into_bytes()));
                items.push(KeyToPath {
                    key,
                    path: path.clone(),
                    mode: None,
                });
            }
            extra_secrets.push((volume.name.clone(), data));
            decisions.push(Decision {
                subject: format!("volume {}", volume.name),
                action: "projected content materialised as a Secret".into(),
            });
            volume = Volume {
                name: volume.name.clone(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(scope(&volume.name)),
                    items: Some(items),
                    default_mode: projected.default_mode,
                    optional: None,
                }),
                ..Volume::default()
            };
        } else if volume.empty_dir.is_some() || volume.downward_api.is_some() {
            // Valid as is on any cluster.
        } else {
            drop(
                decisions,
                "volume type not supported on the remote cluster".into(),
            );
            continue;
        }
        kept.insert(volume.name.clone());
        volumes.push(volume);
    }
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
    Ok(kept)
}

fn all_containers(
    spec: &mut PodSpec,
) -> impl Iterator<Item = (&'static str, usize, &mut Container)> {
    let init = spec
        .init_containers
        .iter_mut()
        .flatten()
        .enumerate()
        .map(|(i, c)| ("initContainers", i, c));
    let main = spec
        .containers
        .iter_mut()
        .enumerate()
        .map(|(i, c)| ("containers", i, c));
    init.chain(main)
}

fn prune_mounts(spec: &mut PodSpec, kept: &BTreeSet<String>) {
    for (_, _, container) in all_containers(spec) {
        if let Some(mounts) = &mut container.volume_mounts {
            mounts.retain(|m| kept.contains(&m.name));
            if mounts.is_empty() {
                container.volume_mounts = None;
            }
        }
        if let Some(devices) = &mut container.volume_devices {
            devices.retain(|d| kept.contains(&d.name));
            if devices.is_empty() {
                container.volume_devices = None;
            }
        }
    }
}

fn rewrite_env_refs(
    spec: &mut PodSpec,
    config_maps: &BTreeSet<String>,
    secrets: &BTreeSet<String>,
    scope: &dyn Fn(&str) -> String,
) -> Result<(), RequestError> {
    let check =
        |delivered: &BTreeSet<String>, name: &str, optional: Option<bool>, field: String, kind| {
            if delivered.contains(name) || optional == Some(true) {
                Ok(())
            } else {
                Err(RequestError::ObjectNotDelivered {
                    field,
                    kind,
                    name: name.to_owned(),
                })
            }
        };
    for (list, i, container) in all_containers(spec) {
        let base = format!("pod.spec.{list}[{i}]");
        for (j, env) in container.env.iter_mut().flatten().enumerate() {
            let Some(from) = &mut env.value_from else {
                continue;
            };
            if let Some(r) = &mut from.config_map_key_ref {
                check(
                    config_maps,
                    &r.name,
                    r.optional,
                    format!("{base}.env[{j}].valueFrom.configMapKeyRef.name"),
                    "ConfigMap",
                )?;
                r.name = scope(&r.name);
            }
            if let Some(r) = &mut from.secret_key_ref {
                check(
                    secrets,
                    &r.name,
                    r.optional,
                    format!("{base}.env[{j}].valueFrom.secretKeyRef.name"),
                    "Secret",
                )?;
                r.name = scope(&r.name);
            }
        }
        for (j, source) in container.env_from.iter_mut().flatten().enumerate() {
            if let Some(r) = &mut source.config_map_ref {
                check(
                    config_maps,
                    &r.name,
                    r.optional,
                    format!("{base}.envFrom[{j}].configMapRef.name"),
                    "ConfigMap",
                )?;
                r.name = scope(&r.name);
            }
            if let Some(r) = &mut source.secret_ref {
                check(
                    secrets,
                    &r.name,
                    r.optional,
                    format!("{base}.envFrom[{j}].secretRef.name"),
                    "Secret",
                )?;
                r.name = scope(&r.name);
            }
        }
    }
    Ok(())
}

/// Drops what binds the pod to the local cluster (its node, scheduler, service account, priority values and
/// claims) and applies the configured node selector and tolerations.
fn adjust_scheduling(
    spec: &mut PodSpec,
    offloading: &OffloadingConfig,
    decisions: &mut Vec<Decision>,
) {
    let mut note = |subject: &str, action: &str| {
        decisions.push(Decision {
            subject: format!("pod.spec.{subject}"),
            action: action.into(),
        })
    };
    if spec.node_name.take().is_some() {
        note("nodeName", "dropped: names the local virtual node");
    }
    if spec.node_selector.is_some() || offloading.node_selector.is_some() {
        spec.node_selector = offloading.node_selector.clone();
        note(
            "nodeSelector",
            "replaced by offloading.node_selector (the local one targets the virtual node)",
        );
    }
    if spec.tolerations.is_some() || offloading.node_tolerations.is_some() {
        spec.tolerations = offloading.node_tolerations.clone();
        note("tolerations", "replaced by offloading.node_tolerations");
    }
    if let Some(affinity) = &mut spec.affinity
        && affinity.node_affinity.take().is_some()
    {
        note("affinity.nodeAffinity", "dropped: refers to local nodes");
    }
    if spec.scheduler_name.take().is_some() {
        note(
            "schedulerName",
            "dropped: the remote cluster's default scheduler is used",
        );
    }
    if spec.service_account_name.take().is_some() | spec.service_account.take().is_some() {
        note(
            "serviceAccountName",
            "dropped: the account does not exist remotely; the remote namespace's default account is used",
        );
    }
    if spec.priority.take().is_some() | spec.preemption_policy.take().is_some() {
        note(
            "priority",
            "dropped with preemptionPolicy: the remote admission derives them from priorityClassName",
        );
    }
    if spec.overhead.take().is_some() {
        note(
            "overhead",
            "dropped: the remote admission derives it from runtimeClassName",
        );
    }
    if spec.ephemeral_containers.take().is_some() {
        note(
            "ephemeralContainers",
            "dropped: debug containers of the local pod",
        );
    }
    if spec.resource_claims.take().is_some() {
        note("resourceClaims", "dropped: claims of the local cluster");
        for (_, _, container) in all_containers(spec) {
            if let Some(resources) = &mut container.resources {
                resources.claims = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
