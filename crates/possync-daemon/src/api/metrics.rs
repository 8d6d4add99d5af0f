//! `GET /metrics`: the node's metrics and libp2p's, in the OpenMetrics text
//! format (which Prometheus reads).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use possync::net::metrics::lock;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::registry::Registry;

use super::node_metrics::NodeMetrics;
use super::{ApiError, AppState};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let status = state.node.status().await?;
    let mut node = Registry::default();
    node.register_collector(Box::new(NodeMetrics(status)));
    let mut out = String::new();
    let encoded = encode_registry(&mut out, &node)
        .and_then(|()| encode_registry(&mut out, &lock(&state.metrics)))
        .and_then(|()| encode_eof(&mut out));
    if encoded.is_err() {
        // Only a metric's own encoding can fail; a String never does.
        tracing::error!("metrics could not be encoded");
        return Err(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the terminal's log",
        ));
    }
    Ok(([(header::CONTENT_TYPE, OPENMETRICS)], out))
}
