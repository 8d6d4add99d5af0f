//! A small HTTP/1.1 client: one POST per connection (`Connection: close`),
//! a JSON body out, the status, cookies and body back. Enough for Odoo's
//! JSON-RPC without an HTTP client stack. `http://`, or `https://` over
//! rustls, the server checked against Mozilla's roots or a given CA file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Largest answer read, in bytes: Odoo answers an order with a few KiB.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// `http[s]://host[:port]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(r), _) => (true, r),
            (None, Some(r)) => (false, r),
            (None, None) => return Err(format!("{url}: expected http[s]://host[:port]")),
        };
        let default_port = if tls { 443 } else { 80 };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || authority.contains('@') {
            return Err(format!("{url}: expected http://host[:port] with no path"));
        }
        let port = |p: &str| p.parse::<u16>().map_err(|_| format!("{url}: bad port {p:?}"));
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| format!("{url}: unclosed ["))?;
            (h, if after.is_empty() { default_port } else { port(after.trim_start_matches(':'))? })
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, port(p)?),
                None => (authority, default_port),
            }
        };
        Ok(BaseUrl { tls, host: host.to_owned(), port })
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// How to reach a [`BaseUrl`]: plain TCP, or TLS with these roots.
#[derive(Clone)]
pub struct Connector {
    tls: Option<TlsConnector>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("tls", &self.tls.is_some()).finish()
    }
}

impl Connector {
    /// For `base`: with TLS, the server is checked against the
    /// certificates in `ca_file` (PEM) if given, else Mozilla's roots.
    pub fn new(base: &BaseUrl, ca_file: Option<&Path>) -> Result<Self, String> {
        if !base.tls {
            return Ok(Connector { tls: None });
        }
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("CA file {}: {e}", path.display()))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!("CA file {}: no usable certificate", path.display()));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Connector { tls: Some(TlsConnector::from(Arc::new(config))) })
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
    connector: &Connector,
    base: &BaseUrl,
    path: &str,
    body: &[u8],
    cookie: Option<&str>,
    timeout: Duration,
) -> Result<Response, String> {
    tokio::time::timeout(timeout, connect_and_exchange(connector, base, path, body, cookie))
        .await
        .map_err(|_| format!("{base}{path}: no answer within {timeout:?}"))?
}

async fn connect_and_exchange(
    connector: &Connector,
    base: &BaseUrl,
    path: &str,
    body: &[u8],
    cookie: Option<&str>,
) -> Result<Response, String> {
    let tcp = TcpStream::connect((base.host.as_str(), base.port))
        .await
        .map_err(|e| format!("connecting to {base}: {e}"))?;
    match &connector.tls {
        None => exchange(tcp, base, path, body, cookie).await,
        Some(tls) => {
            let name = ServerName::try_from(base.host.clone()).map_err(|e| format!("{base}: {e}"))?;
            let stream = tls.connect(name, tcp).await.map_err(|e| format!("TLS with {base}: {e}"))?;
            exchange(stream, base, path, body, cookie).await
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    base: &BaseUrl,
    path: &str,
    body: &[u8],
    cookie: Option<&str>,
) -> Result<Response, String> {
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
    stream.flush().await.map_err(|e| format!("{base}{path}: {e}"))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // A TLS server may close without close_notify: a complete answer
        // is read as soon as it is complete, EOF or not.
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(format!("{base}{path}: {e}")),
        };
        if n == 0 {
            break;
        }
        if raw.len() + n > MAX_RESPONSE {
            return Err(format!("{base}{path}: answer larger than {MAX_RESPONSE} bytes"));
        }
        raw.extend_from_slice(&chunk[..n]);
        if is_complete(&raw) {
            break;
        }
    }
    parse_response(&raw).map_err(|e| format!("{base}{path}: {e}"))
}

/// Whether `raw` holds a whole answer with a known end (a length, or the
/// last chunk); one without is read to EOF.
fn is_complete(raw: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = res.parse(raw) else { return false };
    let header = |name: &str| {
        res.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value))
    };
    if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return raw.ends_with(b"0\r\n\r\n");
    }
    match header("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
        Some(len) => raw.len() >= head + len,
        None => false,
    }
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
        let url = |tls, host: &str, port| BaseUrl { tls, host: host.into(), port };
        assert_eq!(BaseUrl::parse("http://odoo.lan:8069").unwrap(), url(false, "odoo.lan", 8069));
        assert_eq!(BaseUrl::parse("http://odoo.lan/").unwrap().port, 80);
        assert_eq!(BaseUrl::parse("http://[::1]:8069").unwrap(), url(false, "::1", 8069));
        assert_eq!(BaseUrl::parse("https://odoo.example").unwrap(), url(true, "odoo.example", 443));
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
        assert!(is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}"));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}"));
    }
}
