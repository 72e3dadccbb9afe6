//! The InterLink plugin HTTP API: an axum server on TCP or a unix socket. Requests are parsed at the edge into
//! the InterLink types (errors name the field), handed to the [`OffloadService`], and answered with the Go
//! JSON names. Also `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, body limits, graceful shutdown.
//!
//! Request bodies are never logged: they carry Secret data, service-account tokens and mesh private keys.

pub mod metrics;
mod openapi;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tracing::Instrument;

use crate::plugin::config::{ListenAddress, ServeConfig};
use crate::plugin::offload::interlink::{CreateRequest, LogRequest};
use crate::plugin::offload::service::{OffloadError, OffloadService, StatusCache, TunnelHook};
use crate::plugin::offload::transform::TransformSettings;
use metrics::{EndpointLabels, Metrics, RequestLabels};

/// Header carrying the InterLink correlation id.
pub const SESSION_HEADER: &str = "InterLink-Http-Session";

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The remote cluster client could not be built.
    #[error("remote cluster (k8s section): {0}")]
    Kube(#[from] crate::k8s::client::KubeClientError),
    /// A non-socket file is in the way of the unix socket.
    #[error("refusing to replace {path}: it exists and is not a unix socket")]
    NotASocket {
        /// The socket path.
        path: PathBuf,
    },
    /// Binding the listener failed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// Setting up the socket file failed.
    #[error("unix socket {path}: {source}")]
    SocketFile {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The server loop failed.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    offload: OffloadService,
    metrics: Arc<Metrics>,
    max_body_bytes: usize,
    shutdown: CancellationToken,
    log_requests: bool,
    openapi: Arc<serde_json::Value>,
}

/// The router with every endpoint and the metrics/tracing middleware.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/create", post(create))
        .route("/delete", post(delete))
        .route("/status", get(status).post(status))
        .route("/getLogs", get(logs).post(logs))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found)
        .layer(ServiceBuilder::new().layer(middleware::from_fn_with_state(state.clone(), observe)))
        .with_state(state)
}

/// Builds the remote client, starts the status cache and serves until SIGTERM/SIGINT.
pub async fn run(config: ServeConfig, tunnel: Arc<dyn TunnelHook>) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::default());
    let kube_config = crate::k8s::client::build_config(&config.k8s.connection).await?;
    let counter = metrics.remote_api_requests.clone();
    let client = kube::client::ClientBuilder::try_from(kube_config)
        .map_err(|source| crate::k8s::client::KubeClientError::Build { source })?
        .with_layer(&tower::util::MapRequestLayer::new(
            move |request: http::Request<kube::client::Body>| {
                counter.inc();
                request
            },
        ))
        .build();
    let shutdown = CancellationToken::new();
    let (cache, cache_task) = StatusCache::start(client.clone(), shutdown.clone());
    let offload = OffloadService::new(
        client,
        TransformSettings {
            offloading: config.offloading.clone(),
            mesh: config.mesh,
        },
        config.k8s.request_timeout,
        cache,
        tunnel,
    );
    let state = AppState {
        offload,
        metrics,
        max_body_bytes: config.app.max_body_bytes,
        shutdown: shutdown.clone(),
        log_requests: config.log.requests_enabled,
        openapi: Arc::new(openapi::document(&config.app)),
    };
    let app = router(state);
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let drain = config.app.shutdown_timeout;
    let result = match &config.app.listen {
        ListenAddress::Tcp { host, port } => {
            let address = format!("{host}:{port}");
            let listener = tokio::net::TcpListener::bind(&address)
                .await
                .map_err(|source| ServeError::Bind { address, source })?;
            let local = listener.local_addr().map_err(ServeError::Serve)?;
            tracing::info!(address = %format!("http://{local}"), "listening");
            serve_until(
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.clone().cancelled_owned()),
                &shutdown,
                drain,
            )
            .await
        }
        ListenAddress::Unix { path } => {
            let listener = bind_unix(path, config.app.socket_mode)?;
            tracing::info!(address = %format!("unix://{}", path.display()), mode = %format!("{:o}", config.app.socket_mode), "listening");
            let result = serve_until(
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.clone().cancelled_owned()),
                &shutdown,
                drain,
            )
            .await;
            if let Err(err) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %err, "could not remove the socket file");
            }
            result
        }
    };
    shutdown.cancel();
    let _ = cache_task.await;
    tracing::info!("stopped");
    result
}

async fn serve_until<F>(
    server: F,
    shutdown: &CancellationToken,
    drain: Duration,
) -> Result<(), ServeError>
where
    F: std::future::IntoFuture<Output = std::io::Result<()>>,
{
    let server = server.into_future();
    tokio::select! {
        result = server => result.map_err(ServeError::Serve),
        () = async { shutdown.cancelled().await; tokio::time::sleep(drain).await } => {
            tracing::warn!(timeout = ?drain, "in-flight requests did not finish in time; exiting anyway");
            Ok(())
        }
    }
}

async fn wait_for_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
    shutdown.cancel();
}

/// Binds the unix socket: replaces a stale socket, refuses any other file, sets the mode.
fn bind_unix(path: &Path, mode: u32) -> Result<tokio::net::UnixListener, ServeError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let file_error = |source| ServeError::SocketFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(file_error)?
        }
        Ok(_) => {
            return Err(ServeError::NotASocket {
                path: path.to_owned(),
            });
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(file_error(err)),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(file_error)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(|source| ServeError::Bind {
        address: format!("unix://{}", path.display()),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(file_error)?;
    Ok(listener)
}

/// Records metrics and opens a span carrying the InterLink session id for every request.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!("request", %method, path = %endpoint, session = %session);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint: endpoint.clone(),
            method: method.to_string(),
            status,
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&EndpointLabels { endpoint })
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        if state.log_requests {
            tracing::info!(
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request served"
            );
        } else {
            tracing::debug!(
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request served"
            );
        }
    });
    response
}

/// A JSON error answer: `{"error": ..., "field": ..., "reason": ...}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
    reason: Option<String>,
}

impl ApiError {
    fn bad_request(message: impl Into<String>, field: Option<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field,
            reason: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({"error": self.message});
        if let Some(field) = self.field {
            body["field"] = field.into();
        }
        if let Some(reason) = self.reason {
            body["reason"] = reason.into();
        }
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), error = %self.message, "request failed");
        } else {
            tracing::warn!(status = self.status.as_u16(), error = %self.message, "request rejected");
        }
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<OffloadError> for ApiError {
    fn from(err: OffloadError) -> Self {
        Self {
            status: StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::BAD_GATEWAY),
            message: err.to_string(),
            field: err.field().map(str::to_owned),
            reason: err.reason(),
        }
    }
}

/// Reads the whole body within the configured limit (413 beyond it).
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let too_large = || ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "request body larger than the limit of {} bytes (app.max_body_bytes)",
            state.max_body_bytes
        ),
        field: None,
        reason: None,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > state.max_body_bytes) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|err| {
            let inner = err.into_inner();
            if inner
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                ApiError::bad_request(format!("cannot read the request body: {inner}"), None)
            }
        })
}

/// Parses JSON into `T`; the error names the field's JSON path and never quotes values (they may be secrets).
fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            format!("empty request body; expected {what}"),
            None,
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = parsed.map_err(|err| {
        let path = err.path().to_string();
        let field = (path != "." && path != "?").then_some(path);
        let message = redact_quoted(&err.into_inner().to_string());
        let message = match &field {
            Some(field) => format!("invalid {what}: `{field}`: {message}"),
            None => format!("invalid {what}: {message}"),
        };
        ApiError::bad_request(message, field)
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::bad_request(format!("invalid {what}: {err}"), None))?;
    Ok(value)
}

/// Replaces every double-quoted part of a parser message by `"…"`.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let request: CreateRequest = parse_json(&bytes, "create request (RetrievedPodData)")?;
    let created = state.offload.create(&request).await?;
    Ok(axum::Json(created).into_response())
}

async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let pod: Pod = parse_json(&bytes, "delete request (Pod)")?;
    let message = state.offload.delete(&pod).await?;
    Ok(axum::Json(message).into_response())
}

async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let pods: Option<Vec<Pod>> = parse_json(&bytes, "status request (array of Pod)")?;
    let pods = pods.unwrap_or_default();
    if pods.is_empty() {
        // The InterLink ping: answer without touching the remote cluster.
        return Ok(axum::Json(serde_json::json!([])).into_response());
    }
    let entries = state.offload.status(&pods).await?;
    Ok(axum::Json(entries).into_response())
}

async fn logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let request: LogRequest = parse_json(&bytes, "log request (LogStruct)")?;
    let stream = state.offload.logs(&request).await?;
    let stream = stream.take_until(state.shutdown.clone().cancelled_owned());
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let cache = state.offload.cache();
    if !cache.is_synced() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                serde_json::json!({"ready": false, "error": "remote pod cache not synced yet"}),
            ),
        )
            .into_response();
    }
    match tokio::time::timeout(Duration::from_secs(2), state.offload.client().apiserver_version()).await {
        Ok(Ok(version)) => axum::Json(serde_json::json!({"ready": true, "remote": version.git_version})).into_response(),
        Ok(Err(err)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "error": format!("remote API server: {err}")})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "error": "remote API server did not answer within 2s"})),
        )
            .into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let cache = state.offload.cache();
    state
        .metrics
        .offloaded_pods
        .set(i64::try_from(cache.len()).unwrap_or(i64::MAX));
    state.metrics.cache_synced.set(i64::from(cache.is_synced()));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn openapi_json(State(state): State<AppState>) -> Response {
    axum::Json(state.openapi.as_ref().clone()).into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no endpoint {method} {}", uri.path()),
        field: None,
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_field_and_hide_values() {
        let err = parse_json::<CreateRequest>(
            br#"{"pod": {"metadata": {"name": "p"}}, "container": [{"secrets": [{"data": {"k": "SECRET-VALUE!!"}}]}]}"#,
            "create request",
        )
        .expect_err("bad base64");
        assert_eq!(err.field.as_deref(), Some("container[0].secrets[0].data.k"));
        assert!(!err.message.contains("SECRET-VALUE"), "{}", err.message);
        let err = parse_json::<CreateRequest>(
            br#"{"pod": {"spec": {"containers": "x"}}}"#,
            "create request",
        )
        .expect_err("type");
        assert_eq!(err.field.as_deref(), Some("pod.spec.containers"));
        let err = parse_json::<CreateRequest>(b"{", "create request").expect_err("syntax");
        assert_eq!(err.field, None);
        let err = parse_json::<Vec<Pod>>(b"[] []", "status").expect_err("trailing");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn null_status_body_is_a_ping() {
        let pods: Option<Vec<Pod>> = parse_json(b"null", "status").expect("null accepted");
        assert!(pods.is_none());
    }

    #[test]
    fn redaction_removes_quoted_text() {
        assert_eq!(
            redact_quoted(r#"invalid value: string "abc", expected x"#),
            "invalid value: string \"…\", expected x"
        );
    }
}
