//! S17 at the model level: a terminal of a newer release writes fields this
//! release does not know (a new order field, a new line field, a higher
//! schema number). This release accepts the order, edits it, and every field
//! it does not know survives its edits, in both directions.

#![allow(clippy::unwrap_used)]

use possync_model::automerge::transaction::Transactable;
use possync_model::automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use possync_model::{
    Edit, EditContext, LineId, Money, NewLine, NewOrder, OrderDoc, OrderId, OrderName, Quantity, TerminalId,
};

fn ctx(t: &str, at: i64) -> EditContext {
    EditContext::new("ana", TerminalId::parse(t).unwrap(), at)
}

#[test]
fn fields_from_a_newer_release_survive_this_releases_edits() {
    let id = OrderId::from_random(17);
    let line = LineId::from_random(1);
    // The newer terminal, played by raw Automerge on top of an order it opened.
    let (mut opened, _) = OrderDoc::open(
        ActorId::from([0xee; 16]),
        &ctx("NEW", 1),
        &NewOrder::new(id.clone(), OrderName::compose(&TerminalId::parse("NEW").unwrap(), 1)),
    )
    .unwrap();
    opened
        .edit(
            &ctx("NEW", 2),
            &Edit::AddLine(NewLine::new(line.clone(), "soup", "Soup", Quantity::units(1), Money(600))),
        )
        .unwrap();
    let mut newer = Automerge::load(&opened.save()).unwrap().with_actor(ActorId::from([0xee; 16]));
    {
        let mut tx = newer.transaction();
        tx.put(ROOT, "schema", 2i64).unwrap();
        tx.put(ROOT, "tip", 250i64).unwrap();
        let seats = tx.put_object(ROOT, "seating", ObjType::Map).unwrap();
        tx.put(&seats, "seat", "window").unwrap();
        let lines = match tx.get(ROOT, "lines").unwrap() {
            Some((Value::Object(ObjType::Map), o)) => o,
            _ => panic!("lines"),
        };
        let l = match tx.get(&lines, line.as_str()).unwrap() {
            Some((Value::Object(ObjType::Map), o)) => o,
            _ => panic!("line"),
        };
        tx.put(&l, "allergens", "celery").unwrap();
        tx.commit();
    }

    // This release receives it all: the order validates, schema 2 and all.
    let mut ours = OrderDoc::empty(id.clone(), ActorId::from([0x11; 16]));
    ours.apply_remote(newer.get_changes(&[])).unwrap();
    let view = ours.view().unwrap();
    assert_eq!(view.schema, 2);
    assert_eq!(view.line(&line).unwrap().qty, Quantity::units(1));

    // It edits the order, the line and the fields around the unknown ones.
    for edit in [
        Edit::ChangeQty { line: line.clone(), delta: Quantity::units(2) },
        Edit::SetLineNote { line: line.clone(), note: "hot".into() },
        Edit::SetNote { note: "birthday".into() },
        Edit::SetTable { table: Some("T9".into()), floor: None },
    ] {
        ours.edit(&ctx("OLD", 3), &edit).unwrap();
    }

    // Back on the newer terminal: its fields are intact, ours arrived.
    newer.apply_changes(ours.automerge().get_changes(&newer.get_heads())).unwrap();
    let get = |obj: &possync_model::automerge::ObjId, key: &str| -> Option<ScalarValue> {
        match newer.get(obj, key).unwrap() {
            Some((Value::Scalar(s), _)) => Some(s.into_owned()),
            _ => None,
        }
    };
    assert_eq!(get(&ROOT, "tip"), Some(ScalarValue::Int(250)));
    assert_eq!(get(&ROOT, "schema"), Some(ScalarValue::Int(2)));
    let seats = match newer.get(ROOT, "seating").unwrap() {
        Some((Value::Object(ObjType::Map), o)) => o,
        _ => panic!("seating lost"),
    };
    assert_eq!(get(&seats, "seat"), Some(ScalarValue::Str("window".into())));
    let lines = match newer.get(ROOT, "lines").unwrap() {
        Some((Value::Object(ObjType::Map), o)) => o,
        _ => panic!("lines"),
    };
    let l = match newer.get(&lines, line.as_str()).unwrap() {
        Some((Value::Object(ObjType::Map), o)) => o,
        _ => panic!("line"),
    };
    assert_eq!(get(&l, "allergens"), Some(ScalarValue::Str("celery".into())));
    assert_eq!(get(&l, "note"), Some(ScalarValue::Str("hot".into())));
    assert_eq!(get(&ROOT, "table"), Some(ScalarValue::Str("T9".into())));
    // And both hold the same document.
    let (mut a, mut b) = (newer.get_heads(), ours.heads());
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

/// Automerge JS writes `0` and negative numbers inside an object literal as
/// float64 (`{discount: 0, unit_price: -300}`). An integer field holding a
/// whole-number float reads as that integer, so a plain JS terminal's line
/// is valid; a fractional float is still refused, and int data reads as
/// before.
#[test]
fn whole_number_floats_read_as_integers_and_fractions_are_refused() {
    let id = OrderId::from_random(18);
    let (opened, _) = OrderDoc::open(
        ActorId::from([0x5e; 16]),
        &ctx("JS", 1),
        &NewOrder::new(id.clone(), OrderName::compose(&TerminalId::parse("JS").unwrap(), 1)),
    )
    .unwrap();
    let write_line = |line: &str, discount: f64| {
        let mut js = Automerge::load(&opened.save()).unwrap().with_actor(ActorId::from([0x5e; 16]));
        let mut tx = js.transaction();
        let lines = match tx.get(ROOT, "lines").unwrap() {
            Some((Value::Object(ObjType::Map), o)) => o,
            _ => panic!("lines"),
        };
        let l = tx.put_object(&lines, line, ObjType::Map).unwrap();
        tx.put(&l, "id", line).unwrap();
        tx.put(&l, "product", "refund").unwrap();
        tx.put(&l, "display_name", "Refund").unwrap();
        tx.put(&l, "qty", ScalarValue::counter(1000)).unwrap();
        tx.put(&l, "unit_price", ScalarValue::F64(-300.0)).unwrap();
        tx.put(&l, "discount", ScalarValue::F64(discount)).unwrap();
        tx.put(&l, "note", "").unwrap();
        tx.put(&l, "kitchen_qty", ScalarValue::F64(0.0)).unwrap();
        for stamp in ["created", "changed"] {
            let s = tx.put_object(&l, stamp, ObjType::Map).unwrap();
            tx.put(&s, "user", "ana").unwrap();
            tx.put(&s, "terminal", "JS").unwrap();
            tx.put(&s, "at", ScalarValue::F64(2.0)).unwrap();
        }
        tx.put_object(&l, "ext", ObjType::Map).unwrap();
        tx.commit();
        js.get_changes(&[])
    };

    let mut ours = OrderDoc::empty(id.clone(), ActorId::from([0x11; 16]));
    ours.apply_remote(write_line("l1", 0.0)).unwrap();
    let view = ours.view().unwrap();
    let line = view.line(&LineId::parse("l1").unwrap()).unwrap();
    assert_eq!((line.unit_price, line.discount.0, line.kitchen_qty), (Money(-300), 0, Quantity(0)));
    assert_eq!(view.totals.total, Money(-300));
    // Setting the value it already reads as changes nothing.
    let unchanged = Edit::SetDiscount { line: line.id.clone(), discount: possync_model::Discount(0) };
    assert!(ours.edit(&ctx("OLD", 3), &unchanged).unwrap().is_none());
    // This release edits over it as over any int.
    ours.edit(
        &ctx("OLD", 3),
        &Edit::SetDiscount { line: line.id.clone(), discount: possync_model::Discount(1000) },
    )
    .unwrap();
    assert_eq!(ours.view().unwrap().totals.total, Money(-270));

    let mut other = OrderDoc::empty(id, ActorId::from([0x12; 16]));
    let err = other.apply_remote(write_line("l2", 0.5)).unwrap_err();
    assert!(err.to_string().contains("float 0.5"), "{err}");
    assert!(other.view().is_err(), "nothing of the refused batch is visible");
}
