//! A fake Odoo on 127.0.0.1: JSON-RPC over HTTP/1.1 as Odoo answers it
//! (`/web/session/authenticate` with a `session_id` cookie,
//! `/web/dataset/call_kw/<model>/<method>`, `/jsonrpc` with an API key),
//! recording every call and keeping the orders it "created", with Odoo's
//! own duplicate checks: 13-17 skip an order with the same `pos_reference`
//! and the same payments and lines (`_is_the_same_order`), 18 leaves an
//! order with a known `uuid` alone (`_get_open_order`).

// Shared by two test binaries; each uses part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub const DB: &str = "shop";
pub const LOGIN: &str = "pos@shop";
pub const PASSWORD: &str = "odoo-test-password";
pub const API_KEY: &str = "odoo-test-api-key";

#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub params: Value,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub id: i64,
    pub reference: String,
    pub uuid: Option<String>,
    /// The order as received (create_from_ui's `data`, or sync_from_ui's
    /// record).
    pub order: Value,
}

#[derive(Debug, Default)]
pub struct State {
    pub calls: Vec<Call>,
    pub created: Vec<Created>,
    /// The next call_kw answers "session expired" (and forgets sessions).
    pub expire_session_once: bool,
    /// The next create_from_ui / sync_from_ui raises this Odoo exception
    /// (name, message) instead.
    pub raise_next: Option<(&'static str, &'static str)>,
    sessions: BTreeSet<String>,
    next_session: u32,
}

impl State {
    /// The `model.method` of each call_kw / execute_kw, in order.
    pub fn methods(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter_map(|c| {
                if c.path.starts_with("/web/dataset/call_kw/") {
                    Some(format!("{}.{}", c.params["model"].as_str()?, c.params["method"].as_str()?))
                } else if c.path == "/jsonrpc" && c.params["service"] == "object" {
                    Some(format!("{}.{}", c.params["args"][3].as_str()?, c.params["args"][4].as_str()?))
                } else {
                    None
                }
            })
            .collect()
    }
}

pub struct FakeOdoo {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    scheme: &'static str,
}

impl FakeOdoo {
    pub async fn start() -> FakeOdoo {
        Self::spawn(None).await
    }

    /// Over TLS, with `tests/fixtures/tls/cert.pem` (self-signed, for
    /// IP 127.0.0.1).
    pub async fn start_tls() -> FakeOdoo {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
        let certs = CertificateDer::pem_file_iter(format!("{dir}/cert.pem"))
            .expect("cert.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("cert.pem");
        let key = PrivateKeyDer::from_pem_file(format!("{dir}/key.pem")).expect("key.pem");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("certificate and key");
        Self::spawn(Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn spawn(tls: Option<TlsAcceptor>) -> FakeOdoo {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let scheme = if tls.is_some() { "https" } else { "http" };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _ = match tls {
                        None => serve(stream, state).await,
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => serve(stream, state).await,
                            Err(e) => Err(e),
                        },
                    };
                });
            }
        });
        FakeOdoo { addr, state, scheme }
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (path, cookie, body) = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        raw.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = req.parse(&raw) {
            let len = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                .unwrap_or(0);
            if raw.len() >= head + len {
                let cookie = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("cookie"))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned());
                break (req.path.unwrap_or("/").to_owned(), cookie, raw[head..head + len].to_vec());
            }
        }
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (answer, set_cookie) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.calls.push(Call { path: path.clone(), params: request["params"].clone() });
        route(&mut s, &path, cookie.as_deref(), &request["params"])
    };
    let body = match answer {
        Ok(result) => json!({"jsonrpc": "2.0", "id": request["id"], "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": request["id"], "error": error}),
    }
    .to_string();
    let cookie = set_cookie
        .map(|c| format!("Set-Cookie: {c}; Expires=Fri, 01 Jan 2027 00:00:00 GMT; HttpOnly; Path=/\r\n"));
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        body.len(),
        cookie.unwrap_or_default()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

fn odoo_error(name: &str, message: &str, code: i64) -> Value {
    json!({"code": code, "message": "Odoo Server Error", "data": {"name": name, "message": message, "debug": ""}})
}

type Answer = (Result<Value, Value>, Option<String>);

fn route(s: &mut State, path: &str, cookie: Option<&str>, params: &Value) -> Answer {
    match path {
        "/web/session/authenticate" => {
            if params["db"] == DB && params["login"] == LOGIN && params["password"] == PASSWORD {
                s.next_session += 1;
                let sid = format!("session_id=fake{}", s.next_session);
                s.sessions.insert(sid.clone());
                (Ok(json!({"uid": 2, "db": DB, "name": "POS"})), Some(sid))
            } else {
                (Err(odoo_error("odoo.exceptions.AccessDenied", "Access Denied", 200)), None)
            }
        }
        "/jsonrpc" => match params["service"].as_str() {
            Some("common") => {
                let a = &params["args"];
                let ok = a[0] == DB && a[1] == LOGIN && a[2] == API_KEY;
                (Ok(if ok { json!(2) } else { json!(false) }), None)
            }
            Some("object") => {
                let a = &params["args"];
                if a[0] != DB || a[1] != 2 || a[2] != API_KEY {
                    return (Err(odoo_error("odoo.exceptions.AccessDenied", "Access Denied", 200)), None);
                }
                let (model, method) = (a[3].as_str().unwrap_or(""), a[4].as_str().unwrap_or(""));
                (dispatch(s, model, method, &a[5], &a[6]), None)
            }
            _ => (Err(odoo_error("KeyError", "unknown service", 200)), None),
        },
        p if p.starts_with("/web/dataset/call_kw/") => {
            let known = cookie.is_some_and(|c| c.split("; ").any(|c| s.sessions.contains(c)));
            if !known || s.expire_session_once {
                s.expire_session_once = false;
                s.sessions.clear();
                return (Err(odoo_error("odoo.http.SessionExpiredException", "Session expired", 100)), None);
            }
            let (model, method) =
                (params["model"].as_str().unwrap_or(""), params["method"].as_str().unwrap_or(""));
            (dispatch(s, model, method, &params["args"], &params["kwargs"]), None)
        }
        _ => (Err(odoo_error("werkzeug.exceptions.NotFound", "404", 404)), None),
    }
}

fn dispatch(s: &mut State, model: &str, method: &str, args: &Value, _kwargs: &Value) -> Result<Value, Value> {
    if model != "pos.order" {
        return Err(odoo_error("KeyError", model, 200));
    }
    if method != "search_read"
        && let Some((name, message)) = s.raise_next.take()
    {
        return Err(odoo_error(name, message, 200));
    }
    match method {
        "search_read" => {
            let domain = &args[0];
            let wanted = domain[0][2].as_str().unwrap_or_default();
            assert_eq!(domain[0][0], "pos_reference", "the fake only searches by pos_reference");
            Ok(Value::Array(
                s.created.iter().filter(|c| c.reference == wanted).map(|c| json!({"id": c.id})).collect(),
            ))
        }
        "create_from_ui" => {
            let mut out = Vec::new();
            for order in args[0].as_array().into_iter().flatten() {
                let data = &order["data"];
                let reference = data["name"].as_str().unwrap_or_default().to_owned();
                let same = s.created.iter().any(|c| c.reference == reference && same_order(data, &c.order));
                if same {
                    continue;
                }
                let id = 100 + s.created.len() as i64;
                s.created.push(Created { id, reference: reference.clone(), uuid: None, order: data.clone() });
                out.push(json!({"id": id, "pos_reference": reference, "account_move": false}));
            }
            Ok(Value::Array(out))
        }
        "sync_from_ui" => {
            let mut ids = Vec::new();
            for order in args[0].as_array().into_iter().flatten() {
                let uuid = order["uuid"].as_str().map(str::to_owned);
                if let Some(c) = s.created.iter().find(|c| c.uuid.is_some() && c.uuid == uuid) {
                    ids.push(json!({"id": c.id, "uuid": uuid, "state": "paid"}));
                    continue;
                }
                let id = 100 + s.created.len() as i64;
                let reference = order["name"].as_str().unwrap_or_default().to_owned();
                s.created.push(Created { id, reference, uuid: uuid.clone(), order: order.clone() });
                ids.push(json!({"id": id, "uuid": uuid, "state": "paid"}));
            }
            Ok(json!({"pos.order": ids, "pos.session": [], "pos.payment": [], "pos.order.line": [],
                      "pos.pack.operation.lot": [], "product.attribute.custom.value": []}))
        }
        other => Err(odoo_error("AttributeError", other, 200)),
    }
}

/// 16.0 `_is_the_same_order`: every received `(amount, payment_method_id)`
/// among the held payments, the same number of lines, the same sorted
/// `(product_id, price_unit)`.
fn same_order(data: &Value, held: &Value) -> bool {
    let pays = |o: &Value| -> Vec<(String, String)> {
        o["statement_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| (p[2]["amount"].to_string(), p[2]["payment_method_id"].to_string()))
            .collect()
    };
    let lines = |o: &Value| -> Vec<(String, String)> {
        let mut l: Vec<_> = o["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| (l[2]["product_id"].to_string(), l[2]["price_unit"].to_string()))
            .collect();
        l.sort();
        l
    };
    let held_pays = pays(held);
    pays(data).iter().all(|p| held_pays.contains(p)) && lines(data) == lines(held)
}
