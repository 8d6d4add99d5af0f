//! S16 at process level: a real `possync run` terminal is killed with
//! SIGKILL in the middle of a burst of API edits, 20 times, and restarted
//! from its data directory. Every edit the API acknowledged must be present,
//! on it and on its peer. Loopback only.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 request; `None` when the terminal did not answer (killed).
fn http(api: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
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

struct Terminal {
    args: Vec<String>,
    api: SocketAddr,
    child: Option<Child>,
}

impl Terminal {
    fn new(name: &str, dir: &Path, key: &Path, port: u16, peer_port: u16) -> Self {
        let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let args = vec![
            "run".into(),
            "--session".into(),
            "s16".into(),
            "--terminal".into(),
            name.into(),
            "--data-dir".into(),
            dir.join(name).display().to_string(),
            "--listen".into(),
            format!("/ip4/127.0.0.1/tcp/{port}"),
            "--peer".into(),
            format!("/ip4/127.0.0.1/tcp/{peer_port}"),
            "--key-file".into(),
            key.display().to_string(),
            "--api".into(),
            api.to_string(),
        ];
        Terminal { args, api, child: None }
    }

    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_possync"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while http(self.api, "GET", "/api/status", None).is_none() {
            assert!(Instant::now() < deadline, "terminal did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.kill();
    }
}

fn lines_of(api: SocketAddr, order: &str) -> Vec<String> {
    match http(api, "GET", &format!("/api/orders/{order}"), None) {
        Some((200, v)) => {
            v["lines"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect()
        }
        _ => Vec::new(),
    }
}

#[test]
fn s16_sigkill_mid_burst_loses_no_acknowledged_edit() {
    let dir = std::env::temp_dir().join(format!("possync-s16-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("floor.key");
    let out =
        Command::new(env!("CARGO_BIN_EXE_possync")).args(["keygen", "--out"]).arg(&key).output().unwrap();
    assert!(out.status.success());
    let (pa, pb) = (free_port(), free_port());
    let mut a = Terminal::new("A", &dir, &key, pa, pb);
    let mut b = Terminal::new("B", &dir, &key, pb, pa);
    a.start();
    b.start();
    let (s, order) =
        http(a.api, "POST", "/api/orders", Some(&json!({"user": "ana", "table": "T1"}))).unwrap();
    assert_eq!(s, 201);
    let order = order["id"].as_str().unwrap().to_owned();

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut attempted = 0u64;
    let cycles = 20;
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let (api, order_id, acked2, stop2) = (a.api, order.clone(), acked.clone(), stop.clone());
        let burst = std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop2.load(Ordering::SeqCst) {
                let line = format!("c{cycle}-{n}");
                n += 1;
                let edit = json!({"user": "ana", "edit": {"op": "add_line", "id": line, "product": "tea", "display_name": "Tea", "qty": 1000, "unit_price": 200}});
                match http(api, "POST", &format!("/api/orders/{order_id}/edit"), Some(&edit)) {
                    Some((200, _)) => acked2.lock().unwrap().push(line),
                    Some((status, v)) => panic!("edit refused: {status} {v}"),
                    None => break, // killed mid-request: not acknowledged
                }
            }
            n
        });
        std::thread::sleep(Duration::from_millis(40 + (cycle as u64 * 37) % 120));
        a.kill();
        stop.store(true, Ordering::SeqCst);
        attempted += burst.join().unwrap();
        a.start();
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > cycles, "the bursts made progress ({} acknowledged)", acked.len());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (on_a, on_b) = (lines_of(a.api, &order), lines_of(b.api, &order));
        let missing_a = acked.iter().filter(|l| !on_a.contains(l)).count();
        let missing_b = acked.iter().filter(|l| !on_b.contains(l)).count();
        if missing_a == 0 && missing_b == 0 {
            eprintln!(
                "S16: {cycles} SIGKILL cycles, {attempted} edits attempted, {} acknowledged, all present on both terminals",
                acked.len()
            );
            break;
        }
        assert!(Instant::now() < deadline, "acknowledged edits missing: {missing_a} on A, {missing_b} on B");
        std::thread::sleep(Duration::from_millis(100));
    }
    a.kill();
    b.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
