//! The InterLink wire types (Go `pkg/interlink/types.go`), with exactly the Go JSON key names. Every
//! array accepts `null`; unknown keys (`jobConfig`, `jobScript`, ...) are ignored.

use k8s_openapi::api::core::v1::{ConfigMap, ContainerStatus, PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Deserializer, Serialize};

/// Deserializes `null` or a missing key as an empty list.
fn nullable_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Body of `POST /create` (`RetrievedPodData`).
#[derive(Debug, Clone, Deserialize)]
pub struct CreateRequest {
    /// The local pod (the VK's copy; `metadata.uid` is the key of everything).
    pub pod: Pod,
    /// One entry per init container then container, with the objects it mounts.
    #[serde(default, deserialize_with = "nullable_vec")]
    pub container: Vec<RetrievedContainer>,
}

/// One `container[]` entry of a create request (`RetrievedContainer`).
#[derive(Debug, Clone, Deserialize)]
pub struct RetrievedContainer {
    /// Container name.
    #[serde(default)]
    pub name: String,
    /// ConfigMaps the container mounts, as read from the local cluster.
    #[serde(rename = "configMaps", default, deserialize_with = "nullable_vec")]
    pub config_maps: Vec<ConfigMap>,
    /// Resolved content of projected volumes (`metadata.name` = volume name).
    #[serde(default, deserialize_with = "nullable_vec")]
    pub projectedvolumemaps: Vec<ConfigMap>,
    /// Secrets the container mounts.
    #[serde(default, deserialize_with = "nullable_vec")]
    pub secrets: Vec<Secret>,
    /// Always null from the current API server; emptyDirs come from the pod spec.
    #[serde(rename = "emptyDirs", default, deserialize_with = "nullable_vec")]
    pub empty_dirs: Vec<String>,
    /// PVCs to create remotely (accepted as the original's SDK did; the Go API server never sends it).
    #[serde(
        rename = "persistentVolumeClaims",
        default,
        deserialize_with = "nullable_vec"
    )]
    pub persistent_volume_claims: Vec<PersistentVolumeClaim>,
}

/// Response of `POST /create` (`CreateStruct`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CreateResponse {
    /// Local pod UID.
    #[serde(rename = "PodUID")]
    pub pod_uid: String,
    /// Remote job id: the remote pod's UID.
    #[serde(rename = "PodJID")]
    pub pod_jid: String,
}

/// One element of the `/status` response (`PodStatus`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodStatusEntry {
    /// Local pod name.
    pub name: String,
    /// Local pod UID.
    #[serde(rename = "UID")]
    pub uid: String,
    /// Local namespace.
    pub namespace: String,
    /// Remote pod UID ("" while not created).
    #[serde(rename = "JID")]
    pub jid: String,
    /// Statuses of the containers; never empty for a pod with containers.
    pub containers: Vec<ContainerStatus>,
    /// Statuses of the init containers.
    #[serde(rename = "initContainers")]
    pub init_containers: Vec<ContainerStatus>,
}

/// Body of `/getLogs` (`LogStruct`).
#[derive(Debug, Clone, Deserialize)]
pub struct LogRequest {
    /// Local namespace.
    #[serde(rename = "Namespace")]
    pub namespace: String,
    /// Local pod UID.
    #[serde(rename = "PodUID")]
    pub pod_uid: String,
    /// Local pod name.
    #[serde(rename = "PodName")]
    pub pod_name: String,
    /// Container to read ("" = the pod's only container).
    #[serde(rename = "ContainerName", default)]
    pub container_name: String,
    /// Options.
    #[serde(rename = "Opts", default)]
    pub opts: LogOptions,
}

/// `ContainerLogOpts`; zero values mean "unset".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogOptions {
    /// Lines from the end (0 = all).
    #[serde(rename = "Tail", default)]
    pub tail: i64,
    /// Byte limit (0 = unlimited).
    #[serde(rename = "Bytes", default)]
    pub bytes: i64,
    /// Prefix lines with timestamps.
    #[serde(rename = "Timestamps", default)]
    pub timestamps: bool,
    /// Stream until the container ends or the client goes away.
    #[serde(rename = "Follow", default)]
    pub follow: bool,
    /// Previous container instance.
    #[serde(rename = "Previous", default)]
    pub previous: bool,
    /// Relative start (0 = unset).
    #[serde(rename = "SinceSeconds", default)]
    pub since_seconds: i64,
    /// Absolute start; Go's zero time `0001-01-01T00:00:00Z` means unset.
    #[serde(rename = "SinceTime", default)]
    pub since_time: Option<Time>,
}

impl LogOptions {
    /// `SinceTime` unless it is Go's zero time.
    pub fn since_time(&self) -> Option<Time> {
        self.since_time
            .clone()
            .filter(|t| t.0.as_second() > GO_ZERO_TIME_SECONDS)
    }
}

/// Unix seconds of `0001-01-01T00:00:00Z`.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_accepts_nulls_and_ignores_job_config() {
        let body = r#"{
          "pod": {"metadata": {"name": "p", "namespace": "n", "uid": "u", "creationTimestamp": null},
                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}, "status": {"phase": "Pending"}},
          "container": [{"name": "c", "configMaps": null, "projectedvolumemaps": null, "secrets": null, "emptyDirs": null}],
          "jobConfig": {"SingularityHubProxy": {"server": ""}, "Volumes": {"additional_directories_in_path": null}}
        }"#;
        let request: CreateRequest = serde_json::from_str(body).expect("valid create body");
        assert_eq!(request.container.len(), 1);
        assert!(request.container[0].config_maps.is_empty());
        assert_eq!(request.pod.metadata.uid.as_deref(), Some("u"));
        let request: CreateRequest =
            serde_json::from_str(r#"{"pod": {"metadata": {}}, "container": null}"#).expect("null");
        assert!(request.container.is_empty());
    }

    #[test]
    fn log_request_maps_go_names_and_zero_time() {
        let body = r#"{"Namespace": "team-a", "PodUID": "6c1f2e0a-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "PodName": "web",
          "ContainerName": "web", "Opts": {"Tail": 100, "Bytes": 0, "Timestamps": true, "Follow": true,
          "Previous": false, "SinceSeconds": 0, "SinceTime": "0001-01-01T00:00:00Z"}}"#;
        let request: LogRequest = serde_json::from_str(body).expect("valid log body");
        assert_eq!(request.opts.tail, 100);
        assert!(request.opts.follow && request.opts.timestamps);
        assert_eq!(request.opts.since_time(), None);
        let body = r#"{"Namespace": "n", "PodUID": "u", "PodName": "p", "Opts": {"SinceTime": "2026-07-01T09:00:00Z"}}"#;
        let request: LogRequest = serde_json::from_str(body).expect("valid log body");
        assert!(request.opts.since_time().is_some());
    }

    #[test]
    fn responses_use_go_key_names() {
        let created = serde_json::to_value(CreateResponse {
            pod_uid: "a".into(),
            pod_jid: "b".into(),
        })
        .expect("serialize");
        assert_eq!(created, serde_json::json!({"PodUID": "a", "PodJID": "b"}));
        let status = serde_json::to_value(PodStatusEntry {
            name: "p".into(),
            uid: "u".into(),
            namespace: "n".into(),
            jid: "j".into(),
            containers: vec![],
            init_containers: vec![],
        })
        .expect("serialize");
        assert_eq!(
            status,
            serde_json::json!({"name": "p", "UID": "u", "namespace": "n", "JID": "j", "containers": [], "initContainers": []})
        );
    }
}

/// The answer to the ping (`GET /status` with `[]`), the Go `PingResponse`: the Virtual Kubelet sets the
/// virtual node's capacity and allocatable from `resources` and its taints from `taints`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PingResponse {
    /// `ok`.
    pub status: String,
    /// Absent: the virtual node keeps its resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<PingResources>,
    /// Absent: the virtual node keeps its taints; `[]` clears them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<crate::plugin::config::PingTaint>>,
}

/// `resources` of a [`PingResponse`] (Kubernetes quantity strings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PingResources {
    /// CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Pods (a whole number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<String>,
    /// Extended resources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accelerators: Vec<PingAccelerator>,
}

/// One extended resource of [`PingResources`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PingAccelerator {
    /// Resource name, e.g. `nvidia.com/gpu`.
    #[serde(rename = "resourceType")]
    pub resource_type: String,
    /// Whole number available.
    pub available: String,
}
