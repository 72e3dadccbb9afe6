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

    // The ping says that the (unreachable) remote cluster cannot be read, as JSON, on both methods.
    for method in ["GET", "POST"] {
        let reply = plugin
            .request(method, "/status", Some(&json!([])))
            .await
            .expect("ping");
        let body = reply.json();
        assert_eq!(
            (reply.status, &body["status"]),
            (503, &json!("error")),
            "{body}"
        );
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("remote cluster cannot be read")),
            "{body}"
        );
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

/// Sends raw bytes on a fresh TCP connection and reads until the server closes it or `wait` passes.
async fn raw_exchange(port: u16, request: &[u8], wait: std::time::Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn tcp_port(plugin: &Plugin) -> u16 {
    match plugin.listen {
        serve_common::Listen::Tcp(port) => port,
        serve_common::Listen::Unix(_) => panic!("tcp plugin expected"),
    }
}

/// The JSON body of a raw HTTP/1.1 answer (`Connection: close`, so the body is the rest).
fn raw_json_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

#[tokio::test]
async fn invented_http_methods_share_one_metrics_label_and_get_405_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let mut options = PluginOptions::new("methods", &kubeconfig);
    options.tcp = true;
    let mut plugin = Plugin::start(options).await;
    let port = tcp_port(&plugin);
    let wait = std::time::Duration::from_secs(10);
    let long = "M".repeat(8000);
    for method in (0..40)
        .map(|i| format!("INVENTED{i}"))
        .chain([long.clone(), "get".to_owned()])
    {
        let answer = raw_exchange(
            port,
            format!("{method} /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            wait,
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 405"),
            "{}",
            &answer[..answer.len().min(200)]
        );
        let body = raw_json_body(&answer);
        assert!(
            body["error"].as_str().is_some_and(|e| !e.contains(&method)),
            "{body}"
        );
    }
    let metrics = plugin
        .request("GET", "/metrics", None)
        .await
        .expect("metrics")
        .text();
    assert!(
        !metrics.contains("INVENTED") && !metrics.contains(&long[..100]),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"ikp_http_requests_total{endpoint="/status",method="other",status="405"} 42"#
        ),
        "{metrics}"
    );
    assert!(plugin.stop().success());
    assert!(
        !plugin.log_text().contains(&long[..100]),
        "long method name logged"
    );
}

#[tokio::test]
async fn wrong_method_on_a_known_path_gets_405_json_and_unknown_paths_404_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let mut plugin = Plugin::start(PluginOptions::new("wrong-method", &kubeconfig)).await;
    let json = expect_error(&plugin, "GET", "/create", "{}", 405, None).await;
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("/create")),
        "{json}"
    );
    let response = plugin.send("DELETE", "/delete", None).await.expect("send");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(
        response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    expect_error(&plugin, "PUT", "/metrics", "", 405, None).await;
    expect_error(&plugin, "GET", "/no/such/path", "", 404, None).await;
    expect_error(&plugin, "POST", "/", "", 404, None).await;
    assert!(plugin.stop().success());
}

#[tokio::test]
async fn second_serve_on_a_live_socket_is_refused_and_the_first_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let mut first = Plugin::start(PluginOptions::new("live-1", &kubeconfig)).await;
    let serve_common::Listen::Unix(path) = first.listen.clone() else {
        panic!("unix")
    };
    // A second server that (wrongly) takes the socket over keeps running: it is killed after 20 s so the
    // test fails instead of hanging.
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_ikp"))
        .env_clear()
        .args(["serve", "--socket-address"])
        .arg(format!("unix://{}", path.display()))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        second.wait_with_output(),
    )
    .await
    .expect("the second ikp serve kept running on the live socket")
    .expect("wait");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("address in use"), "{stderr}");
    assert!(path.exists(), "the live socket was removed");
    let reply = first
        .request("GET", "/healthz", None)
        .await
        .expect("first still reachable");
    assert_eq!(reply.status, 200);
    assert!(first.stop().success());
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let mut options = PluginOptions::new("slow-headers", &kubeconfig);
    options.tcp = true;
    options
        .env
        .push(("APP_HEADER_READ_TIMEOUT_SECONDS", "2".into()));
    options.env.push(("APP_MAX_CONNECTIONS", "8".into()));
    let mut plugin = Plugin::start(options).await;
    let port = tcp_port(&plugin);
    // 8 connections (the limit) that start a request and never finish its headers, and one that sends nothing.
    let mut stalled = Vec::new();
    for i in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        if i > 0 {
            stream
                .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .expect("write");
        }
        stalled.push(stream);
    }
    // At the limit, a further request is not served while the 8 hold their slots ...
    let waiting = tokio::spawn(raw_exchange(
        port,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        std::time::Duration::from_secs(30),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served beyond app.max_connections");
    // ... every stalled connection is closed by the server once the header timeout passes ...
    for mut stream in stalled {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            stream.read_to_end(&mut buf),
        )
        .await;
        assert!(
            read.is_ok(),
            "a connection without complete headers stayed open"
        );
    }
    // ... and the waiting request is then served.
    let answer = waiting.await.expect("join");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(plugin.stop().success());
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let mut options = PluginOptions::new("slow-body", &kubeconfig);
    options.tcp = true;
    options
        .env
        .push(("APP_BODY_READ_TIMEOUT_SECONDS", "1".into()));
    let mut plugin = Plugin::start(options).await;
    let answer = raw_exchange(
        tcp_port(&plugin),
        b"POST /create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n{\"pod\":",
        std::time::Duration::from_secs(30),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = raw_json_body(&answer);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("app.body_read_timeout_seconds")),
        "{body}"
    );
    assert!(plugin.stop().success());
}

#[tokio::test]
async fn a_configured_bearer_token_is_required_and_never_logged() {
    const TOKEN: &str = "SENTINEL-AUTH-TOKEN-5b1e-0123456789";
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    let mut options = PluginOptions::new("bearer", &kubeconfig);
    options.tcp = true;
    options
        .env
        .push(("APP_AUTH_TOKEN_FILE", token_file.display().to_string()));
    // /healthz answers without the token (Plugin::start polls it).
    let mut plugin = Plugin::start(options).await;
    let port = tcp_port(&plugin);
    let wait = std::time::Duration::from_secs(10);
    let ping = |auth: Option<&str>| {
        let auth = auth.map_or_else(String::new, |a| format!("Authorization: {a}\r\n"));
        format!(
            "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: 2\r\n\r\n[]"
        )
    };
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789"),
        Some(TOKEN),
        Some("Basic eA=="),
    ] {
        let answer = raw_exchange(port, ping(auth).as_bytes(), wait).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{auth:?}: {answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{answer}"
        );
        let body = raw_json_body(&answer);
        assert_eq!(body["reason"], "Unauthorized", "{body}");
    }
    let answer = raw_exchange(
        port,
        ping(Some(&format!("Bearer {TOKEN}"))).as_bytes(),
        wait,
    )
    .await;
    // Past the token check: the ping itself answers 503, the remote cluster being unreachable.
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let metrics = raw_exchange(
        port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        wait,
    )
    .await;
    assert!(metrics.starts_with("HTTP/1.1 401"), "{metrics}");
    assert!(plugin.stop().success());
    assert!(!plugin.log_text().contains("SENTINEL-AUTH-TOKEN"));
}

#[test]
fn check_config_warns_that_a_non_loopback_bind_is_unauthenticated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = unreachable_kubeconfig(dir.path());
    for (host, warned) in [("0.0.0.0", true), ("127.0.0.1", false)] {
        let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_ikp"))
            .env_clear()
            .args([
                "serve",
                "--check-config",
                "--socket-port",
                "4000",
                "--socket-address",
            ])
            .arg(format!("http://{host}"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .output()
            .expect("run");
        assert!(output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.contains("UNAUTHENTICATED"),
            warned,
            "{host}: {stderr}"
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("authentication: none"), "{stdout}");
    }
}
