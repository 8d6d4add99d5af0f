//! A Jepsen-style test of real terminals: 5 `possync run` processes in
//! network namespaces (a session key, static peers), a workload client per
//! terminal that logs every write as acknowledged, failed or uncertain, and
//! a seeded nemesis: partitions (both ways and one way), packet loss,
//! SIGKILL and restart, SIGSTOP/SIGCONT, a terminal cut off while it takes
//! orders. Then everything heals and a checker reads every terminal:
//!
//! - every terminal holds identical orders (the same JSON);
//! - every acknowledged order and line is on every terminal;
//! - no order id or name appears twice;
//! - the shared counter line holds every acknowledged increment, plus at
//!   most the uncertain ones;
//! - every terminal stops cleanly on SIGTERM.
//!
//! `CHAOS_SEED` picks the nemesis's and the workload's choices (default 1),
//! `CHAOS_SECONDS` the length of the faulty phase (default 60). Needs root
//! and iptables (`.ci/run` installs it); see `common::netns`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::netns::{API, Lan, NsTerminal, P2P_PORT, in_ns};
use common::{eventually, http, keygen, temp_dir};
use serde_json::{Value, json};

const TERMINALS: usize = 5;
/// The qty step of one increment of the shared counter line (1 unit).
const STEP: i64 = 1000;

/// SplitMix64: the test's own seeded choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// What became of one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The terminal answered success: it must survive everywhere.
    Acked,
    /// The terminal answered a refusal, or could not be reached: not applied.
    Failed,
    /// Sent, but no answer came (a frozen or killed terminal): may or may not
    /// have been applied.
    Uncertain,
}

#[derive(Debug)]
enum Write {
    Open { order: String },
    Line { order: String, line: String },
    Increment,
}

#[derive(Default)]
struct History {
    writes: Vec<(Write, Outcome)>,
}

/// One request to a terminal's API from inside its namespace. A refused
/// connection is a definite failure; a request sent without an answer is
/// uncertain.
fn request(method: &str, path: &str, body: &Value) -> (Outcome, Option<Value>) {
    let api: SocketAddr = API.parse().unwrap();
    if TcpStream::connect_timeout(&api, Duration::from_millis(300)).is_err() {
        return (Outcome::Failed, None);
    }
    match http(api, method, path, Some(body)) {
        Some((200 | 201, v)) => (Outcome::Acked, Some(v)),
        Some(_) => (Outcome::Failed, None),
        None => (Outcome::Uncertain, None),
    }
}

/// The workload of one terminal's client, until `stop`.
fn client(
    ns: String,
    index: usize,
    seed: u64,
    shared: (String, String),
    known: Arc<Mutex<Vec<String>>>,
    history: Arc<Mutex<History>>,
    stop: Arc<AtomicBool>,
) {
    in_ns(&ns, || {
        let mut rng = Rng(seed ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let user = format!("u{index}");
            let write = match rng.below(100) {
                0..15 => {
                    let order = format!("o-{index}-{n}");
                    let (outcome, _) =
                        request("POST", "/api/orders", &json!({"user": user, "id": order, "table": "T1"}));
                    if outcome != Outcome::Failed {
                        known.lock().unwrap().push(order.clone());
                    }
                    (Write::Open { order }, outcome)
                }
                15..65 => {
                    let order = {
                        let known = known.lock().unwrap();
                        known[rng.below(known.len() as u64) as usize].clone()
                    };
                    let line = format!("l-{index}-{n}");
                    let edit = json!({"op": "add_line", "id": line, "product": "tea", "display_name": "Tea", "qty": STEP, "unit_price": 250});
                    let (outcome, _) = request(
                        "POST",
                        &format!("/api/orders/{order}/edit"),
                        &json!({"user": user, "edit": edit}),
                    );
                    (Write::Line { order, line }, outcome)
                }
                _ => {
                    let edit = json!({"op": "change_qty", "line": shared.1, "delta": STEP});
                    let path = format!("/api/orders/{}/edit", shared.0);
                    let (outcome, _) = request("POST", &path, &json!({"user": user, "edit": edit}));
                    (Write::Increment, outcome)
                }
            };
            history.lock().unwrap().writes.push(write);
            std::thread::sleep(Duration::from_millis(20 + rng.below(60)));
        }
    })
}

fn iptables(ns: &str, args: &[&str]) {
    let out = Command::new("ip").args(["netns", "exec", ns, "iptables"]).args(args).output().unwrap();
    assert!(out.status.success(), "iptables {args:?} in {ns}: {}", String::from_utf8_lossy(&out.stderr));
}

fn address(i: usize) -> String {
    format!("10.201.0.{}", i + 1)
}

/// Faults the nemesis injects, each for a few seconds.
#[derive(Debug)]
enum Fault {
    /// Two groups that cannot reach each other (packets dropped both ways).
    Partition(Vec<usize>),
    /// `to` hears nothing from `from` (one way).
    OneWay { from: usize, to: usize },
    /// A terminal's incoming packets dropped at random.
    Loss { at: usize, percent: u64 },
    /// SIGKILL, then a restart from its data directory.
    Kill(usize),
    /// SIGSTOP, then SIGCONT.
    Freeze(usize),
    /// Its link cut (switch port down) while it keeps taking orders.
    Isolate(usize),
    /// Its outgoing link throttled to a trickle (token bucket: `sch_netem`,
    /// which would add delay, is missing from some kernels).
    Slow(usize),
}

fn choose(rng: &mut Rng) -> Fault {
    let one = |rng: &mut Rng| rng.below(TERMINALS as u64) as usize;
    match rng.below(7) {
        0 => {
            let size = 1 + rng.below(2) as usize;
            let mut group = BTreeSet::new();
            while group.len() < size {
                group.insert(one(rng));
            }
            Fault::Partition(group.into_iter().collect())
        }
        1 => {
            let from = one(rng);
            let to = (from + 1 + rng.below(TERMINALS as u64 - 1) as usize) % TERMINALS;
            Fault::OneWay { from, to }
        }
        2 => Fault::Loss { at: one(rng), percent: 10 + rng.below(31) },
        3 => Fault::Kill(one(rng)),
        4 => Fault::Freeze(one(rng)),
        5 => Fault::Slow(one(rng)),
        _ => Fault::Isolate(one(rng)),
    }
}

fn inject(fault: &Fault, lan: &Lan, hosts: &[String], terminals: &Arc<Vec<Mutex<NsTerminal>>>) {
    match fault {
        Fault::Partition(group) => {
            for (i, host) in hosts.iter().enumerate() {
                let mine = group.contains(&i);
                for j in (0..TERMINALS).filter(|j| group.contains(j) != mine) {
                    iptables(host, &["-A", "INPUT", "-s", &address(j), "-j", "DROP"]);
                    iptables(host, &["-A", "OUTPUT", "-d", &address(j), "-j", "DROP"]);
                }
            }
        }
        Fault::OneWay { from, to } => {
            iptables(&hosts[*to], &["-A", "INPUT", "-s", &address(*from), "-j", "DROP"]);
        }
        Fault::Loss { at, percent } => {
            let p = format!("{:.2}", *percent as f64 / 100.0);
            iptables(
                &hosts[*at],
                &["-A", "INPUT", "-m", "statistic", "--mode", "random", "--probability", &p, "-j", "DROP"],
            );
        }
        Fault::Kill(i) => terminals[*i].lock().unwrap().kill(),
        Fault::Freeze(i) => terminals[*i].lock().unwrap().pause(true),
        Fault::Isolate(i) => lan.link(*i as u8 + 1, false),
        Fault::Slow(i) => {
            let tc = [
                "-n", &hosts[*i], "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "256kbit", "burst",
                "16kbit", "latency", "300ms",
            ];
            let out = Command::new("tc").args(tc).output().unwrap();
            assert!(out.status.success(), "tc: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

fn heal(fault: &Fault, lan: &Lan, hosts: &[String], terminals: &Arc<Vec<Mutex<NsTerminal>>>) {
    for host in hosts {
        iptables(host, &["-F"]);
    }
    match fault {
        Fault::Kill(i) => terminals[*i].lock().unwrap().restart(),
        Fault::Freeze(i) => terminals[*i].lock().unwrap().pause(false),
        Fault::Isolate(i) => lan.link(*i as u8 + 1, true),
        Fault::Slow(i) => {
            let _ =
                Command::new("tc").args(["-n", &hosts[*i], "qdisc", "del", "dev", "eth0", "root"]).output();
        }
        _ => {}
    }
}

fn orders_json(t: &NsTerminal) -> Option<Value> {
    match t.call("GET", "/api/orders?archived=true", None) {
        Some((200, v)) => Some(v),
        _ => None,
    }
}

#[test]
fn chaos_loses_no_acknowledged_write_and_every_terminal_ends_identical() {
    let seed = env_u64("CHAOS_SEED", 1);
    let seconds = env_u64("CHAOS_SECONDS", 60);
    eprintln!("chaos: seed {seed}, {seconds} s of faults (CHAOS_SEED, CHAOS_SECONDS)");
    let dir = temp_dir("chaos");
    let key = keygen(dir.path());
    let mut lan = Lan::new("chaos");
    let hosts: Vec<String> = (1..=TERMINALS as u8).map(|n| lan.host(n)).collect();
    if Command::new("ip")
        .args(["netns", "exec", &hosts[0], "iptables", "-L"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        panic!("this test needs iptables (Debian's package `iptables`; .ci/run installs it)");
    }
    let terminals: Vec<Mutex<NsTerminal>> = hosts
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let mut flags = vec!["--key-file".to_owned(), key.display().to_string()];
            for j in (0..TERMINALS).filter(|&j| j != i) {
                flags.push("--peer".into());
                flags.push(format!("/ip4/{}/tcp/{P2P_PORT}", address(j)));
            }
            Mutex::new(NsTerminal::start(ns, "floor-1", &format!("T{}", i + 1), dir.path(), &flags))
        })
        .collect();
    let terminals = Arc::new(terminals);
    let each = |f: &dyn Fn(&NsTerminal) -> bool| terminals.iter().all(|t| f(&t.lock().unwrap()));
    eventually(Duration::from_secs(30), "full mesh", || each(&|t| t.peer_count() == TERMINALS - 1));

    // The shared order and its counter line, on every terminal before the
    // faults start (a terminal cannot edit an order it never heard of).
    let shared = {
        let t = terminals[0].lock().unwrap();
        t.ok("POST", "/api/orders", Some(&json!({"user": "ana", "id": "shared"})), 201);
        let edit = json!({"op": "add_line", "id": "counter", "product": "tea", "display_name": "Tea", "qty": STEP, "unit_price": 250});
        t.ok("POST", "/api/orders/shared/edit", Some(&json!({"user": "ana", "edit": edit})), 200);
        ("shared".to_owned(), "counter".to_owned())
    };
    eventually(Duration::from_secs(10), "the shared order everywhere", || {
        each(&|t| {
            t.call("GET", "/api/orders/shared", None)
                .is_some_and(|(s, v)| s == 200 && v["lines"].as_array().is_some_and(|l| l.len() == 1))
        })
    });

    let known = Arc::new(Mutex::new(vec![shared.0.clone()]));
    let history = Arc::new(Mutex::new(History::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = hosts
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let (ns, shared, known, history, stop) =
                (ns.clone(), shared.clone(), known.clone(), history.clone(), stop.clone());
            std::thread::spawn(move || client(ns, i, seed, shared, known, history, stop))
        })
        .collect();

    // The nemesis.
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut faults: BTreeMap<&'static str, u32> = BTreeMap::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(rng.millis(1000, 3000));
        let fault = choose(&mut rng);
        eprintln!("chaos {:>5.1} s: {fault:?}", started.elapsed().as_secs_f64());
        inject(&fault, &lan, &hosts, &terminals);
        std::thread::sleep(rng.millis(2000, 6000));
        heal(&fault, &lan, &hosts, &terminals);
        *faults
            .entry(match fault {
                Fault::Partition(_) => "partition",
                Fault::OneWay { .. } => "one-way",
                Fault::Loss { .. } => "loss",
                Fault::Kill(_) => "kill",
                Fault::Freeze(_) => "freeze",
                Fault::Isolate(_) => "isolate",
                Fault::Slow(_) => "slow",
            })
            .or_default() += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    // Heal and wait: every terminal connected and identical.
    let healed = Instant::now();
    loop {
        let first = orders_json(&terminals[0].lock().unwrap());
        let same = each(&|t| t.peer_count() == TERMINALS - 1)
            && first.is_some()
            && terminals[1..].iter().all(|t| orders_json(&t.lock().unwrap()) == first);
        if same {
            break;
        }
        if healed.elapsed() > Duration::from_secs(60) {
            let mut report = String::new();
            for t in terminals.iter() {
                let t = t.lock().unwrap();
                let s = t.status();
                let orders = orders_json(&t).map_or(0, |o| o.as_array().map_or(0, Vec::len));
                report += &format!(
                    "\n  {}: {} peers, {} orders, counters {}",
                    t.name,
                    s["peers"].as_array().map_or(0, Vec::len),
                    orders,
                    s["counters"]
                );
            }
            panic!("not identical 60 s after the heal (seed {seed}):{report}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let converged = healed.elapsed();

    // The checker.
    let orders = orders_json(&terminals[0].lock().unwrap()).unwrap();
    let orders = orders.as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut lines: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in orders {
        let id = o["id"].as_str().unwrap().to_owned();
        assert!(names.insert(o["name"].as_str().unwrap().to_owned()), "duplicate order name {}", o["name"]);
        let ls =
            o["lines"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
        lines.insert(id.clone(), ls);
        assert!(ids.insert(id), "duplicate order id");
    }
    let history = history.lock().unwrap();
    let count = |o: Outcome| history.writes.iter().filter(|(_, out)| *out == o).count();
    let (mut acked_increments, mut uncertain_increments) = (0i64, 0i64);
    for (write, outcome) in &history.writes {
        match (write, outcome) {
            (Write::Open { order }, Outcome::Acked) => {
                assert!(ids.contains(order), "acknowledged order {order} lost")
            }
            (Write::Line { order, line }, Outcome::Acked) => assert!(
                lines.get(order).is_some_and(|ls| ls.contains(line)),
                "acknowledged line {line} of {order} lost"
            ),
            (Write::Increment, Outcome::Acked) => acked_increments += 1,
            (Write::Increment, Outcome::Uncertain) => uncertain_increments += 1,
            _ => {}
        }
    }
    let counter = orders.iter().find(|o| o["id"] == "shared").unwrap()["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "counter")
        .unwrap()["qty"]
        .as_i64()
        .unwrap();
    let low = STEP * (1 + acked_increments);
    let high = STEP * (1 + acked_increments + uncertain_increments);
    assert!((low..=high).contains(&counter), "counter {counter} outside {low}..={high}");

    // Clean exits.
    let mut terminals = Arc::try_unwrap(terminals).ok().unwrap();
    for t in &mut terminals {
        let t = t.get_mut().unwrap();
        let status = t.stop();
        assert!(status.success(), "{} exited with {status} on SIGTERM:\n{}", t.name, t.log_text());
    }
    eprintln!(
        "chaos seed {seed}: faults {faults:?}; writes {} acknowledged, {} failed, {} uncertain; {} orders, {} lines, counter {} ({} acknowledged + {} uncertain increments); identical {converged:?} after the heal",
        count(Outcome::Acked),
        count(Outcome::Failed),
        count(Outcome::Uncertain),
        orders.len(),
        lines.values().map(BTreeSet::len).sum::<usize>(),
        counter / STEP,
        acked_increments,
        uncertain_increments,
    );
}
