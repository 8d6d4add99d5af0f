//! S16 at process level: a real `possync run` terminal is killed with
//! SIGKILL in the middle of a burst of API edits, 20 times, and restarted
//! from its data directory. Every edit the API acknowledged must be present,
//! on it and on its peer. Loopback only.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Terminal, free_port, http, keygen, temp_dir};
use serde_json::json;

#[test]
fn s16_sigkill_mid_burst_loses_no_acknowledged_edit() {
    let dir = temp_dir("s16");
    let key = keygen(dir.path());
    let (pa, pb) = (free_port(), free_port());
    let mut a = Terminal::new("s16", "A", dir.path(), &key, pa, &[pb]);
    let mut b = Terminal::new("s16", "B", dir.path(), &key, pb, &[pa]);
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
        let (on_a, on_b) = (a.lines_of(&order), b.lines_of(&order));
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
}
