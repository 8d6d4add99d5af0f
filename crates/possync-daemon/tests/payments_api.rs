//! The payment routes through the router in process, one terminal: tenders
//! with change and tip, split tender, a payment when nothing is due, the
//! claim, manager-only refunds and reviews, refund orders, the receipt, and
//! bad input (a clear 4xx, never a corrupted order).

#![allow(clippy::unwrap_used)]

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

async fn fixture() -> Fixture {
    let dir = tempfile::Builder::new().prefix("possync-pay-api-").tempdir().unwrap();
    let node = Node::builder("pay-test", TerminalId::parse("T1").unwrap(), dir.path()).spawn().await.unwrap();
    let policy = Policy { managers: ["maria".to_owned()].into(), ..Policy::permissive() };
    let state = AppState::new(node.clone(), policy, None);
    Fixture { app: router(state), _node: node, _dir: dir }
}

/// Answers the status, and the body as JSON (or `{"text": ...}`).
async fn call(app: &axum::Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
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

/// An order with 2 × 4.45 = 8.90 on it.
async fn order_of_890(app: &axum::Router) -> String {
    let (s, v) = call(app, "POST", "/api/orders", Some(json!({"user": "ana", "table": "T3"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let id = v["id"].as_str().unwrap().to_owned();
    let line = json!({"op": "add_line", "product": "burger", "display_name": "Burger", "qty": 2000, "unit_price": 445});
    let (s, _) =
        call(app, "POST", &format!("/api/orders/{id}/edit"), Some(json!({"user": "ana", "edit": line})))
            .await;
    assert_eq!(s, StatusCode::OK);
    id
}

async fn pay(app: &axum::Router, id: &str, user: &str, tenders: Value) -> (StatusCode, Value) {
    call(app, "POST", &format!("/api/orders/{id}/pay"), Some(json!({"user": user, "tenders": tenders}))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cash_with_change_and_tip_then_nothing_is_due() {
    let f = fixture().await;
    let id = order_of_890(&f.app).await;
    let (s, v) = pay(&f.app, &id, "ana", json!([{"method": "cash", "tendered": 2000, "tip": 100}])).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let o = &v["order"];
    assert_eq!(o["state"], "paid");
    assert_eq!(
        o["totals"],
        json!({"untaxed": 890, "tax": 0, "taxes": [], "total": 890, "paid": 890, "due": 0, "change": 1010, "tip": 100})
    );
    assert_eq!(o["payments"][0]["tendered"], 2000);
    assert_eq!(v["claim"], Value::Null, "released once paid");
    // A second payment of the paid bill is refused, not recorded.
    let (s, v) = pay(&f.app, &id, "bo", json!([{"method": "card", "tendered": 890}])).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "order_closed"));
    let (_, o) = call(&f.app, "GET", &format!("/api/orders/{id}"), None).await;
    assert_eq!(o["payments"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_tender_and_partial_payments_keep_the_claim_until_paid() {
    let f = fixture().await;
    let id = order_of_890(&f.app).await;
    let (s, v) = pay(&f.app, &id, "ana", json!([{"method": "card", "tendered": 500}])).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["order"]["state"].clone(), v["order"]["totals"]["due"].clone()),
        (json!("open"), json!(390))
    );
    assert_eq!(v["claim"]["mine"], true, "the screen keeps its claim for the rest");
    let (_, claims) = call(&f.app, "GET", "/api/payments", None).await;
    assert_eq!(claims.as_array().unwrap().len(), 1);
    // A card cannot pay more than is due.
    let (s, v) = pay(&f.app, &id, "ana", json!([{"method": "card", "tendered": 500}])).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "overpayment"));
    let (s, v) = pay(
        &f.app,
        &id,
        "ana",
        json!([{"method": "card", "tendered": 190}, {"method": "cash", "tendered": 500}]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["order"]["state"], "paid");
    assert_eq!(v["order"]["totals"]["change"], 300);
    assert_eq!(v["order"]["payments"].as_array().unwrap().len(), 3);
    let (_, claims) = call(&f.app, "GET", "/api/payments", None).await;
    assert_eq!(claims, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claim_is_granted_alone_and_released_on_request() {
    let f = fixture().await;
    let id = order_of_890(&f.app).await;
    let uri = format!("/api/orders/{id}/payment/claim");
    let (s, v) = call(&f.app, "POST", &uri, Some(json!({"user": "ana"}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["claim"]["mine"].clone(), v["claim"]["granted"].clone()), (json!(true), json!(true)));
    assert_eq!((v["claim"]["terminal"].clone(), v["claim"]["user"].clone()), (json!("T1"), json!("ana")));
    let (s, _) =
        call(&f.app, "POST", &format!("/api/orders/{id}/payment/release"), Some(json!({"user": "ana"})))
            .await;
    assert_eq!(s, StatusCode::OK);
    let (_, claims) = call(&f.app, "GET", "/api/payments", None).await;
    assert_eq!(claims, json!([]));
    // Nothing due: no claim either.
    pay(&f.app, &id, "ana", json!([{"method": "card", "tendered": 890}])).await;
    let (s, v) = call(&f.app, "POST", &uri, Some(json!({"user": "ana"}))).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "order_closed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_and_reviews_take_a_manager_and_a_reason() {
    let f = fixture().await;
    let id = order_of_890(&f.app).await;
    pay(&f.app, &id, "ana", json!([{"method": "card", "tendered": 890}])).await;
    let refund = |user: &str, amount: i64| json!({"user": user, "method": "card", "amount": amount, "reason": "wrong table"});
    let uri = format!("/api/orders/{id}/refund");
    let (s, v) = call(&f.app, "POST", &uri, Some(refund("ana", 100))).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "manager_only"));
    // Paid exactly: nothing to give back from a closed order.
    let (s, v) = call(&f.app, "POST", &uri, Some(refund("maria", 100))).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "refund_too_large"));
    let (s, v) = call(
        &f.app,
        "POST",
        &format!("/api/orders/{id}/review"),
        Some(json!({"user": "maria", "action": "accept", "reason": "x"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "nothing_to_review"));

    // A refund order for the paid one, linked to it.
    let (s, v) = call(
        &f.app,
        "POST",
        &format!("/api/orders/{id}/refund_order"),
        Some(json!({"user": "ana", "reason": "cold"})),
    )
    .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "manager_only"));
    let (s, r) = call(
        &f.app,
        "POST",
        &format!("/api/orders/{id}/refund_order"),
        Some(json!({"user": "maria", "reason": "cold"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["refund_of"], json!(id));
    assert_eq!(r["totals"]["total"], -890);
    let rid = r["id"].as_str().unwrap().to_owned();
    let (s, v) = pay(&f.app, &rid, "maria", json!([{"method": "cash", "tendered": 890}])).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "nothing_due"));
    let (s, v) = call(
        &f.app,
        "POST",
        &format!("/api/orders/{rid}/refund"),
        Some(json!({"user": "maria", "method": "cash", "amount": 890, "reason": "cold"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["totals"]["due"], 0);
    assert_eq!(v["payments"][0]["reason"], "cold");
    assert_eq!(v["payments"][0]["by"]["user"], "maria");
    let req = Request::builder().uri(format!("/api/orders/{rid}/receipt")).body(Body::empty()).unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    let html = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    for want in ["Refund of T1-0001", "Refund, cash (cold)", "-8.90"] {
        assert!(html.contains(want), "refund receipt lacks {want:?}: {html}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_is_printable_html_with_lines_payments_change_terminal_and_cashier() {
    let f = fixture().await;
    let id = order_of_890(&f.app).await;
    pay(&f.app, &id, "ana", json!([{"method": "cash", "tendered": 1000, "tip": 50}])).await;
    let req = Request::builder().uri(format!("/api/orders/{id}/receipt")).body(Body::empty()).unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let html = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    for want in [
        "T1-0001",
        "2 × Burger",
        "8.90",
        "cash tendered",
        "10.00",
        "Change",
        "0.60",
        "Tip",
        "0.50",
        "Terminal T1",
        "Cashier: ana on T1",
        "Paid",
    ] {
        assert!(html.contains(want), "receipt lacks {want:?}: {html}");
    }
    let (s, v) = call(&f.app, "GET", "/api/orders/nope!/receipt", None).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payment_input_is_a_clear_error_and_changes_nothing() {
    let f = fixture().await;
    let id = order_of_890(&f.app).await;
    let (_, before) = call(&f.app, "GET", &format!("/api/orders/{id}"), None).await;
    let cases = [
        (json!({"user": "ana", "tenders": []}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_edit"),
        (
            json!({"user": "ana", "tenders": [{"method": "cash", "tendered": 0}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"user": "ana", "tenders": [{"method": "cash", "tendered": -5}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"user": "ana", "tenders": [{"method": "cash", "tendered": 100, "tip": 200}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"user": "ana", "tenders": [{"method": "", "tendered": 100}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"user": "ana", "tenders": [{"method": "cash", "tendered": "ten"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"user": "ana", "tenders": [{"method": "cash", "tendered": 100, "x": 1}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"user": "", "tenders": [{"method": "cash", "tendered": 100}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_user",
        ),
    ];
    for (body, status, want) in cases {
        let (s, v) = call(&f.app, "POST", &format!("/api/orders/{id}/pay"), Some(body.clone())).await;
        assert_eq!((s, code(&v)), (status, want), "{body}");
    }
    let (_, after) = call(&f.app, "GET", &format!("/api/orders/{id}"), None).await;
    assert_eq!(before["payments"], after["payments"]);
    assert_eq!(after["totals"]["due"], 890);
    let (s, v) = pay(&f.app, "no-such-order", "ana", json!([{"method": "cash", "tendered": 100}])).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "unknown_order"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_the_payment_routes_and_codes() {
    let f = fixture().await;
    let (s, doc) = call(&f.app, "GET", "/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    for (path, method) in [
        ("/api/orders/{id}/payment/claim", "post"),
        ("/api/orders/{id}/payment/release", "post"),
        ("/api/orders/{id}/pay", "post"),
        ("/api/orders/{id}/refund", "post"),
        ("/api/orders/{id}/review", "post"),
        ("/api/orders/{id}/refund_order", "post"),
        ("/api/orders/{id}/receipt", "get"),
        ("/api/payments", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not in docs/openapi.json");
    }
    let text = doc.to_string();
    for code in [
        "payment_in_progress",
        "nothing_due",
        "overpayment",
        "refund_too_large",
        "manager_only",
        "claim_pending",
    ] {
        assert!(text.contains(code), "error code {code} is not in docs/openapi.json");
    }
    let kinds =
        &doc["components"]["schemas"]["Order"]["properties"]["review"]["items"]["properties"]["kind"]["enum"];
    assert!(kinds.as_array().unwrap().contains(&json!("overpaid")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_order_paid_too_much_is_given_back_not_accepted() {
    let f = fixture().await;
    // Paid in full without closing, then a burger taken off: 4.45 too much.
    let id2 = order_of_890(&f.app).await;
    let body = json!({"user": "ana", "tenders": [{"method": "card", "tendered": 890}], "close": false});
    let (s, v) = call(&f.app, "POST", &format!("/api/orders/{id2}/pay"), Some(body)).await;
    assert_eq!((s, v["order"]["state"].clone()), (StatusCode::OK, json!("open")), "{v}");
    let line = v["order"]["lines"][0]["id"].as_str().unwrap().to_owned();
    let set = json!({"user": "ana", "edit": {"op": "set_qty", "line": line, "qty": 1000}});
    let (_, v) = call(&f.app, "POST", &format!("/api/orders/{id2}/edit"), Some(set)).await;
    assert_eq!(v["order"]["review"], json!([{"kind": "overpaid", "total": 445, "paid": 890}]));
    let uri = format!("/api/orders/{id2}/review");
    let (s, v) =
        call(&f.app, "POST", &uri, Some(json!({"user": "maria", "action": "accept", "reason": "x"}))).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "order_open"));
    let (s, v) = call(
        &f.app,
        "POST",
        &uri,
        Some(json!({"user": "maria", "action": "refund", "reason": "one burger less"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["review"].clone(), v["totals"]["due"].clone()), (json!([]), json!(0)));
    assert_eq!(v["payments"][1]["amount"], -445);
    assert_eq!(v["payments"][1]["method"], "card", "given back the way it was paid");
}
