//! Every API route, with good and bad input, against a real terminal (no
//! peers, storage on) through the router in process. Errors are asserted by
//! status and stable code.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use possync::Node;
use possync::model::TerminalId;
use possync_daemon::api::{AppState, router};
use possync_daemon::policy::Policy;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Fixture {
    app: axum::Router,
    _node: Node,
    _dir: tempfile::TempDir,
}

async fn fixture(policy: Policy, token: Option<&str>) -> Fixture {
    let dir = tempfile::Builder::new().prefix("possync-api-").tempdir().unwrap();
    let metrics = possync::net::SharedRegistry::default();
    let node = Node::builder("api-test", TerminalId::parse("T1").unwrap(), dir.path())
        .metrics(metrics.clone())
        .spawn()
        .await
        .unwrap();
    let state = AppState::new(node.clone(), policy, token.map(Arc::from)).with_metrics(metrics);
    Fixture { app: router(state), _node: node, _dir: dir }
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
    call_with(app, method, uri, body, None).await
}

async fn call_with(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(body.map(|b| Body::from(b.to_owned())).unwrap_or_else(Body::empty)).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({ "text": String::from_utf8_lossy(&bytes) }));
    (status, value)
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

async fn open(app: &axum::Router, user: &str, table: &str) -> Value {
    let (s, v) = call(
        app,
        "POST",
        "/api/orders",
        Some(&json!({"user": user, "table": table, "guests": 2}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

async fn edit(app: &axum::Router, id: &str, user: &str, edit: Value) -> (StatusCode, Value) {
    call(
        app,
        "POST",
        &format!("/api/orders/{id}/edit"),
        Some(&json!({"user": user, "edit": edit}).to_string()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_open_edit_split_pay_over_the_api() {
    let f = fixture(Policy::permissive(), None).await;
    let order = open(&f.app, "ana", "T4").await;
    assert_eq!(order["name"], "T1-0001");
    assert_eq!(order["table"], "T4");
    let id = order["id"].as_str().unwrap().to_owned();

    let (s, v) = edit(&f.app, &id, "ana", json!({"op": "add_line", "product": "burger", "display_name": "Burger", "qty": 2000, "unit_price": 1290})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["changed"], true);
    let line = v["order"]["lines"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["order"]["totals"]["total"], 2580);
    assert_eq!(v["order"]["lines"][0]["created"]["user"], "ana");

    let (_, v) = edit(&f.app, &id, "bo", json!({"op": "change_qty", "line": line, "delta": 1000})).await;
    assert_eq!(v["order"]["lines"][0]["qty"], 3000);
    assert_eq!(v["order"]["lines"][0]["changed"]["user"], "bo");
    // Setting a field to its value changes nothing.
    let (s, v) = edit(&f.app, &id, "bo", json!({"op": "set_guests", "guests": 2})).await;
    assert_eq!((s, v["changed"].clone()), (StatusCode::OK, json!(false)));
    let (_, v) =
        edit(&f.app, &id, "bo", json!({"op": "set_ext", "fields": {"first_new_variable": "x"}})).await;
    assert_eq!(v["order"]["ext"]["first_new_variable"], "x");

    let (s, new) = call(
        &f.app,
        "POST",
        &format!("/api/orders/{id}/split"),
        Some(&json!({"user": "ana", "lines": [{"line": line, "qty": 1000}]}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{new}");
    assert_eq!(new["name"], "T1-0002");
    assert_eq!(new["lines"][0]["qty"], 1000);
    let (_, old) = call(&f.app, "GET", &format!("/api/orders/{id}"), None).await;
    assert_eq!(old["lines"][0]["qty"], 2000);

    let (s, v) = edit(&f.app, &id, "ana", json!({"op": "mark_paid"})).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "not_fully_paid"));
    // More than is due on a plain payment: refused (cash change goes
    // through `pay` with `tendered`).
    let (s, v) =
        edit(&f.app, &id, "ana", json!({"op": "add_payment", "method": "cash", "amount": 3000})).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "overpayment"));
    let (s, v) = edit(&f.app, &id, "ana", json!({"op": "pay", "method": "cash", "tendered": 3000})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["order"]["totals"]["change"], 420);
    let (s, v) = edit(&f.app, &id, "ana", json!({"op": "mark_paid"})).await;
    assert_eq!((s, v["order"]["state"].clone()), (StatusCode::OK, json!("paid")));
    let (_, open_list) = call(&f.app, "GET", "/api/orders", None).await;
    assert_eq!(open_list.as_array().unwrap().len(), 1, "paid orders leave the open list");
    let (_, all) = call(&f.app, "GET", "/api/orders?archived=true", None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (s, v) = edit(&f.app, &id, "ana", json!({"op": "set_note", "note": "late"})).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "order_closed"));

    let (s, st) = call(&f.app, "GET", "/api/status", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(st["terminal"], "T1");
    assert_eq!(st["status"]["connectivity"], "offline");
    assert_eq!(st["status"]["open_orders"], 1);

    let req = Request::builder().uri("/metrics").body(Body::empty()).unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("possync_open_orders 1"), "{text}");
    assert!(text.contains("# TYPE possync_changes_local counter"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("possync_changes_local_total ")), "{text}");
    assert!(text.contains("possync_gossip_dropped_total 0"), "{text}");
    assert!(text.contains("# TYPE possync_store_commit_seconds histogram"), "{text}");
    let commits: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("possync_store_commit_seconds_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(commits >= 5.0, "every acknowledged edit went through a commit: {commits}");
    let bytes: f64 =
        text.lines().find_map(|l| l.strip_prefix("possync_store_bytes ")).unwrap().parse().unwrap();
    assert!(bytes > 0.0);
    // Bucket bounds in seconds, as before prometheus-client (dashboards
    // select on them).
    assert!(text.contains("possync_store_commit_seconds_bucket{le=\"0.00025\"} "), "{text}");
    assert!(text.contains("possync_store_commit_seconds_bucket{le=\"+Inf\"} "), "{text}");
    let acks: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("possync_edit_ack_wait_seconds_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(acks >= 5.0, "every acknowledged edit waited for its commit: {acks}");
    // libp2p's own, from the registry the node was given.
    assert!(text.contains("# TYPE libp2p_swarm_"), "{text}");
    assert!(text.contains("# TYPE libp2p_gossipsub_"), "{text}");
    assert!(text.contains("# TYPE libp2p_ping_"), "{text}");
    assert!(text.contains("# TYPE libp2p_identify_"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    let (s, v) = call(&f.app, "GET", "/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["openapi"], "3.1.0");
    let (s, page) = call(&f.app, "GET", "/", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page["text"].as_str().unwrap().contains("<html")
            || page["text"].as_str().unwrap().contains("<!doctype")
    );
    // The client library the page imports, from the same origin.
    let (s, lib) = call(&f.app, "GET", "/js/possync.js", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(lib["text"].as_str().unwrap().contains("export class PossyncClient"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_exact_error_and_changes_nothing() {
    let f = fixture(Policy::permissive(), None).await;
    let order = open(&f.app, "ana", "T1").await;
    let id = order["id"].as_str().unwrap().to_owned();
    let before = call(&f.app, "GET", &format!("/api/orders/{id}"), None).await.1;
    let cases: Vec<(&str, String, Option<String>, StatusCode, &str)> = vec![
        ("GET", "/api/orders/nope!".into(), None, StatusCode::BAD_REQUEST, "invalid_id"),
        ("GET", "/api/orders/0123".into(), None, StatusCode::NOT_FOUND, "unknown_order"),
        ("GET", "/api/orders?archived=maybe".into(), None, StatusCode::BAD_REQUEST, "invalid_query"),
        ("GET", "/api/nothing".into(), None, StatusCode::NOT_FOUND, "not_found"),
        ("POST", "/api/orders".into(), Some("{not json".into()), StatusCode::BAD_REQUEST, "invalid_json"),
        ("POST", "/api/orders".into(), Some(json!({"table": "T1"}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("POST", "/api/orders".into(), Some(json!({"user": "a", "guests": "two"}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("POST", "/api/orders".into(), Some(json!({"user": "a", "colour": "red"}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("POST", "/api/orders".into(), Some(json!({"user": ""}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_user"),
        ("POST", "/api/orders".into(), Some(json!({"user": "a", "guests": 100000}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        ("POST", "/api/orders".into(), Some(json!({"user": "a", "table": "x".repeat(2000)}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        ("POST", format!("/api/orders/{id}/edit"), Some(json!({"user": "a", "edit": {"op": "fly"}}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_edit"),
        ("POST", format!("/api/orders/{id}/edit"), Some(json!({"user": "a", "edit": 5}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_edit"),
        ("POST", format!("/api/orders/{id}/edit"), Some(json!({"user": "a", "edit": {"op": "add_line", "product": "p", "display_name": "P", "qty": "one", "unit_price": 1}}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_edit"),
        ("POST", format!("/api/orders/{id}/edit"), Some(json!({"user": "a", "edit": {"op": "add_line", "product": "p", "display_name": "P", "qty": -1000, "unit_price": 1}}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        ("POST", format!("/api/orders/{id}/edit"), Some(json!({"user": "a", "edit": {"op": "change_qty", "line": "abc", "delta": 1000}}).to_string()), StatusCode::NOT_FOUND, "unknown_line"),
        ("POST", format!("/api/orders/{id}/edit"), Some(json!({"user": "a", "edit": {"op": "set_discount", "line": "abc", "discount": 20000}}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        ("POST", format!("/api/orders/{id}/edit"), Some(json!({"user": "a", "edit": {"op": "resolve_review", "state": null}}).to_string()), StatusCode::FORBIDDEN, "manager_only"),
        ("POST", format!("/api/orders/{id}/split"), Some(json!({"user": "a", "lines": []}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        ("POST", "/api/orders/0123/edit".into(), Some(json!({"user": "a", "edit": {"op": "cancel"}}).to_string()), StatusCode::NOT_FOUND, "unknown_order"),
        ("POST", "/api/network".into(), Some(json!({"isolated": "yes"}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ];
    for (method, uri, body, status, expected) in cases {
        let (s, v) = call(&f.app, method, &uri, body.as_deref()).await;
        assert_eq!((s, code(&v)), (status, expected), "{method} {uri} {body:?} → {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A body without the JSON content type.
    let req = Request::builder().method("POST").uri("/api/orders").body(Body::from("{}")).unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A huge body.
    let huge = json!({"user": "a", "ext": {"blob": "x".repeat(100_000)}}).to_string();
    let (s, v) = call(&f.app, "POST", "/api/orders", Some(&huge)).await;
    assert_eq!((s, code(&v)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    // Nothing above touched the order.
    assert_eq!(call(&f.app, "GET", &format!("/api/orders/{id}"), None).await.1, before);
    let (_, list) = call(&f.app, "GET", "/api/orders", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

/// A disk that fails and stays failed: writes answer 503 `storage_failed`
/// at once, naming the cause; the status and the metrics show it; reads
/// still work. When the disk works again, so do writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_disk_answers_writes_with_storage_failed_and_shows_in_status() {
    let dir = tempfile::Builder::new().prefix("possync-api-disk-").tempdir().unwrap();
    let disk = possync_store::fault::MemDisk::new();
    let opener = {
        let disk = disk.clone();
        possync::StoreOpener::new(move || {
            possync_store::Store::open_with_backend(disk.backend(), std::path::Path::new("mem"))
        })
    };
    let node = Node::builder("api-test", TerminalId::parse("T1").unwrap(), dir.path())
        .store_opener(opener)
        .spawn()
        .await
        .unwrap();
    let app = router(AppState::new(node.clone(), Policy::permissive(), None));
    let order = open(&app, "ana", "T1").await;
    let id = order["id"].as_str().unwrap().to_owned();

    disk.fail_after(disk.io_calls());
    let note = |n: u32| json!({"op": "set_note", "note": format!("note {n}")});
    let (s, v) = edit(&app, &id, "ana", note(1)).await;
    assert_eq!((s, code(&v)), (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"), "{v}");
    for n in 2..5 {
        let (s, v) = edit(&app, &id, "ana", note(n)).await;
        assert_eq!((s, code(&v)), (StatusCode::SERVICE_UNAVAILABLE, "storage_failed"), "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("injected IO failure"), "the cause is named: {message}");
    }
    let (s, v) = call(&app, "POST", "/api/orders", Some(&json!({"user": "ana"}).to_string())).await;
    assert_eq!((s, code(&v)), (StatusCode::SERVICE_UNAVAILABLE, "storage_failed"), "{v}");
    let (s, st) = call(&app, "GET", "/api/status", None).await;
    assert_eq!(s, StatusCode::OK);
    let failure = &st["status"]["storage_failure"];
    assert!(failure["error"].as_str().unwrap().contains("injected IO failure"), "{st}");
    assert!(failure["failed_commits"].as_u64().unwrap() >= 1, "{st}");
    assert!(failure["since_ms"].as_i64().unwrap() > 0, "{st}");
    let (_, metrics) = call(&app, "GET", "/metrics", None).await;
    assert!(metrics["text"].as_str().unwrap().contains("\npossync_store_failing 1\n"), "{metrics}");
    let (s, v) = call(&app, "GET", &format!("/api/orders/{id}"), None).await;
    assert_eq!(
        (s, v["note"].clone()),
        (StatusCode::OK, json!("note 1")),
        "reads still work; no refused note applied"
    );

    disk.repair();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (s, v) = edit(&app, &id, "ana", note(9)).await;
        if s == StatusCode::OK {
            break;
        }
        assert_eq!(code(&v), "storage_failed", "{v}");
        assert!(std::time::Instant::now() < deadline, "writes did not resume: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, st) = call(&app, "GET", "/api/status", None).await;
    assert_eq!(st["status"]["storage_failure"], Value::Null, "{st}");
    let (_, metrics) = call(&app, "GET", "/metrics", None).await;
    assert!(metrics["text"].as_str().unwrap().contains("\npossync_store_failing 0\n"), "{metrics}");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_the_api_when_set() {
    let f = fixture(Policy::permissive(), Some("s3cret")).await;
    let (s, v) = call(&f.app, "GET", "/api/status", None).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, _) = call_with(&f.app, "GET", "/api/status", None, Some("wrong")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call_with(&f.app, "GET", "/api/status", None, Some("s3cret")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&f.app, "GET", "/metrics", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // The page itself loads; it asks for the token.
    let (s, _) = call(&f.app, "GET", "/", None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s21_one_waiter_per_table_and_managers() {
    let policy = Policy {
        accept_incoming: true,
        one_waiter_per_table: true,
        managers: BTreeSet::from(["boss".to_owned()]),
    };
    let f = fixture(policy, None).await;
    let order = open(&f.app, "ana", "T7").await;
    let id = order["id"].as_str().unwrap().to_owned();
    let add =
        json!({"op": "add_line", "product": "tea", "display_name": "Tea", "qty": 1000, "unit_price": 200});
    let (s, v) = edit(&f.app, &id, "bo", add.clone()).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "table_owned_by_other"));
    assert!(v["error"]["message"].as_str().unwrap().contains("T7 is served by ana"));
    let (s, _) = edit(&f.app, &id, "ana", add.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = edit(&f.app, &id, "boss", add).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = call(&f.app, "GET", &format!("/api/orders/{id}"), None).await;
    assert_eq!(v["lines"].as_array().unwrap().len(), 2, "only the refused edit is missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s21_a_terminal_not_accepting_incoming_orders_does_not_show_them() {
    let scratch = tempfile::Builder::new().prefix("possync-api-incoming-").tempdir().unwrap();
    let dir = scratch.path();
    let t1 =
        Node::builder("api-test", TerminalId::parse("T1").unwrap(), dir.join("T1")).spawn().await.unwrap();
    let metrics = possync::net::SharedRegistry::default();
    let t2 = Node::builder("api-test", TerminalId::parse("T2").unwrap(), dir.join("T2"))
        .peers(t1.listen_addrs().iter().cloned())
        .metrics(metrics.clone())
        .spawn()
        .await
        .unwrap();
    let app1 = router(AppState::new(t1.clone(), Policy::permissive(), None));
    let closed = Policy { accept_incoming: false, ..Policy::permissive() };
    let app2 = router(AppState::new(t2.clone(), closed, None).with_metrics(metrics));
    let from_t1 = open(&app1, "ana", "T1").await;
    let from_t2 = open(&app2, "bo", "T2").await;
    // Wait until T2 holds T1's order (it is synced, just not shown).
    let id1 = possync::model::OrderId::parse(from_t1["id"].as_str().unwrap()).unwrap();
    for _ in 0..200 {
        if t2.order(&id1).await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(t2.order(&id1).await.unwrap().is_some(), "T2 keeps T1's order");
    // libp2p's metrics recorded the swarm's events: the connection to T1.
    let (_, metrics) = call(&app2, "GET", "/metrics", None).await;
    let text = metrics["text"].as_str().unwrap();
    let established: f64 = text
        .lines()
        .filter(|l| l.starts_with("libp2p_swarm_connections_established_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(established >= 1.0, "{text}");
    // And the bytes that carried T1's order, each way.
    let bytes = |direction: &str| -> f64 {
        let label = format!("direction=\"{direction}\"");
        text.lines()
            .filter(|l| l.starts_with("libp2p_bandwidth_bytes_total{") && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(bytes("Inbound") > 0.0 && bytes("Outbound") > 0.0, "{text}");
    let (_, list2) = call(&app2, "GET", "/api/orders", None).await;
    let names: Vec<&str> = list2.as_array().unwrap().iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names, [from_t2["name"].as_str().unwrap()]);
    let (s, v) = call(&app2, "GET", &format!("/api/orders/{id1}"), None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "unknown_order"));
    // T1 accepts incoming orders: it shows both.
    for _ in 0..200 {
        if call(&app1, "GET", "/api/orders", None).await.1.as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(call(&app1, "GET", "/api/orders", None).await.1.as_array().unwrap().len(), 2);
    t1.shutdown().await.unwrap();
    t2.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_feed_says_hello_then_every_change() {
    use futures::StreamExt;
    let f = fixture(Policy::permissive(), None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = f.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/events")).await.unwrap();
    macro_rules! next {
        () => {{
            let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            serde_json::from_str::<Value>(msg.to_text().unwrap()).unwrap()
        }};
    }
    let hello = next!();
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["terminal"], "T1");
    assert_eq!(hello["status"]["connectivity"], "offline");

    let order = open(&f.app, "ana", "T2").await;
    let id = order["id"].as_str().unwrap().to_owned();
    edit(&f.app, &id, "bo", json!({"op": "set_note", "note": "window"})).await;
    let mut changed = Vec::new();
    while changed.len() < 2 {
        let ev = next!();
        if ev["event"] == "order_changed" {
            changed.push(ev);
        }
    }
    assert_eq!(changed[0]["order"], id.as_str());
    assert_eq!(changed[0]["origin"]["kind"], "local");
    assert_eq!(changed[0]["summary"]["created"], true);
    assert_eq!(changed[1]["summary"]["fields"], json!(["changed", "note"]));
    assert_eq!(changed[1]["summary"]["authors"][0]["user"], "bo");
    assert_eq!(changed[1]["view"]["note"], "window");
    assert_eq!(changed[1]["active"], true);
}
