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
    Edit, LineId, Money, NewLine, NewOrder, OrderId, OrderName, PaymentId, Quantity, SinkName, Tender,
    TerminalId,
};
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
    let template = NewOrder::new(OrderId::from_random(0), OrderName::compose(node.terminal(), 0));
    let order = node.open_order(user, template).await.unwrap();
    let mut total = 0;
    for (product, name, units, price) in lines {
        let line = NewLine {
            id: LineId::from_random(random()),
            product: (*product).into(),
            display_name: (*name).into(),
            qty: Quantity::units(*units),
            unit_price: Money(*price),
            discount: Default::default(),
            note: String::new(),
            ext: Default::default(),
            taxes: Vec::new(),
        };
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
