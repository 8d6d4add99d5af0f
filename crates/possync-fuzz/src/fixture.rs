//! The small, realistic state every target starts from: two orders written
//! by two terminals (lines, a kitchen send, payments, extension fields,
//! concurrent edits, one order paid and archived), built once per process.
//! Deterministic: fixed actors, clocks and ids, so a crash replays exactly.

use std::sync::OnceLock;
use std::time::Instant;

use possync_engine::{ActorOwner, Engine, EngineConfig, Output, StoredOrder, Verdict};
use possync_model::automerge::ActorId;
use possync_model::{
    Discount, Edit, EditContext, LineId, Money, NewLine, NewOrder, OpenOrder, OrderDoc, OrderId, OrderName,
    PaymentId, Quantity, TerminalId,
};
use possync_sim::SimStore;
use serde_json::json;

/// The peer every target's messages come from.
pub const PEER: u8 = 1;
/// 2026-01-01T00:00:00Z, the wall clock of every fixture edit.
pub const T0_MS: i64 = 1_767_225_600_000;

/// Fixed ids, so seeds and regressions keep naming the fixture's orders.
pub fn open_order_id() -> OrderId {
    OrderId::from_random(0x0f0f_0001)
}
pub fn paid_order_id() -> OrderId {
    OrderId::from_random(0x0f0f_0002)
}
pub fn line_id(name: &str) -> LineId {
    LineId::from_random(name.bytes().fold(0u128, |acc, b| acc << 8 | u128::from(b)))
}

/// The terminal whose network identity is `code`: whose actors it signs for.
pub fn owner(code: &str) -> ActorOwner {
    ActorOwner::of_identity(code.as_bytes())
}

/// The actor terminal `code` writes under since its start number `start`.
pub fn actor(code: &str, start: u64) -> ActorId {
    owner(code).actor(start)
}

/// Feeds a gossip message to `engine` as published by terminal A and relayed
/// by [`PEER`]: the one place the targets call `handle_gossip`.
pub fn gossip(engine: &mut Engine<u8>, now: Instant, bytes: &[u8]) -> Verdict {
    engine.handle_gossip(now, PEER, owner("A"), bytes)
}

pub fn terminal(code: &str) -> TerminalId {
    match TerminalId::parse(code) {
        Ok(t) => t,
        Err(e) => panic!("fixture terminal {code}: {e}"),
    }
}

pub fn ctx(code: &str, user: &str) -> EditContext {
    EditContext::new(user, terminal(code), T0_MS)
}

/// The fixture's orders, complete and merged, and every change each is made of.
#[derive(Debug)]
pub struct Fixture {
    pub orders: Vec<OrderDoc>,
    /// Per order (same index), its raw changes in causal order.
    pub changes: Vec<Vec<Vec<u8>>>,
}

/// Built on first use; every target clones what it needs from it.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn expect<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("fixture: {what}: {e}"),
    }
}

fn edit(doc: &mut OrderDoc, ctx: &EditContext, e: Edit) {
    expect(doc.edit(ctx, &e), e.kind());
}

fn line(name: &str, product: &str, qty: i64, price: i64) -> NewLine {
    NewLine::new(line_id(name), product, product.to_uppercase(), Quantity::units(qty), Money(price))
}

fn build() -> Fixture {
    let ana = ctx("A", "ana");
    let bob = ctx("B", "bob");

    // An open order, edited concurrently on two terminals.
    let fields = OpenOrder {
        floor: Some("terrace".into()),
        guests: 3,
        ext: json!({"odoo": {"uid": "00042-001-0001"}}).as_object().cloned().unwrap_or_default(),
        ..OpenOrder::at_table("T4")
    };
    let new = NewOrder::with_fields(open_order_id(), OrderName::compose(&terminal("A"), 1), fields);
    let (mut a, _) = expect(OrderDoc::open(actor("A", 1), &ana, &new), "open");
    edit(&mut a, &ana, Edit::AddLine(line("coffee", "coffee", 2, 250)));
    let mut soup = line("soup", "soup", 1, 890);
    soup.discount = Discount(1_000);
    soup.note = "no salt".into();
    edit(&mut a, &ana, Edit::AddLine(soup));
    edit(&mut a, &ana, Edit::SendToKitchen { lines: None });
    let mut b = expect(OrderDoc::load(open_order_id(), &a.save(), actor("B", 1)), "load");
    edit(&mut a, &ana, Edit::ChangeQty { line: line_id("coffee"), delta: Quantity::units(1) });
    edit(&mut b, &bob, Edit::ChangeQty { line: line_id("coffee"), delta: Quantity::units(1) });
    edit(&mut b, &bob, Edit::SetNote { note: "birthday".into() });
    edit(&mut a, &ana, Edit::SetNote { note: "allergy: nuts".into() });
    edit(
        &mut b,
        &bob,
        Edit::AddPayment { payment: PaymentId::from_random(7), method: "cash".into(), amount: Money(500) },
    );
    let from_b = b.automerge().get_changes_added(a.automerge());
    expect(a.apply_remote(from_b), "merge");

    // A paid order: archived on every terminal.
    let (mut paid, _) = expect(
        OrderDoc::open(
            actor("A", 1),
            &ana,
            &NewOrder::new(paid_order_id(), OrderName::compose(&terminal("A"), 2)),
        ),
        "open",
    );
    edit(&mut paid, &ana, Edit::AddLine(line("water", "water", 1, 300)));
    edit(
        &mut paid,
        &ana,
        Edit::AddPayment { payment: PaymentId::from_random(8), method: "card".into(), amount: Money(300) },
    );
    edit(&mut paid, &ana, Edit::MarkPaid);

    let orders = vec![a, paid];
    let changes = orders
        .iter()
        .map(|o| o.automerge().get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect())
        .collect();
    Fixture { orders, changes }
}

/// The fixture as a terminal's disk holds it: one snapshot per order.
pub fn disk() -> SimStore {
    let mut disk = SimStore::default();
    disk.apply(
        fixture()
            .orders
            .iter()
            .map(|o| possync_engine::StoreOp::Snapshot { order: o.id().clone(), bytes: o.save() })
            .collect(),
    );
    disk.next_sequence = 3;
    disk
}

/// Terminal C, restored from [`disk`], with [`PEER`] connected and the
/// outputs of that drained.
pub fn engine(now: Instant) -> Engine<u8> {
    let mut engine = restored(now, &disk());
    engine.peer_up(now, PEER);
    while engine.poll_output().is_some() {}
    engine
}

/// A fresh terminal C restored from `disk`.
pub fn restored(now: Instant, disk: &SimStore) -> Engine<u8> {
    restored_as(now, disk, "C")
}

/// A fresh terminal `code` restored from `disk` (its second start).
pub fn restored_as(now: Instant, disk: &SimStore, code: &str) -> Engine<u8> {
    let mut engine = Engine::new(EngineConfig::default(), terminal(code), actor(code, 2), 7, now);
    let orders: Vec<StoredOrder> = disk.stored_orders();
    let report = engine.restore(now, orders, disk.next_sequence);
    assert!(report.damaged.is_empty(), "fixture orders damaged: {:?}", report.damaged);
    if let Some(bytes) = &disk.catalogue {
        // What the engine stored, it took after checking: it must load.
        let restored = engine.restore_catalogue(bytes);
        assert!(restored.is_ok(), "stored catalogue refused at restart: {restored:?}");
    }
    engine
}

/// Carries out an engine's outputs: persists into `disk`, and checks that
/// every message it sends decodes (a terminal never sends what a peer must
/// refuse as malformed).
pub fn drain(engine: &mut Engine<u8>, disk: &mut SimStore) {
    while let Some(out) = engine.poll_output() {
        match out {
            Output::Persist(ops) => disk.apply(ops),
            Output::Broadcast(bytes) => {
                if let Err(e) = possync_engine::wire::Gossip::decode(&bytes) {
                    panic!("the engine broadcast an undecodable message: {e}");
                }
            }
            Output::Send { bytes, .. } => {
                if let Err(e) = possync_engine::wire::Direct::decode(&bytes) {
                    panic!("the engine sent an undecodable message: {e}");
                }
            }
            Output::Event(_) | Output::Disconnect { .. } | Output::Deliver { .. } => {}
        }
    }
}
