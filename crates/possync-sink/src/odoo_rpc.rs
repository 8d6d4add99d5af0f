//! Odoo's JSON-RPC, logged in: with a password through the web session
//! (`/web/session/authenticate`, then `/web/dataset/call_kw` with the
//! `session_id` cookie), or with an API key through `/jsonrpc`
//! (`common.authenticate`, then `object.execute_kw`). A session that
//! expired is renewed once per call. Errors carry Odoo's message, never a
//! password, key or cookie, and say whose they are: an exception Odoo
//! raised for the call (a `UserError`, a `ValidationError`, a bad value) is
//! about what was sent ([`DeliveryFailure::Refused`]); no answer, a refused
//! login or missing access rights are about the server
//! ([`DeliveryFailure::Unavailable`]).

use std::sync::atomic::{AtomicU64, Ordering};

use possync::DeliveryFailure;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::http::{BaseUrl, Connector, post_json};
use crate::odoo_config::{OdooAuth, OdooConfig};

/// How a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// The session is no longer valid: log in again.
    SessionExpired,
    /// No usable answer (connection, timeout, not JSON-RPC).
    Transport(String),
    /// Odoo raised `name` (`odoo.exceptions.UserError`, ...) with `message`.
    Odoo { name: String, message: String },
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::SessionExpired => f.write_str("Odoo session expired"),
            RpcError::Transport(m) => f.write_str(m),
            RpcError::Odoo { name, message } if name.is_empty() => f.write_str(message),
            RpcError::Odoo { name, message } => write!(f, "{name}: {message}"),
        }
    }
}

impl RpcError {
    /// Whose failure it is; see the module's documentation.
    fn into_failure(self, context: &str) -> DeliveryFailure {
        let text = format!("{context}: {self}");
        match &self {
            RpcError::Odoo { name, .. }
                if !name.contains("AccessError") && !name.contains("AccessDenied") =>
            {
                DeliveryFailure::Refused(text)
            }
            _ => DeliveryFailure::Unavailable(text),
        }
    }
}

enum Login {
    Session { cookie: String },
    Key { uid: i64, key: String },
}

pub struct OdooRpc {
    config: OdooConfig,
    base: BaseUrl,
    connector: Connector,
    login: Mutex<Option<Login>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for OdooRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooRpc").field("url", &self.base.to_string()).field("db", &self.config.db).finish()
    }
}

impl OdooRpc {
    pub fn new(config: OdooConfig) -> Result<Self, String> {
        let base = BaseUrl::parse(&config.url)?;
        let connector = Connector::new(&base, config.ca_file.as_deref())?;
        Ok(OdooRpc { config, base, connector, login: Mutex::new(None), next_id: AtomicU64::new(1) })
    }

    /// `model.method(*args, **kwargs)`, logging in first if needed.
    pub async fn call_kw(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<Value, DeliveryFailure> {
        let mut guard = self.login.lock().await;
        for attempt in 0..2 {
            if guard.is_none() {
                *guard = Some(self.log_in().await?);
            }
            let Some(login) = guard.as_ref() else { continue };
            let result = match login {
                Login::Session { cookie } => {
                    let params = json!({"model": model, "method": method, "args": args, "kwargs": kwargs});
                    self.rpc(&format!("/web/dataset/call_kw/{model}/{method}"), params, Some(cookie)).await
                }
                Login::Key { uid, key } => {
                    let params = json!({
                        "service": "object", "method": "execute_kw",
                        "args": [self.config.db, uid, key, model, method, args, kwargs],
                    });
                    self.rpc("/jsonrpc", params, None).await
                }
            };
            match result {
                Err(RpcError::SessionExpired) if attempt == 0 => *guard = None,
                Err(e) => return Err(e.into_failure(&format!("{model}.{method}"))),
                Ok(v) => return Ok(v),
            }
        }
        Err(DeliveryFailure::Unavailable(format!(
            "{model}.{method}: Odoo session expired again right after logging in"
        )))
    }

    async fn log_in(&self) -> Result<Login, String> {
        let db = &self.config.db;
        match &self.config.auth {
            OdooAuth::Password { login, password } => {
                let password = password.read()?;
                let params = json!({"db": db, "login": login, "password": password});
                let (result, cookies) = self
                    .rpc_with_cookies("/web/session/authenticate", params, None)
                    .await
                    .map_err(|e| format!("logging in to Odoo as {login}: {e}"))?;
                if !result["uid"].is_i64() {
                    return Err(format!(
                        "logging in to Odoo as {login} on {db}: refused (wrong login or password?)"
                    ));
                }
                let cookie = cookies.into_iter().find(|c| c.starts_with("session_id=")).ok_or_else(|| {
                    format!("logging in to Odoo as {login}: no session cookie in the answer")
                })?;
                Ok(Login::Session { cookie })
            }
            OdooAuth::ApiKey { login, key } => {
                let key = key.read()?;
                let params =
                    json!({"service": "common", "method": "authenticate", "args": [db, login, key, {}]});
                let result = self
                    .rpc("/jsonrpc", params, None)
                    .await
                    .map_err(|e| format!("logging in to Odoo as {login}: {e}"))?;
                match result.as_i64() {
                    Some(uid) => Ok(Login::Key { uid, key }),
                    None => Err(format!(
                        "logging in to Odoo as {login} on {db}: refused (wrong login or API key?)"
                    )),
                }
            }
        }
    }

    async fn rpc(&self, path: &str, params: Value, cookie: Option<&str>) -> Result<Value, RpcError> {
        self.rpc_with_cookies(path, params, cookie).await.map(|(v, _)| v)
    }

    async fn rpc_with_cookies(
        &self,
        path: &str,
        params: Value,
        cookie: Option<&str>,
    ) -> Result<(Value, Vec<String>), RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": id}).to_string();
        let res = post_json(&self.connector, &self.base, path, body.as_bytes(), cookie, self.config.timeout)
            .await
            .map_err(RpcError::Transport)?;
        let answer: Value = serde_json::from_slice(&res.body).map_err(|_| {
            RpcError::Transport(format!("{}{path}: HTTP {} and not a JSON-RPC answer", self.base, res.status))
        })?;
        if let Some(error) = answer.get("error") {
            return Err(describe_error(error));
        }
        match answer.get("result") {
            Some(result) => Ok((result.clone(), res.cookies)),
            None => Err(RpcError::Transport(format!(
                "{}{path}: HTTP {}, an answer with no result",
                self.base, res.status
            ))),
        }
    }
}

/// Odoo's error object: `{code, message, data: {name, message, debug}}`.
fn describe_error(error: &Value) -> RpcError {
    let name = error["data"]["name"].as_str().unwrap_or_default();
    if error["code"] == 100 || name.ends_with("SessionExpiredException") {
        return RpcError::SessionExpired;
    }
    let message =
        error["data"]["message"].as_str().or_else(|| error["message"].as_str()).unwrap_or("unknown error");
    RpcError::Odoo { name: name.to_owned(), message: message.chars().take(512).collect() }
}
