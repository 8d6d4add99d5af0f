//! Real `possync run` processes for the process-level tests: start, kill,
//! stop, and a minimal HTTP client for their API. Loopback only.

#![allow(dead_code, clippy::unwrap_used)] // each test file uses its own part

pub mod netns;
pub mod proxy;

pub use tempfile::TempDir;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A scratch directory named after the test, removed when dropped.
pub fn temp_dir(tag: &str) -> TempDir {
    tempfile::Builder::new().prefix(&format!("possync-{tag}-")).tempdir().unwrap()
}

/// A fresh multi-session key file made by `possync keygen`.
pub fn keygen(dir: &Path) -> PathBuf {
    let key = dir.join("floor.key");
    let out =
        Command::new(env!("CARGO_BIN_EXE_possync")).args(["keygen", "--out"]).arg(&key).output().unwrap();
    assert!(out.status.success(), "keygen: {}", String::from_utf8_lossy(&out.stderr));
    key
}

/// One HTTP/1.1 request; `None` when the terminal did not answer (killed).
pub fn http(api: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect_timeout(&api, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, rest) = raw.split_once("\r\n\r\n")?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(rest).ok()?))
}

/// A GET whose answer is text (`/metrics`); empty when there is none.
pub fn http_text(api: SocketAddr, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&api, Duration::from_millis(500)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return String::new();
    }
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
}

/// Like [`http`], for requests that must succeed with `expect`.
pub fn call(api: SocketAddr, method: &str, path: &str, body: Option<&Value>, expect: u16) -> Value {
    let (status, v) = http(api, method, path, body).unwrap_or_else(|| panic!("{method} {path}: no answer"));
    assert_eq!(status, expect, "{method} {path}: {v}");
    v
}

/// Polls `check` until it holds, or fails the test with `what`.
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One `possync run` terminal, restartable from its data directory.
pub struct Terminal {
    pub name: String,
    pub data_dir: PathBuf,
    pub api: SocketAddr,
    pub listen_port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Terminal {
    /// `peers`: TCP ports (on 127.0.0.1) this terminal dials.
    pub fn new(session: &str, name: &str, dir: &Path, key: &Path, listen_port: u16, peers: &[u16]) -> Self {
        let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let data_dir = dir.join(name);
        let mut args: Vec<String> = vec![
            "run".into(),
            "--session".into(),
            session.into(),
            "--terminal".into(),
            name.into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--listen".into(),
            format!("/ip4/127.0.0.1/tcp/{listen_port}"),
            "--key-file".into(),
            key.display().to_string(),
            "--api".into(),
            api.to_string(),
        ];
        for port in peers {
            args.push("--peer".into());
            args.push(format!("/ip4/127.0.0.1/tcp/{port}"));
        }
        Terminal { name: name.into(), data_dir, api, listen_port, args, child: None }
    }

    /// Adds command-line arguments (e.g. `--config <file>`).
    pub fn with_args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    pub fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_possync"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        eventually(Duration::from_secs(20), "terminal started", || {
            http(self.api, "GET", "/api/status", None).is_some()
        });
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, and waits for a clean exit (the store is flushed and unlocked).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            assert!(sent.success());
            let status = c.wait().unwrap();
            assert!(status.success(), "{} exited with {status}", self.name);
        }
    }

    /// The node's status (`NodeStatus`, as `/api/status` nests it).
    pub fn status(&self) -> Value {
        call(self.api, "GET", "/api/status", None, 200)["status"].clone()
    }

    pub fn connectivity(&self) -> String {
        self.status()["connectivity"].as_str().unwrap_or_default().to_owned()
    }

    pub fn peer_count(&self) -> usize {
        self.status()["peers"].as_array().map_or(0, Vec::len)
    }

    /// Every order this terminal holds, open and archived.
    pub fn orders(&self) -> Vec<Value> {
        call(self.api, "GET", "/api/orders?archived=true", None, 200).as_array().unwrap().clone()
    }

    pub fn order(&self, id: &str) -> Option<Value> {
        match http(self.api, "GET", &format!("/api/orders/{id}"), None) {
            Some((200, v)) => Some(v),
            _ => None,
        }
    }

    /// Line ids of an order (empty when the terminal does not hold it).
    pub fn lines_of(&self, id: &str) -> Vec<String> {
        self.order(id)
            .map(|v| {
                v["lines"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.kill();
    }
}
