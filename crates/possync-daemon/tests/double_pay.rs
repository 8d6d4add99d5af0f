//! S22 and S23 with real `possync run` processes on loopback: two terminals'
//! APIs take the payment of one order at the same moment, 50 rounds. Online,
//! the customer is charged once every round and the other terminal answers
//! "being paid on ..."; partitioned, both payments are kept, the order is
//! flagged and stays listed on both until a manager gives the extra back.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::proxy::Link;
use common::{TempDir, Terminal, call, eventually, free_port, http, keygen, temp_dir};
use serde_json::{Value, json};

const ROUNDS: usize = 50;

fn pair(tag: &str, dir: &TempDir) -> (Terminal, Terminal) {
    let key = keygen(dir.path());
    let config = dir.path().join("possync.toml");
    std::fs::write(&config, "[policy]\nmanagers = [\"maria\"]\n").unwrap();
    let config = config.display().to_string();
    let (pa, pb) = (free_port(), free_port());
    let mut a = Terminal::new(tag, "T1", dir.path(), &key, pa, &[pb]).with_args(&["--config", &config]);
    let mut b = Terminal::new(tag, "T2", dir.path(), &key, pb, &[pa]).with_args(&["--config", &config]);
    a.start();
    b.start();
    eventually(Duration::from_secs(20), "the terminals connect", || {
        a.peer_count() == 1 && b.peer_count() == 1
    });
    (a, b)
}

/// An order of 8.90 opened on `on`, once both terminals hold it.
fn order_on_both(on: &Terminal, other: &Terminal) -> String {
    let v = call(on.api, "POST", "/api/orders", Some(&json!({"user": "ana", "table": "T9"})), 201);
    let id = v["id"].as_str().unwrap().to_owned();
    let line = json!({"user": "ana", "edit": {"op": "add_line", "product": "burger", "display_name": "Burger", "qty": 2000, "unit_price": 445}});
    call(on.api, "POST", &format!("/api/orders/{id}/edit"), Some(&line), 200);
    eventually(Duration::from_secs(10), "the order reaches the other terminal", || {
        other.order(&id).is_some_and(|o| o["totals"]["total"] == 890)
    });
    id
}

/// Both terminals' cashiers press Card (the whole 8.90) at the same moment.
fn press_card_on_both(a: &Terminal, b: &Terminal, id: &str) -> Vec<(u16, Value)> {
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = [(a.api, "ana"), (b.api, "bob")]
        .into_iter()
        .map(|(api, user)| {
            let (barrier, id) = (barrier.clone(), id.to_owned());
            std::thread::spawn(move || {
                let body = json!({"user": user, "tenders": [{"method": "card", "tendered": 890}]});
                barrier.wait();
                http(api, "POST", &format!("/api/orders/{id}/pay"), Some(&body)).expect("the API answers")
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn payments(t: &Terminal, id: &str) -> usize {
    t.order(id).map_or(0, |o| o["payments"].as_array().unwrap().len())
}

fn listed(t: &Terminal, id: &str) -> bool {
    call(t.api, "GET", "/api/orders", None, 200).as_array().unwrap().iter().any(|o| o["id"] == id)
}

#[test]
fn s22_two_terminals_pay_one_order_at_once_50_rounds_never_two_payments() {
    let dir = temp_dir("s22-api");
    let (mut a, mut b) = pair("s22", &dir);
    let mut elsewhere = 0;
    for round in 0..ROUNDS {
        let (on, other) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let id = order_on_both(on, other);
        let answers = press_card_on_both(&a, &b, &id);
        let ok = answers.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(ok, 1, "round {round}: exactly one till takes the payment: {answers:?}");
        let (_, refused) = answers.iter().find(|(s, _)| *s != 200).unwrap();
        let code = refused["error"]["code"].as_str().unwrap_or_default();
        // Refused while the other pays, or (if it came late) nothing left to pay.
        assert!(
            ["payment_in_progress", "order_closed", "nothing_due"].contains(&code),
            "round {round}: {refused}"
        );
        if code == "payment_in_progress" {
            elsewhere += 1;
            let msg = refused["error"]["message"].as_str().unwrap();
            assert!(msg.starts_with("being paid on T"), "{msg}");
            assert_eq!(refused["error"]["claim"]["mine"], false);
        }
        eventually(Duration::from_secs(10), "both terminals see the order paid", || {
            [&a, &b].iter().all(|t| t.order(&id).is_some_and(|o| o["state"] == "paid"))
        });
        for t in [&a, &b] {
            let o = t.order(&id).unwrap();
            assert_eq!(payments(t, &id), 1, "round {round} on {}: {o}", t.name);
            assert_eq!(o["review"], json!([]), "round {round}");
            assert_eq!(o["totals"]["due"], 0);
        }
    }
    assert!(elsewhere > 0, "at least one round met the other terminal's claim");
    eprintln!(
        "S22 over the API: {ROUNDS} rounds, one payment each; {elsewhere} answered payment_in_progress"
    );

    // Overpayment is refused locally, before anything is written.
    let id = order_on_both(&a, &b);
    let (s, v) = http(
        a.api,
        "POST",
        &format!("/api/orders/{id}/pay"),
        Some(&json!({"user": "ana", "tenders": [{"method": "card", "tendered": 1000}]})),
    )
    .unwrap();
    assert_eq!((s, v["error"]["code"].as_str().unwrap()), (409, "overpayment"));
    let (s, v) = http(
        a.api,
        "POST",
        &format!("/api/orders/{id}/edit"),
        Some(&json!({"user": "ana", "edit": {"op": "add_payment", "method": "card", "amount": 900}})),
    )
    .unwrap();
    assert_eq!((s, v["error"]["code"].as_str().unwrap()), (409, "overpayment"));
    assert_eq!(payments(&a, &id), 0);
    a.stop();
    b.stop();
}

#[test]
fn s23_partitioned_double_payment_is_flagged_stays_listed_and_a_manager_gives_it_back() {
    let dir = temp_dir("s23-api");
    let (mut a, mut b) = pair("s23", &dir);
    let id = order_on_both(&a, &b);
    call(a.api, "POST", "/api/network", Some(&json!({"isolated": true})), 200);
    eventually(Duration::from_secs(20), "the terminals are cut apart", || {
        a.peer_count() == 0 && b.peer_count() == 0
    });
    let answers = press_card_on_both(&a, &b, &id);
    assert!(answers.iter().all(|(s, _)| *s == 200), "alone, each terminal takes the payment: {answers:?}");
    call(a.api, "POST", "/api/network", Some(&json!({"isolated": false})), 200);
    eventually(Duration::from_secs(30), "both payments merge on both terminals", || {
        payments(&a, &id) == 2 && payments(&b, &id) == 2
    });
    for t in [&a, &b] {
        let o = t.order(&id).unwrap();
        let kinds: Vec<&str> =
            o["review"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"overpaid") && kinds.contains(&"closed_concurrently"), "{o}");
        assert_eq!(o["totals"]["due"], -890);
        assert!(listed(t, &id), "a flagged order stays on {}'s open list", t.name);
    }
    // Only a manager resolves it; the extra goes back with a reason.
    let review =
        |user: &str| json!({"user": user, "action": "refund", "reason": "charged twice while offline"});
    let (s, v) = http(b.api, "POST", &format!("/api/orders/{id}/review"), Some(&review("bob"))).unwrap();
    assert_eq!((s, v["error"]["code"].as_str().unwrap()), (403, "manager_only"));
    let v = call(b.api, "POST", &format!("/api/orders/{id}/review"), Some(&review("maria")), 200);
    assert_eq!(v["review"], json!([]), "{v}");
    eventually(Duration::from_secs(10), "resolved on both terminals", || {
        [&a, &b]
            .iter()
            .all(|t| t.order(&id).is_some_and(|o| o["review"] == json!([]) && payments(t, &id) == 3))
    });
    for t in [&a, &b] {
        let o = t.order(&id).unwrap();
        assert_eq!((o["totals"]["paid"].clone(), o["totals"]["due"].clone()), (json!(890), json!(0)));
        let refund = o["payments"].as_array().unwrap().iter().find(|p| p["amount"] == -890).unwrap().clone();
        assert_eq!(
            (refund["by"]["user"].clone(), refund["reason"].clone()),
            (json!("maria"), json!("charged twice while offline"))
        );
        assert!(!listed(t, &id), "resolved: it leaves {}'s open list", t.name);
    }
    a.stop();
    b.stop();
}

/// Issue 14: "with one terminal answering 1.5 s late, 3 of 3 rounds charged
/// twice". T2 reaches T1 only through a link holding every byte back 750 ms
/// each way; the claim waits for its answer (up to 3 s), so still one
/// payment every round.
#[test]
fn s22_over_a_slow_link_one_terminal_answering_late_still_one_payment() {
    let dir = temp_dir("s22-slow");
    let key = keygen(dir.path());
    let (pa, pb) = (free_port(), free_port());
    let link = Link::to(pa);
    let mut a = Terminal::new("s22slow", "T1", dir.path(), &key, pa, &[]);
    let mut b = Terminal::new("s22slow", "T2", dir.path(), &key, pb, &[link.port]);
    a.start();
    b.start();
    eventually(Duration::from_secs(20), "the terminals connect", || {
        a.peer_count() == 1 && b.peer_count() == 1
    });
    link.set_delay(Duration::from_millis(750));
    for round in 0..5 {
        let id = order_on_both(&a, &b);
        let answers = press_card_on_both(&a, &b, &id);
        assert_eq!(answers.iter().filter(|(s, _)| *s == 200).count(), 1, "round {round}: {answers:?}");
        eventually(Duration::from_secs(20), "both terminals see the order paid", || {
            [&a, &b].iter().all(|t| t.order(&id).is_some_and(|o| o["state"] == "paid"))
        });
        for t in [&a, &b] {
            assert_eq!(payments(t, &id), 1, "round {round} on {}", t.name);
        }
    }
    link.set_delay(Duration::ZERO);
    a.stop();
    b.stop();
}
