//! The request bodies of `ikp serve`: one selector byte (`/create`, `/delete`, `/status`,
//! `/getLogs`), then the body. Each body goes through the parser the handler uses and, when it
//! parses, through everything the handler does before it talks to the remote cluster (the
//! create plan with and without a namespace prefix, the pod identity checks, the status entry).
//! The outcome is a 400 with a one-line message, or a value whose remote names are valid
//! Kubernetes names and whose remote pod never carries the mesh pre-exec annotation; never a
//! panic. libFuzzer's `-rss_limit_mb` and `-timeout` bound memory and time.
#![no_main]

use ikp::plugin::config::OffloadingConfig;
use ikp::plugin::mesh::PRE_EXEC_ANNOTATION;
use ikp::plugin::offload::names::{NameKind, is_valid_name};
use ikp::plugin::offload::status::{RemoteState, status_entry};
use ikp::plugin::offload::transform::{self, RequestError, TransformSettings};
use ikp::plugin::serve::{
    ApiError, parse_create_body, parse_delete_body, parse_logs_body, parse_status_body,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use libfuzzer_sys::fuzz_target;

/// Panics unless a parse error is a 400 with a one-line message.
fn check_api_error(err: &ApiError) {
    assert_eq!(err.status(), 400, "{}", err.message());
    assert!(
        !err.message().contains('\n'),
        "multi-line error {:?}",
        err.message()
    );
}

/// Panics unless a request error is one line.
fn check_request_error(err: &RequestError) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "multi-line error {text:?}");
    assert!(
        !err.field().contains('\n'),
        "multi-line field {:?}",
        err.field()
    );
}

fn create(body: &[u8]) {
    let request = match parse_create_body(body) {
        Ok(request) => request,
        Err(err) => return check_api_error(&err),
    };
    let prefixed = TransformSettings {
        offloading: OffloadingConfig {
            namespace_prefix: "offloaded".into(),
            ..OffloadingConfig::default()
        },
        ..TransformSettings::default()
    };
    for settings in [TransformSettings::default(), prefixed] {
        let plan = match transform::plan(&request, &settings) {
            Ok(plan) => plan,
            Err(err) => return check_request_error(&err),
        };
        let pod_name = plan.pod.metadata.name.as_deref().unwrap_or_default();
        assert!(
            is_valid_name(pod_name, NameKind::Subdomain),
            "remote pod name {pod_name:?}"
        );
        if !settings.offloading.namespace_prefix.is_empty() {
            assert!(
                is_valid_name(&plan.namespace, NameKind::Label),
                "remote namespace {:?}",
                plan.namespace
            );
        }
        let names = plan
            .config_maps
            .iter()
            .map(|cm| &cm.metadata)
            .chain(plan.secrets.iter().map(|s| &s.metadata));
        for meta in names {
            let name = meta.name.as_deref().unwrap_or_default();
            assert!(
                is_valid_name(name, NameKind::Subdomain),
                "remote object name {name:?}"
            );
        }
        let annotations = plan.pod.metadata.annotations.as_ref();
        assert!(
            !annotations.is_some_and(|a| a.contains_key(PRE_EXEC_ANNOTATION)),
            "the remote pod carries {PRE_EXEC_ANNOTATION}"
        );
        if serde_json::to_vec(&plan.pod).is_err() {
            panic!("the remote pod does not serialize");
        }
    }
}

fn delete(body: &[u8]) {
    match parse_delete_body(body) {
        Ok(pod) => {
            if let Err(err) = transform::local_pod(&pod.metadata, "metadata") {
                check_request_error(&err);
            }
        }
        Err(err) => check_api_error(&err),
    }
}

fn status(body: &[u8]) {
    let pods = match parse_status_body(body) {
        Ok(pods) => pods,
        Err(err) => return check_api_error(&err),
    };
    for (i, pod) in pods.iter().enumerate() {
        let local = match transform::local_pod(&pod.metadata, &format!("[{i}].metadata")) {
            Ok(local) => local,
            Err(err) => return check_request_error(&err),
        };
        let spec = pod.spec.as_ref();
        let init = spec
            .and_then(|s| s.init_containers.as_deref())
            .unwrap_or_default();
        let main = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
        let entry = status_entry(&local, init, main, RemoteState::NotFound);
        if serde_json::to_vec(&entry).is_err() {
            panic!("the status entry does not serialize");
        }
        if let Some(ended) = pod.status.as_ref() {
            let entry = status_entry(&local, init, main, RemoteState::Ended(ended));
            if serde_json::to_vec(&entry).is_err() {
                panic!("the status entry does not serialize");
            }
        }
    }
}

fn logs(body: &[u8]) {
    let request = match parse_logs_body(body) {
        Ok(request) => request,
        Err(err) => return check_api_error(&err),
    };
    let meta = ObjectMeta {
        name: Some(request.pod_name.clone()),
        namespace: Some(request.namespace.clone()),
        uid: Some(request.pod_uid.clone()),
        ..ObjectMeta::default()
    };
    if let Err(err) = transform::local_pod(&meta, "") {
        check_request_error(&err);
    }
    let _ = request.opts.since_time();
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => create(body),
        1 => delete(body),
        2 => status(body),
        _ => logs(body),
    }
});
