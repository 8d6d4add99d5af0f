//! S25 and S26 with real processes and a real PostgreSQL: three `possync
//! run` terminals deliver a rush of paid orders into a throw-away cluster
//! (unix socket only). PostgreSQL is stopped for a third of the rush; one
//! terminal is SIGKILLed as it comes back, with a backlog of its own orders
//! claimed and failed (mid-delivery), which the others must take over. Afterwards PostgreSQL holds every order exactly
//! once, with the right totals and payments, and every surviving terminal
//! shows an empty backlog.
//!
//! `POSSYNC_BO_ORDERS` sets the size of the rush: the 500 by
//! default (about 150 s in a debug build on a 2-core machine, one cashier
//! at a time: three fsynced API calls per order); fewer for a quick run.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Terminal, call, eventually, free_port, keygen, temp_dir};
use possync_sink::testing::TempCluster;
use serde_json::json;

fn orders_wanted() -> usize {
    std::env::var("POSSYNC_BO_ORDERS").ok().and_then(|s| s.parse().ok()).unwrap_or(500)
}

/// Opens an order with one line and pays it; returns its id and total.
fn paid_order(t: &Terminal, i: usize) -> (String, i64) {
    let o = call(
        t.api,
        "POST",
        "/api/orders",
        Some(&json!({"user": "ana", "table": format!("T{}", i % 20)})),
        201,
    );
    let id = o["id"].as_str().unwrap().to_owned();
    let (qty, price) = (1 + (i % 3) as i64, 150 + (i % 97) as i64);
    let line = json!({"op": "add_line", "product": "menu", "display_name": "Menu", "qty": qty * 1000, "unit_price": price});
    call(t.api, "POST", &format!("/api/orders/{id}/edit"), Some(&json!({"user": "ana", "edit": line})), 200);
    let total = qty * price;
    // Cash with change one time in three, card otherwise.
    let tender = if i.is_multiple_of(3) {
        json!([{"method": "cash", "tendered": total + 50}])
    } else {
        json!([{"method": "card", "tendered": total}])
    };
    let paid = call(
        t.api,
        "POST",
        &format!("/api/orders/{id}/pay"),
        Some(&json!({"user": "ana", "tenders": tender})),
        200,
    );
    assert_eq!(paid["order"]["state"], "paid", "{paid}");
    (id, total)
}

fn sink_report(t: &Terminal) -> serde_json::Value {
    t.status()["sinks"][0].clone()
}

#[test]
fn every_paid_order_reaches_postgres_once_through_an_outage_and_a_killed_terminal() {
    let started = Instant::now();
    let n = orders_wanted();
    let mut pg = TempCluster::start().unwrap_or_else(|e| panic!("PostgreSQL must start for this test: {e}"));
    let dir = temp_dir("backoffice");
    let key = keygen(dir.path());
    let pw = dir.path().join("pg-password");
    std::fs::write(&pw, format!("{}\n", pg.password())).unwrap();
    let config = dir.path().join("terminal.toml");
    std::fs::write(
        &config,
        format!(
            "[[sink]]\nname = \"pg\"\nkind = \"postgres\"\nhost = \"{}\"\nuser = \"possync\"\ndbname = \"postgres\"\npassword_file = \"{}\"\n\n[delivery]\nlease_ms = 4000\ntakeover_after_ms = 5000\ntakeover_stagger_ms = 2000\nattempt_timeout_ms = 3000\nbackoff_max_ms = 1000\n",
            pg.socket_dir().display(),
            pw.display()
        ),
    )
    .unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let config = config.display().to_string();
    let mut terminals: Vec<Terminal> = ["T1", "T2", "T3"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let dials: Vec<u16> =
                ports.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, p)| *p).collect();
            Terminal::new("backoffice", name, dir.path(), &key, ports[i], &dials)
                .with_args(&["--config", &config])
        })
        .collect();
    for t in &mut terminals {
        t.start();
    }
    eventually(Duration::from_secs(20), "the three terminals see each other", || {
        terminals.iter().all(|t| t.peer_count() == 2)
    });

    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    // Three phases of a third of the orders each: PostgreSQL up, down, up
    // again with T3 gone. Each live terminal's cashier works in parallel.
    let third = n / 3;
    let phases = [(0, third, 3), (third, 2 * third, 3), (2 * third, n, 2)];
    for (phase, (from, to, live)) in phases.into_iter().enumerate() {
        if phase == 1 {
            pg.pause().unwrap();
        }
        if phase == 2 {
            // While it was down the backlog grew and no terminal dropped it.
            for t in &terminals {
                let r = sink_report(t);
                assert!(r["backlog"].as_u64().unwrap() > 0, "{}: {r}", t.name);
                assert!(r["last_error"].is_string(), "{}: {r}", t.name);
            }
            pg.resume().unwrap();
            // T3 holds a backlog of its own orders, claimed and failed, and
            // is about to retry them: killed in the middle of it.
            terminals[2].kill();
            eprintln!("outage over after {:?}", started.elapsed());
        }
        let done: Vec<Vec<(String, i64)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..live)
                .map(|k| {
                    let t = &terminals[k];
                    scope.spawn(move || {
                        (from..to).filter(|i| i % live == k).map(|i| paid_order(t, i)).collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        expected.extend(done.into_iter().flatten());
    }
    let rush = started.elapsed();
    eprintln!("rush of {n} orders done after {rush:?}");

    eventually(Duration::from_secs(120), "every order in PostgreSQL", || {
        pg.psql("SELECT count(*) FROM possync_orders").unwrap() == n.to_string()
    });
    eventually(Duration::from_secs(60), "empty backlogs on the surviving terminals", || {
        terminals[..2].iter().all(|t| sink_report(t)["backlog"] == 0)
    });

    // Exactly the orders paid, each once, with its total, paid in full.
    let rows = pg.psql("SELECT order_id, total, paid, state FROM possync_orders ORDER BY order_id").unwrap();
    let mut held = BTreeMap::new();
    for row in rows.lines() {
        let f: Vec<&str> = row.split('|').collect();
        assert_eq!((f[2], f[3]), (f[1], "paid"), "{row}");
        held.insert(f[0].to_owned(), f[1].parse::<i64>().unwrap());
    }
    assert_eq!(held, expected);
    let lines =
        pg.psql("SELECT count(*), count(DISTINCT order_id), sum(total) FROM possync_order_lines").unwrap();
    let sum: i64 = expected.values().sum();
    assert_eq!(lines, format!("{n}|{n}|{sum}"));
    let payments =
        pg.psql("SELECT count(*), count(DISTINCT order_id), sum(amount) FROM possync_payments").unwrap();
    assert_eq!(payments, format!("{n}|{n}|{sum}"));
    let mismatched = pg
        .psql(
            "SELECT count(*) FROM possync_orders o
             WHERE o.total <> (SELECT sum(total) FROM possync_order_lines l WHERE l.order_id = o.order_id)
                OR o.paid <> (SELECT sum(amount) FROM possync_payments p WHERE p.order_id = o.order_id)",
        )
        .unwrap();
    assert_eq!(mismatched, "0");
    // T3's orders were taken over by the others.
    let from = pg
        .psql("SELECT count(*) FROM possync_orders WHERE closed_on = 'T3' AND delivered_from <> 'T3'")
        .unwrap();
    assert_ne!(from, "0", "some of T3's orders were delivered by another terminal");
    // From payment to confirmed in PostgreSQL, for the first third (before
    // the outage): printed for docs/PERFORMANCE.md.
    let latency = pg
        .psql(&format!(
            "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))
             FROM (SELECT extract(epoch FROM delivered_at - closed_at) * 1000 AS ms FROM possync_orders
                   ORDER BY closed_at LIMIT {third}) first_third"
        ))
        .unwrap();
    eprintln!("payment to confirmed in PostgreSQL, first {third} orders: p50|p99 ms = {latency}");
    let metrics = common::http_text(terminals[0].api, "/metrics");
    assert!(metrics.contains("possync_delivery_backlog{sink=\"pg\"} 0"), "{metrics}");
    assert!(metrics.contains("possync_delivery_failed_total{sink=\"pg\"}"));
    eprintln!(
        "{n} orders: rush {rush:?}, all in PostgreSQL {:?} after start; T1 {}; T2 {}",
        started.elapsed(),
        sink_report(&terminals[0]),
        sink_report(&terminals[1])
    );
}
