//! The catalogue: read it, replace it on every terminal (a manager, or
//! anyone while it lists no users).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use possync::catalogue::import::from_possync_json;
use possync::catalogue::{Catalogue, Role};
use possync_api::check_user;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};

/// Largest `POST /api/catalogue` body: a catalogue of several thousand
/// products. (What replicates is bounded by the engine's
/// `max_direct_bytes`, compressed; see docs/CATALOGUE.md.)
pub const MAX_CATALOGUE_BODY: usize = 8 * 1024 * 1024;

/// `GET /api/catalogue`: `{"version", "catalogue", "by"}`; version 0 and
/// null when the terminal has none yet. PIN hashes never leave the terminal.
pub async fn show(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let Some(shared) = state.node.shared_catalogue() else {
        return Ok(Json(json!({ "version": 0, "catalogue": null, "by": null })));
    };
    let mut catalogue = serde_json::to_value(&*shared.catalogue).map_err(internal)?;
    for user in catalogue["users"].as_array_mut().into_iter().flatten() {
        if let Some(user) = user.as_object_mut() {
            user.remove("pin");
        }
    }
    Ok(Json(json!({ "version": shared.version, "catalogue": catalogue, "by": shared.by })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceBody {
    user: String,
    /// A possync catalogue file (`{"format","version","catalogue"}`).
    file: Value,
}

/// `POST /api/catalogue`: replaces the catalogue on every terminal.
pub async fn replace(
    State(state): State<AppState>,
    body: Result<Json<ReplaceBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    check_user(&b.user)?;
    if let Some(current) = state.node.catalogue() {
        check_manager(&current, &b.user)?;
    }
    // Through the importer, so errors name the path and field as for a file.
    let text = serde_json::to_string_pretty(&b.file).map_err(internal)?;
    let catalogue = from_possync_json(&text)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_catalogue", e.to_string()))?;
    let version = state.node.replace_catalogue(&b.user, catalogue).await?;
    Ok(Json(json!({ "version": version })))
}

/// Once the catalogue lists users, a change takes one of its managers.
pub(super) fn check_manager(catalogue: &Catalogue, user: &str) -> Result<(), ApiError> {
    if catalogue.users.is_empty() {
        return Ok(());
    }
    match catalogue.users.iter().find(|u| u.id.as_str() == user) {
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown_user",
            format!("no user {user:?} in the catalogue: changing it takes a manager's user id"),
        )),
        Some(u) if u.role != Role::Manager => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "manager_only",
            format!("{user} is not a manager: only a manager may change the catalogue"),
        )),
        Some(_) => Ok(()),
    }
}

fn internal(e: serde_json::Error) -> ApiError {
    tracing::error!(error = %e, "catalogue JSON");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the terminal's log")
}
