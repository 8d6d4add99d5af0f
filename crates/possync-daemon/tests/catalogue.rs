//! S24 at process level: `possync catalogue import` into a running terminal
//! reaches the other one; a broken file is refused with its line and field
//! and changes nothing; only a manager may replace the catalogue; login
//! checks the PIN (and stops guessing); a terminal restarted offline still
//! has the catalogue; an import into a stopped terminal's store reaches the
//! floor once it runs.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Terminal, call, eventually, free_port, http, keygen, temp_dir};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn restaurant() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/catalogue/restaurant.json")
}

fn possync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_possync")).args(args).output().unwrap()
}

fn import(file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["catalogue", "import", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    possync(&args)
}

fn catalogue(t: &Terminal) -> Value {
    call(t.api, "GET", "/api/catalogue", None, 200)
}

fn price(t: &Terminal, product: &str) -> Option<i64> {
    let c = catalogue(t);
    c["catalogue"]["products"].as_array()?.iter().find(|p| p["id"] == product)?["price"].as_i64()
}

#[test]
fn catalogue_import_replication_refusals_login_and_offline_restart() {
    let dir = temp_dir("catalogue");
    let key = keygen(dir.path());
    let (p1, p2) = (free_port(), free_port());
    let mut t1 = Terminal::new("cat", "T1", dir.path(), &key, p1, &[]);
    let mut t2 = Terminal::new("cat", "T2", dir.path(), &key, p2, &[p1]);
    t1.start();
    t2.start();
    eventually(WAIT, "T1 and T2 connected", || t1.peer_count() == 1 && t2.peer_count() == 1);
    assert_eq!(catalogue(&t2)["version"], 0, "no catalogue yet");

    // Imported on T1 through its API; T2 gets it.
    let api1 = t1.api.to_string();
    let out = import(&restaurant(), &["--api", &api1]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("catalogue version 1"));
    eventually(WAIT, "T2 has the catalogue", || catalogue(&t2)["version"] == 1);
    let on_t2 = catalogue(&t2);
    assert_eq!(on_t2["catalogue"]["products"].as_array().unwrap().len(), 40);
    assert_eq!(on_t2["by"]["terminal"], "T1");
    let users = on_t2["catalogue"]["users"].as_array().unwrap();
    assert_eq!(users.len(), 3);
    assert!(users.iter().all(|u| u.get("pin").is_none()), "PIN hashes stay on the terminal");

    // A broken file: refused with its line and field, nothing changes.
    let text = std::fs::read_to_string(restaurant()).unwrap();
    let broken = text.replacen("\"price\": 360,", "\"price\": \"cheap\",", 1);
    assert_ne!(broken, text);
    let broken_file = dir.path().join("broken.json");
    std::fs::write(&broken_file, &broken).unwrap();
    let bad_line = broken.lines().position(|l| l.contains("\"cheap\"")).unwrap() + 1;
    let out = import(&broken_file, &["--api", &api1, "--user", "chloe"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("line {bad_line}")), "{stderr}");
    assert!(stderr.contains("catalogue.products[25].price"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    // A file that reads but does not validate: the item and field.
    let dangling = text.replacen("\"vat10i\"\n        ]", "\"no-such-tax\"\n        ]", 1);
    let dangling_file = dir.path().join("dangling.json");
    std::fs::write(&dangling_file, &dangling).unwrap();
    let out = import(&dangling_file, &["--api", &api1, "--user", "chloe"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-tax") && stderr.contains("taxes"), "{stderr}");
    assert_eq!(catalogue(&t1)["version"], 1);
    assert_eq!(price(&t1, "p26"), Some(360));

    // Once it lists users, only a manager may replace it.
    let mut file: Value = serde_json::from_str(&text).unwrap();
    file["catalogue"]["products"][25]["price"] = json!(380);
    let (status, body) =
        http(t1.api, "POST", "/api/catalogue", Some(&json!({ "user": "ana", "file": file }))).unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("manager_only")));
    let (status, body) =
        http(t1.api, "POST", "/api/catalogue", Some(&json!({ "user": "zoe", "file": file }))).unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("unknown_user")));
    assert_eq!(price(&t1, "p26"), Some(360));
    let answer = call(t1.api, "POST", "/api/catalogue", Some(&json!({ "user": "chloe", "file": file })), 200);
    assert_eq!(answer["version"], 2);
    eventually(WAIT, "T2 has version 2", || price(&t2, "p26") == Some(380));

    // Login: right PIN, wrong PIN, unknown user, and a bound on guessing.
    let login = |user: &str, pin: &str| {
        http(t2.api, "POST", "/api/login", Some(&json!({ "user": user, "pin": pin }))).unwrap()
    };
    let (status, me) = login("ana", "1111");
    assert_eq!(status, 200);
    assert_eq!(me, json!({ "id": "ana", "name": "Ana", "role": "cashier" }));
    let (status, body) = login("ana", "1112");
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("wrong_pin")));
    let (status, body) = login("zoe", "1111");
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_user")));
    for _ in 0..4 {
        assert_eq!(login("ana", "0000").0, 403);
    }
    let (status, body) = login("ana", "1111");
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_attempts")));

    // T2 restarted while T1 is down: it still has the catalogue.
    t1.stop();
    t2.stop();
    t2.start();
    assert_eq!(t2.peer_count(), 0);
    assert_eq!(catalogue(&t2)["version"], 2);
    assert_eq!(price(&t2, "p26"), Some(380));

    // Imported into T1's store while it is stopped; the floor gets it once it runs.
    file["catalogue"]["products"][25]["price"] = json!(400);
    let offline_file = dir.path().join("offline.json");
    std::fs::write(&offline_file, file.to_string()).unwrap();
    let t1_dir = t1.data_dir.display().to_string();
    let out = import(&offline_file, &["--data-dir", &t1_dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("catalogue version 3"));
    t1.start();
    eventually(WAIT, "T2 has the offline import", || price(&t2, "p26") == Some(400));
    assert_eq!(catalogue(&t2)["version"], 3);
    assert_eq!(catalogue(&t1)["by"]["user"], "possync-import");

    // A running terminal's store is not written behind its back.
    let out = import(&offline_file, &["--data-dir", &t1_dir]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("running"));
}

#[test]
fn the_configured_catalogue_is_imported_at_the_first_start_only() {
    let dir = temp_dir("catalogue-config");
    let key = keygen(dir.path());
    let config = dir.path().join("terminal.toml");
    let write_config = |file: &Path| {
        std::fs::write(&config, format!("catalogue = {:?}\n", file.display().to_string())).unwrap();
    };
    write_config(&restaurant());
    let mut t1 = Terminal::new("cfg", "T1", dir.path(), &key, free_port(), &[])
        .with_args(&["--config", config.to_str().unwrap()]);
    t1.start();
    let first = catalogue(&t1);
    assert_eq!(first["version"], 1);
    assert_eq!(first["by"]["user"], "possync-import");
    assert_eq!(price(&t1, "p26"), Some(360));

    // A later start keeps the catalogue it has, whatever the file says now.
    t1.stop();
    let text = std::fs::read_to_string(restaurant()).unwrap();
    let changed = dir.path().join("changed.json");
    std::fs::write(&changed, text.replacen("\"price\": 360,", "\"price\": 999,", 1)).unwrap();
    write_config(&changed);
    t1.start();
    assert_eq!(catalogue(&t1)["version"], 1);
    assert_eq!(price(&t1, "p26"), Some(360));

    // A catalogue larger than other requests' 64 KiB limit is taken.
    let mut big: Value = serde_json::from_str(&text).unwrap();
    let products = big["catalogue"]["products"].as_array_mut().unwrap();
    let template = products[0].clone();
    for i in 0..600 {
        let mut p = template.clone();
        p["id"] = json!(format!("extra{i}"));
        p["name"] = json!(format!("Extra dish number {i}"));
        p["barcode"] = json!(null);
        products.push(p);
    }
    let body = json!({ "user": "chloe", "file": big });
    assert!(body.to_string().len() > 64 * 1024);
    assert_eq!(call(t1.api, "POST", "/api/catalogue", Some(&body), 200)["version"], 2);
    assert_eq!(catalogue(&t1)["catalogue"]["products"].as_array().unwrap().len(), 640);
}
