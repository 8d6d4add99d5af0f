//! `possync catalogue import` of the data an Odoo POS session loads
//! (`examples/catalogue/odoo-pos-session.json`, shaped after Odoo 17's
//! `pos.session._load_pos_data`): told from its shape, into a running
//! terminal, and reaching the other one; a broken Odoo file is refused with
//! its line and field and changes nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Terminal, call, eventually, free_port, keygen, temp_dir};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn odoo_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/catalogue/odoo-pos-session.json")
}

fn import(file: &Path, api: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_possync"))
        .args(["catalogue", "import", file.to_str().unwrap(), "--api", api])
        .output()
        .unwrap()
}

fn catalogue(t: &Terminal) -> Value {
    call(t.api, "GET", "/api/catalogue", None, 200)
}

#[test]
fn an_odoo_session_file_is_imported_and_a_broken_one_refused() {
    let dir = temp_dir("catalogue-odoo");
    let key = keygen(dir.path());
    let (p1, p2) = (free_port(), free_port());
    let mut t1 = Terminal::new("odoo-cat", "T1", dir.path(), &key, p1, &[]);
    let mut t2 = Terminal::new("odoo-cat", "T2", dir.path(), &key, p2, &[p1]);
    t1.start();
    t2.start();
    eventually(WAIT, "T1 and T2 connected", || t1.peer_count() == 1 && t2.peer_count() == 1);
    let api1 = t1.api.to_string();

    // A broken Odoo file first: a price that is text. Refused, nothing changes.
    let text = std::fs::read_to_string(odoo_example()).unwrap();
    let broken = text.replacen("\"lst_price\": 2.8,", "\"lst_price\": \"cheap\",", 1);
    assert_ne!(broken, text);
    let broken_file = dir.path().join("odoo-broken.json");
    std::fs::write(&broken_file, &broken).unwrap();
    let bad_line = broken.lines().position(|l| l.contains("\"cheap\"")).unwrap() + 1;
    let out = import(&broken_file, &api1);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("line {bad_line}")), "{stderr}");
    assert!(stderr.contains("lst_price"), "{stderr}");
    assert_eq!(catalogue(&t1)["version"], 0, "nothing changed");

    // The example: read as Odoo's by its shape, imported on T1, on T2 soon.
    let out = import(&odoo_example(), &api1);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(WAIT, "T2 has the Odoo catalogue", || catalogue(&t2)["version"] == 1);
    let on_t2 = catalogue(&t2)["catalogue"].clone();
    assert_eq!(on_t2["products"].as_array().unwrap().len(), 10);
    let espresso = on_t2["products"].as_array().unwrap().iter().find(|p| p["id"] == "11").unwrap().clone();
    assert_eq!((espresso["name"].as_str(), espresso["price"].as_i64()), (Some("Espresso"), Some(280)));
    assert_eq!(on_t2["taxes"].as_array().unwrap().len(), 4);
}
