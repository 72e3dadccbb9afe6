//! The HTTP edge of `ikp serve` without a remote cluster: the kubeconfig points at a closed port, so every
//! answer here is produced without the remote API (bad requests, ping, health, metrics, OpenAPI, limits),
//! plus start-up errors of the binary.

mod serve_common;

use std::path::Path;

use serde_json::{Value, json};
use serve_common::{Plugin, PluginOptions};

fn unreachable_kubeconfig(dir: &Path) -> std::path::PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let path = dir.join("kubeconfig.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:{port}\", insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: SENTINEL-KUBE-TOKEN}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

async fn expect_error(
    plugin: &Plugin,
    method: &str,
    path: &str,
    body: &str,
    status: u16,
    field: Option<&str>,
) -> Value {
    let response = plugin
        .send(method, path, Some(body.as_bytes().to_vec()))
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), status, "{method} {path} {body}");
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let json: Value = serde_json::from_slice(&bytes).expect("error bodies are JSON");
    assert!(
        json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{json}"
    );
    assert_eq!(json["field"].as_str(), field, "{json}");
    json
}

#[tokio::test]
async fn malformed_requests_get_4xx_json_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let mut options = PluginOptions::new("http-edge", &kubeconfig);
    options.args = vec!["--max-body-bytes".into(), "4096".into()];
    let mut plugin = Plugin::start(options).await;

    expect_error(&plugin, "POST", "/create", "{", 400, None).await;
    expect_error(&plugin, "POST", "/create", "", 400, None).await;
    expect_error(
        &plugin,
        "POST",
        "/create",
        r#"{"pod": {"spec": {"containers": "x"}}}"#,
        400,
        Some("pod.spec.containers"),
    )
    .await;
    expect_error(
        &plugin,
        "POST",
        "/create",
        r#"{"pod": {"metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": [{"name": "c"}]}}, "container": null}"#,
        400,
        Some("pod.metadata.uid"),
    )
    .await;
    expect_error(
        &plugin,
        "POST",
        "/create",
        r#"{"pod": {"metadata": {"name": "p", "namespace": "n", "uid": "u-1"}, "spec": {"containers": [{"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}], "volumes": [{"name": "v", "configMap": {"name": "not-sent"}}]}}, "container": [{"name": "c", "configMaps": null}]}"#,
        422,
        Some("pod.spec.volumes[0].configMap.name"),
    )
    .await;
    let secret_error = expect_error(
        &plugin,
        "POST",
        "/create",
        r#"{"pod": {"metadata": {"uid": "u"}}, "container": [{"secrets": [{"metadata": {"name": "s"}, "data": {"k": "SENTINEL-NOT-BASE64!"}}]}]}"#,
        400,
        Some("container[0].secrets[0].data.k"),
    )
    .await;
    assert!(
        !secret_error.to_string().contains("SENTINEL-NOT-BASE64"),
        "{secret_error}"
    );
    expect_error(
        &plugin,
        "POST",
        "/delete",
        r#"{"metadata": {"name": "p", "uid": "u"}}"#,
        400,
        Some("metadata.namespace"),
    )
    .await;
    expect_error(
        &plugin,
        "GET",
        "/status",
        r#"[{"metadata": {"name": "p", "namespace": "n"}}]"#,
        400,
        Some("[0].metadata.uid"),
    )
    .await;
    expect_error(
        &plugin,
        "GET",
        "/status",
        r#"{"not": "an array"}"#,
        400,
        None,
    )
    .await;
    expect_error(
        &plugin,
        "GET",
        "/getLogs",
        r#"{"Namespace": "n", "PodName": "p", "PodUID": ""}"#,
        400,
        Some("PodUID"),
    )
    .await;
    expect_error(
        &plugin,
        "GET",
        "/getLogs",
        r#"{"Namespace": "n", "PodName": "p", "PodUID": "u", "Opts": {"Tail": "ten"}}"#,
        400,
        Some("Opts.Tail"),
    )
    .await;
    expect_error(
        &plugin,
        "GET",
        "/getLogs",
        r#"{"Namespace": "n", "PodName": "p", "PodUID": "u", "Opts": {"Tail": -1}}"#,
        400,
        Some("Opts.Tail"),
    )
    .await;
    let big = format!(
        r#"{{"pod": {{"metadata": {{"name": "{}"}}}}}}"#,
        "x".repeat(5000)
    );
    expect_error(&plugin, "POST", "/create", &big, 413, None).await;
    expect_error(&plugin, "GET", "/nope", "", 404, None).await;

    // The ping answers without the (unreachable) remote cluster.
    for method in ["GET", "POST"] {
        let reply = plugin
            .request(method, "/status", Some(&json!([])))
            .await
            .expect("ping");
        assert_eq!((reply.status, reply.json()), (200, json!([])));
    }
    let reply = plugin
        .request("GET", "/healthz", None)
        .await
        .expect("healthz");
    assert_eq!(reply.status, 200);
    let reply = plugin
        .request("GET", "/readyz", None)
        .await
        .expect("readyz");
    assert_eq!(
        reply.status,
        503,
        "not ready without the remote cluster: {}",
        reply.text()
    );
    let reply = plugin
        .request("GET", "/openapi.json", None)
        .await
        .expect("openapi");
    let doc = reply.json();
    for path in ["/create", "/delete", "/status", "/getLogs"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["CreateStruct"]["properties"]["PodUID"].is_object());
    let metrics = plugin
        .request("GET", "/metrics", None)
        .await
        .expect("metrics")
        .text();
    assert!(
        metrics
            .contains(r#"ikp_http_requests_total{endpoint="/create",method="POST",status="400"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("ikp_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("ikp_offloaded_pods 0"), "{metrics}");

    assert!(plugin.stop().success());
    assert!(!plugin.log_text().contains("SENTINEL-KUBE-TOKEN"));
    assert!(!plugin.log_text().contains("SENTINEL-NOT-BASE64"));
}

#[test]
fn startup_errors_name_the_key_and_exit_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.ini");
    std::fs::write(
        &config,
        "[app]\nsocket_address = http://0.0.0.0\nsocket_port = 99999\n",
    )
    .expect("write");
    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_ikp"))
        .env_clear()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("app.socket_port") && stderr.contains("99999") && stderr.contains(":3"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one-line error: {stderr}");

    // A regular file where the socket should go is refused.
    let blocker = dir.path().join("not-a-socket");
    std::fs::write(&blocker, "data").expect("write");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_ikp"))
        .env_clear()
        .args(["serve", "--socket-address"])
        .arg(format!("unix://{}", blocker.display()))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a unix socket"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&blocker).expect("still there"),
        "data"
    );

    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_ikp"))
        .env_clear()
        .env("TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY", "SENTINEL-KEY")
        .env("TCP_TUNNEL_GATEWAY_PORT", "abc")
        .args(["serve", "--check-config"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TCP_TUNNEL_GATEWAY_PORT") && !stderr.contains("SENTINEL-KEY"),
        "{stderr}"
    );
}

#[tokio::test]
async fn stale_socket_is_replaced_and_mode_applied() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let first = Plugin::start(PluginOptions::new("stale-1", &kubeconfig)).await;
    let serve_common::Listen::Unix(path) = first.listen.clone() else {
        panic!("unix")
    };
    assert_eq!(
        std::fs::metadata(&path)
            .expect("socket")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Simulate a crash: kill -9 leaves the socket file behind.
    let pid = first.pid().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(path.exists(), "stale socket left by kill -9");
    let mut options = PluginOptions::new("stale-2", &kubeconfig);
    options.socket = Some(path.clone());
    options.args = vec!["--socket-mode".into(), "0660".into()];
    let mut second = Plugin::start(options).await;
    assert_eq!(
        std::fs::metadata(&path)
            .expect("socket")
            .permissions()
            .mode()
            & 0o777,
        0o660
    );
    assert!(second.stop().success());
    assert!(!path.exists());
}
