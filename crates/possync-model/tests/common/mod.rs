//! Shared helpers of the model's integration tests: a [`Terminal`] holding one
//! order document, and full exchanges of changes between terminals.
#![allow(dead_code, clippy::unwrap_used)]

use possync_model::automerge::{ActorId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use possync_model::{
    Edit, EditContext, EditError, LineId, LocalChange, Money, NewLine, NewOrder, OrderDoc, OrderId,
    OrderName, OrderView, Quantity, RemoteApplied, TerminalId,
};
use serde_json::Value as Json;

/// Wall-clock start of every test terminal (2024-01-01T00:00:00Z); each edit
/// advances a terminal's own clock by one second.
pub const T0: i64 = 1_704_067_200_000;

/// A fixed actor id: 16 copies of `byte`. Tests give terminal A `0xaa`, B
/// `0xbb`, C `0xcc`, so when two concurrent writes have the same operation
/// counter, the one with the larger actor (B over A) wins, as Automerge rules.
pub fn actor(byte: u8) -> ActorId {
    ActorId::from([byte; 16])
}

pub fn order_id(n: u128) -> OrderId {
    OrderId::from_random(n)
}

pub fn line_id(name: &str) -> LineId {
    LineId::parse(name).unwrap()
}

/// One terminal's copy of one order.
#[derive(Debug)]
pub struct Terminal {
    pub code: TerminalId,
    pub actor: ActorId,
    pub ctx: EditContext,
    pub doc: OrderDoc,
}

impl Terminal {
    /// A terminal that opens `order` (named `<code>-0001`).
    pub fn open(code: &str, actor_byte: u8, order: &OrderId) -> (Self, LocalChange) {
        let code = TerminalId::parse(code).unwrap();
        let ctx = EditContext::new(format!("user-{code}"), code.clone(), T0);
        let new = NewOrder::new(order.clone(), OrderName::compose(&code, 1));
        let (doc, change) = OrderDoc::open(actor(actor_byte), &ctx, &new).unwrap();
        (Self { code, actor: actor(actor_byte), ctx, doc }, change)
    }

    /// A terminal that knows `order` only by id, and then receives all of
    /// `from`'s changes.
    pub fn join(code: &str, actor_byte: u8, from: &Terminal) -> Self {
        let mut t = Self::empty(code, actor_byte, from.doc.id());
        deliver_all(from, &mut t);
        t
    }

    /// A terminal with an empty document for `order`.
    pub fn empty(code: &str, actor_byte: u8, order: &OrderId) -> Self {
        let code = TerminalId::parse(code).unwrap();
        let ctx = EditContext::new(format!("user-{code}"), code.clone(), T0);
        let doc = OrderDoc::empty(order.clone(), actor(actor_byte));
        Self { code, actor: actor(actor_byte), ctx, doc }
    }

    fn tick(&mut self) {
        self.ctx.at_ms += 1000;
    }

    /// Makes an edit that must change the order.
    pub fn edit(&mut self, edit: Edit) -> LocalChange {
        self.tick();
        match self.doc.edit(&self.ctx, &edit) {
            Ok(Some(change)) => change,
            Ok(None) => panic!("{}: {} made no change", self.code, edit.kind()),
            Err(e) => panic!("{}: {} failed: {e}", self.code, edit.kind()),
        }
    }

    pub fn try_edit(&mut self, edit: Edit) -> Result<Option<LocalChange>, EditError> {
        self.tick();
        self.doc.edit(&self.ctx, &edit)
    }

    pub fn view(&self) -> OrderView {
        self.doc.view().unwrap()
    }

    pub fn json(&self) -> Json {
        serde_json::to_value(self.view()).unwrap()
    }

    /// The stored quantity counter of a line, before clamping at zero.
    pub fn raw_qty(&self, line: &LineId) -> i64 {
        raw_qty(&self.doc, line)
    }

    /// The value Automerge itself shows first for a line field (the winner
    /// of a register conflict).
    pub fn line_register(&self, line: &LineId, key: &str) -> Json {
        let doc = self.doc.automerge();
        let lines = map(doc, &ROOT, "lines");
        let l = map(doc, &lines, line.as_str());
        match doc.get(&l, key).unwrap() {
            Some((Value::Scalar(s), _)) => scalar(&s),
            other => panic!("{key} is not a scalar: {other:?}"),
        }
    }
}

fn map(
    doc: &possync_model::automerge::Automerge,
    parent: &possync_model::automerge::ObjId,
    key: &str,
) -> possync_model::automerge::ObjId {
    match doc.get(parent, key).unwrap() {
        Some((Value::Object(ObjType::Map), id)) => id,
        other => panic!("{key} is not a map: {other:?}"),
    }
}

fn scalar(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Int(i) => Json::from(*i),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::Str(s) => Json::from(s.to_string()),
        ScalarValue::Null => Json::Null,
        other => Json::from(format!("{other:?}")),
    }
}

pub fn raw_qty(doc: &OrderDoc, line: &LineId) -> i64 {
    let am = doc.automerge();
    let lines = map(am, &ROOT, "lines");
    let l = map(am, &lines, line.as_str());
    match am.get(&l, "qty").unwrap() {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Counter(c) => i64::from(c),
            other => panic!("qty is not a counter: {other:?}"),
        },
        other => panic!("qty missing: {other:?}"),
    }
}

/// Gives `to` every change `from` has, through the validating remote path.
pub fn deliver_all(from: &Terminal, to: &mut Terminal) -> RemoteApplied {
    let changes = from.doc.automerge().get_changes(&[]);
    to.doc.apply_remote(changes).unwrap()
}

/// Exchanges all changes both ways: afterwards both hold the union.
pub fn exchange(a: &mut Terminal, b: &mut Terminal) {
    deliver_all(a, b);
    deliver_all(b, a);
}

/// Asserts that the terminals converged (same heads, same view JSON) and
/// returns the common view.
pub fn assert_converged(terminals: &[&Terminal]) -> OrderView {
    let first = terminals[0];
    for t in &terminals[1..] {
        assert_eq!(first.doc.heads(), t.doc.heads(), "heads of {} and {} differ", first.code, t.code);
        assert_eq!(first.json(), t.json(), "views of {} and {} differ", first.code, t.code);
    }
    first.view()
}

/// A line of `units` × `price` (minor units) of `product`.
pub fn new_line(id: &str, product: &str, units: i64, price: i64) -> NewLine {
    NewLine::new(line_id(id), product, product.to_uppercase(), Quantity::units(units), Money(price))
}

/// A and B share one order (opened by A, id 1) with one line `l1`: 2 × 4.50.
pub fn pair_with_line() -> (Terminal, Terminal, LineId) {
    let (mut a, _) = Terminal::open("A", 0xaa, &order_id(1));
    a.edit(Edit::AddLine(new_line("l1", "coffee", 2, 450)));
    let b = Terminal::join("B", 0xbb, &a);
    (a, b, line_id("l1"))
}
