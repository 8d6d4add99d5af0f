//! Who is asking. Once the catalogue lists users, every request names one
//! of them (the page logs in with a PIN) and the catalogue gives the role;
//! on a terminal whose catalogue lists none, users are free-text names and
//! the policy's `managers` are the managers.

use axum::http::StatusCode;
use possync::catalogue::Role;
use possync_api::{check_user, user_role};

use super::{ApiError, AppState};

/// `user`'s role; `None` when the catalogue lists no users.
pub(super) fn role(state: &AppState, user: &str) -> Result<Option<Role>, ApiError> {
    check_user(user)?;
    Ok(user_role(state.node.catalogue().as_deref(), user)?)
}

/// Refuses anyone but a manager.
pub(super) fn require_manager(state: &AppState, user: &str) -> Result<(), ApiError> {
    let refusal = match role(state, user)? {
        Some(Role::Manager) => None,
        Some(Role::Cashier) => Some(format!("only a manager may do this; {user} is a cashier")),
        None => state.policy.refuses_manager_action(user),
    };
    match refusal {
        Some(why) => Err(ApiError::new(StatusCode::FORBIDDEN, "manager_only", why)),
        None => Ok(()),
    }
}
