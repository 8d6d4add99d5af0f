//! The Odoo sink against request fixtures derived from Odoo's source
//! (`tests/fixtures/odoo/`) and a fake Odoo JSON-RPC server on 127.0.0.1
//! (`fake_odoo`). No live Odoo is run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_odoo;

use std::collections::BTreeMap;
use std::time::Duration;

use fake_odoo::{API_KEY, FakeOdoo, LOGIN, PASSWORD};
use possync::{DeliveryFailure, Sink};
use possync_catalogue::Catalogue;
use possync_catalogue::import::from_odoo_session;
use possync_model::{OrderView, SinkName};
use possync_sink::{OdooApi, OdooAuth, OdooConfig, OdooIds, OdooSink, OdooTarget, Secret, odoo_order};
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/odoo");

/// Compares with a fixture; `POSSYNC_BLESS=1` rewrites it instead (then
/// read the diff before committing it).
fn assert_fixture(actual: &Value, name: &str) {
    if std::env::var_os("POSSYNC_BLESS").is_some() {
        let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
        std::fs::write(format!("{FIXTURES}/{name}"), text).unwrap();
        return;
    }
    assert_eq!(actual, &fixture(name), "the payload, value by value (fixture {name})");
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect(name);
    serde_json::from_str(&text).expect(name)
}

fn catalogue() -> Catalogue {
    from_odoo_session(&std::fs::read_to_string(format!("{FIXTURES}/session.json")).unwrap()).unwrap()
}

fn target(api: OdooApi) -> OdooTarget {
    OdooTarget {
        api,
        session_id: 42,
        terminals: BTreeMap::from([("BAR".to_owned(), 3)]),
        tip_product: Some(40),
    }
}

/// Checks `value` against a type of the field spec.
fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "integer" => value.is_i64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "integer|false" => value.is_i64() || value == &json!(false),
        "datetime" => value.as_str().is_some_and(|s| {
            s.len() == 19 && s.as_bytes()[10] == b' ' && s.as_bytes()[4] == b'-' && s.as_bytes()[13] == b':'
        }),
        "m2m" => value.as_array().is_some_and(|cmds| {
            cmds.len() == 1
                && cmds[0][0] == 6
                && (cmds[0][1] == false || cmds[0][1] == 0)
                && cmds[0][2].as_array().is_some_and(|ids| ids.iter().all(Value::is_i64))
        }),
        other => panic!("unknown type {other} in a field spec"),
    }
}

/// Every field of `spec` present in `object` with its type; with `only`,
/// no other key (`optional` ones may be absent).
fn check(object: &Value, spec: &Value, optional: &[&str], only: bool, what: &str) {
    let spec = spec.as_object().unwrap();
    for (field, ty) in spec {
        match object.get(field) {
            Some(v) => assert!(has_type(v, ty.as_str().unwrap()), "{what}.{field} = {v} is not {ty}"),
            None => assert!(optional.contains(&field.as_str()), "{what}.{field} is missing"),
        }
    }
    if only {
        for key in object.as_object().unwrap().keys() {
            assert!(spec.contains_key(key), "{what}.{key} is not a field Odoo 18 accepts");
        }
    }
}

fn commands(list: &Value) -> Vec<&Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!((&c[0], &c[1]), (&json!(0), &json!(0)), "an ORM create command");
            &c[2]
        })
        .collect()
}

#[test]
fn create_from_ui_carries_every_field_odoo_13_to_17_reads() {
    let spec = fixture("create_from_ui.fields.json");
    let ids = OdooIds::new(catalogue());
    let mapped = odoo_order(&fixture("order_paid.json"), &target(OdooApi::CreateFromUi), &ids).unwrap();
    let order = &mapped.payload;
    check(order, &spec["order"], &[], false, "order");
    check(&order["data"], &spec["data"], &[], false, "data");
    let lines = commands(&order["data"]["lines"]);
    assert_eq!(lines.len(), 2, "the removed line is not sent");
    for l in &lines {
        check(l, &spec["line"], &[], false, "line");
    }
    let payments = commands(&order["data"]["statement_ids"]);
    assert_eq!(payments.len(), 2);
    for p in &payments {
        check(p, &spec["payment"], &[], false, "payment");
    }
    assert_fixture(order, "create_from_ui.expected.json");
    // The values that matter, spelled out.
    let d = &order["data"];
    assert_eq!(d["name"], "Order 00042-003-0017");
    assert_eq!(order["id"], d["uid"]);
    assert_eq!((d["pos_session_id"].clone(), d["sequence_number"].clone()), (json!(42), json!(17)));
    assert_eq!(
        (d["user_id"].clone(), d["partner_id"].clone(), d["table_id"].clone()),
        (json!(2), json!(31), json!(4))
    );
    assert_eq!((d["amount_total"].clone(), d["amount_tax"].clone()), (json!(18.07), json!(2.72)));
    assert_eq!((d["amount_paid"].clone(), d["amount_return"].clone()), (json!(18.07), json!(10.0)));
    assert_eq!(d["creation_date"], "2026-12-03 12:05:02");
    assert_eq!(lines[0]["tax_ids"], json!([[6, false, [5]]]));
    assert_eq!(
        (lines[1]["price_subtotal"].clone(), lines[1]["price_subtotal_incl"].clone()),
        (json!(10.8), json!(13.07))
    );
    assert_eq!((lines[1]["discount"].clone(), lines[1]["qty"].clone()), (json!(10.0), json!(1.0)));
    assert_eq!(
        (payments[0]["amount"].clone(), payments[0]["payment_method_id"].clone()),
        (json!(20.0), json!(1))
    );
    assert_eq!(payments[0]["name"], "2026-12-03 12:05:00");
}

#[test]
fn sync_from_ui_carries_every_field_odoo_18_reads_and_nothing_else() {
    let spec = fixture("sync_from_ui.fields.json");
    let optional: Vec<&str> =
        spec["optional"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let ids = OdooIds::new(catalogue());
    let mapped = odoo_order(&fixture("order_paid.json"), &target(OdooApi::SyncFromUi), &ids).unwrap();
    let order = &mapped.payload;
    check(order, &spec["order"], &optional, true, "order");
    for l in commands(&order["lines"]) {
        check(l, &spec["line"], &[], true, "line");
    }
    for p in commands(&order["payment_ids"]) {
        check(p, &spec["payment"], &[], true, "payment");
    }
    assert_fixture(order, "sync_from_ui.expected.json");
    assert_eq!(order["uuid"], "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "the possync order id");
    assert_eq!(order["state"], "paid");
    assert_eq!(order["lines"][0][2]["tax_ids"], json!([[6, 0, [5]]]));
}

#[test]
fn a_fiscal_position_sends_the_product_taxes_odoo_maps_itself() {
    let mut order = fixture("order_paid.json");
    order["fiscal_position"] = json!("3");
    // The snapshot is after the fiscal position: 21 % became 0 %.
    order["lines"][1]["taxes"] = json!([{"id": "7"}]);
    let ids = OdooIds::new(catalogue());
    let mapped = odoo_order(&order, &target(OdooApi::CreateFromUi), &ids).unwrap();
    let d = &mapped.payload["data"];
    assert_eq!(d["fiscal_position_id"], 3);
    assert_eq!(
        d["lines"][1][2]["tax_ids"],
        json!([[6, false, [6]]]),
        "the product's tax, before the mapping"
    );
    // A snapshot the fiscal position does not explain is refused.
    order["lines"][1]["taxes"] = json!([{"id": "5"}]);
    let err = odoo_order(&order, &target(OdooApi::CreateFromUi), &ids).unwrap_err().to_string();
    assert!(err.contains("line 2 (Club sandwich): taxes"), "{err}");
}

#[test]
fn a_refund_order_and_a_tip_take_odoo_signs_and_lines() {
    let mut order = fixture("order_paid.json");
    for l in order["lines"].as_array_mut().unwrap() {
        l["unit_price"] = json!(-l["unit_price"].as_i64().unwrap());
    }
    order["totals"]["tip"] = json!(150);
    order["payments"][1]["tip"] = json!(150);
    let ids = OdooIds::new(catalogue());
    let d = odoo_order(&order, &target(OdooApi::SyncFromUi), &ids).unwrap().payload;
    let lines = commands(&d["lines"]);
    assert_eq!((lines[0]["qty"].clone(), lines[0]["price_unit"].clone()), (json!(-2.0), json!(2.5)));
    assert_eq!((lines[2]["product_id"].clone(), lines[2]["price_unit"].clone()), (json!(40), json!(1.5)));
    assert_eq!((d["is_tipped"].clone(), d["tip_amount"].clone()), (json!(true), json!(1.5)));
    assert_eq!(d["amount_total"], json!(19.57), "the tip line is part of Odoo's total");
    assert_eq!(d["payment_ids"][1][2]["amount"], json!(9.57), "the card paid the tip too");
    // Without a tip product, an order with a tip is held.
    let mut no_tip = target(OdooApi::SyncFromUi);
    no_tip.tip_product = None;
    let err = odoo_order(&order, &no_tip, &ids).unwrap_err().to_string();
    assert!(err.contains("tip_product"), "{err}");
}

#[test]
fn ids_that_do_not_map_refuse_the_whole_order_naming_each() {
    let mut order = fixture("order_paid.json");
    order["lines"][0]["product"] = json!("burger"); // a hand-written catalogue's id
    order["lines"][1]["taxes"] = json!([{"id": "99"}]); // an integer this Odoo does not have
    order["payments"][0]["method"] = json!("cash");
    order["customer"] = json!("c9");
    order["created"]["user"] = json!("ana");
    order["table"] = json!("T4");
    order["created"]["terminal"] = json!("KITCHEN");
    let ids = OdooIds::new(catalogue());
    for api in [OdooApi::CreateFromUi, OdooApi::SyncFromUi] {
        let err = odoo_order(&order, &target(api), &ids).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("held, not sent to Odoo: "), "{text}");
        for expected in [
            "line 1 (Espresso): product \"burger\"",
            "line 2 (Club sandwich): tax \"99\"",
            "payment 1: payment method \"cash\"",
            "customer \"c9\"",
            "user \"ana\"",
            "table \"T4\"",
            "terminal KITCHEN has no number",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from: {text}");
        }
        assert_eq!(err.0.len(), 7, "every problem, once: {text}");
    }
}

fn sink(fake: &FakeOdoo, api: OdooApi, auth: OdooAuth) -> OdooSink {
    sink_with_ca(fake, api, auth, None)
}

fn sink_with_ca(
    fake: &FakeOdoo,
    api: OdooApi,
    auth: OdooAuth,
    ca_file: Option<std::path::PathBuf>,
) -> OdooSink {
    let config = OdooConfig {
        url: fake.url(),
        ca_file,
        db: fake_odoo::DB.into(),
        auth,
        target: target(api),
        timeout: Duration::from_secs(10),
    };
    OdooSink::new(SinkName::parse("odoo").unwrap(), config, Some(catalogue())).unwrap()
}

fn secret_file(dir: &tempfile::TempDir, value: &str) -> Secret {
    let path = dir.path().join(format!("secret-{}", value.len()));
    std::fs::write(&path, format!("{value}\n")).unwrap();
    Secret::File(path)
}

fn order_view(order: &Value) -> OrderView {
    serde_json::from_value(order.clone()).unwrap()
}

#[tokio::test]
async fn create_from_ui_logs_in_sends_once_and_a_repeat_creates_nothing() {
    let fake = FakeOdoo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let auth = OdooAuth::Password { login: LOGIN.into(), password: secret_file(&dir, PASSWORD) };
    let sink = sink(&fake, OdooApi::CreateFromUi, auth);
    let order = order_view(&fixture("order_paid.json"));

    let first = sink.deliver(&order).await.unwrap();
    assert_eq!(first, "pos.order 100");
    // Again (an answer lost, a second terminal, a restart): the same
    // reference, nothing new in Odoo, and no second create_from_ui.
    let again = sink.deliver(&order).await.unwrap();
    assert_eq!(again, first);
    // A session that expired meanwhile is renewed once.
    fake.state().expire_session_once = true;
    assert_eq!(sink.deliver(&order).await.unwrap(), first);

    let state = fake.state();
    assert_eq!(state.created.len(), 1, "exactly one order in Odoo");
    assert_eq!(state.created[0].reference, "Order 00042-003-0017");
    assert_eq!(
        state.methods(),
        [
            "pos.order.search_read",
            "pos.order.create_from_ui",
            "pos.order.search_read",
            "pos.order.search_read",
            "pos.order.search_read"
        ]
    );
    let logins = state.calls.iter().filter(|c| c.path == "/web/session/authenticate").count();
    assert_eq!(logins, 2, "logged in once, and once more after the session expired");
    let sent = state.calls.iter().find(|c| c.params["method"] == "create_from_ui").unwrap();
    assert_eq!(sent.params["args"][1], false, "draft = False: Odoo validates the order");
    assert_eq!(sent.params["args"][0][0]["data"]["statement_ids"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn sync_from_ui_with_an_api_key_and_odoo_keeps_one_order_per_uuid() {
    let fake = FakeOdoo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let auth = OdooAuth::ApiKey { login: LOGIN.into(), key: secret_file(&dir, API_KEY) };
    let sink = sink(&fake, OdooApi::SyncFromUi, auth);
    let order = order_view(&fixture("order_paid.json"));
    let first = sink.deliver(&order).await.unwrap();
    let again = sink.deliver(&order).await.unwrap();
    assert_eq!((first.as_str(), again.as_str()), ("pos.order 100", "pos.order 100"));
    let state = fake.state();
    assert_eq!(state.created.len(), 1);
    assert_eq!(state.created[0].uuid.as_deref(), Some("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"));
    assert_eq!(state.methods(), ["pos.order.sync_from_ui", "pos.order.sync_from_ui"]);
    assert!(state.calls.iter().all(|c| c.path == "/jsonrpc"), "the API key goes through /jsonrpc only");
}

#[tokio::test]
async fn an_unmappable_order_is_held_and_nothing_is_sent() {
    let fake = FakeOdoo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let auth = OdooAuth::Password { login: LOGIN.into(), password: secret_file(&dir, PASSWORD) };
    let sink = sink(&fake, OdooApi::CreateFromUi, auth);
    let mut order = fixture("order_paid.json");
    order["payments"][1]["method"] = json!("voucher");
    let err = sink.deliver(&order_view(&order)).await.unwrap_err();
    assert!(matches!(err, DeliveryFailure::Refused(_)), "this order waits, the others go on: {err:?}");
    assert!(err.message().contains("payment 2: payment method \"voucher\" is not an Odoo id"), "{err}");
    assert!(fake.state().calls.is_empty(), "not even a login");
    // A cancelled order is confirmed without a call: Odoo's POS keeps none.
    let mut cancelled = fixture("order_paid.json");
    cancelled["state"] = json!("cancelled");
    assert!(sink.deliver(&order_view(&cancelled)).await.unwrap().starts_with("not sent"));
    assert!(fake.state().calls.is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_reported_without_the_password() {
    let fake = FakeOdoo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let auth = OdooAuth::Password { login: LOGIN.into(), password: secret_file(&dir, "not-the-password") };
    let sink = sink(&fake, OdooApi::CreateFromUi, auth);
    let err = sink.deliver(&order_view(&fixture("order_paid.json"))).await.unwrap_err();
    assert!(matches!(err, DeliveryFailure::Unavailable(_)), "the back office as a whole: {err:?}");
    let err = err.to_string();
    assert!(err.contains("logging in to Odoo as pos@shop") && err.contains("Access Denied"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    assert!(fake.state().created.is_empty());
}

#[tokio::test]
async fn an_exception_odoo_raises_for_the_order_holds_that_order_only() {
    let fake = FakeOdoo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let auth = OdooAuth::Password { login: LOGIN.into(), password: secret_file(&dir, PASSWORD) };
    let sink = sink(&fake, OdooApi::SyncFromUi, auth);
    fake.state().raise_next =
        Some(("odoo.exceptions.UserError", "The payment method is not allowed in this session."));
    let err = sink.deliver(&order_view(&fixture("order_paid.json"))).await.unwrap_err();
    assert!(matches!(err, DeliveryFailure::Refused(_)), "{err:?}");
    assert!(err.message().contains("UserError: The payment method is not allowed"), "{err}");
    // Missing access rights concern every order: the back office as a whole.
    fake.state().raise_next =
        Some(("odoo.exceptions.AccessError", "You are not allowed to create POS orders."));
    let err = sink.deliver(&order_view(&fixture("order_paid.json"))).await.unwrap_err();
    assert!(matches!(err, DeliveryFailure::Unavailable(_)), "{err:?}");
    assert_eq!(sink.deliver(&order_view(&fixture("order_paid.json"))).await.unwrap(), "pos.order 100");
}

#[tokio::test]
async fn https_to_odoo_checks_the_certificate() {
    let fake = FakeOdoo::start_tls().await;
    assert!(fake.url().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().unwrap();
    let auth = || OdooAuth::Password { login: LOGIN.into(), password: secret_file(&dir, PASSWORD) };
    // Its certificate is self-signed: against Mozilla's roots it is refused.
    let untrusting = sink(&fake, OdooApi::SyncFromUi, auth());
    let err = untrusting.deliver(&order_view(&fixture("order_paid.json"))).await.unwrap_err();
    assert!(matches!(err, DeliveryFailure::Unavailable(_)), "{err:?}");
    assert!(err.message().contains("TLS with https://127.0.0.1"), "{err}");
    assert!(fake.state().created.is_empty());
    // With it as the CA: delivered, over TLS.
    let ca = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/cert.pem"));
    let trusting = sink_with_ca(&fake, OdooApi::SyncFromUi, auth(), Some(ca));
    assert_eq!(trusting.deliver(&order_view(&fixture("order_paid.json"))).await.unwrap(), "pos.order 100");
    assert_eq!(fake.state().created.len(), 1);
}
