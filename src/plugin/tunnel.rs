//! TCP tunnel per offloaded pod (config `[tcp_tunnel]`).
//!
//! For each TCP container port `P` of an offloaded pod this creates, on the remote cluster:
//! a headless Service `tunnel-P-<uid>` in the pod's remote namespace selecting the remote pod, and a
//! bastion release `bastion-P-<uid>` rendered in-process from the embedded bastion chart and applied with
//! server-side apply into the bastion namespace; its ssh client opens `P` on the gateway and forwards it
//! to the Service. Every object carries the pod-UID label, so deletion (and rollback) finds them from the
//! cluster, not from memory, and survives a restart of `ikp serve`.
//!
//! Secrets: the gateway private key only travels inside the value tree handed to the renderer and the
//! Secret it renders; no error or log line here carries it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec, Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::deploy::plan::ReleasePlan;
use crate::deploy::{self, ApplyError, ApplyOptions, RELEASE_NAME_ANNOTATION, UninstallOptions};
use crate::k8s;
use crate::plugin::config::TunnelConfig;
use crate::plugin::offload::names::{POD_UID_LABEL, is_valid_uid};
use crate::plugin::offload::service::{HookFuture, OffloadError, TunnelContext, TunnelHook};
use crate::release::chart;
use crate::release::pipeline::{PipelineError, Release, Renderer};
use crate::release::values::model::{self, BastionService, BastionValues, Port};
use crate::release::values::{ValueLayers, compose};

/// Label marking the objects this module creates, so they are told apart from the pod's own objects
/// (defined with the other offload labels, which the orphan sweep also reads).
pub use crate::plugin::offload::names::{
    TUNNEL_COMPONENT_LABEL as COMPONENT_LABEL, TUNNEL_COMPONENT_VALUE as COMPONENT_VALUE,
};
/// Label carrying the tunnelled container port.
const PORT_LABEL: &str = "interlink.io/tunnel-port";
/// Field manager of the tunnel Services.
const FIELD_MANAGER: &str = "ikp";

/// Why the tunnel of a pod could not be set up or removed.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// `[tcp_tunnel]` lacks a setting the tunnel needs.
    #[error("config tcp_tunnel.{key}: {problem}")]
    Config {
        /// The key under `[tcp_tunnel]`.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The pod UID cannot be embedded in object names.
    #[error("pod UID {uid:?} cannot be used in object names (expected a Kubernetes UID)")]
    InvalidUid {
        /// The UID as received.
        uid: String,
    },
    /// The `[tcp_tunnel]` settings make no valid bastion release (checked once at start-up).
    #[error("config tcp_tunnel: the bastion chart refuses these settings: {source}")]
    Settings {
        /// What the render pipeline refused (never includes the private key).
        #[source]
        source: PipelineError,
    },
    /// The bastion release does not render (bad values from the config, or a chart problem).
    #[error("bastion release {release}: {source}")]
    Render {
        /// The release name.
        release: String,
        /// What failed (never includes the private key).
        #[source]
        source: PipelineError,
    },
    /// Applying or removing the bastion release failed.
    #[error("bastion release {release}: {source}")]
    Release {
        /// The release name.
        release: String,
        /// What the apply engine reported (boxed: it is large).
        #[source]
        source: Box<ApplyError>,
    },
    /// The remote API server did not answer before the request's deadline.
    #[error("{action}: no answer from the remote API server within {timeout:?}")]
    Timeout {
        /// What was being done.
        action: String,
        /// The configured request timeout.
        timeout: std::time::Duration,
    },
    /// A call to the remote API server failed.
    #[error("{action}: {}", crate::k8s::client::describe_error(source))]
    Remote {
        /// What was being done, e.g. `apply Service ns/name`.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

impl From<TunnelError> for OffloadError {
    fn from(err: TunnelError) -> Self {
        match err {
            TunnelError::Timeout { action, timeout } => OffloadError::Timeout {
                action: format!("tunnel: {action}"),
                timeout,
            },
            TunnelError::Release { release, source }
                if matches!(*source, ApplyError::DeadlineExceeded { .. }) =>
            {
                OffloadError::Timeout {
                    action: format!("tunnel: bastion release {release}"),
                    timeout: match *source {
                        ApplyError::DeadlineExceeded { timeout, .. } => timeout,
                        _ => std::time::Duration::ZERO,
                    },
                }
            }
            other => OffloadError::Tunnel {
                message: other.to_string(),
            },
        }
    }
}

/// Runs one remote call of the tunnel until the request's deadline.
async fn within<T>(
    ctx: &TunnelContext,
    action: impl FnOnce() -> String,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, TunnelError> {
    match tokio::time::timeout_at(ctx.deadline, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(TunnelError::Remote {
            action: action(),
            source,
        }),
        Err(_) => Err(TunnelError::Timeout {
            action: action(),
            timeout: ctx.timeout,
        }),
    }
}

/// What is left of the request's time: the bound of an apply or uninstall of a bastion release.
fn remaining(ctx: &TunnelContext) -> std::time::Duration {
    ctx.deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .max(std::time::Duration::from_millis(1))
}

/// The gateway every bastion connects to, from `[tcp_tunnel]`.
#[derive(Clone)]
pub struct TunnelSettings {
    /// Public host name or IP of the gateway.
    pub gateway_host: String,
    /// The gateway's public SSH port; the chart's default (30222) when unset.
    pub gateway_ssh_port: Option<u16>,
    /// Base64 of the bastions' SSH private key.
    pub private_key_base64: String,
    /// Namespace the bastion releases are applied to.
    pub bastion_namespace: String,
}

impl std::fmt::Debug for TunnelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelSettings")
            .field("gateway_host", &self.gateway_host)
            .field("gateway_ssh_port", &self.gateway_ssh_port)
            .field("private_key_base64", &"<redacted>")
            .field("bastion_namespace", &self.bastion_namespace)
            .finish()
    }
}

impl TunnelSettings {
    /// Settings from the parsed `[tcp_tunnel]` section.
    pub fn from_config(config: &TunnelConfig) -> Result<Self, TunnelError> {
        if config.gateway_host.is_empty() {
            return Err(TunnelError::Config {
                key: "gateway_host",
                problem: "required when tcp_tunnel.enabled is true".to_owned(),
            });
        }
        let Some(key) = config.gateway_ssh_private_key.as_ref() else {
            return Err(TunnelError::Config {
                key: "gateway_ssh_private_key",
                problem: "required when tcp_tunnel.enabled is true (base64 of the private key)"
                    .to_owned(),
            });
        };
        Ok(TunnelSettings {
            gateway_host: config.gateway_host.clone(),
            gateway_ssh_port: config.gateway_port,
            private_key_base64: key.expose().to_owned(),
            bastion_namespace: config.bastion_namespace.clone(),
        })
    }
}

/// Distinct TCP container ports of the pod's regular containers, ascending.
///
/// Init containers are left out: their ports are gone once the pod runs.
fn tcp_ports(spec: Option<&PodSpec>) -> Vec<u16> {
    let mut ports = BTreeSet::new();
    for container in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
        for port in container.ports.iter().flatten() {
            let tcp = port.protocol.as_deref().is_none_or(|p| p == "TCP");
            if let (true, Ok(number)) = (tcp, u16::try_from(port.container_port))
                && number > 0
            {
                ports.insert(number);
            }
        }
    }
    ports.into_iter().collect()
}

/// Name of the bastion release for `port` of the pod with `pod_uid`: at most 50 characters, so it is a
/// valid release name and, containing `bastion`, also the name of every object the chart renders.
fn bastion_release_name(port: u16, pod_uid: &str) -> String {
    format!("bastion-{port}-{pod_uid}")
}

/// Name of the headless Service for `port`: a DNS-1035 label of at most 49 characters.
fn tunnel_service_name(port: u16, pod_uid: &str) -> String {
    format!("tunnel-{port}-{pod_uid}")
}

/// The bastion chart values for one port, built in the chart's typed model from its defaults: the
/// gateway from the config, `gatewayPort` = `targetPort` = the container port, `targetHost` = the
/// headless Service's DNS name. The layer holds the model's sections that differ from the defaults.
fn bastion_values(
    defaults: &BastionValues,
    settings: &TunnelSettings,
    port: u16,
    target_host: &str,
) -> Result<serde_json::Value, serde_json::Error> {
    let mut values = defaults.clone();
    let gateway = &mut values.tunnel.gateway;
    gateway.host = settings.gateway_host.clone();
    gateway.ssh.private_key = settings.private_key_base64.clone();
    if let Some(ssh_port) = settings.gateway_ssh_port {
        gateway.ssh.port = Port(ssh_port);
    }
    values.tunnel.service = BastionService {
        gateway_port: Port(port),
        target_host: target_host.to_owned(),
        target_port: Port(port),
    };
    model::changed_sections(defaults, &values)
}

/// The headless Service in front of `port` of the remote pod.
fn tunnel_service(port: u16, pod_uid: &str, namespace: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(tunnel_service_name(port, pod_uid)),
            namespace: Some(namespace.to_owned()),
            labels: Some(tie_labels(pod_uid, port)),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            selector: Some(BTreeMap::from([(
                POD_UID_LABEL.to_owned(),
                pod_uid.to_owned(),
            )])),
            ports: Some(vec![ServicePort {
                name: Some(format!("tcp-{port}")),
                port: i32::from(port),
                target_port: Some(IntOrString::Int(i32::from(port))),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The labels that tie a tunnel object to its pod and port.
fn tie_labels(pod_uid: &str, port: u16) -> BTreeMap<String, String> {
    BTreeMap::from([
        (POD_UID_LABEL.to_owned(), pod_uid.to_owned()),
        (COMPONENT_LABEL.to_owned(), COMPONENT_VALUE.to_owned()),
        (PORT_LABEL.to_owned(), port.to_string()),
    ])
}

fn tunnel_selector(pod_uid: &str) -> String {
    format!("{POD_UID_LABEL}={pod_uid},{COMPONENT_LABEL}={COMPONENT_VALUE}")
}

/// The tunnel hook of `ikp serve`: renders bastion releases with the embedded chart, compiled once.
pub struct BastionTunnel {
    settings: TunnelSettings,
    renderer: Arc<Renderer>,
    /// The chart's defaults in the typed model, which each release's values start from.
    defaults: BastionValues,
}

impl BastionTunnel {
    /// Compiles the bastion chart and checks the config by rendering a sample release, so that a bad
    /// gateway host or key is a start-up error rather than a failure of every `/create`.
    pub fn new(settings: TunnelSettings) -> Result<Self, TunnelError> {
        let chart = chart::builtin("bastion").ok_or_else(|| TunnelError::Config {
            key: "enabled",
            problem: "this build has no embedded bastion chart".to_owned(),
        })?;
        let defaults = compose(&chart.values_yaml, &ValueLayers::new())
            .map_err(|err| err.to_string())
            .and_then(|values| {
                BastionValues::from_tree(&values.tree).map_err(|err| err.to_string())
            })
            .map_err(|problem| TunnelError::Config {
                key: "enabled",
                problem: format!(
                    "the embedded bastion chart's defaults do not fit its model: {problem}"
                ),
            })?;
        let renderer = Renderer::new(chart).map_err(|source| TunnelError::Render {
            release: "bastion".to_owned(),
            source,
        })?;
        let tunnel = BastionTunnel {
            settings,
            renderer: Arc::new(renderer),
            defaults,
        };
        let sample_uid = "00000000-0000-0000-0000-000000000000";
        // The sample release is not a real one: an error names the settings, not its name.
        tunnel
            .render(8080, sample_uid, "sample-namespace")
            .map_err(|err| match err {
                TunnelError::Render { source, .. } => TunnelError::Settings { source },
                other => other,
            })?;
        Ok(tunnel)
    }

    /// Renders the bastion release for `port` of the pod `pod_uid` whose remote namespace is `remote_ns`.
    pub fn render(
        &self,
        port: u16,
        pod_uid: &str,
        remote_ns: &str,
    ) -> Result<Release, TunnelError> {
        let release = bastion_release_name(port, pod_uid);
        let target_host = format!("{}.{remote_ns}.svc", tunnel_service_name(port, pod_uid));
        let values =
            bastion_values(&self.defaults, &self.settings, port, &target_host).map_err(|err| {
                TunnelError::Config {
                    key: "enabled",
                    problem: format!("the bastion values do not serialize: {err}"),
                }
            })?;
        let mut layers = ValueLayers::new();
        layers.push_tree("[tcp_tunnel] config", values);
        self.renderer
            .render(&release, &self.settings.bastion_namespace, &layers)
            .map_err(|source| TunnelError::Render { release, source })
    }

    /// The apply plan of one bastion release, every object tied to the pod and port by labels.
    pub fn plan(
        &self,
        port: u16,
        pod_uid: &str,
        remote_ns: &str,
    ) -> Result<ReleasePlan, TunnelError> {
        let release = self.render(port, pod_uid, remote_ns)?;
        let mut plan = ReleasePlan::from_release(&release, &self.renderer.chart().metadata)
            .map_err(|source| TunnelError::Release {
                release: release.release.name.clone(),
                source: Box::new(source),
            })?;
        for object in &mut plan.objects {
            object
                .metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(tie_labels(pod_uid, port));
        }
        Ok(plan)
    }

    /// Creates the Service and the bastion release of every TCP port of the pod.
    pub async fn create(&self, ctx: &TunnelContext) -> Result<(), TunnelError> {
        let uid = checked_uid(&ctx.local.uid)?;
        let ports = tcp_ports(ctx.remote_pod.spec.as_ref());
        let plans = ports
            .iter()
            .map(|&port| self.plan(port, uid, &ctx.remote_namespace))
            .collect::<Result<Vec<_>, _>>()?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.remote_namespace);
        for (port, plan) in ports.iter().zip(&plans) {
            if ctx.cancel.is_cancelled() {
                // The pod is being deleted: its delete removes what was made so far.
                return Ok(());
            }
            let service = tunnel_service(*port, uid, &ctx.remote_namespace);
            let name = service.name_any();
            within(
                ctx,
                || format!("apply Service {}/{name}", ctx.remote_namespace),
                services.patch(
                    &name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&service),
                ),
            )
            .await?;
            let options = ApplyOptions {
                create_namespace: true,
                timeout: remaining(ctx),
                keep_revision_data: false,
                ..ApplyOptions::default()
            };
            deploy::apply_release(&ctx.client, plan, &options, &mut ())
                .await
                .map_err(|source| TunnelError::Release {
                    release: plan.meta.name.clone(),
                    source: Box::new(source),
                })?;
            tracing::info!(
                pod_uid = %uid,
                port,
                release = %plan.meta.name,
                namespace = %plan.meta.namespace,
                "tcp tunnel bastion applied"
            );
        }
        Ok(())
    }

    /// Removes every tunnel object of the pod: the releases found from the cluster's labels (plus those
    /// the pod's ports name, for an apply that died before labelling anything), then any labelled object
    /// left without a release record, then the Services. Removing what is already gone is success.
    pub async fn delete(&self, ctx: &TunnelContext) -> Result<(), TunnelError> {
        let uid = checked_uid(&ctx.local.uid)?;
        let namespace = &self.settings.bastion_namespace;
        let selector = tunnel_selector(uid);
        let mut releases: BTreeSet<String> = tcp_ports(ctx.remote_pod.spec.as_ref())
            .into_iter()
            .map(|port| bastion_release_name(port, uid))
            .collect();
        releases.extend(released_by::<Deployment>(ctx, namespace, &selector).await?);
        releases.extend(released_by::<ConfigMap>(ctx, namespace, &selector).await?);
        releases.extend(released_by::<Secret>(ctx, namespace, &selector).await?);
        for release in &releases {
            let uninstall = UninstallOptions {
                wait: false,
                timeout: remaining(ctx),
            };
            match deploy::uninstall_release(&ctx.client, namespace, release, &uninstall, &mut ())
                .await
            {
                Ok(_) | Err(ApplyError::ReleaseNotFound { .. }) => {}
                Err(source) => {
                    return Err(TunnelError::Release {
                        release: release.clone(),
                        source: Box::new(source),
                    });
                }
            }
        }
        delete_labelled::<Deployment>(ctx, namespace, &selector).await?;
        delete_labelled::<ConfigMap>(ctx, namespace, &selector).await?;
        delete_labelled::<Secret>(ctx, namespace, &selector).await?;
        delete_labelled::<Service>(ctx, &ctx.remote_namespace, &selector).await?;
        Ok(())
    }
}

impl TunnelHook for BastionTunnel {
    fn after_create<'a>(&'a self, ctx: &'a TunnelContext) -> HookFuture<'a> {
        Box::pin(async move { self.create(ctx).await.map_err(OffloadError::from) })
    }

    fn before_delete<'a>(&'a self, ctx: &'a TunnelContext) -> HookFuture<'a> {
        Box::pin(async move { self.delete(ctx).await.map_err(OffloadError::from) })
    }
}

fn checked_uid(uid: &str) -> Result<&str, TunnelError> {
    if is_valid_uid(uid) {
        Ok(uid)
    } else {
        Err(TunnelError::InvalidUid {
            uid: uid.to_owned(),
        })
    }
}

/// Release names recorded on the labelled objects of one kind.
async fn released_by<K>(
    ctx: &TunnelContext,
    namespace: &str,
    selector: &str,
) -> Result<Vec<String>, TunnelError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let params = ListParams::default().labels(selector);
    let listed = within(
        ctx,
        || {
            format!(
                "list {} in {namespace}",
                K::kind(&K::DynamicType::default())
            )
        },
        api.list_metadata(&params),
    )
    .await?;
    Ok(listed
        .items
        .iter()
        .filter_map(|item| item.annotations().get(RELEASE_NAME_ANNOTATION).cloned())
        .collect())
}

/// Deletes every object of one kind matching `selector`; `Ok` when none is left.
async fn delete_labelled<K>(
    ctx: &TunnelContext,
    namespace: &str,
    selector: &str,
) -> Result<(), TunnelError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let delete = k8s::api::delete_by_label::<K>(&ctx.client, namespace, selector, |_| true);
    match tokio::time::timeout_at(ctx.deadline, delete).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(TunnelError::Remote {
            action: err.action,
            source: err.source,
        }),
        Err(_) => Err(TunnelError::Timeout {
            action: format!(
                "delete {} in {namespace} with {selector}",
                K::kind(&K::DynamicType::default())
            ),
            timeout: ctx.timeout,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    const UID: &str = "0b7a3f2e-5c1d-4e8a-9f6b-2d3c4e5f6a7b";

    fn settings() -> TunnelSettings {
        TunnelSettings {
            gateway_host: "gw.example.org".to_owned(),
            gateway_ssh_port: Some(2200),
            private_key_base64: include_str!("../../tests/fixtures/tunnel/id_ed25519.b64")
                .trim()
                .to_owned(),
            bastion_namespace: "tcp-tunnel".to_owned(),
        }
    }

    fn pod_spec(ports: serde_json::Value) -> PodSpec {
        let pod: Pod = serde_json::from_value(json!({
            "spec": {
                "initContainers": [{"name": "init", "ports": [{"containerPort": 9999}]}],
                "containers": ports
            }
        }))
        .expect("valid pod");
        pod.spec.expect("spec")
    }

    #[test]
    fn tcp_ports_are_distinct_sorted_and_tcp_only() {
        let spec = pod_spec(json!([
            {"name": "a", "ports": [{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]},
            {"name": "b", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 8080}]},
            {"name": "c"}
        ]));
        assert_eq!(tcp_ports(Some(&spec)), vec![80, 8080]);
        assert_eq!(tcp_ports(None), Vec::<u16>::new());
    }

    #[test]
    fn names_fit_kubernetes_limits_and_differ_per_port() {
        let release = bastion_release_name(65535, UID);
        assert!(
            release.len() <= crate::release::pipeline::MAX_RELEASE_NAME,
            "{release}"
        );
        crate::release::pipeline::validate_release_name(&release).expect("valid release name");
        let service = tunnel_service_name(65535, UID);
        assert!(service.len() <= 63 && service.starts_with(|c: char| c.is_ascii_lowercase()));
        assert_ne!(
            bastion_release_name(80, UID),
            bastion_release_name(8080, UID)
        );
        assert_ne!(tunnel_service_name(80, UID), tunnel_service_name(8080, UID));
    }

    #[test]
    fn the_configured_gateway_port_reaches_the_chart() {
        let tunnel = BastionTunnel::new(settings()).expect("valid settings");
        let plan = tunnel.plan(8181, UID, "remote-ns").expect("plan");
        let config_map = plan
            .objects
            .iter()
            .find(|o| o.types.as_ref().is_some_and(|t| t.kind == "ConfigMap"))
            .expect("a ConfigMap");
        let data = &config_map.data["data"];
        assert_eq!(data["GATEWAY_PORT"], "2200");
        assert_eq!(data["GATEWAY_TUNNEL_PORT"], "8181");
        assert_eq!(data["SERVICE_PORT"], "8181");
        assert_eq!(
            data["SERVICE_HOST"],
            format!("tunnel-8181-{UID}.remote-ns.svc")
        );
        for object in &plan.objects {
            let labels = object.metadata.labels.as_ref().expect("labels");
            assert_eq!(labels[POD_UID_LABEL], UID);
            assert_eq!(labels[COMPONENT_LABEL], COMPONENT_VALUE);
            assert_eq!(labels[PORT_LABEL], "8181");
        }
    }

    #[test]
    fn bastion_values_replace_the_tunnel_section_only() {
        let chart = chart::builtin("bastion").expect("embedded chart");
        let defaults = compose(&chart.values_yaml, &ValueLayers::new()).expect("defaults");
        let typed = BastionValues::from_tree(&defaults.tree).expect("defaults fit the model");
        let mut unset_port = settings();
        unset_port.gateway_ssh_port = None;
        let layer = bastion_values(&typed, &unset_port, 8181, "svc.ns.svc").expect("layer");
        assert_eq!(
            layer,
            json!({"tunnel": {
                "gateway": {
                    "host": "gw.example.org",
                    "ssh": {
                        "port": 30222,
                        "privateKey": unset_port.private_key_base64,
                        "userName": "interlink-user"
                    }
                },
                "service": {"gatewayPort": 8181, "targetHost": "svc.ns.svc", "targetPort": 8181}
            }})
        );
    }

    #[test]
    fn a_bad_gateway_host_is_a_start_up_error_without_the_key() {
        let mut bad = settings();
        bad.gateway_host = "not a host".to_owned();
        let err = BastionTunnel::new(bad).err().expect("rejected").to_string();
        assert!(err.contains("tunnel.gateway.host"), "{err}");
        assert!(!err.contains(&settings().private_key_base64), "{err}");
    }

    #[test]
    fn a_missing_key_or_host_names_the_config_key() {
        let config = TunnelConfig {
            enabled: true,
            gateway_host: "gw".to_owned(),
            ..TunnelConfig::default()
        };
        let err = TunnelSettings::from_config(&config).expect_err("no key");
        assert!(
            err.to_string()
                .contains("tcp_tunnel.gateway_ssh_private_key"),
            "{err}"
        );
        let err = TunnelSettings::from_config(&TunnelConfig::default()).expect_err("no host");
        assert!(err.to_string().contains("tcp_tunnel.gateway_host"), "{err}");
    }

    #[test]
    fn settings_debug_hides_the_key() {
        let shown = format!("{:?}", settings());
        assert!(!shown.contains(&settings().private_key_base64));
    }
}
