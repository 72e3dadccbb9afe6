use k8s_openapi::api::core::v1::Toleration;

use super::*;

const UID: &str = "6c1f2e0a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

fn fixture(name: &str) -> CreateRequest {
    let path = format!(
        "{}/tests/fixtures/serve/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    let text = text.replace("__UID__", UID).replace("__NS__", "team-a");
    serde_json::from_str(&text).expect("fixture parses")
}

fn settings() -> TransformSettings {
    TransformSettings {
        offloading: OffloadingConfig {
            namespace_prefix: "offloading".into(),
            ..OffloadingConfig::default()
        },
        ..TransformSettings::default()
    }
}

fn spec(plan: &RemotePlan) -> &PodSpec {
    plan.pod.spec.as_ref().expect("spec")
}

#[test]
fn simple_pod_keeps_its_spec_and_loses_local_bindings() {
    let plan = plan(&fixture("simple-pod"), &settings()).expect("plan");
    assert_eq!(plan.namespace, "offloading-team-a");
    assert_eq!(
        plan.pod.metadata.name.as_deref(),
        Some(format!("test-pod-{UID}").as_str())
    );
    let labels = plan.pod.metadata.labels.as_ref().expect("labels");
    assert_eq!(
        labels.get("interlink.io").map(String::as_str),
        Some("offloading")
    );
    assert_eq!(
        labels
            .get("interlink.io/source.pod_uid")
            .map(String::as_str),
        Some(UID)
    );
    assert_eq!(labels.get("app").map(String::as_str), Some("test-pod"));
    let annotations = plan.pod.metadata.annotations.as_ref().expect("annotations");
    assert_eq!(
        annotations
            .get("interlink.io/source.name")
            .map(String::as_str),
        Some("test-pod")
    );
    assert_eq!(
        annotations
            .get("interlink.io/source.namespace")
            .map(String::as_str),
        Some("team-a")
    );
    assert_eq!(
        annotations
            .get("interlink.io/source.uid")
            .map(String::as_str),
        Some(UID)
    );
    assert_eq!(plan.pod.metadata.uid, None);
    assert_eq!(plan.pod.metadata.resource_version, None);
    assert_eq!(plan.pod.metadata.creation_timestamp, None);
    let spec = spec(&plan);
    assert_eq!(spec.node_name, None);
    assert_eq!(spec.node_selector, None);
    assert_eq!(spec.tolerations, None);
    assert_eq!(spec.service_account_name, None);
    // The service-account token volume and its mount are gone; the token never leaves.
    assert_eq!(spec.volumes, None);
    assert_eq!(spec.containers[0].volume_mounts, None);
    assert!(plan.secrets.is_empty());
    let resources = spec.containers[0]
        .resources
        .as_ref()
        .expect("resources pass through");
    assert!(
        resources
            .limits
            .as_ref()
            .is_some_and(|l| l.contains_key("memory"))
    );
    assert!(
        plan.decisions
            .iter()
            .any(|d| d.subject == "pod.spec.nodeName")
    );
    assert!(
        plan.decisions
            .iter()
            .any(|d| d.subject == "volume kube-api-access-x7k2p")
    );
}

#[test]
fn configmaps_secrets_and_env_references_are_scoped_consistently() {
    let plan = plan(&fixture("microservice-pod"), &settings()).expect("plan");
    let scoped = |n: &str| format!("{n}-{UID}");
    let cm_names: Vec<_> = plan
        .config_maps
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(cm_names, [scoped("ssh-setup-cm"), scoped("test-cm")]);
    let cm = &plan.config_maps[1];
    assert_eq!(cm.metadata.uid, None);
    assert_eq!(cm.metadata.managed_fields, None);
    assert_eq!(
        cm.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("interlink.io/source.uid"))
            .map(String::as_str),
        Some("aaaaaaaa-0000-0000-0000-000000000001")
    );
    assert_eq!(plan.secrets.len(), 1);
    assert_eq!(plan.secrets[0].metadata.name, Some(scoped("test-secret")));
    let spec = spec(&plan);
    let volumes = spec.volumes.as_ref().expect("volumes");
    assert_eq!(
        volumes[0].config_map.as_ref().map(|c| c.name.clone()),
        Some(scoped("test-cm"))
    );
    assert_eq!(
        volumes[1]
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.clone()),
        Some(scoped("test-secret"))
    );
    assert_eq!(
        volumes[2].config_map.as_ref().and_then(|c| c.default_mode),
        Some(0o755)
    );
    let httpbin = &spec.containers[0];
    let env = httpbin.env.as_ref().expect("env");
    let from = |i: usize| env[i].value_from.as_ref().expect("valueFrom");
    assert_eq!(
        from(1).config_map_key_ref.as_ref().map(|r| r.name.clone()),
        Some(scoped("test-cm"))
    );
    assert_eq!(
        from(2).secret_key_ref.as_ref().map(|r| r.name.clone()),
        Some(scoped("test-secret"))
    );
    // fieldRef passes through intact (the original turned it into an invalid `valueFrom: {}`).
    assert_eq!(
        from(3).field_ref.as_ref().map(|r| r.field_path.clone()),
        Some("status.podIP".into())
    );
    let env_from = httpbin.env_from.as_ref().expect("envFrom");
    assert_eq!(
        env_from[0].config_map_ref.as_ref().map(|r| r.name.clone()),
        Some(scoped("test-cm"))
    );
    assert!(httpbin.readiness_probe.is_some());
    assert_eq!(httpbin.image_pull_policy.as_deref(), Some("IfNotPresent"));
    let caps = spec.containers[1]
        .security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref());
    assert_eq!(
        caps.and_then(|c| c.add.clone()),
        Some(vec!["NET_ADMIN".into(), "NET_RAW".into()])
    );
    assert_eq!(plan.pod.metadata.owner_references, None);
}

#[test]
fn configmap_mounted_by_init_and_main_containers_is_created_once() {
    let plan = plan(&fixture("init-containers-pod"), &settings()).expect("plan");
    assert_eq!(plan.config_maps.len(), 1);
    let spec = spec(&plan);
    assert_eq!(spec.init_containers.as_ref().map(Vec::len), Some(1));
    assert_eq!(spec.containers.len(), 2);
    assert!(
        spec.volumes
            .as_ref()
            .is_some_and(|v| v.iter().any(|v| v.empty_dir.is_some()))
    );
}

#[test]
fn pvcs_are_offloaded_only_when_listed() {
    let plan = plan(&fixture("pvc-pod"), &settings()).expect("plan");
    assert_eq!(plan.pvcs.len(), 1);
    let pvc = &plan.pvcs[0];
    assert_eq!(pvc.metadata.name.as_deref(), Some("my-volume-claim"));
    assert_eq!(pvc.metadata.namespace.as_deref(), Some("offloading-team-a"));
    assert_eq!(pvc.spec.as_ref().and_then(|s| s.volume_name.clone()), None);
    assert_eq!(
        pvc.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("interlink.io/pvc-retention-policy"))
            .map(String::as_str),
        Some("delete")
    );
    let spec = spec(&plan);
    let volumes = spec.volumes.as_ref().expect("volumes");
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].name, "data");
    let mounts = spec.containers[0].volume_mounts.as_ref().expect("mounts");
    assert_eq!(mounts.len(), 1);
}

#[test]
fn node_selector_and_tolerations_come_from_config() {
    let mut settings = settings();
    settings.offloading.node_selector =
        Some([("nvidia/gpu-model".to_owned(), "T4".to_owned())].into());
    settings.offloading.node_tolerations = Some(vec![Toleration {
        key: Some("nvidia.com/gpu".into()),
        operator: Some("Exists".into()),
        effect: Some("NoSchedule".into()),
        ..Toleration::default()
    }]);
    let plan = plan(&fixture("gpu-pod"), &settings).expect("plan");
    let spec = spec(&plan);
    assert_eq!(spec.node_selector, settings.offloading.node_selector);
    assert_eq!(spec.tolerations, settings.offloading.node_tolerations);
    assert_eq!(
        spec.affinity.as_ref().and_then(|a| a.node_affinity.clone()),
        None
    );
    let limits = spec.containers[0]
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .expect("limits");
    assert!(limits.contains_key("nvidia.com/gpu"));
}

#[test]
fn missing_identity_fields_are_named() {
    let mut request = fixture("simple-pod");
    request.pod.metadata.uid = None;
    let err = plan(&request, &settings()).expect_err("no uid");
    assert_eq!(err.field(), "pod.metadata.uid");
    let mut request = fixture("simple-pod");
    request.pod.metadata.namespace = Some(String::new());
    assert_eq!(
        plan(&request, &settings()).expect_err("empty ns").field(),
        "pod.metadata.namespace"
    );
    let mut request = fixture("simple-pod");
    request.pod.metadata.uid = Some("Not A UID".into());
    assert_eq!(
        plan(&request, &settings()).expect_err("bad uid").field(),
        "pod.metadata.uid"
    );
}

#[test]
fn env_reference_to_an_object_not_sent_fails_fast_unless_optional() {
    let mut request = fixture("microservice-pod");
    request.container[0].secrets.clear();
    // The secret volume also references it: make that optional, so the env reference is what fails.
    if let Some(volumes) = request.pod.spec.as_mut().and_then(|s| s.volumes.as_mut()) {
        volumes[1].secret.as_mut().expect("secret volume").optional = Some(true);
    }
    let err = plan(&request, &settings()).expect_err("secret not delivered");
    assert_eq!(
        err.field(),
        "pod.spec.containers[0].env[2].valueFrom.secretKeyRef.name"
    );
    if let Some(spec) = request.pod.spec.as_mut() {
        let env = spec.containers[0].env.as_mut().expect("env");
        env[2]
            .value_from
            .as_mut()
            .and_then(|v| v.secret_key_ref.as_mut())
            .expect("ref")
            .optional = Some(true);
    }
    plan(&request, &settings()).expect("optional reference is fine");
}

#[test]
fn projected_content_without_token_becomes_a_secret() {
    let mut request = fixture("simple-pod");
    if let Some(spec) = request.pod.spec.as_mut() {
        let volume = &mut spec.volumes.as_mut().expect("volumes")[0];
        volume
            .projected
            .as_mut()
            .expect("projected")
            .sources
            .as_mut()
            .expect("sources")
            .remove(0);
    }
    let plan = plan(&request, &settings()).expect("plan");
    assert_eq!(plan.secrets.len(), 1);
    let volume = &spec(&plan).volumes.as_ref().expect("volume kept")[0];
    let secret = volume.secret.as_ref().expect("secret volume");
    assert_eq!(secret.items.as_ref().map(Vec::len), Some(3));
}

#[test]
fn skipped_mesh_injection_never_sends_the_pre_exec_annotation() {
    let key = "WG-KEY-not-a-real-one";
    let opener = crate::plugin::mesh::MESH_HEREDOC_OPENER;
    let cases = [
        // The heredoc is never closed.
        (format!("{opener}\nPRIVATE_KEY={key}\n"), None),
        // A container already has the name of the one the mesh adds.
        (
            format!("{opener}\nPRIVATE_KEY={key}\nEOFMESH\n"),
            Some(crate::plugin::mesh::MESH_CONTAINER_NAME),
        ),
    ];
    for (annotation, container_name) in cases {
        let mut request = fixture("simple-pod");
        request
            .pod
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(
                crate::plugin::mesh::PRE_EXEC_ANNOTATION.to_owned(),
                annotation,
            );
        if let (Some(name), Some(spec)) = (container_name, request.pod.spec.as_mut()) {
            spec.containers[0].name = name.to_owned();
        }
        let plan = plan(&request, &settings()).expect("plan");
        let pod = serde_json::to_string(&plan.pod).expect("json");
        assert!(
            !pod.contains(crate::plugin::mesh::PRE_EXEC_ANNOTATION),
            "{pod}"
        );
        assert!(!pod.contains(key), "{pod}");
        assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
        assert!(!plan.warnings[0].to_string().contains(key));
    }
}

#[test]
fn every_remote_object_carries_the_instance_label() {
    let plan = plan(&fixture("microservice-pod"), &settings()).expect("plan");
    let metas = std::iter::once(&plan.pod.metadata)
        .chain(plan.config_maps.iter().map(|o| &o.metadata))
        .chain(plan.secrets.iter().map(|o| &o.metadata))
        .chain(plan.pvcs.iter().map(|o| &o.metadata));
    let mut count = 0;
    for meta in metas {
        count += 1;
        assert_eq!(
            meta.labels
                .as_ref()
                .and_then(|l| l.get(INSTANCE_LABEL))
                .map(String::as_str),
            Some("offloading"),
            "{:?}",
            meta.name
        );
    }
    assert!(count >= 3, "pod, ConfigMaps and a Secret checked");
}

#[test]
fn last_applied_configuration_is_not_copied_to_the_remote_pod() {
    let mut request = fixture("microservice-pod");
    let applied = r#"{"spec":{"containers":[{"env":[{"name":"PASSWORD","value":"hunter2"}]}]}}"#;
    let mut annotations = BTreeMap::from([
        (
            names::LAST_APPLIED_ANNOTATION.to_owned(),
            applied.to_owned(),
        ),
        (
            names::WIREGUARD_SNIPPET_ANNOTATION.to_owned(),
            "[Interface]\nPrivateKey = x".to_owned(),
        ),
        ("team.example/owner".to_owned(), "alice".to_owned()),
    ]);
    request.pod.metadata.annotations = Some(annotations.clone());
    annotations.remove("team.example/owner");
    for cm in &mut request.container[0].config_maps {
        cm.metadata.annotations = Some(annotations.clone());
    }
    let plan = plan(&request, &settings()).expect("plan");
    let remote = plan.pod.metadata.annotations.as_ref().expect("annotations");
    assert!(!remote.contains_key(names::LAST_APPLIED_ANNOTATION));
    assert!(!remote.contains_key(names::WIREGUARD_SNIPPET_ANNOTATION));
    assert_eq!(
        remote.get("team.example/owner").map(String::as_str),
        Some("alice"),
        "other annotations travel"
    );
    for cm in &plan.config_maps {
        let annotations = cm.metadata.annotations.as_ref().expect("annotations");
        assert!(!annotations.contains_key(names::LAST_APPLIED_ANNOTATION));
    }
}

/// interLink's `wstunnel-client-commands` carries the shell commands (and the tunnel's path secret)
/// that the Slurm plugin runs beside the job; ikp exposes ports through its own tunnel and mesh, so
/// the commands neither reach the remote pod nor run there.
#[test]
fn wstunnel_client_commands_stay_local_and_run_nowhere() {
    let mut request = fixture("microservice-pod");
    let commands = "wstunnel client -R tcp://8080:localhost:8080 wss://vk.example/secret-path";
    request.pod.metadata.annotations = Some(BTreeMap::from([(
        names::WSTUNNEL_COMMANDS_ANNOTATION.to_owned(),
        commands.to_owned(),
    )]));
    let plan = plan(&request, &settings()).expect("plan");
    let remote = plan.pod.metadata.annotations.clone().unwrap_or_default();
    assert!(!remote.contains_key(names::WSTUNNEL_COMMANDS_ANNOTATION));
    let spec = serde_json::to_string(&plan.pod.spec).expect("JSON");
    assert!(!spec.contains("secret-path"), "{spec}");
    let local_containers = request.pod.spec.as_ref().map_or(0, |s| s.containers.len());
    let remote_containers = plan.pod.spec.as_ref().map_or(0, |s| s.containers.len());
    assert_eq!(
        remote_containers, local_containers,
        "no container added to run them"
    );
    for secret in &plan.secrets {
        let text = serde_json::to_string(secret).expect("JSON");
        assert!(!text.contains("secret-path"));
    }
}

#[test]
fn the_remote_pod_records_its_objects_and_a_forged_record_names_only_its_own() {
    let uid = UID;
    let mut request = fixture("microservice-pod");
    // A record arriving on the local pod is replaced by the plugin's own.
    request.pod.metadata.annotations = Some(BTreeMap::from([(
        names::OBJECTS_ANNOTATION.to_owned(),
        r#"{"configMaps": ["kube-root-ca.crt"]}"#.to_owned(),
    )]));
    let plan = plan(&request, &settings()).expect("plan");
    let objects = PodObjects::of(&plan.pod, uid).expect("record");
    assert_eq!(
        objects.config_maps,
        vec![format!("ssh-setup-cm-{uid}"), format!("test-cm-{uid}")]
    );
    assert_eq!(objects.secrets, vec![format!("test-secret-{uid}")]);
    assert!(objects.claims.is_empty());
    // Names not scoped to the pod are never taken from a record.
    let mut forged = plan.pod.clone();
    forged
        .metadata
        .annotations
        .as_mut()
        .expect("annotations")
        .insert(
            names::OBJECTS_ANNOTATION.to_owned(),
            format!(r#"{{"configMaps": ["kube-root-ca.crt", "a-{uid}"], "secrets": ["other"]}}"#),
        );
    let objects = PodObjects::of(&forged, uid).expect("record");
    assert_eq!(objects.config_maps, vec![format!("a-{uid}")]);
    assert!(objects.secrets.is_empty());
    // An unreadable record is no record: the delete then finds the objects by label.
    forged
        .metadata
        .annotations
        .as_mut()
        .expect("annotations")
        .insert(names::OBJECTS_ANNOTATION.to_owned(), "not json".to_owned());
    assert_eq!(PodObjects::of(&forged, uid), None);
}

fn annotated(name: &str, annotations: &[(&str, &str)]) -> CreateRequest {
    let mut request = fixture(name);
    let map = request
        .pod
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    for (key, value) in annotations {
        map.insert((*key).to_owned(), (*value).to_owned());
    }
    request
}

#[test]
fn containers_kept_local_by_the_disable_offload_annotations_are_left_out() {
    let request = annotated(
        "init-containers-pod",
        &[
            (names::DISABLE_OFFLOAD_CONTAINERS_ANNOTATION, " sidecar ,"),
            (names::DISABLE_OFFLOAD_INIT_CONTAINERS_ANNOTATION, "prepare"),
        ],
    );
    let all: Vec<String> = request
        .pod
        .spec
        .as_ref()
        .expect("spec")
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let plan = plan(&request, &settings()).expect("plan");
    let spec = spec(&plan);
    let names = |cs: &[Container]| cs.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let expected: Vec<String> = all.into_iter().filter(|n| n != "sidecar").collect();
    assert_eq!(names(&spec.containers), expected);
    assert!(
        !names(spec.init_containers.as_deref().unwrap_or_default()).contains(&"prepare".to_owned())
    );
    assert!(
        plan.decisions
            .iter()
            .any(|d| d.subject == "spec.initContainers"),
        "{:?}",
        plan.decisions
    );
}

#[test]
fn disable_offload_of_every_container_is_a_request_error() {
    let request = annotated(
        "simple-pod",
        &[(names::DISABLE_OFFLOAD_CONTAINERS_ANNOTATION, "busybox")],
    );
    let err = plan(&request, &settings()).expect_err("nothing to offload");
    assert_eq!(
        err.field(),
        "pod.metadata.annotations.interlink.eu/disable-offload-containers"
    );
}

#[test]
fn pod_ip_annotation_becomes_pod_ip_in_every_container_that_does_not_set_it() {
    let mut request = annotated(
        "microservice-pod",
        &[(names::POD_IP_ANNOTATION, "10.244.3.7")],
    );
    request.pod.spec.as_mut().expect("spec").containers[1].env = Some(vec![EnvVar {
        name: "POD_IP".into(),
        value: Some("own".into()),
        value_from: None,
    }]);
    request.pod.spec.as_mut().expect("spec").init_containers = Some(vec![Container {
        name: "init".into(),
        image: Some("busybox:1.36".into()),
        ..Container::default()
    }]);
    let plan = plan(&request, &settings()).expect("plan");
    let pod_ip = |c: &Container| {
        c.env
            .iter()
            .flatten()
            .filter(|e| e.name == "POD_IP")
            .map(|e| e.value.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let spec = spec(&plan);
    // httpbin sets POD_IP from status.podIP itself; ssh-debug was given one above; the init container
    // added here gets the annotation's.
    assert_eq!(
        pod_ip(&spec.containers[0]),
        vec![""],
        "a fieldRef POD_IP stays"
    );
    assert_eq!(
        pod_ip(&spec.containers[1]),
        vec!["own"],
        "the container's own POD_IP wins"
    );
    assert_eq!(
        pod_ip(&spec.init_containers.as_deref().expect("init")[0]),
        vec!["10.244.3.7"]
    );
    // The annotation itself travels (it is no secret).
    assert_eq!(
        plan.pod.metadata.annotations.as_ref().expect("annotations")[names::POD_IP_ANNOTATION],
        "10.244.3.7"
    );
    let bad = annotated("simple-pod", &[(names::POD_IP_ANNOTATION, "10.0.0.300")]);
    let err = super::plan(&bad, &settings()).expect_err("not an address");
    assert_eq!(err.field(), "pod.metadata.annotations.interlink.eu/pod-ip");
}
