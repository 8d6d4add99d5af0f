//! The PostgreSQL sink against a real server (a throw-away cluster on a
//! unix socket): schema made at connect, an order with its lines and
//! payments in one transaction, a repeated delivery changing nothing, a
//! server that goes away and comes back.

#![allow(clippy::unwrap_used)]

use possync::DeliveryFailure;
use possync_model::automerge::ActorId;
use possync_model::{
    Edit, EditContext, Money, NewLine, NewOrder, OrderDoc, OrderId, OrderName, OrderView, PaymentId,
    Quantity, SinkName, Tender, TerminalId,
};
use possync_sink::PostgresSink;
use possync_sink::testing::TempCluster;

fn paid_order(n: u128) -> OrderView {
    let t = TerminalId::parse("T1").unwrap();
    let ctx = EditContext::new("ana", t.clone(), 1_767_225_600_000);
    let (mut doc, _) = OrderDoc::open(
        ActorId::random(),
        &ctx,
        &NewOrder::new(OrderId::from_random(n), OrderName::compose(&t, 7)),
    )
    .unwrap();
    for (i, (product, price)) in [("soup", 650), ("bread", 250)].into_iter().enumerate() {
        let line = NewLine::new(
            possync_model::LineId::from_random(n * 10 + i as u128),
            product,
            product,
            Quantity::units(2),
            Money(price),
        );
        doc.edit(&ctx, &Edit::AddLine(line)).unwrap();
    }
    let tender = Tender {
        payment: PaymentId::from_random(n),
        method: "cash".into(),
        tendered: Money(2000),
        tip: Money(0),
    };
    doc.edit(&ctx, &Edit::Pay(tender)).unwrap();
    doc.edit(&ctx, &Edit::MarkPaid).unwrap();
    doc.view().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn orders_are_upserted_once_and_survive_a_server_restart() {
    let mut pg = TempCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let sink =
        PostgresSink::new(SinkName::parse("pg").unwrap(), pg.config(), TerminalId::parse("T1").unwrap());
    let order = paid_order(1);
    assert_eq!(sink.write(&order).await.unwrap(), order.id.to_string());
    let row =
        pg.psql("SELECT name, state, total, paid, change_given, closed_on FROM possync_orders").unwrap();
    assert_eq!(row, "T1-0007|paid|1800|1800|200|T1");
    assert_eq!(pg.psql("SELECT count(*), sum(total) FROM possync_order_lines").unwrap(), "2|1800");
    assert_eq!(
        pg.psql("SELECT method, amount, tendered, change_given FROM possync_payments").unwrap(),
        "cash|1800|2000|200"
    );
    let stamp = pg.psql("SELECT delivered_at FROM possync_orders").unwrap();
    // Again: nothing changes, not even the delivery time.
    sink.write(&order).await.unwrap();
    assert_eq!(pg.psql("SELECT count(*) FROM possync_orders").unwrap(), "1");
    assert_eq!(pg.psql("SELECT delivered_at FROM possync_orders").unwrap(), stamp);
    assert_eq!(pg.psql("SELECT max(version) FROM possync_schema_migrations").unwrap(), "2");

    // The server goes away: a clear error; it comes back: the sink reconnects.
    pg.pause().unwrap();
    let err = sink.write(&paid_order(2)).await.unwrap_err();
    assert!(matches!(err, DeliveryFailure::Unavailable(_)), "the server, not the order: {err:?}");
    assert!(!err.message().contains(pg.password()), "the error must not show the password: {err}");
    pg.resume().unwrap();
    let mut last = Err(DeliveryFailure::Unavailable(String::new()));
    for _ in 0..3 {
        last = sink.write(&paid_order(2)).await;
        if last.is_ok() {
            break;
        }
    }
    last.unwrap();
    assert_eq!(pg.psql("SELECT count(*) FROM possync_orders").unwrap(), "2");
    // A second sink (another terminal) connecting finds the schema made.
    let other =
        PostgresSink::new(SinkName::parse("pg").unwrap(), pg.config(), TerminalId::parse("T2").unwrap());
    other.write(&paid_order(1)).await.unwrap();
    assert_eq!(pg.psql("SELECT count(*) FROM possync_orders").unwrap(), "2");
}

#[tokio::test(flavor = "current_thread")]
async fn an_open_order_and_a_wrong_password_are_refused_with_a_clear_error() {
    let pg = TempCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let sink =
        PostgresSink::new(SinkName::parse("pg").unwrap(), pg.config(), TerminalId::parse("T1").unwrap());
    let mut open = paid_order(3);
    open.state = possync_model::OrderState::Open;
    let err = sink.write(&open).await.unwrap_err();
    assert!(matches!(&err, DeliveryFailure::Refused(m) if m.contains("is open")), "{err:?}");
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("pw");
    std::fs::write(&wrong, "nope\n").unwrap();
    let mut config = pg.config();
    config.password = Some(possync_sink::Secret::File(wrong));
    let bad = PostgresSink::new(SinkName::parse("pg").unwrap(), config, TerminalId::parse("T1").unwrap());
    let err = bad.write(&paid_order(4)).await.unwrap_err().to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("nope"));
    let missing = possync_sink::Secret::Env("POSSYNC_TEST_UNSET_VARIABLE".into());
    assert!(missing.read().unwrap_err().contains("POSSYNC_TEST_UNSET_VARIABLE"));
}

/// Delivery throughput of one sink (one connection, one transaction per
/// order), printed for docs/PERFORMANCE.md; asserts only that all arrive.
#[tokio::test(flavor = "current_thread")]
async fn throughput_of_one_connection() {
    let pg = TempCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let sink =
        PostgresSink::new(SinkName::parse("pg").unwrap(), pg.config(), TerminalId::parse("T1").unwrap());
    let orders: Vec<OrderView> = (100..400).map(paid_order).collect();
    sink.write(&orders[0]).await.unwrap(); // connect and migrate first
    let started = std::time::Instant::now();
    for o in &orders[1..] {
        sink.write(o).await.unwrap();
    }
    let new = started.elapsed();
    let started = std::time::Instant::now();
    for o in &orders {
        sink.write(o).await.unwrap();
    }
    let again = started.elapsed();
    assert_eq!(pg.psql("SELECT count(*) FROM possync_orders").unwrap(), "300");
    eprintln!(
        "PostgreSQL sink: {:.0} new orders/s, {:.0} repeated orders/s (299 new, 300 repeated)",
        299.0 / new.as_secs_f64(),
        300.0 / again.as_secs_f64()
    );
}

/// Two terminals deliver the same orders at the same time: each order is
/// written once; the second delivery finds it held and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_of_one_order_write_it_once() {
    let pg = TempCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let a = PostgresSink::new(SinkName::parse("pg").unwrap(), pg.config(), TerminalId::parse("T1").unwrap());
    let b = PostgresSink::new(SinkName::parse("pg").unwrap(), pg.config(), TerminalId::parse("T2").unwrap());
    let orders: Vec<OrderView> = (500..540).map(paid_order).collect();
    let (ra, rb) = tokio::join!(
        async {
            for o in &orders {
                a.write(o).await.unwrap();
            }
        },
        async {
            for o in orders.iter().rev() {
                b.write(o).await.unwrap();
            }
        }
    );
    let ((), ()) = (ra, rb);
    assert_eq!(pg.psql("SELECT count(*) FROM possync_orders").unwrap(), "40");
    assert_eq!(pg.psql("SELECT count(*) FROM possync_order_lines").unwrap(), "80");
    assert_eq!(pg.psql("SELECT count(*) FROM possync_payments").unwrap(), "40");
    // Each order was inserted once and never updated: the second delivery
    // found it held. (The writers' server processes report their counts
    // when they end, so the connections are closed first.)
    possync::Sink::close(&a).await;
    possync::Sink::close(&b).await;
    let mut stats = String::new();
    for _ in 0..50 {
        stats = pg
            .psql("SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'possync_orders'")
            .unwrap();
        if stats == "40|0" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stats, "40|0", "inserted|updated");
}

/// S29's order (hand-worked in `possync-model/tests/taxes.rs`), paid in cash.
fn taxed_order(n: u128) -> OrderView {
    use possync_catalogue::{PricingRules, RoundingMethod, Tax, TaxAmount, TaxId};
    let t = TerminalId::parse("T1").unwrap();
    let ctx = EditContext::new("ana", t.clone(), 1_767_225_600_000);
    let mut new = NewOrder::new(OrderId::from_random(n), OrderName::compose(&t, 8));
    new.fields.pricing = Some(PricingRules::cents(RoundingMethod::RoundPerLine));
    let (mut doc, _) = OrderDoc::open(ActorId::random(), &ctx, &new).unwrap();
    let mut vat21 = Tax::percent(TaxId::parse("vat21").unwrap(), "VAT 21% (incl.)", TaxAmount::whole(21));
    vat21.price_include = true;
    let vat6 = Tax::percent(TaxId::parse("vat6").unwrap(), "VAT 6%", TaxAmount::whole(6));
    for (i, (price, units, tax)) in
        [(1000, 3, &vat21), (995, 2, &vat6), (745, 1, &vat6)].into_iter().enumerate()
    {
        let id = possync_model::LineId::from_random(n * 10 + i as u128);
        let mut line = NewLine::new(id, "p", "Product", Quantity::units(units), Money(price));
        line.discount = possync_model::Discount(1000);
        line.taxes = vec![tax.clone()];
        doc.edit(&ctx, &Edit::AddLine(line)).unwrap();
    }
    let tender = Tender {
        payment: PaymentId::from_random(n),
        method: "cash".into(),
        tendered: Money(6000),
        tip: Money(0),
    };
    doc.edit(&ctx, &Edit::Pay(tender)).unwrap();
    doc.edit(&ctx, &Edit::MarkPaid).unwrap();
    doc.view().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn an_order_with_taxes_lands_with_its_untaxed_amount_and_tax_rows() {
    let pg = TempCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let sink =
        PostgresSink::new(SinkName::parse("pg").unwrap(), pg.config(), TerminalId::parse("T1").unwrap());
    let order = taxed_order(9);
    sink.write(&order).await.unwrap();
    assert_eq!(
        pg.psql("SELECT untaxed, tax, total, paid FROM possync_orders").unwrap(),
        "4693|616|5309|5309"
    );
    assert_eq!(
        pg.psql("SELECT string_agg(tax || ':' || base || ':' || amount, ',' ORDER BY position) FROM possync_order_taxes")
            .unwrap(),
        "vat21:2231:469,vat6:2462:147"
    );
    assert_eq!(
        pg.psql("SELECT string_agg(untaxed || '+' || tax || '=' || total, ',' ORDER BY position) FROM possync_order_lines")
            .unwrap(),
        "2231+469=2700,1791+107=1898,671+40=711"
    );
    assert_eq!(
        pg.psql("SELECT count(*), string_agg(DISTINCT rate, ','), bool_or(price_include) FROM possync_order_line_taxes")
            .unwrap(),
        "3|21,6|t"
    );
    // A repeated delivery leaves one set of rows.
    sink.write(&order).await.unwrap();
    assert_eq!(pg.psql("SELECT count(*) FROM possync_order_taxes").unwrap(), "2");
}
