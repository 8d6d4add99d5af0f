//! The local HTTP JSON API, the WebSocket change feed, metrics and the web
//! POS page. `router(state)` builds it; `docs/openapi.json` describes it.

mod catalogue;
mod error;
mod login;
mod metrics;
mod node_metrics;
mod orders;
mod payments;
mod receipt;
mod users;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use possync::Node;
use possync::net::SharedRegistry;

pub use catalogue::MAX_CATALOGUE_BODY;
pub use error::ApiError;
pub use login::LoginAttempts;

use crate::policy::Policy;

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    pub node: Node,
    pub policy: Arc<Policy>,
    /// Required as `Authorization: Bearer <token>` when set (it must be when
    /// the API listens beyond loopback).
    pub token: Option<Arc<str>>,
    /// Recent wrong PINs, per user (`POST /api/login`).
    pub login: Arc<LoginAttempts>,
    /// libp2p's metrics, served by `/metrics` after the node's; empty
    /// unless the node was given it ([`AppState::with_metrics`]).
    pub metrics: SharedRegistry,
}

impl AppState {
    pub fn new(node: Node, policy: Policy, token: Option<Arc<str>>) -> Self {
        AppState { node, policy: Arc::new(policy), token, login: Arc::default(), metrics: Arc::default() }
    }

    /// Serves `registry` too: the one given to the node's builder
    /// ([`possync::NodeBuilder::metrics`]).
    pub fn with_metrics(mut self, registry: SharedRegistry) -> Self {
        self.metrics = registry;
        self
    }
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/status", get(orders::status))
        .route("/api/orders", get(orders::list).post(orders::open))
        .route("/api/orders/{id}", get(orders::show))
        .route("/api/orders/{id}/edit", axum::routing::post(orders::edit))
        .route("/api/orders/{id}/split", axum::routing::post(orders::split))
        .route("/api/orders/{id}/payment/claim", axum::routing::post(payments::claim))
        .route("/api/orders/{id}/payment/release", axum::routing::post(payments::release))
        .route("/api/orders/{id}/pay", axum::routing::post(payments::pay))
        .route("/api/orders/{id}/refund", axum::routing::post(payments::refund))
        .route("/api/orders/{id}/review", axum::routing::post(payments::review))
        .route("/api/orders/{id}/refund_order", axum::routing::post(payments::refund_order))
        .route("/api/orders/{id}/receipt", get(receipt::receipt))
        .route("/api/payments", get(payments::claims))
        .route(
            "/api/catalogue",
            get(catalogue::show).post(catalogue::replace).layer(DefaultBodyLimit::max(MAX_CATALOGUE_BODY)),
        )
        .route("/api/login", axum::routing::post(login::login))
        .route("/api/events", get(ws::events))
        .route("/api/network", axum::routing::post(orders::network))
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let mut router = Router::new();
    for &(path, content_type, body) in STATIC_FILES {
        router = router.route(path, get(move || async move { page(content_type, body) }));
    }
    router
        .merge(api)
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

const JS: &str = "text/javascript; charset=utf-8";

/// The web POS page and the client library it is written on (clients/js),
/// served from this origin: plain ES modules, no CORS, no build step.
const STATIC_FILES: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", include_str!("../web/index.html")),
    ("/style.css", "text/css; charset=utf-8", include_str!("../web/style.css")),
    ("/app.js", JS, include_str!("../web/app.js")),
    ("/catalogue.js", JS, include_str!("../web/catalogue.js")),
    ("/dom.js", JS, include_str!("../web/dom.js")),
    ("/floorplan.js", JS, include_str!("../web/floorplan.js")),
    ("/format.js", JS, include_str!("../web/format.js")),
    ("/login.js", JS, include_str!("../web/login.js")),
    ("/menu.js", JS, include_str!("../web/menu.js")),
    ("/js/possync.js", JS, include_str!("../../../../clients/js/possync.js")),
    ("/openapi.json", "application/json", include_str!("../../../../docs/openapi.json")),
];

fn page(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| {
                // Browsers cannot set headers on WebSocket upgrades.
                request.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
            });
        if given != Some(token.as_ref()) {
            return ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong API token")
                .into_response();
        }
    }
    next.run(request).await
}
