//! Orders: list, open, show, edit, split; and status.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use possync::model::{OrderId, OrderView, privileges};
use possync_api::{EditBody, NetworkBody, OpenBody, SplitBody, parse_catalogue_edit, parse_edit, price_edit};
use serde::Deserialize;
use serde_json::{Value, json};

use super::users::{require_manager, role};
use super::{ApiError, AppState};

/// Random bits for a new line's or payment's id; an error when the OS has none.
pub(super) fn random_bits() -> Result<u128, ApiError> {
    Ok(possync::random_u128()?)
}

pub(super) fn parse_order_id(id: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(id).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))
}

/// The order if this terminal shows it (see `Policy::accept_incoming`).
pub(super) async fn visible(state: &AppState, id: &OrderId) -> Result<OrderView, ApiError> {
    match state.node.order(id).await? {
        Some(v) if state.policy.shows(state.node.terminal(), &v) => Ok(v),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_order", format!("no order {id}"))),
    }
}

/// The order, if this terminal shows it and `user` may change it (see
/// `Policy::one_waiter_per_table`).
pub(super) async fn editable(state: &AppState, id: &OrderId, user: &str) -> Result<OrderView, ApiError> {
    let view = visible(state, id).await?;
    match state.policy.refuses_edit(user, &view) {
        Some(why) => Err(ApiError::new(StatusCode::FORBIDDEN, "table_owned_by_other", why)),
        None => Ok(view),
    }
}

pub async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let s = state.node.status().await?;
    Ok(Json(json!({ "terminal": state.node.terminal(), "status": s, "policy": &*state.policy })))
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    archived: bool,
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<OrderView>>, ApiError> {
    let Query(q) = query?;
    let terminal = state.node.terminal().clone();
    let views = state.node.orders(q.archived).await?;
    Ok(Json(views.into_iter().filter(|v| state.policy.shows(&terminal, v)).collect()))
}

pub async fn open(
    State(state): State<AppState>,
    body: Result<Json<OpenBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let Json(b) = body?;
    role(&state, &b.user)?;
    // The node gives the order the catalogue's rounding rules.
    let id = match b.order_id()? {
        Some(id) => state.node.open_order_with_id(&b.user, id, b.fields).await?,
        None => state.node.open_order(&b.user, b.fields).await?,
    };
    let view = visible(&state, &id).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let id = parse_order_id(&id)?;
    Ok(Json(visible(&state, &id).await?))
}

pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<EditBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    let role = role(&state, &b.user)?;
    let id = parse_order_id(&id)?;
    let catalogue = state.node.catalogue();
    let menu = catalogue.as_deref().filter(|c| !c.products.is_empty());
    // An edit names at most one new line or payment.
    let fresh = random_bits()?;
    let (mut edit, price_given) = match menu {
        Some(_) => parse_catalogue_edit(b.edit, || fresh)?,
        None => (parse_edit(b.edit, || fresh)?, false),
    };
    // Prices set, money given back and reviews closed take a manager,
    // whatever the route (the order model checks it again).
    if privileges::requires_manager(&edit) {
        require_manager(&state, &b.user)?;
    }
    let view = editable(&state, &id, &b.user).await?;
    price_edit(menu, &view, role, &mut edit, price_given)?;
    let change = state.node.edit(&b.user, &id, edit).await?;
    let view = visible(&state, &id).await?;
    Ok(Json(json!({ "changed": change.is_some(), "order": view })))
}

pub async fn split(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<SplitBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let Json(b) = body?;
    role(&state, &b.user)?;
    let id = parse_order_id(&id)?;
    editable(&state, &id, &b.user).await?;
    let new = state.node.split(&b.user, &id, b.moves()).await?;
    Ok((StatusCode::CREATED, Json(visible(&state, &new).await?)))
}

/// Drills and tests: `{"isolated": true}` drops every connection and stops
/// dialling, as a pulled cable would; `false` lets the terminal reconnect by
/// itself.
pub async fn network(
    State(state): State<AppState>,
    body: Result<Json<NetworkBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    state.node.set_isolated(b.isolated).await?;
    Ok(Json(json!({ "isolated": b.isolated })))
}
