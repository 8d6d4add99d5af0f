//! A small HTTP/1.1 client: one POST per connection (`Connection: close`),
//! a JSON body out, the status, cookies and body back. Enough for Odoo's
//! JSON-RPC without an HTTP client stack. Plain `http://` only.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read, in bytes: Odoo answers an order with a few KiB.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// `http://host[:port]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub host: String,
    pub port: u16,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = match url.strip_prefix("http://") {
            Some(r) => r,
            None if url.starts_with("https://") => {
                return Err(format!(
                    "{url}: https is not supported yet; reach Odoo over http on a trusted network or through a local TLS proxy"
                ));
            }
            None => return Err(format!("{url}: expected http://host[:port]")),
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || authority.contains('@') {
            return Err(format!("{url}: expected http://host[:port] with no path"));
        }
        let port = |p: &str| p.parse::<u16>().map_err(|_| format!("{url}: bad port {p:?}"));
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| format!("{url}: unclosed ["))?;
            (h, if after.is_empty() { 80 } else { port(after.trim_start_matches(':'))? })
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, port(p)?),
                None => (authority, 80),
            }
        };
        Ok(BaseUrl { host: host.to_owned(), port })
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "http://{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// `name=value` of each `Set-Cookie`, attributes dropped.
    pub cookies: Vec<String>,
    pub body: Vec<u8>,
}

/// POSTs `body` as JSON to `path`. The whole exchange is bounded by
/// `timeout`.
pub async fn post_json(
    base: &BaseUrl,
    path: &str,
    body: &[u8],
    cookie: Option<&str>,
    timeout: Duration,
) -> Result<Response, String> {
    tokio::time::timeout(timeout, exchange(base, path, body, cookie))
        .await
        .map_err(|_| format!("{base}{path}: no answer within {timeout:?}"))?
}

async fn exchange(base: &BaseUrl, path: &str, body: &[u8], cookie: Option<&str>) -> Result<Response, String> {
    let mut stream = TcpStream::connect((base.host.as_str(), base.port))
        .await
        .map_err(|e| format!("connecting to {base}: {e}"))?;
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nAccept: application/json\r\n\
         Content-Length: {}\r\n{cookie}Connection: close\r\n\r\n",
        base.host,
        base.port,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.map_err(|e| format!("{base}{path}: {e}"))?;
    stream.write_all(body).await.map_err(|e| format!("{base}{path}: {e}"))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| format!("{base}{path}: {e}"))?;
        if n == 0 {
            break;
        }
        if raw.len() + n > MAX_RESPONSE {
            return Err(format!("{base}{path}: answer larger than {MAX_RESPONSE} bytes"));
        }
        raw.extend_from_slice(&chunk[..n]);
    }
    parse_response(&raw).map_err(|e| format!("{base}{path}: {e}"))
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut headers);
    let head_len = match res.parse(raw).map_err(|e| format!("malformed answer: {e}"))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Err("the connection closed mid-answer".into()),
    };
    let status = res.code.unwrap_or(0);
    let mut cookies = Vec::new();
    let mut chunked = false;
    let mut length = None;
    for h in res.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("set-cookie") {
            if let Some(pair) = value.split(';').next() {
                cookies.push(pair.trim().to_owned());
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let rest = &raw[head_len..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        match length {
            Some(n) if n <= rest.len() => rest[..n].to_vec(),
            Some(_) => return Err("the connection closed mid-body".into()),
            None => rest.to_vec(),
        }
    };
    Ok(Response { status, cookies, body })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").ok_or("malformed chunk")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "malformed chunk size")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err("the connection closed mid-chunk".into());
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            BaseUrl::parse("http://odoo.lan:8069").unwrap(),
            BaseUrl { host: "odoo.lan".into(), port: 8069 }
        );
        assert_eq!(BaseUrl::parse("http://odoo.lan/").unwrap().port, 80);
        assert_eq!(BaseUrl::parse("http://[::1]:8069").unwrap(), BaseUrl { host: "::1".into(), port: 8069 });
        assert!(BaseUrl::parse("https://odoo.example").unwrap_err().contains("https is not supported"));
        assert!(BaseUrl::parse("http://odoo.lan/web").is_err());
        assert!(BaseUrl::parse("odoo.lan").is_err());
    }

    #[test]
    fn answers_with_length_chunks_and_cookies() {
        let raw =
            b"HTTP/1.1 200 OK\r\nSet-Cookie: session_id=abc; Path=/; HttpOnly\r\nContent-Length: 2\r\n\r\n{}";
        let r = parse_response(raw).unwrap();
        assert_eq!((r.status, r.cookies, r.body), (200, vec!["session_id=abc".to_owned()], b"{}".to_vec()));
        let raw =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap().body, b"{\"a\":1}".to_vec());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_err());
    }
}
