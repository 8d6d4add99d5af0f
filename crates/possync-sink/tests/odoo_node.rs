//! A terminal (`possync::Node`) with the Odoo sink, against the fake Odoo
//! on 127.0.0.1: the delivery outbox takes each paid order to Odoo once,
//! and an order Odoo cannot take (an id the catalogue does not map) is held
//! on its own while the others go on. No live Odoo is run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_odoo;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fake_odoo::{FakeOdoo, LOGIN, PASSWORD};
use possync::Node;
use possync::model::{
    Edit, LineId, Money, NewLine, OpenOrder, OrderId, PaymentId, Quantity, SinkName, Tender, TerminalId,
};
use possync_catalogue::ProductId;
use possync_catalogue::import::from_odoo_session;
use possync_sink::{OdooApi, OdooAuth, OdooConfig, OdooSink, OdooTarget, Secret};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/odoo");

fn random() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    u128::from(N.fetch_add(1, Ordering::Relaxed)) << 64 | u128::from(std::process::id())
}

/// Opens an order of `lines` (product, name, units, price), pays it
/// exactly with payment method "1", closes it.
async fn paid_order(node: &Node, lines: &[(&str, &str, i64, i64)]) -> OrderId {
    let user = "2";
    let order = node.open_order(user, OpenOrder::default()).await.unwrap();
    let mut total = 0;
    for (product, name, units, price) in lines {
        let line = NewLine::new(
            LineId::from_random(random()),
            *product,
            *name,
            Quantity::units(*units),
            Money(*price),
        );
        node.edit(user, &order, Edit::AddLine(line)).await.unwrap();
        total += units * price;
    }
    let tender = Tender {
        payment: PaymentId::from_random(random()),
        method: "1".into(),
        tendered: Money(total),
        tip: Money(0),
    };
    node.edit(user, &order, Edit::Pay(tender)).await.unwrap();
    node.edit(user, &order, Edit::MarkPaid).await.unwrap();
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_delivers_each_paid_order_to_odoo_once_and_holds_only_the_one_it_cannot_map() {
    let fake = FakeOdoo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("odoo.pw");
    std::fs::write(&pw, PASSWORD).unwrap();
    let catalogue =
        from_odoo_session(&std::fs::read_to_string(format!("{FIXTURES}/session.json")).unwrap()).unwrap();
    let config = OdooConfig {
        url: fake.url(),
        ca_file: None,
        db: fake_odoo::DB.into(),
        auth: OdooAuth::Password { login: LOGIN.into(), password: Secret::File(pw) },
        target: OdooTarget {
            api: OdooApi::CreateFromUi,
            session_id: 42,
            terminals: BTreeMap::from([("T1".to_owned(), 1)]),
            tip_product: None,
        },
        timeout: Duration::from_secs(10),
    };
    let sink = Arc::new(OdooSink::new(SinkName::parse("odoo").unwrap(), config, Some(catalogue)).unwrap());
    let node = Node::builder("odoo-test", TerminalId::parse("T1").unwrap(), dir.path().join("T1"))
        .sink(sink)
        .spawn()
        .await
        .unwrap();

    // The first order has a product only a hand-written catalogue knows:
    // Odoo cannot take it. The next two are all Odoo ids.
    let held = paid_order(&node, &[("burger", "Burger", 1, 1290)]).await;
    let first = paid_order(&node, &[("11", "Espresso", 2, 250), ("12", "Club sandwich", 1, 1200)]).await;
    let second = paid_order(&node, &[("12", "Club sandwich", 3, 1200)]).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let report = loop {
        let status = node.status().await.unwrap();
        let report = status.sinks.into_iter().find(|r| r.name == "odoo").unwrap();
        if report.delivered >= 2 && report.refused == 1 {
            break report;
        }
        assert!(tokio::time::Instant::now() < deadline, "not delivered in time: {report:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (report.backlog, report.failing),
        (1, 0),
        "only the held order is owed; the sink is not failing"
    );
    assert!(report.last_error.unwrap_or_default().contains("product \"burger\" is not an Odoo id"));

    {
        let state = fake.state();
        let references: Vec<&str> = state.created.iter().map(|c| c.reference.as_str()).collect();
        assert_eq!(references.len(), 2, "{references:?}");
        assert!(references.iter().all(|r| r.starts_with("Order 00042-001-")), "{references:?}");
        let products: Vec<Vec<i64>> = state
            .created
            .iter()
            .map(|c| {
                c.order["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l[2]["product_id"].as_i64().unwrap())
                    .collect()
            })
            .collect();
        assert!(products.contains(&vec![11, 12]) && products.contains(&vec![12]), "{products:?}");
    }
    // Each delivered order carries its confirmation with Odoo's id.
    for order in [&first, &second] {
        let view = node.order(order).await.unwrap().unwrap();
        let confirmed =
            view.delivery.get(&SinkName::parse("odoo").unwrap()).and_then(|d| d.delivered().cloned());
        assert!(confirmed.is_some_and(|c| c.remote_ref.starts_with("pos.order ")), "{:?}", view.delivery);
    }
    let held_view = node.order(&held).await.unwrap().unwrap();
    let record = &held_view.delivery[&SinkName::parse("odoo").unwrap()];
    assert!(record.delivered().is_none() && record.attempts >= 1);
    node.shutdown().await.unwrap();
}

/// The order view with issue 15's tax copies, as a terminal with the
/// catalogue imported from Odoo makes it, reaches Odoo 18 with its taxes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_with_odoo_s_catalogue_sends_the_line_taxes_and_totals_it_computed() {
    let fake = FakeOdoo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("odoo.pw");
    std::fs::write(&pw, PASSWORD).unwrap();
    let catalogue =
        from_odoo_session(&std::fs::read_to_string(format!("{FIXTURES}/session.json")).unwrap()).unwrap();
    let config = OdooConfig {
        url: fake.url(),
        ca_file: None,
        db: fake_odoo::DB.into(),
        auth: OdooAuth::Password { login: LOGIN.into(), password: Secret::File(pw) },
        target: OdooTarget {
            api: OdooApi::SyncFromUi,
            session_id: 42,
            terminals: BTreeMap::from([("T1".to_owned(), 1)]),
            tip_product: None,
        },
        timeout: Duration::from_secs(10),
    };
    let sink =
        Arc::new(OdooSink::new(SinkName::parse("odoo").unwrap(), config, Some(catalogue.clone())).unwrap());
    let node = Node::builder("odoo-test", TerminalId::parse("T1").unwrap(), dir.path().join("T1"))
        .initial_catalogue(catalogue.clone())
        .sink(sink)
        .spawn()
        .await
        .unwrap();
    let user = "2";
    let order = node.open_order(user, OpenOrder::default()).await.unwrap();
    for (product, units) in [("11", 2), ("12", 1)] {
        let id = ProductId::parse(product).unwrap();
        let priced = catalogue.price_line(&id, Quantity::units(units), None, None).unwrap();
        let line = NewLine {
            taxes: priced.taxes,
            ..NewLine::new(
                LineId::from_random(random()),
                product,
                catalogue.product(&id).unwrap().name.clone(),
                Quantity::units(units),
                priced.unit_price,
            )
        };
        node.edit(user, &order, Edit::AddLine(line)).await.unwrap();
    }
    let view = node.order(&order).await.unwrap().unwrap();
    // 2 × 2.50 with 10 % included, 12.00 + 21 %.
    assert_eq!((view.totals.total.0, view.totals.tax.0), (500 + 1452, 45 + 252), "{:?}", view.totals);
    let tender = Tender {
        payment: PaymentId::from_random(random()),
        method: "2".into(),
        tendered: view.totals.due,
        tip: Money(0),
    };
    node.edit(user, &order, Edit::Pay(tender)).await.unwrap();
    node.edit(user, &order, Edit::MarkPaid).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fake.state().created.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {:?}",
            node.status().await.unwrap().sinks
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = fake.state().created[0].order.clone();
    assert_eq!(sent["amount_total"], serde_json::json!(19.52));
    assert_eq!(sent["amount_tax"], serde_json::json!(2.97));
    let lines = sent["lines"].as_array().unwrap();
    assert_eq!(lines[0][2]["tax_ids"], serde_json::json!([[6, 0, [5]]]));
    assert_eq!(
        (lines[0][2]["price_subtotal"].clone(), lines[0][2]["price_subtotal_incl"].clone()),
        (serde_json::json!(4.55), serde_json::json!(5.0))
    );
    assert_eq!(lines[1][2]["tax_ids"], serde_json::json!([[6, 0, [6]]]));
    assert_eq!(
        (lines[1][2]["price_subtotal"].clone(), lines[1][2]["price_subtotal_incl"].clone()),
        (serde_json::json!(12.0), serde_json::json!(14.52))
    );
    assert_eq!(sent["payment_ids"][0][2]["amount"], serde_json::json!(19.52));
    node.shutdown().await.unwrap();
}
