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

use crate::compat::keypath::OneLine;
use crate::plugin::config::{ListenAddress, ServeConfig};
use crate::plugin::config::{PingConfig, ResourceReport};
use crate::plugin::offload::capacity::{self, RemoteCapacity};
use crate::plugin::offload::interlink::{CreateRequest, LogRequest};
use crate::plugin::offload::leader::{self, LeaderSettings, Leadership};
use crate::plugin::offload::service::{OffloadError, OffloadService, StatusCache, TunnelHook};
use crate::plugin::offload::transform::TransformSettings;
use metrics::{EndpointLabels, Metrics, RequestLabels};

/// Header carrying the InterLink correlation id.
const SESSION_HEADER: &str = "InterLink-Http-Session";

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
    /// Another process is listening on the unix socket (it accepted a connection).
    #[error(
        "cannot listen on unix://{path}: address in use (another process accepts connections on it; stop it or choose another socket_address)"
    )]
    SocketInUse {
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
struct AppState {
    offload: OffloadService,
    metrics: Arc<Metrics>,
    max_body_bytes: usize,
    body_read_timeout: Duration,
    /// SHA-256 of the bearer token requests must carry, if one is configured (the token itself is not kept).
    auth_token_digest: Option<[u8; 32]>,
    shutdown: CancellationToken,
    ping: Arc<PingConfig>,
    capacity: Option<RemoteCapacity>,
    log_requests: bool,
    openapi: Arc<serde_json::Value>,
    leadership: Leadership,
}

/// The router with every endpoint and the metrics/tracing middleware.
fn router(state: AppState) -> Router {
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
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(state.clone(), observe))
                .layer(middleware::from_fn_with_state(state.clone(), authorize)),
        )
        .with_state(state)
}

/// Builds the remote client, starts the status cache and serves until SIGTERM/SIGINT.
pub async fn run(config: ServeConfig, tunnel: Arc<dyn TunnelHook>) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::default());
    let kube_config = crate::k8s::client::build_config(&config.k8s.connection).await?;
    let counter = metrics.remote_api_requests.clone();
    // The leader Lease's upkeep has its own client: the request counter then shows what InterLink's calls,
    // the caches and the sweep cost, undisturbed by renewals every few seconds.
    let lease_client = kube::Client::try_from(kube_config.clone())
        .map_err(|source| crate::k8s::client::KubeClientError::Build { source })?;
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
    let (cache, cache_task) =
        StatusCache::start(client.clone(), &config.offloading, shutdown.clone());
    let capacity = match config.ping.resources {
        ResourceReport::Remote { .. } => {
            let (capacity, tasks) =
                RemoteCapacity::start(client.clone(), config.offloading.clone(), shutdown.clone());
            Some((capacity, tasks))
        }
        _ => None,
    };
    // Replicas with the same prefix elect one of them, through a Lease, to run the background sweep.
    let (leadership, leader_task) = leader::start(
        lease_client,
        LeaderSettings {
            namespace: config.replicas.lease_namespace.clone(),
            name: crate::plugin::config::ReplicasConfig::lease_name(
                &config.offloading.namespace_prefix,
            ),
            identity: leader::default_identity(),
            instance: config.offloading.namespace_prefix.clone(),
            lease_duration: config.replicas.lease_duration,
            request_timeout: config.k8s.request_timeout,
        },
        shutdown.clone(),
    );
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
    // Cleanups left by an earlier run (or failing now) are finished in the background.
    let cleanup_task = offload.start_cleanup(leadership.clone(), shutdown.clone());
    let state = AppState {
        offload,
        metrics,
        max_body_bytes: config.app.max_body_bytes,
        body_read_timeout: config.app.body_read_timeout,
        auth_token_digest: config
            .app
            .auth_token
            .as_ref()
            .map(|token| token_digest(token.expose().as_bytes())),
        shutdown: shutdown.clone(),
        ping: Arc::new(config.ping.clone()),
        capacity: capacity.as_ref().map(|(c, _)| c.clone()),
        log_requests: config.log.requests_enabled,
        openapi: Arc::new(openapi::document(&config.app)),
        leadership,
    };
    let app = router(state);
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let drain = config.app.shutdown_timeout;
    let limits = ConnectionLimits {
        header_read_timeout: config.app.header_read_timeout,
        max_connections: config.app.max_connections,
    };
    let result = match &config.app.listen {
        ListenAddress::Tcp { host, port } => {
            let address = format!("{host}:{port}");
            let listener = tokio::net::TcpListener::bind(&address)
                .await
                .map_err(|source| ServeError::Bind { address, source })?;
            let local = listener.local_addr().map_err(ServeError::Serve)?;
            tracing::info!(address = %format!("http://{local}"), "listening");
            if let Some(warning) = config.app.exposure_warning() {
                tracing::warn!("{warning}");
            }
            serve_until(
                serve_connections(listener, app, limits, shutdown.clone()),
                &shutdown,
                drain,
            )
            .await
        }
        ListenAddress::Unix { path } => {
            let listener = bind_unix(path, config.app.socket_mode)?;
            tracing::info!(address = %format!("unix://{}", path.display()), mode = %format!("{:o}", config.app.socket_mode), "listening");
            let result = serve_until(
                serve_connections(listener, app, limits, shutdown.clone()),
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
    let _ = cleanup_task.await;
    let _ = leader_task.await;
    for task in capacity.into_iter().flat_map(|(_, tasks)| tasks) {
        let _ = task.await;
    }
    tracing::info!("stopped");
    result
}

/// What one client may hold of the server: a bounded number of connections, each of which must send a
/// request's headers in bounded time (the body's bound is [`AppState`]'s, checked while reading it).
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    header_read_timeout: Duration,
    max_connections: usize,
}

/// Accepts connections until `shutdown`, serving each with HTTP/1.1 (what the InterLink API server,
/// kubelet probes and Prometheus speak) under `limits`; then lets every connection finish its request.
///
/// At `max_connections` open connections nothing more is accepted: new ones wait in the kernel's listen
/// backlog (and are refused once it is full) instead of costing memory and file descriptors here.
async fn serve_connections<L>(
    mut listener: L,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) where
    L: axum::serve::Listener,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let connections = tokio_util::task::TaskTracker::new();
    let mut at_limit = false;
    loop {
        if slots.available_permits() == 0 && !at_limit {
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection limit reached (app.max_connections); new connections wait until one closes"
            );
        }
        at_limit = slots.available_permits() == 0;
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection closed with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
}

async fn serve_until<F>(
    server: F,
    shutdown: &CancellationToken,
    drain: Duration,
) -> Result<(), ServeError>
where
    F: Future<Output = ()>,
{
    tokio::select! {
        () = server => Ok(()),
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

/// Binds the unix socket: replaces a stale socket, refuses a live one and any other file, sets the mode.
fn bind_unix(path: &Path, mode: u32) -> Result<tokio::net::UnixListener, ServeError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let file_error = |source| ServeError::SocketFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            // A socket file outlives a crashed process. Only one nobody listens on (connect refused) may be
            // replaced; removing a live one would leave its server running but unreachable.
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(ServeError::SocketInUse {
                        path: path.to_owned(),
                    });
                }
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(file_error)?;
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(file_error(err)),
            }
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
    // Only the standard methods are label values; anything else is one `other` (and refused below), so a
    // client cannot grow the metrics with invented method names.
    let method = metrics::method_label(request.method());
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!("request", %method, path = %endpoint, session = %session);
    let started = Instant::now();
    let response = if method == metrics::OTHER_METHOD {
        span.in_scope(|| ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: "unsupported HTTP method (expected one of GET, POST, HEAD)".to_owned(),
            field: None,
            reason: None,
        })
        .into_response()
    } else {
        next.run(request).instrument(span.clone()).await
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint: endpoint.clone(),
            method: method.to_owned(),
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

/// Paths answered without the bearer token: probes learn nothing from them but "up" and the remote
/// cluster's version.
const UNAUTHENTICATED_PATHS: [&str; 2] = ["/healthz", "/readyz"];

fn token_digest(token: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token).into()
}

/// With `app.auth_token_file`/`APP_AUTH_TOKEN` set, refuses (401) requests without `Authorization: Bearer
/// <token>`. Digests are compared so the time taken says nothing about how much of the token matched.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = state.auth_token_digest else {
        return next.run(request).await;
    };
    if UNAUTHENTICATED_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented.is_some_and(|token| token_digest(token.trim().as_bytes()) == expected) {
        return next.run(request).await;
    }
    let mut response = ApiError {
        status: StatusCode::UNAUTHORIZED,
        message:
            "missing or wrong bearer token (the API requires `Authorization: Bearer <token>`, \
                  the token of app.auth_token_file or APP_AUTH_TOKEN)"
                .to_owned(),
        field: None,
        reason: Some("Unauthorized".to_owned()),
    }
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// A JSON error answer: `{"error": ..., "field": ..., "reason": ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
    reason: Option<String>,
}

impl ApiError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The one-line message (`error` of the JSON body).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The body of `/create`, parsed as the handler parses it.
pub fn parse_create_body(bytes: &[u8]) -> Result<CreateRequest, ApiError> {
    parse_json(bytes, "create request (RetrievedPodData)")
}

/// The body of `/delete`, parsed as the handler parses it.
pub fn parse_delete_body(bytes: &[u8]) -> Result<Pod, ApiError> {
    parse_json(bytes, "delete request (Pod)")
}

/// The body of `/status`, parsed as the handler parses it; `null` and `[]` are the InterLink ping.
pub fn parse_status_body(bytes: &[u8]) -> Result<Vec<Pod>, ApiError> {
    let pods: Option<Vec<Pod>> = parse_json(bytes, "status request (array of Pod)")?;
    Ok(pods.unwrap_or_default())
}

/// The body of `/getLogs`, parsed as the handler parses it.
pub fn parse_logs_body(bytes: &[u8]) -> Result<LogRequest, ApiError> {
    parse_json(bytes, "log request (LogStruct)")
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
    let read = tokio::time::timeout(
        state.body_read_timeout,
        axum::body::to_bytes(body, state.max_body_bytes),
    )
    .await
    .map_err(|_| ApiError {
        status: StatusCode::REQUEST_TIMEOUT,
        message: format!(
            "request body not received within {} s (app.body_read_timeout_seconds)",
            state.body_read_timeout.as_secs()
        ),
        field: None,
        reason: None,
    })?;
    read.map_err(|err| {
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
        // Map keys appear in the path as sent: escape their control characters (one-line errors).
        let path = OneLine(&err.path().to_string()).to_string();
        let field = (path != "." && path != "?").then_some(path);
        let message = OneLine(&redact_quoted(&err.into_inner().to_string())).to_string();
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
    let request = parse_create_body(&bytes)?;
    let created = state.offload.create(&request).await?;
    Ok(axum::Json(created).into_response())
}

async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let pod = parse_delete_body(&bytes)?;
    let message = state.offload.delete(&pod).await?;
    Ok(axum::Json(message).into_response())
}

async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let pods = parse_status_body(&bytes)?;
    if pods.is_empty() {
        return Ok(ping(&state));
    }
    let entries = state.offload.status(&pods).await?;
    Ok(axum::Json(entries).into_response())
}

/// The InterLink ping (`GET /status` with `[]`): status, resources and taints from the watch caches, without
/// a request to the remote cluster; 503 while a watch is not synced or failing, so the virtual node shows
/// the remote cluster cannot be read instead of stale figures.
fn ping(state: &AppState) -> Response {
    let problems = [state
        .offload
        .cache()
        .problem()
        .map(|p| format!("remote pod status watch {p}"))];
    match capacity::ping_answer(&state.ping, state.capacity.as_ref(), &problems) {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(problem) => {
            tracing::warn!(problem = %problem, "ping: the remote cluster cannot be read");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({
                    "status": "error",
                    "error": format!("remote cluster cannot be read: {problem}"),
                })),
            )
                .into_response()
        }
    }
}

async fn logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let request = parse_logs_body(&bytes)?;
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
    state
        .metrics
        .pending_cleanups
        .set(i64::try_from(state.offload.pending_cleanups()).unwrap_or(i64::MAX));
    state
        .metrics
        .leader
        .set(i64::from(state.leadership.is_leader()));
    state
        .metrics
        .orphan_sweeps
        .set(i64::try_from(state.offload.sweeps()).unwrap_or(i64::MAX));
    state
        .metrics
        .log_streams_open
        .set(i64::try_from(state.offload.open_log_streams()).unwrap_or(i64::MAX));
    state.metrics.runtime_tasks.set(
        i64::try_from(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        )
        .unwrap_or(i64::MAX),
    );
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
        message: format!(
            "no endpoint {} {}",
            metrics::method_label(&method),
            uri.path()
        ),
        field: None,
        reason: None,
    }
}

/// A known path asked with a method it does not serve; axum adds the `Allow` header.
async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!(
            "{} does not accept {}",
            uri.path(),
            metrics::method_label(&method)
        ),
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
    fn remote_error_body_is_one_line_without_the_kube_status_debug_dump() {
        let status =
            kube::core::Status::failure("pods \"p\" is forbidden: exceeded quota: q", "Forbidden")
                .with_code(403);
        let err = ApiError::from(OffloadError::Remote {
            action: "create Pod ns/p".into(),
            source: kube::Error::Api(status.boxed()),
        });
        assert_eq!(
            err.message,
            "create Pod ns/p: pods \"p\" is forbidden: exceeded quota: q (HTTP 403, Forbidden)"
        );
        assert_eq!(err.reason.as_deref(), Some("Forbidden"));
    }

    // Found by fuzzing the /create body: a label key with a newline made the error and its
    // `field` span two lines.
    #[test]
    fn body_error_path_with_a_newline_is_one_line() {
        let body = br#"{"pod":{"metadata":{"labels":{"a\nb":{}}}}}"#;
        let err = parse_json::<CreateRequest>(body, "create request").expect_err("map label");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(!err.message.contains('\n'), "{:?}", err.message);
        let field = err.field.as_deref().unwrap_or_default();
        assert!(
            field.contains("a\\nb") && !field.contains('\n'),
            "{field:?}"
        );
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
