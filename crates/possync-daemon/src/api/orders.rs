//! Orders: list, open, show, edit, split; and status.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use possync::model::{Edit, LineId, NewOrder, OrderId, OrderName, OrderView, PaymentId, Quantity};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ApiError, AppState};

fn random_bits() -> u128 {
    let mut b = [0u8; 16];
    // An all-zero id is still unique enough to fail loudly on reuse.
    let _ = getrandom::fill(&mut b);
    u128::from_le_bytes(b)
}

fn parse_order_id(id: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(id).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))
}

fn check_user(user: &str) -> Result<(), ApiError> {
    if user.trim().is_empty() || user.len() > 64 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_user",
            "user must be 1 to 64 bytes",
        ));
    }
    Ok(())
}

/// The order if this terminal shows it (see `Policy::accept_incoming`).
async fn visible(state: &AppState, id: &OrderId) -> Result<OrderView, ApiError> {
    match state.node.order(id).await? {
        Some(v) if state.policy.shows(state.node.terminal(), &v) => Ok(v),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_order", format!("no order {id}"))),
    }
}

/// The order, if this terminal shows it and `user` may change it (see
/// `Policy::one_waiter_per_table`).
async fn editable(state: &AppState, id: &OrderId, user: &str) -> Result<OrderView, ApiError> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    user: String,
    /// An integrator's own id (e.g. Odoo's order uid); fresh when absent.
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    floor: Option<String>,
    #[serde(default)]
    guests: u32,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    pricelist: Option<String>,
    #[serde(default)]
    fiscal_position: Option<String>,
    #[serde(default)]
    ext: Map<String, Value>,
}

pub async fn open(
    State(state): State<AppState>,
    body: Result<Json<OpenBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let Json(b) = body?;
    check_user(&b.user)?;
    let placeholder = OrderName::compose(state.node.terminal(), 0);
    let mut new = NewOrder::new(OrderId::from_random(0), placeholder);
    new.table = b.table;
    new.floor = b.floor;
    new.guests = b.guests;
    new.customer = b.customer;
    new.pricelist = b.pricelist;
    new.fiscal_position = b.fiscal_position;
    new.ext = b.ext;
    let id = match b.id {
        Some(id) => {
            new.id = parse_order_id(&id)?;
            state.node.open_order_as(&b.user, new).await?
        }
        None => state.node.open_order(&b.user, new).await?,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    user: String,
    /// One edit, as in `possync::model::Edit` (`{"op": "add_line", ...}`).
    /// `add_line` may omit the line `id` and `add_payment` the `payment` id:
    /// fresh ones are drawn.
    edit: Value,
}

pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<EditBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    check_user(&b.user)?;
    let id = parse_order_id(&id)?;
    let edit = parse_edit(b.edit)?;
    editable(&state, &id, &b.user).await?;
    let change = state.node.edit(&b.user, &id, edit).await?;
    let view = visible(&state, &id).await?;
    Ok(Json(json!({ "changed": change.is_some(), "order": view })))
}

fn parse_edit(mut raw: Value) -> Result<Edit, ApiError> {
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_edit", m);
    let obj = raw.as_object_mut().ok_or_else(|| invalid("edit must be an object with an \"op\"".into()))?;
    match obj.get("op").and_then(Value::as_str) {
        Some("add_line") if !obj.contains_key("id") => {
            obj.insert("id".into(), Value::String(LineId::from_random(random_bits()).to_string()));
        }
        Some("add_payment") if !obj.contains_key("payment") => {
            obj.insert("payment".into(), Value::String(PaymentId::from_random(random_bits()).to_string()));
        }
        _ => {}
    }
    serde_json::from_value(raw).map_err(|e| invalid(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitBody {
    user: String,
    lines: Vec<SplitLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitLine {
    line: LineId,
    qty: Quantity,
}

pub async fn split(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<SplitBody>, JsonRejection>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let Json(b) = body?;
    check_user(&b.user)?;
    let id = parse_order_id(&id)?;
    editable(&state, &id, &b.user).await?;
    let moves = b.lines.into_iter().map(|l| (l.line, l.qty)).collect();
    let new = state.node.split(&b.user, &id, moves).await?;
    Ok((StatusCode::CREATED, Json(visible(&state, &new).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkBody {
    isolated: bool,
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
