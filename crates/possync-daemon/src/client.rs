//! The CLI's talk with a local terminal (`status`, `orders`, `export`,
//! `catalogue`): one request over HTTP/1.1 with hyper's client, on loopback,
//! so no TLS and no connection pool.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An archive export reads every order the terminal holds.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// `GET path` from the terminal's API at `api`, as JSON; an error status
/// becomes an error carrying the API's message.
pub async fn get_json(api: SocketAddr, path: &str, token: Option<&str>) -> Result<Value> {
    request_json(api, Method::GET, path, None, token).await
}

/// `POST path` with a JSON body, answered as [`get_json`] is.
pub async fn post_json(api: SocketAddr, path: &str, body: &Value, token: Option<&str>) -> Result<Value> {
    request_json(api, Method::POST, path, Some(body), token).await
}

async fn request_json(
    api: SocketAddr,
    method: Method,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Result<Value> {
    let no_terminal = || format!("no terminal answers at {api}: is `possync run` running?");
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(api)).await {
        Ok(connected) => connected.with_context(no_terminal)?,
        Err(_) => bail!("{}", no_terminal()),
    };
    let mut request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(HOST, api.to_string())
        .header(ACCEPT, "application/json");
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let bytes = match body {
        Some(body) => {
            request = request.header(CONTENT_TYPE, "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    let request = request.body(Full::new(bytes)).with_context(|| format!("{path}: not a request path"))?;
    let (status, body) = tokio::time::timeout(RESPONSE_TIMEOUT, exchange(stream, request))
        .await
        .with_context(|| format!("{method} {path}: no answer from {api} within {RESPONSE_TIMEOUT:?}"))?
        .with_context(|| format!("{method} {path}"))?;
    let value: Value = serde_json::from_slice(&body).with_context(|| format!("{path}: not JSON"))?;
    if status.is_client_error() || status.is_server_error() {
        let msg = value["error"]["message"].as_str().unwrap_or("error");
        bail!("{path}: {}: {msg}", status.as_u16());
    }
    Ok(value)
}

async fn exchange(stream: TcpStream, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes)> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.context("HTTP handshake")?;
    // Drives the connection until the response is read; dropped with it.
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await.context("reading the body")?;
    driver.abort();
    Ok((status, body.to_bytes()))
}
