//! Network cuts and heals between live `possync run` processes (S8, S12 and
//! S15 at process level). Three terminals talk through cuttable loopback TCP
//! proxies, one per pair. Each round takes some links down (reset, or
//! silently stalled), every terminal keeps opening orders and adding lines to
//! a shared one, then the cables are put back: a cut-off terminal must show
//! offline and come back online by itself, and all three must converge with
//! every acknowledged edit, no duplicate order ids or names.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::proxy::Link;
use common::{Terminal, call, eventually, free_port, keygen, temp_dir};
use serde_json::{Value, json};

/// How a round takes the network down.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Every link of one terminal reset (its cable unplugged at the switch).
    CutOff(usize),
    /// Every link of one terminal silently drops bytes: only keep-alives notice.
    Stall(usize),
    /// Every link down: each terminal works alone.
    CutAll,
}

const ROUNDS: [Fault; 4] = [Fault::CutOff(0), Fault::CutOff(1), Fault::Stall(2), Fault::CutAll];
const ORDERS_PER_ROUND: usize = 2;
const LINES_PER_ROUND: usize = 3;

fn add_line(t: &Terminal, order: &str, line: &str) {
    let edit = json!({"user": t.name.to_lowercase(), "edit": {
        "op": "add_line", "id": line, "product": "soup", "display_name": "Soup", "qty": 1000, "unit_price": 650
    }});
    call(t.api, "POST", &format!("/api/orders/{order}/edit"), Some(&edit), 200);
}

/// The orders a terminal holds, as comparable (id, name, line ids) rows.
fn ledger(t: &Terminal) -> Vec<(String, String, Vec<String>)> {
    let mut rows: Vec<_> = t
        .orders()
        .iter()
        .map(|o: &Value| {
            let mut lines: Vec<String> =
                o["lines"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
            lines.sort();
            (o["id"].as_str().unwrap().to_owned(), o["name"].as_str().unwrap().to_owned(), lines)
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn cuts_and_heals_between_processes_lose_nothing_and_collide_nowhere() {
    let dir = temp_dir("partitions");
    let key = keygen(dir.path());
    let ports = [free_port(), free_port(), free_port()];
    // links[i][j] (i < j): i dials j through it.
    let mut links: Vec<(usize, usize, Link)> = Vec::new();
    for i in 0..3 {
        for (j, &port) in ports.iter().enumerate().skip(i + 1) {
            links.push((i, j, Link::to(port)));
        }
    }
    let mut terminals: Vec<Terminal> = ["A", "B", "C"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let dials: Vec<u16> =
                links.iter().filter(|(from, _, _)| *from == i).map(|(_, _, l)| l.port).collect();
            Terminal::new("cuts", name, dir.path(), &key, ports[i], &dials)
        })
        .collect();
    for t in &mut terminals {
        t.start();
    }
    eventually(Duration::from_secs(30), "full mesh", || terminals.iter().all(|t| t.peer_count() == 2));

    let shared =
        call(terminals[0].api, "POST", "/api/orders", Some(&json!({"user": "ana", "table": "T1"})), 201);
    let shared = shared["id"].as_str().unwrap().to_owned();
    // Every terminal must hold the shared order before the first cut: a
    // terminal cannot add a line to an order it has never heard of, and the
    // first round would otherwise race the order's own gossip.
    eventually(Duration::from_secs(10), "the shared order on every terminal", || {
        terminals.iter().all(|t| t.orders().iter().any(|o| o["id"] == shared.as_str()))
    });
    let mut acked_lines: Vec<String> = Vec::new();
    let mut opened: Vec<String> = vec![shared.clone()];

    for (round, fault) in ROUNDS.into_iter().enumerate() {
        let down = |i: usize, j: usize| match fault {
            Fault::CutOff(k) | Fault::Stall(k) => i == k || j == k,
            Fault::CutAll => true,
        };
        for (i, j, link) in &links {
            if down(*i, *j) {
                match fault {
                    Fault::Stall(_) => link.stall(),
                    _ => link.cut(),
                }
            }
        }
        let expected_peers: Vec<usize> = (0..3)
            .map(|k| links.iter().filter(|(i, j, _)| (*i == k || *j == k) && !down(*i, *j)).count())
            .collect();
        // S12: a terminal with no link left shows offline; the others see who is left.
        eventually(Duration::from_secs(20), "the partition seen by every terminal", || {
            terminals
                .iter()
                .zip(&expected_peers)
                .all(|(t, &n)| t.peer_count() == n && (n > 0 || t.connectivity() == "offline"))
        });
        let noticed = Instant::now();
        // S8: both sides open orders and edit the shared one meanwhile.
        for t in &terminals {
            for _ in 0..ORDERS_PER_ROUND {
                let body = json!({"user": t.name.to_lowercase(), "table": format!("{}{round}", t.name)});
                let o = call(t.api, "POST", "/api/orders", Some(&body), 201);
                opened.push(o["id"].as_str().unwrap().to_owned());
            }
            for n in 0..LINES_PER_ROUND {
                let line = format!("r{round}-{}-{n}", t.name);
                add_line(t, &shared, &line);
                acked_lines.push(line);
            }
        }
        for (_, _, link) in &links {
            link.heal();
        }
        let healed = Instant::now();
        // S12: back online by itself, no restart.
        eventually(Duration::from_secs(30), "every terminal back online", || {
            terminals.iter().all(|t| t.connectivity() == "online" && t.peer_count() == 2)
        });
        let reconnect = healed.elapsed();
        eventually(Duration::from_secs(60), "converged after heal", || {
            let first = ledger(&terminals[0]);
            first.len() == opened.len() && terminals[1..].iter().all(|t| ledger(t) == first)
        });
        eprintln!(
            "round {round} ({fault:?}): partition worked through for {:?}; full mesh again after {:?}, converged after {:?}",
            healed - noticed,
            reconnect,
            healed.elapsed()
        );
    }

    let final_ledger = ledger(&terminals[0]);
    let ids: BTreeSet<&String> = final_ledger.iter().map(|(id, _, _)| id).collect();
    let names: BTreeSet<&String> = final_ledger.iter().map(|(_, name, _)| name).collect();
    assert_eq!(ids.len(), opened.len(), "every opened order, once");
    assert_eq!(names.len(), opened.len(), "no two orders share a name");
    assert_eq!(ids, opened.iter().collect(), "exactly the orders that were opened");
    let shared_lines = &final_ledger.iter().find(|(id, _, _)| *id == shared).unwrap().2;
    for line in &acked_lines {
        assert!(shared_lines.contains(line), "acknowledged line {line} kept");
    }
    eprintln!(
        "{} cut/heal rounds: {} orders opened, {} lines acknowledged, all on every terminal",
        ROUNDS.len(),
        opened.len(),
        acked_lines.len()
    );
    for t in &mut terminals {
        t.stop();
    }
}
