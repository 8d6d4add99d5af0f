//! A LAN of our own: network namespaces joined by a bridge, each running one
//! `possync run` terminal. Needs root (CI has it). Traffic stays between
//! these namespaces; mDNS multicasts only on their interfaces.
//!
//! Each host namespace has `lo` and `eth0` (10.201.0.N/24) whose other end
//! is a port of the bridge in the switch namespace: taking that port down
//! cuts the host's link silently (no reset reaches anyone), as a pulled
//! cable does.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Fails the test with a clear reason when namespaces cannot be made here.
pub fn require_namespaces(tag: &str) {
    let probe = format!("psync-{}-{tag}-probe", std::process::id());
    let _ = ip(&["netns", "del", &probe]);
    if let Err(e) = ip(&["netns", "add", &probe]) {
        panic!(
            "this test needs network namespaces (root and iproute2: `ip netns add`), which failed: {e}. \
             It runs in .ci/run as root."
        );
    }
    let _ = ip(&["netns", "del", &probe]);
}

/// A bridge and the hosts plugged into it; removed when dropped.
pub struct Lan {
    switch: String,
    prefix: String,
    hosts: Vec<String>,
}

impl Lan {
    pub fn new(tag: &str) -> Self {
        require_namespaces(tag);
        let prefix = format!("psync-{}-{tag}", std::process::id());
        let switch = format!("{prefix}-sw");
        let _ = ip(&["netns", "del", &switch]);
        ip(&["netns", "add", &switch]).unwrap();
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]).unwrap();
        ip(&["-n", &switch, "link", "set", "br0", "up"]).unwrap();
        Lan { switch, prefix, hosts: Vec::new() }
    }

    /// Splits the LAN in two: a second bridge joined to the first by a
    /// trunk link, which [`Self::trunk`] cuts silently.
    pub fn with_second_switch(self) -> Self {
        let sw = &self.switch;
        ip(&["-n", sw, "link", "add", "br1", "type", "bridge"]).unwrap();
        ip(&["-n", sw, "link", "add", "t0", "type", "veth", "peer", "name", "t1"]).unwrap();
        ip(&["-n", sw, "link", "set", "t0", "master", "br0", "up"]).unwrap();
        ip(&["-n", sw, "link", "set", "t1", "master", "br1", "up"]).unwrap();
        ip(&["-n", sw, "link", "set", "br1", "up"]).unwrap();
        self
    }

    /// Takes the trunk between the two switches down (a silent partition:
    /// connections stay open, packets vanish) or up again.
    pub fn trunk(&self, up: bool) {
        ip(&["-n", &self.switch, "link", "set", "t0", if up { "up" } else { "down" }]).unwrap();
    }

    /// Plugs in host `n` (1-based, its address 10.201.0.n) and returns its
    /// namespace's name.
    pub fn host(&mut self, n: u8) -> String {
        self.host_on(n, 0)
    }

    /// Like [`Self::host`], on switch `bridge` (0, or 1 after
    /// [`Self::with_second_switch`]).
    pub fn host_on(&mut self, n: u8, bridge: u8) -> String {
        let ns = format!("{}-h{n}", self.prefix);
        let _ = ip(&["netns", "del", &ns]);
        ip(&["netns", "add", &ns]).unwrap();
        let port = format!("p{n}");
        ip(&["-n", &self.switch, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns])
            .unwrap();
        ip(&["-n", &self.switch, "link", "set", &port, "master", &format!("br{bridge}"), "up"]).unwrap();
        ip(&["-n", &ns, "addr", "add", &format!("10.201.0.{n}/24"), "dev", "eth0"]).unwrap();
        ip(&["-n", &ns, "link", "set", "eth0", "up"]).unwrap();
        ip(&["-n", &ns, "link", "set", "lo", "up"]).unwrap();
        self.hosts.push(ns.clone());
        ns
    }

    /// Takes host `n`'s switch port down (a silent cut) or up again.
    pub fn link(&self, n: u8, up: bool) {
        ip(&["-n", &self.switch, "link", "set", &format!("p{n}"), if up { "up" } else { "down" }]).unwrap();
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain([&self.switch]) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Runs `f` on a thread inside namespace `ns` (its loopback is the
/// terminal's API).
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("namespace thread")
    })
}

/// The API address of every namespaced terminal, on its own loopback.
pub const API: &str = "127.0.0.1:8080";
/// The libp2p port of every namespaced terminal.
pub const P2P_PORT: u16 = 4100;

/// A `possync run` in a namespace, its log in a file; restartable from its
/// data directory.
pub struct NsTerminal {
    pub ns: String,
    pub name: String,
    pub log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl NsTerminal {
    /// `extra`: further `run` flags (`--mdns`, `--key-file F`, `--peer A`, …).
    pub fn start(ns: &str, session: &str, name: &str, dir: &Path, extra: &[String]) -> Self {
        let mut args: Vec<String> =
            ["netns", "exec", ns, env!("CARGO_BIN_EXE_possync"), "run", "--session", session]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend(["--terminal", name, "--api", API, "--listen"].map(String::from));
        args.push(format!("/ip4/0.0.0.0/tcp/{P2P_PORT}"));
        args.push("--data-dir".into());
        args.push(dir.join(name).display().to_string());
        args.extend(extra.iter().cloned());
        let mut t = NsTerminal {
            ns: ns.into(),
            name: name.into(),
            log: dir.join(format!("{name}.log")),
            args,
            child: None,
        };
        t.restart();
        t
    }

    /// Starts the process (again), appending to its log, and waits for its API.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new("ip")
            .args(&self.args)
            .env("RUST_LOG", "info,libp2p=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.call("GET", "/api/status", None).is_none() {
            assert!(Instant::now() < deadline, "{} did not start: {}", self.name, self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, signal: &str) {
        if let Some(c) = &self.child {
            let ok = Command::new("kill").args([signal, &c.id().to_string()]).status().unwrap().success();
            assert!(ok, "kill {signal} {}", self.name);
        }
    }

    /// SIGKILL: nothing is flushed.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP / SIGCONT: the process freezes with its connections open.
    pub fn pause(&self, paused: bool) {
        self.signal(if paused { "-STOP" } else { "-CONT" });
    }

    /// SIGTERM, and the exit status (a clean stop is a success).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let mut c = self.child.take().expect("running");
        c.wait().unwrap()
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let api: SocketAddr = API.parse().unwrap();
        in_ns(&self.ns, || http(api, method, path, body))
    }

    /// Like [`Self::call`], for requests that must answer `expect`.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>, expect: u16) -> Value {
        let (status, v) = self
            .call(method, path, body)
            .unwrap_or_else(|| panic!("{}: {method} {path}: no answer", self.name));
        assert_eq!(status, expect, "{}: {method} {path}: {v}", self.name);
        v
    }

    pub fn status(&self) -> Value {
        self.ok("GET", "/api/status", None, 200)["status"].clone()
    }

    pub fn peer_count(&self) -> usize {
        self.status()["peers"].as_array().map_or(0, Vec::len)
    }

    /// Names of every order this terminal holds, sorted.
    pub fn order_names(&self) -> Vec<String> {
        let orders = self.ok("GET", "/api/orders?archived=true", None, 200);
        let mut names: Vec<String> =
            orders.as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect();
        names.sort();
        names
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NsTerminal {
    fn drop(&mut self) {
        self.pause(false);
        self.kill();
    }
}
