//! The HTTP server: `/metrics`, `/health`, `/ready`, `/api/v1/...` and the
//! status page at `/`.
//!
//! Owns: routes, the bearer-token check of the API's `POST`s, and turning the
//! components' state into responses (through `views`).
//! Must never: block on the monitoring or the recovery work (handlers take
//! short locks and bounded store calls, so the server answers while the
//! cluster is on fire), change anything without the token, or return a
//! secret — stored commands and audit records are already masked, and the
//! token itself is never logged or echoed.

mod history;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{Config, Secret};
use crate::operate::{self, AuditFile};
use crate::recovery::Engine;
use crate::store::{Store, millis, records};
use crate::telemetry::{Gauges, Telemetry, process, selfmon};
use crate::watch::Board;

const PAGE: &str = include_str!("page.html");
const OPENAPI: &str = include_str!("openapi.json");
/// Longest a handler waits for the state store before answering without it.
const STORE_WAIT: Duration = Duration::from_secs(2);

/// What the handlers read; built by the composition root.
pub struct ServerState {
    pub config: Arc<Config>,
    pub board: Arc<Board>,
    pub engine: Arc<Engine>,
    pub store: Store,
    pub telemetry: Arc<Telemetry>,
    pub started: SystemTime,
    /// `system.api.token_file`'s content; `None` makes the API read-only.
    pub token: Option<Secret>,
}

type Shared = Arc<ServerState>;

/// Reads `system.api.token_file`; an unreadable or empty file is an error naming the key.
pub fn read_token(config: &Config) -> anyhow::Result<Option<Secret>> {
    let Some(path) = config.system.api.token_file.as_deref().filter(|p| !p.is_empty()) else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!("cannot read the API token file {path} (system.api.token_file): {e}; create it readable by the daemon's user only, or remove the key")
    })?;
    let token = text.trim();
    if token.is_empty() {
        anyhow::bail!("the API token file {path} (system.api.token_file) is empty; put a long random string in it");
    }
    Ok(Some(Secret::new(token.to_string())))
}

/// Binds `system.metrics.bind_address:port`; a port in use is a clear start-up error.
pub async fn bind(config: &Config) -> anyhow::Result<tokio::net::TcpListener> {
    let m = &config.system.metrics;
    let addr: SocketAddr = format!("{}:{}", m.bind_address, m.port)
        .parse()
        .map_err(|e| anyhow::anyhow!("system.metrics.bind_address `{}`: {e}", m.bind_address))?;
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr} (system.metrics.bind_address, system.metrics.port): {e}; \
             another process uses the port (`ss -ltnp 'sport = :{}'`), or choose another port, or set system.metrics.enabled: false",
            m.port
        )
    })
}

/// Serves until `shutdown`.
pub async fn serve(listener: tokio::net::TcpListener, state: Shared, shutdown: CancellationToken) {
    let app = router(state);
    let result = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
    if let Err(e) = result {
        warn!(message = "HTTP server stopped with an error.", error = %e);
    }
}

pub fn router(state: Shared) -> Router {
    let endpoint = state.config.system.metrics.endpoint.clone();
    Router::new()
        .route("/", get(page))
        .route(&endpoint, get(metrics))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/status", get(status))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/incidents/{id}", get(incident))
        .route("/api/v1/incidents/{id}/reset", post(reset))
        .route("/api/v1/nodes/{id}", get(node))
        .route("/api/v1/timeline", get(timeline))
        .route("/api/v1/history.svg", get(history))
        .route("/api/v1/pause", post(pause))
        .route("/api/v1/resume", post(resume))
        .route("/api/v1/maintenance/{node}", post(maintenance_start).delete(maintenance_end))
        .fallback(not_found)
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError(status, message.into()).into_response()
}

/// An answer other than success: the status and one line saying what to do.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

fn refuse(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such path; the API is described at /api/v1/openapi.json")
}

async fn page() -> Response {
    let mut r = PAGE.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

async fn openapi() -> Response {
    let mut r = OPENAPI.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Runs `f` on the store's thread, waiting at most `STORE_WAIT`.
async fn store_call<R: Send + 'static>(
    state: &ServerState,
    f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
) -> Result<R, ApiError> {
    match tokio::time::timeout(STORE_WAIT, state.store.call(f)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("state store: {e}"))),
        Err(_) => Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "the state store is busy; try again")),
    }
}

fn healthy(state: &ServerState) -> (bool, Vec<crate::telemetry::Stale>) {
    let stale = state.telemetry.liveness.stale(Instant::now());
    (stale.is_empty(), stale)
}

/// Ready once every node has been probed at least once.
fn waiting_for(state: &ServerState) -> Vec<String> {
    state.board.snapshots().into_iter().filter(|s| s.probed_at.is_none()).map(|s| s.node.id).collect()
}

fn gauges(state: &ServerState, outbox_depth: Option<u32>) -> Gauges {
    let engine = state.engine.status();
    let nodes: Vec<(String, &'static str, &'static str)> =
        state.board.snapshots().into_iter().map(|s| (s.node.id, s.node.role.as_str(), s.state.as_str())).collect();
    let cluster = state.board.cluster();
    Gauges {
        nodes,
        cluster_healthy: cluster.as_ref().map(|v| v.problems.is_empty() && !v.isolated),
        isolated: cluster.as_ref().is_some_and(|v| v.isolated),
        open_incidents: engine.active.len(),
        held_nodes: engine.held.len(),
        paused: engine.paused_until.is_some(),
        maintenance_nodes: engine.maintenance.len(),
        outbox_depth,
        up: healthy(state).0,
        process: Some(process::sample(&selfmon::watched_paths(&state.config))),
        shedding: state.telemetry.shedding(),
        ha: state.engine.ha.enabled().then(|| {
            let s = state.engine.ha.standing();
            (s.instance.clone(), s.role.as_str(), s.epoch, s.renewed.map(|r| r.elapsed().as_secs_f64()))
        }),
    }
}

async fn metrics(State(state): State<Shared>) -> Response {
    let depth = store_call(&state, |c| records::outbox_depth(c)).await.ok();
    let latency = state.config.system.metrics.latency_labels;
    let text = state.telemetry.metrics.render(&state.config.cluster.name, &gauges(&state, depth), latency);
    let mut r = text.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}

async fn health(State(state): State<Shared>) -> Response {
    let (ok, stale) = healthy(&state);
    let loops = state.telemetry.liveness.names();
    if ok {
        (StatusCode::OK, axum::Json(json!({"status": "ok", "loops": loops}))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "stalled", "loops": loops, "stale": stale})))
            .into_response()
    }
}

async fn ready(State(state): State<Shared>) -> Response {
    let waiting = waiting_for(&state);
    // The store answers: a trivial read through its one thread.
    let store = store_call(&state, |c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))).await.is_ok();
    let ha = state.engine.ha.standing().view();
    if waiting.is_empty() && store {
        (StatusCode::OK, axum::Json(json!({"ready": true, "ha": ha}))).into_response()
    } else {
        let body = json!({"ready": false, "store": store, "waiting_for_first_probe": waiting, "ha": ha});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

fn node_views(state: &ServerState) -> Vec<views::NodeView> {
    let engine = state.engine.status();
    let now = Instant::now();
    // In configuration order: the order the operator wrote.
    state
        .engine
        .nodes
        .iter()
        .filter_map(|n| state.board.snapshot(&n.id))
        .map(|s| views::node_view(&s, &engine, now))
        .collect()
}

async fn status(State(state): State<Shared>) -> Response {
    let open = store_call(&state, |c| records::list_incidents(c, None, None, true)).await;
    let (started_at, uptime_seconds) = views::uptime(state.started);
    let cluster = state.board.cluster();
    let body = json!({
        "cluster": views::cluster_summary(&state.config.cluster.name, cluster.as_ref()),
        "daemon": views::DaemonView {
            version: env!("CARGO_PKG_VERSION"),
            started_at,
            uptime_seconds,
            now: crate::audit::rfc3339(SystemTime::now()),
            healthy: healthy(&state).0,
            ready: waiting_for(&state).is_empty(),
            shedding: state.telemetry.shedding(),
            engine: state.engine.status(),
        },
        "ha": state.engine.ha.standing().view(),
        "nodes": node_views(&state),
        "open_incidents": open.as_ref().ok(),
        "store_error": open.is_err().then_some("the state store did not answer; incidents are missing from this view"),
    });
    axum::Json(body).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentQuery {
    node: Option<String>,
    /// `30m`, `2h`, `7d`.
    since: Option<String>,
    #[serde(default)]
    open: bool,
    limit: Option<usize>,
}

async fn incidents(
    State(state): State<Shared>,
    query: Result<Query<IncidentQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{e}; parameters: node, since (e.g. 7d), open (true|false), limit"),
            );
        }
    };
    let since = match q.since.as_deref().map(operate::parse_duration).transpose() {
        Ok(s) => s.map(|d| millis(SystemTime::now() - d)),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("since: {e}")),
    };
    let (node, open) = (q.node.clone(), q.open);
    match store_call(&state, move |c| records::list_incidents(c, node.as_deref(), since, open)).await {
        Ok(mut list) => {
            list.truncate(q.limit.unwrap_or(200));
            axum::Json(list).into_response()
        }
        Err(r) => r.into_response(),
    }
}

async fn incident(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let wanted = id.clone();
    match store_call(&state, move |c| records::list_incidents(c, None, None, false)).await {
        Ok(list) => match list.into_iter().find(|i| i.id == wanted) {
            Some(i) => {
                let audit = store_call(&state, move |c| records::audit_records(c, Some(&id))).await.unwrap_or_default();
                let audit: Vec<Value> = audit.iter().filter_map(|r| serde_json::from_str(r).ok()).collect();
                axum::Json(json!({"incident": i, "audit": audit})).into_response()
            }
            None => error(StatusCode::NOT_FOUND, format!("no incident `{wanted}`; list them at /api/v1/incidents")),
        },
        Err(r) => r.into_response(),
    }
}

async fn node(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(view) = node_views(&state).into_iter().find(|v| v.id == id) else {
        let known: Vec<String> = state.engine.nodes.iter().map(|n| n.id.clone()).collect();
        return error(StatusCode::NOT_FOUND, format!("no node `{id}`; the nodes are: {}", known.join(", ")));
    };
    let wanted = id.clone();
    let incidents = store_call(&state, move |c| records::list_incidents(c, Some(&wanted), None, false)).await;
    let mut incidents = incidents.unwrap_or_default();
    incidents.truncate(20);
    axum::Json(json!({"node": view, "incidents": incidents})).into_response()
}

#[derive(Debug, Deserialize)]
struct TimelineQuery {
    limit: Option<u32>,
}

async fn timeline(State(state): State<Shared>, Query(q): Query<TimelineQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).min(1000);
    match store_call(&state, move |c| records::recent_audit(c, limit)).await {
        Ok(rows) => {
            let rows: Vec<Value> = rows.iter().filter_map(|r| serde_json::from_str(r).ok()).collect();
            axum::Json(rows).into_response()
        }
        Err(r) => r.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    hours: Option<u32>,
}

/// Every node's incidents over the last `hours` (24; at most 168), as a self-contained SVG.
async fn history(State(state): State<Shared>, Query(q): Query<HistoryQuery>) -> Response {
    let hours = q.hours.unwrap_or(24).clamp(1, 168);
    let to = millis(SystemTime::now());
    let from = to - i64::from(hours) * 3_600_000;
    let incidents = match store_call(&state, move |c| records::incidents_overlapping(c, from, to)).await {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    let nodes: Vec<String> = state.config.cluster.nodes().map(|(_, n)| n.node_id.clone()).collect();
    let spans: Vec<history::Span> = incidents
        .into_iter()
        .map(|i| history::Span {
            escalated: i.state == records::IncidentState::Escalated,
            node: i.node,
            id: i.id,
            opened_at: i.opened_at,
            closed_at: i.closed_at,
            cause: i.cause.unwrap_or_else(|| "failed".into()),
        })
        .collect();
    let svg = history::svg(&nodes, &spans, millis(state.started), from, to);
    let mut r = svg.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The API's writes need `Authorization: Bearer TOKEN` matching `system.api.token_file`.
fn authorize(state: &ServerState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.token else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "the API is read-only: set system.api.token_file to allow pause, resume, reset and maintenance",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        // Any healer takes them: with several, they live in the backend.
        Some(g) if constant_time_eq(g.as_bytes(), token.expose().as_bytes()) => Ok(()),
        Some(_) => Err(refuse(StatusCode::UNAUTHORIZED, "wrong bearer token")),
        None => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "send `Authorization: Bearer TOKEN` (the token in system.api.token_file)",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON object body (an empty body is `{}`), with a clear error otherwise.
fn body_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Default::default());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(refuse(StatusCode::BAD_REQUEST, "the body must be a JSON object")),
        Err(e) => Err(refuse(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}"))),
    }
}

fn optional_string(
    body: &serde_json::Map<String, Value>,
    key: &str,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    if let Some(unknown) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("unknown field `{unknown}`; allowed: {}", allowed.join(", ")),
        ));
    }
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(refuse(StatusCode::BAD_REQUEST, format!("`{key}` must be a string, found {other}"))),
    }
}

fn duration_field(body: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<Option<Duration>, ApiError> {
    match optional_string(body, "for", allowed)? {
        None => Ok(None),
        Some(text) => {
            operate::parse_duration(&text).map(Some).map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("for: {e}")))
        }
    }
}

/// Runs an operator command from `operate` off the async threads; the engine
/// reads the control within a second.
async fn operator<R: Send + 'static>(
    state: &ServerState,
    f: impl FnOnce(&str, &AuditFile) -> Result<R, String> + Send + 'static,
) -> Result<R, ApiError> {
    let dir = state.config.system.state_dir.clone();
    let audit = AuditFile::of(&state.config).by("api");
    match tokio::task::spawn_blocking(move || f(&dir, &audit)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(e) => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("the operator command failed: {e}"))),
    }
}

async fn pause(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let body = match body_object(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let duration = match duration_field(&body, &["for"]) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    match operator(&state, move |dir, audit| operate::pause(dir, audit, duration)).await {
        Ok(until) => {
            info!(message = "Operator: recovery paused through the API.", until = %until);
            axum::Json(json!({"paused": true, "message": format!("recovery paused {until}")})).into_response()
        }
        Err(r) => r.into_response(),
    }
}

async fn resume(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    match operator(&state, operate::resume).await {
        Ok(was) => {
            info!(message = "Operator: recovery resumed through the API.", was_paused = was);
            axum::Json(json!({"paused": false, "was_paused": was})).into_response()
        }
        Err(r) => r.into_response(),
    }
}

async fn reset(State(state): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let wanted = id.clone();
    let found = store_call(&state, move |c| records::list_incidents(c, None, None, false)).await;
    let node = match found {
        Ok(list) => match list.into_iter().find(|i| i.id == wanted) {
            Some(i) => i.node,
            None => return error(StatusCode::NOT_FOUND, format!("no incident `{id}`; list them at /api/v1/incidents")),
        },
        Err(r) => return r.into_response(),
    };
    let target = node.clone();
    match operator(&state, move |dir, audit| operate::reset(dir, audit, &target)).await {
        Ok(()) => {
            info!(message = "Operator: node re-armed through the API.", node = %node, incident = %id);
            axum::Json(json!({"reset": true, "node": node, "incident": id})).into_response()
        }
        Err(r) => r.into_response(),
    }
}

async fn maintenance_start(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(node): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    if !state.engine.nodes.iter().any(|n| n.id == node) {
        return error(StatusCode::NOT_FOUND, format!("no node `{node}` in the configuration"));
    }
    let body = match body_object(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let allowed = ["for", "reason"];
    let (duration, reason) = match (duration_field(&body, &allowed), optional_string(&body, "reason", &allowed)) {
        (Ok(d), Ok(r)) => (d.unwrap_or(Duration::from_secs(3600)), r.unwrap_or_default()),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    let target = node.clone();
    let why = reason.clone();
    match operator(&state, move |dir, audit| operate::maintenance_start(dir, audit, &target, duration, &why)).await {
        Ok(until) => {
            info!(message = "Operator: maintenance started through the API.", node = %node, until = %until, reason = %reason);
            axum::Json(json!({"node": node, "maintenance": true, "until": until})).into_response()
        }
        Err(r) => r.into_response(),
    }
}

async fn maintenance_end(State(state): State<Shared>, headers: HeaderMap, Path(node): Path<String>) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let target = node.clone();
    match operator(&state, move |dir, audit| operate::maintenance_end(dir, audit, &target)).await {
        Ok(was) => {
            info!(message = "Operator: maintenance ended through the API.", node = %node);
            axum::Json(json!({"node": node, "maintenance": false, "was_in_maintenance": was})).into_response()
        }
        Err(r) => r.into_response(),
    }
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn the_openapi_document_is_json_and_names_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).expect("openapi.json parses");
        let paths = doc["paths"].as_object().expect("paths");
        for p in [
            "/health",
            "/ready",
            "/metrics",
            "/api/v1/status",
            "/api/v1/incidents",
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/{id}/reset",
            "/api/v1/nodes/{id}",
            "/api/v1/timeline",
            "/api/v1/pause",
            "/api/v1/resume",
            "/api/v1/maintenance/{node}",
        ] {
            assert!(paths.contains_key(p), "{p} missing from openapi.json");
        }
    }
}
