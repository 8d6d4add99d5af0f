//! `POST /api/login`: checks a user's PIN against the catalogue, with a
//! bound on wrong guesses per user.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};

/// Wrong PINs one user may enter per [`FAILURE_WINDOW`]; further attempts
/// are refused (429) until the oldest failure leaves the window. A 4-digit
/// PIN then takes days to guess, and a cashier who mistypes is not locked
/// out for long.
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Recent wrong PINs, per user id. Only users of the catalogue get an entry
/// (an unknown user is answered before), so its size is bounded by it.
#[derive(Debug, Default)]
pub struct LoginAttempts {
    failures: Mutex<BTreeMap<String, VecDeque<Instant>>>,
}

impl LoginAttempts {
    /// Whether `user` may try now.
    fn allowed(&self, user: &str, now: Instant) -> bool {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(recent) = failures.get_mut(user) else { return true };
        while recent.front().is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW) {
            recent.pop_front();
        }
        recent.len() < MAX_FAILURES
    }

    fn failed(&self, user: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let recent = failures.entry(user.to_owned()).or_default();
        recent.push_back(now);
        if recent.len() > MAX_FAILURES {
            recent.pop_front();
        }
    }

    fn succeeded(&self, user: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.remove(user);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    user: String,
    pin: String,
}

pub async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "unknown_user", format!("no user {:?}", b.user));
    let catalogue = state.node.catalogue().ok_or_else(unknown)?;
    let user = catalogue.users.iter().find(|u| u.id.as_str() == b.user).ok_or_else(unknown)?;
    let now = Instant::now();
    if !state.login.allowed(&b.user, now) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("{MAX_FAILURES} wrong PINs within {} s: wait a minute", FAILURE_WINDOW.as_secs()),
        ));
    }
    if !user.check_pin(&b.pin) {
        state.login.failed(&b.user, now);
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_pin", "wrong PIN"));
    }
    state.login.succeeded(&b.user);
    Ok(Json(json!({ "id": user.id, "name": user.name, "role": user.role })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_a_minute_then_refused_until_the_oldest_expires() {
        let attempts = LoginAttempts::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert!(attempts.allowed("ana", t0), "attempt {i}");
            attempts.failed("ana", t0 + Duration::from_secs(i as u64));
        }
        assert!(!attempts.allowed("ana", t0 + Duration::from_secs(30)));
        assert!(attempts.allowed("ben", t0 + Duration::from_secs(30)), "per user");
        assert!(attempts.allowed("ana", t0 + FAILURE_WINDOW), "the oldest left the window");
        attempts.succeeded("ana");
        assert!(attempts.allowed("ana", t0));
    }
}
