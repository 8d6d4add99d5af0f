//! S29 and S24 through the API of two real `possync run` processes: a
//! catalogue with a price-included and a price-excluded tax, lines added
//! from the menu on both terminals at 10 % off, and every terminal showing
//! the back office's totals to the minor unit (worked out by hand in
//! `crates/possync-model/tests/taxes.rs`), under "round per line" and "round
//! globally"; a rate change keeps the lines already on an order as they
//! were; a cashier's price override is refused, a manager's taken.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{TempDir, Terminal, call, eventually, free_port, http, keygen};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// The S29 catalogue: x at 10.00 with 21 % included, y at 9.95 and z at
/// 7.45 with `vat6_percent` excluded.
fn catalogue(method: &str, vat6_percent: &str, y_price: i64) -> Value {
    json!({
        "format": "possync-catalogue",
        "version": 1,
        "catalogue": {
            "currency": {"code": "EUR", "symbol": "€", "position": "after", "decimals": 2, "rounding": 1},
            "rounding_method": method,
            "taxes": [
                {"id": "vat21", "name": "VAT 21% (incl.)", "amount_type": "percent", "amount": "21", "price_include": true},
                {"id": "vat6", "name": "VAT 6%", "amount_type": "percent", "amount": vat6_percent}
            ],
            "users": [
                {"id": "ana", "name": "Ana", "role": "cashier"},
                {"id": "chloe", "name": "Chloé", "role": "manager"}
            ],
            "products": [
                {"id": "x", "name": "Steak", "price": 1000, "taxes": ["vat21"]},
                {"id": "y", "name": "Wine", "price": y_price, "taxes": ["vat6"]},
                {"id": "z", "name": "Bread", "price": 745, "taxes": ["vat6"]}
            ]
        }
    })
}

fn add(t: &Terminal, order: &str, user: &str, product: &str, units: i64) -> (u16, Value) {
    let body = json!({"user": user, "edit": {"op": "add_line", "product": product, "qty": units * 1000, "discount": 1000}});
    http(t.api, "POST", &format!("/api/orders/{order}/edit"), Some(&body)).unwrap()
}

fn totals(order: &Value) -> (i64, i64, i64) {
    let t = &order["totals"];
    (t["untaxed"].as_i64().unwrap(), t["tax"].as_i64().unwrap(), t["total"].as_i64().unwrap())
}

fn tax_rows(order: &Value) -> Vec<(String, i64)> {
    order["totals"]["taxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["tax_id"].as_str().unwrap().to_owned(), r["amount"].as_i64().unwrap()))
        .collect()
}

/// Opens an order on `a`, adds x ×3 there and y ×2, z ×1 on `b`, and waits
/// until both terminals hold the three lines.
fn s29_order(a: &Terminal, b: &Terminal) -> String {
    let v = call(a.api, "POST", "/api/orders", Some(&json!({"user": "ana", "table": "T4"})), 201);
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(add(a, &id, "ana", "x", 3).0, 200);
    eventually(WAIT, "the order reaches B", || b.order(&id).is_some());
    assert_eq!(add(b, &id, "ana", "y", 2).0, 200);
    assert_eq!(add(b, &id, "ana", "z", 1).0, 200);
    eventually(WAIT, "both terminals hold the three lines", || {
        [a, b].iter().all(|t| t.order(&id).is_some_and(|o| o["lines"].as_array().map(Vec::len) == Some(3)))
    });
    id
}

fn replace(t: &Terminal, file: Value) -> u64 {
    let v = call(t.api, "POST", "/api/catalogue", Some(&json!({"user": "chloe", "file": file})), 200);
    v["version"].as_u64().unwrap()
}

fn wait_for_version(terminals: &[&Terminal], version: u64) {
    eventually(WAIT, "every terminal has the new catalogue", || {
        terminals
            .iter()
            .all(|t| call(t.api, "GET", "/api/catalogue", None, 200)["version"].as_u64() == Some(version))
    });
}

#[test]
fn s29_and_s24_through_the_api_on_two_terminals() {
    let dir = TempDir::new("taxes-api");
    let key = keygen(dir.path());
    let file = dir.path().join("s29.json");
    std::fs::write(&file, catalogue("round_per_line", "6", 995).to_string()).unwrap();
    let config = dir.path().join("t1.toml");
    std::fs::write(&config, format!("catalogue = {:?}\n", file.display().to_string())).unwrap();
    let (pa, pb) = (free_port(), free_port());
    let mut a = Terminal::new("taxes", "T1", dir.path(), &key, pa, &[pb])
        .with_args(&["--config", config.to_str().unwrap()]);
    let mut b = Terminal::new("taxes", "T2", dir.path(), &key, pb, &[pa]);
    a.start();
    b.start();
    wait_for_version(&[&a, &b], 1);

    // S29, round per line.
    let first = s29_order(&a, &b);
    for t in [&a, &b] {
        let o = t.order(&first).unwrap();
        assert_eq!(totals(&o), (4693, 616, 5309), "{}", t.name);
        assert_eq!(tax_rows(&o), [("vat21".into(), 469), ("vat6".into(), 147)]);
        assert_eq!(o["pricing"]["method"], "round_per_line");
        let line = o["lines"].as_array().unwrap().iter().find(|l| l["product"] == "x").unwrap();
        assert_eq!((line["display_name"].as_str(), line["unit_price"].as_i64()), (Some("Steak"), Some(1000)));
    }

    // Users: unknown refused, a cashier's own price refused, a manager's taken.
    let (status, body) = add(&a, &first, "mallory", "x", 1);
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("unknown_user")));
    let y_line = a.order(&first).unwrap()["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product"] == "y")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set = |user: &str| {
        let body = json!({"user": user, "edit": {"op": "set_unit_price", "line": y_line, "unit_price": 900}});
        http(a.api, "POST", &format!("/api/orders/{first}/edit"), Some(&body)).unwrap()
    };
    let (status, body) = set("ana");
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("manager_only")));
    assert_eq!(set("chloe").0, 200);
    // 900 × 0.9 × 2 = 1620, 6 % = 97.2 → 97: untaxed 2231 + 1620 + 671.
    eventually(WAIT, "the override reaches B", || {
        b.order(&first).is_some_and(|o| totals(&o) == (4522, 606, 5128))
    });

    // S24: the rate and a price change; lines already on the order keep theirs.
    assert_eq!(replace(&b, catalogue("round_per_line", "12", 1095)), 2);
    wait_for_version(&[&a, &b], 2);
    assert_eq!(add(&a, &first, "ana", "y", 1).0, 200);
    eventually(WAIT, "both terminals show the new line at the new rate", || {
        [&a, &b].iter().all(|t| {
            t.order(&first).is_some_and(|o| {
                let lines = o["lines"].as_array().unwrap().clone();
                let ys: Vec<(i64, i64)> = lines
                    .iter()
                    .filter(|l| l["product"] == "y")
                    .map(|l| (l["unit_price"].as_i64().unwrap(), l["tax"].as_i64().unwrap()))
                    .collect();
                // The old line: the manager's 9.00 at 6 %; the new one: 10.95
                // × 0.9 = 985.5 → 986 at 12 % = 118.32 → 118.
                ys.len() == 2 && ys.contains(&(900, 97)) && ys.contains(&(1095, 118))
            })
        })
    });

    // S29, round globally: a new order under a catalogue that says so.
    assert_eq!(replace(&a, catalogue("round_globally", "6", 995)), 3);
    wait_for_version(&[&a, &b], 3);
    let second = s29_order(&b, &a);
    for t in [&a, &b] {
        let o = t.order(&second).unwrap();
        assert_eq!(totals(&o), (4693, 617, 5310), "{}", t.name);
        assert_eq!(tax_rows(&o), [("vat21".into(), 469), ("vat6".into(), 148)]);
    }
    // The first order still totals per line, as it was opened.
    assert_eq!(a.order(&first).unwrap()["pricing"]["method"], "round_per_line");
}
