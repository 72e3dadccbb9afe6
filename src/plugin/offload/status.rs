//! Mapping remote pods to InterLink `PodStatus` entries. Every spec container gets a status (a synthesized
//! `waiting` one while the remote pod has none), because the Virtual Kubelet reads an empty `containers`
//! list as "all containers finished" and marks the pod Succeeded for good.

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    Pod, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::interlink::PodStatusEntry;
use super::transform::LocalPod;

/// Waiting reason reported while the remote pod does not exist yet or has no status for a container.
const REASON_CREATING: &str = "ContainerCreating";
/// Terminated reason reported for a pod this process created whose remote pod has disappeared.
const REASON_REMOTE_POD_MISSING: &str = "RemotePodMissing";

/// What is known remotely about a requested pod.
pub enum RemoteState<'a> {
    /// The remote pod.
    Found(&'a Pod),
    /// Not there (yet): a create may be in flight.
    NotFound,
    /// Gone after the pod finished: the statuses the Virtual Kubelet already holds (sent with the request)
    /// are repeated, so a completed pod keeps how it ended.
    Ended(&'a PodStatus),
    /// Seen earlier and gone since, without a `/delete` from InterLink.
    Vanished {
        /// When its disappearance was observed.
        at: Time,
    },
}

/// The status entry for one requested pod. `local_spec` lists the containers of the local pod; statuses of
/// containers the local pod does not have (such as an injected mesh container) are not reported.
pub fn status_entry(
    local: &LocalPod,
    local_init: &[Container],
    local_main: &[Container],
    remote: RemoteState<'_>,
) -> PodStatusEntry {
    let (jid, containers, init_containers) = match remote {
        RemoteState::Found(pod) => {
            let status = pod.status.as_ref();
            let waiting = pending_state(pod);
            (
                pod.metadata.uid.clone().unwrap_or_default(),
                merge(
                    local_main,
                    status.and_then(|s| s.container_statuses.as_deref()),
                    &waiting,
                ),
                merge(
                    local_init,
                    status.and_then(|s| s.init_container_statuses.as_deref()),
                    &waiting,
                ),
            )
        }
        RemoteState::NotFound => {
            let waiting = ContainerStateWaiting {
                reason: Some(REASON_CREATING.into()),
                message: Some("the remote pod is being created".into()),
            };
            (
                String::new(),
                merge(local_main, None, &waiting),
                merge(local_init, None, &waiting),
            )
        }
        RemoteState::Ended(status) => {
            let unknown = ContainerStateWaiting {
                reason: Some(REASON_REMOTE_POD_MISSING.into()),
                message: Some("the pod has ended and its remote pod is gone".into()),
            };
            (
                String::new(),
                merge(local_main, status.container_statuses.as_deref(), &unknown),
                merge(
                    local_init,
                    status.init_container_statuses.as_deref(),
                    &unknown,
                ),
            )
        }
        RemoteState::Vanished { at } => {
            let gone = |c: &Container| ContainerStatus {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: 137,
                        reason: Some(REASON_REMOTE_POD_MISSING.into()),
                        message: Some("the remote pod was deleted outside InterLink".into()),
                        finished_at: Some(at.clone()),
                        ..ContainerStateTerminated::default()
                    }),
                    ..ContainerState::default()
                }),
                ..ContainerStatus::default()
            };
            (
                String::new(),
                local_main.iter().map(gone).collect(),
                local_init.iter().map(gone).collect(),
            )
        }
    };
    PodStatusEntry {
        name: local.name.clone(),
        uid: local.uid.clone(),
        namespace: local.namespace.clone(),
        jid,
        containers,
        init_containers,
    }
}

/// Why containers without a status are waiting: the scheduler's reason if the pod is unschedulable.
fn pending_state(pod: &Pod) -> ContainerStateWaiting {
    let unscheduled = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        });
    match unscheduled {
        Some(condition) => ContainerStateWaiting {
            reason: Some(
                condition
                    .reason
                    .clone()
                    .unwrap_or_else(|| "Unschedulable".into()),
            ),
            message: condition.message.clone(),
        },
        None => ContainerStateWaiting {
            reason: Some(REASON_CREATING.into()),
            message: None,
        },
    }
}

fn merge(
    spec: &[Container],
    statuses: Option<&[ContainerStatus]>,
    waiting: &ContainerStateWaiting,
) -> Vec<ContainerStatus> {
    spec.iter()
        .map(|container| {
            statuses
                .and_then(|all| all.iter().find(|s| s.name == container.name))
                .cloned()
                .unwrap_or_else(|| ContainerStatus {
                    name: container.name.clone(),
                    image: container.image.clone().unwrap_or_default(),
                    state: Some(ContainerState {
                        waiting: Some(waiting.clone()),
                        ..ContainerState::default()
                    }),
                    ready: false,
                    restart_count: 0,
                    started: Some(false),
                    ..ContainerStatus::default()
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ContainerStateRunning, PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn local() -> LocalPod {
        LocalPod {
            name: "web".into(),
            namespace: "team-a".into(),
            uid: "u-1".into(),
        }
    }

    fn container(name: &str) -> Container {
        Container {
            name: name.into(),
            image: Some("nginx:1.27".into()),
            ..Container::default()
        }
    }

    #[test]
    fn not_found_reports_waiting_for_every_container_never_empty() {
        let entry = status_entry(
            &local(),
            &[container("init")],
            &[container("a"), container("b")],
            RemoteState::NotFound,
        );
        assert_eq!(entry.containers.len(), 2);
        assert_eq!(entry.init_containers.len(), 1);
        let reason = entry.containers[0]
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone());
        assert_eq!(reason.as_deref(), Some(REASON_CREATING));
        let json = serde_json::to_string(&entry).expect("serialize");
        assert!(
            !json.contains("\"\"") || json.contains("\"JID\":\"\""),
            "no empty timestamps: {json}"
        );
    }

    #[test]
    fn unschedulable_remote_pod_reports_the_scheduler_reason() {
        let pod = Pod {
            metadata: ObjectMeta {
                uid: Some("remote-uid".into()),
                ..ObjectMeta::default()
            },
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                conditions: Some(vec![PodCondition {
                    type_: "PodScheduled".into(),
                    status: "False".into(),
                    reason: Some("Unschedulable".into()),
                    message: Some("0/1 nodes are available".into()),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        let entry = status_entry(&local(), &[], &[container("a")], RemoteState::Found(&pod));
        assert_eq!(entry.jid, "remote-uid");
        let waiting = entry.containers[0]
            .state
            .as_ref()
            .and_then(|s| s.waiting.clone())
            .expect("waiting");
        assert_eq!(waiting.reason.as_deref(), Some("Unschedulable"));
        assert_eq!(waiting.message.as_deref(), Some("0/1 nodes are available"));
    }

    #[test]
    fn remote_statuses_pass_through_whole_and_extra_containers_are_left_out() {
        let running = ContainerStatus {
            name: "a".into(),
            image: "nginx:1.27".into(),
            image_id: "docker.io/library/nginx@sha256:abc".into(),
            container_id: Some("containerd://123".into()),
            ready: true,
            restart_count: 2,
            started: Some(true),
            state: Some(ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time("2026-07-01T09:00:07.123Z".parse().expect("time"))),
                }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        };
        let mesh = ContainerStatus {
            name: "mesh-setup".into(),
            ..ContainerStatus::default()
        };
        let pod = Pod {
            status: Some(PodStatus {
                container_statuses: Some(vec![mesh, running.clone()]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        let entry = status_entry(&local(), &[], &[container("a")], RemoteState::Found(&pod));
        assert_eq!(entry.containers, vec![running]);
        let json = serde_json::to_value(&entry).expect("serialize");
        // metav1.Time has seconds precision on the wire, as in Go.
        assert_eq!(
            json["containers"][0]["state"]["running"]["startedAt"],
            "2026-07-01T09:00:07Z"
        );
        assert_eq!(json["containers"][0]["restartCount"], 2);
    }

    #[test]
    fn ended_pod_repeats_the_statuses_it_was_sent_with() {
        let done = ContainerStatus {
            name: "a".into(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 0,
                    reason: Some("Completed".into()),
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        };
        let sent = PodStatus {
            phase: Some("Succeeded".into()),
            container_statuses: Some(vec![done.clone()]),
            ..PodStatus::default()
        };
        let entry = status_entry(
            &local(),
            &[],
            &[container("a"), container("b")],
            RemoteState::Ended(&sent),
        );
        assert_eq!(entry.containers[0], done);
        // A container the request had no status for is not invented as running or killed.
        let waiting = entry.containers[1]
            .state
            .as_ref()
            .and_then(|s| s.waiting.clone());
        assert_eq!(
            waiting.and_then(|w| w.reason).as_deref(),
            Some(REASON_REMOTE_POD_MISSING)
        );
        assert_eq!(entry.jid, "");
    }

    #[test]
    fn vanished_pod_is_reported_terminated_with_a_reason() {
        let at = Time("2026-07-01T10:00:00Z".parse().expect("time"));
        let entry = status_entry(
            &local(),
            &[],
            &[container("a")],
            RemoteState::Vanished { at },
        );
        let terminated = entry.containers[0]
            .state
            .as_ref()
            .and_then(|s| s.terminated.clone())
            .expect("terminated");
        assert_eq!(terminated.exit_code, 137);
        assert_eq!(
            terminated.reason.as_deref(),
            Some(REASON_REMOTE_POD_MISSING)
        );
    }
}
