//! A minimal HTTP/1.1 client for the CLI's talk with a local terminal
//! (loopback): enough for `status`, `orders`, `export` and `catalogue`,
//! without pulling an HTTP client stack into the binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

pub fn get_json(api: SocketAddr, path: &str, token: Option<&str>) -> Result<Value> {
    request_json(api, "GET", path, None, token)
}

pub fn post_json(api: SocketAddr, path: &str, body: &Value, token: Option<&str>) -> Result<Value> {
    request_json(api, "POST", path, Some(body), token)
}

fn request_json(
    api: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Result<Value> {
    let mut stream = TcpStream::connect_timeout(&api, Duration::from_secs(5))
        .with_context(|| format!("no terminal answers at {api}: is `possync run` running?"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let body = body.map(Value::to_string).unwrap_or_default();
    let content = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len())
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\n{auth}{content}Connection: close\r\nAccept: application/json\r\n\r\n{body}"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
    let status: u16 =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("malformed status line")?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    let value: Value = serde_json::from_str(&body).with_context(|| format!("{path}: not JSON"))?;
    if status >= 400 {
        let msg = value["error"]["message"].as_str().unwrap_or("error");
        bail!("{path}: {status}: {msg}");
    }
    Ok(value)
}

fn dechunk(mut body: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").context("malformed chunk")?;
        let size = usize::from_str_radix(size.trim(), 16).context("malformed chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..size).context("truncated chunk")?;
        out.push_str(chunk);
        body = rest.get(size + 2..).context("truncated chunk")?;
    }
}
