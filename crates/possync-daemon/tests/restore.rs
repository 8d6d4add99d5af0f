//! S27 at process level: a terminal restored from yesterday's backup, or a
//! replacement with an empty disk and the same terminal code, never leaves
//! a name used twice on the floor. Real `possync run` processes on loopback.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Terminal, call, eventually, free_port, keygen, temp_dir};
use serde_json::json;

fn open(t: &Terminal) -> String {
    call(t.api, "POST", "/api/orders", Some(&json!({"user": "ana"})), 201)["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn names(t: &Terminal) -> Vec<String> {
    let mut n: Vec<String> = t.orders().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect();
    n.sort();
    n
}

#[test]
fn s27_a_restored_terminal_never_leaves_a_name_used_twice() {
    let dir = temp_dir("s27");
    let key = keygen(dir.path());
    let (p1, p2) = (free_port(), free_port());
    let mut t1 = Terminal::new("s27", "T1", dir.path(), &key, p1, &[p2]);
    let mut t2 = Terminal::new("s27", "T2", dir.path(), &key, p2, &[p1]);
    t1.start();
    t2.start();
    for _ in 0..3 {
        open(&t2);
    }
    eventually(Duration::from_secs(20), "T1 holds T2's 3 orders", || t1.orders().len() == 3);
    t2.stop();
    let backup = dir.path().join("backup.redb");
    std::fs::copy(t2.data_dir.join("possync.redb"), &backup).unwrap();
    t2.start();
    for _ in 0..5 {
        open(&t2);
    }
    eventually(Duration::from_secs(20), "T1 holds T2's 8 orders", || t1.orders().len() == 8);
    t2.stop();

    // Restored, and cut off at first: the same data directory under the
    // same code, listening elsewhere and dialling nobody.
    std::fs::copy(&backup, t2.data_dir.join("possync.redb")).unwrap();
    let mut alone = Terminal::new("s27", "T2", dir.path(), &key, free_port(), &[]);
    alone.start();
    assert_eq!(
        (open(&alone), open(&alone)),
        ("T2-0004".to_owned(), "T2-0005".to_owned()),
        "names repeated offline"
    );
    alone.stop();

    // Back on the floor: it catches up and renames what it repeated.
    t2.start();
    let expected: BTreeSet<String> = (1..=10).map(|n| format!("T2-{n:04}")).collect();
    eventually(Duration::from_secs(20), "every name once, on both terminals", || {
        [&t1, &t2]
            .iter()
            .all(|t| names(t).into_iter().collect::<BTreeSet<_>>() == expected && t.orders().len() == 10)
    });
    let renamed: BTreeSet<String> =
        t1.orders().iter().filter_map(|o| o["renamed_from"].as_str().map(str::to_owned)).collect();
    assert_eq!(renamed, ["T2-0004".to_owned(), "T2-0005".to_owned()].into());
    assert_eq!(open(&t2), "T2-0011");

    // A replacement with an empty disk and the same code continues too.
    t2.stop();
    std::fs::remove_dir_all(&t2.data_dir).unwrap();
    t2.start();
    eventually(Duration::from_secs(20), "the replacement caught up", || t2.orders().len() == 11);
    assert_eq!(open(&t2), "T2-0012");
}
