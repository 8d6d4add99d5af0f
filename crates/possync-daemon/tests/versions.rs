//! S17 at process level: mixed versions on one floor. There is no earlier
//! release of possync yet, so the other side is played by data: an order as
//! a newer release writes it (schema 2, an order field, a nested map and a
//! line field this release does not know) is put into one terminal's data
//! directory. Two real `possync run` processes of this release then share
//! and edit it over the network; after both stop, each one's stored document
//! still holds every unknown field, beside this release's edits. This is the
//! position of the older terminal on a mixed floor: it must carry what it
//! does not understand.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Terminal, call, eventually, free_port, keygen, temp_dir};
use possync::engine::StoreOp;
use possync::model::automerge::transaction::Transactable;
use possync::model::automerge::{ActorId, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use possync::model::{
    Edit, EditContext, LineId, Money, NewLine, NewOrder, OrderDoc, OrderId, OrderName, Quantity, TerminalId,
};
use possync_store::Store;
use serde_json::json;

/// An order opened by terminal NEW of a newer release, with fields this
/// release does not know.
fn order_from_a_newer_release(id: &OrderId, line: &LineId) -> Vec<u8> {
    let terminal = TerminalId::parse("NEW").unwrap();
    let ctx = EditContext::new("nina", terminal.clone(), 1_767_225_600_000);
    let actor = ActorId::from([0xee; 20]);
    let (mut opened, _) =
        OrderDoc::open(actor.clone(), &ctx, &NewOrder::new(id.clone(), OrderName::compose(&terminal, 1)))
            .unwrap();
    opened
        .edit(
            &ctx,
            &Edit::AddLine(NewLine::new(line.clone(), "soup", "Soup", Quantity::units(1), Money(600))),
        )
        .unwrap();
    let mut newer = Automerge::load(&opened.save()).unwrap().with_actor(actor);
    let mut tx = newer.transaction();
    tx.put(ROOT, "schema", 2i64).unwrap();
    tx.put(ROOT, "tip", 250i64).unwrap();
    let seating = tx.put_object(ROOT, "seating", ObjType::Map).unwrap();
    tx.put(&seating, "seat", "window").unwrap();
    let l = map(&tx, &map(&tx, &ROOT, "lines"), line.as_str());
    tx.put(&l, "allergens", "celery").unwrap();
    tx.commit();
    newer.save()
}

fn map(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> ObjId {
    match doc.get(obj, key).unwrap() {
        Some((Value::Object(ObjType::Map), o)) => o,
        other => panic!("{key} is not a map: {other:?}"),
    }
}

fn scalar(doc: &Automerge, obj: &ObjId, key: &str) -> Option<ScalarValue> {
    match doc.get(obj, key).unwrap() {
        Some((Value::Scalar(s), _)) => Some(s.into_owned()),
        _ => None,
    }
}

/// The order as a stopped terminal stored it: snapshot plus change log.
fn stored(data_dir: &Path, id: &OrderId) -> Automerge {
    let store = Store::open(data_dir).unwrap();
    let loaded = store.load().unwrap();
    let order = loaded.orders.into_iter().find(|o| &o.id == id).expect("order stored");
    let mut doc = match order.snapshot {
        Some(bytes) => Automerge::load(&bytes).unwrap(),
        None => Automerge::new(),
    };
    for change in &order.changes {
        doc.load_incremental(change).unwrap();
    }
    doc
}

#[test]
fn fields_of_a_newer_release_survive_edits_over_the_network() {
    let dir = temp_dir("s17");
    let key = keygen(dir.path());
    let id = OrderId::from_random(17);
    let soup = LineId::from_random(1);
    let (p_new, p_old) = (free_port(), free_port());
    let mut newer = Terminal::new("s17", "NEW", dir.path(), &key, p_new, &[p_old]);
    let mut older = Terminal::new("s17", "OLD", dir.path(), &key, p_old, &[p_new]);
    {
        let mut store = Store::open(&newer.data_dir).unwrap();
        let bytes = order_from_a_newer_release(&id, &soup);
        store.apply(&[vec![StoreOp::Snapshot { order: id.clone(), bytes }]]).unwrap();
    }
    newer.start();
    older.start();

    // The older terminal catches the order up and shows it, schema 2 and all.
    let path = format!("/api/orders/{id}");
    eventually(Duration::from_secs(30), "order caught up", || older.order(id.as_str()).is_some());
    assert_eq!(call(older.api, "GET", &path, None, 200)["schema"], 2);
    // Both edit it, around and on the line that carries an unknown field.
    let edit = |t: &Terminal, edit: serde_json::Value| {
        call(t.api, "POST", &format!("{path}/edit"), Some(&json!({"user": "olga", "edit": edit})), 200)
    };
    edit(&older, json!({"op": "change_qty", "line": soup.as_str(), "delta": 2000}));
    edit(&older, json!({"op": "set_line_note", "line": soup.as_str(), "note": "hot"}));
    edit(&older, json!({"op": "set_note", "note": "birthday"}));
    edit(
        &older,
        json!({"op": "add_line", "id": "bread", "product": "bread", "display_name": "Bread", "qty": 1000, "unit_price": 300}),
    );
    edit(
        &newer,
        json!({"op": "add_line", "id": "wine", "product": "wine", "display_name": "Wine", "qty": 1000, "unit_price": 900}),
    );
    eventually(Duration::from_secs(30), "both hold every edit", || {
        let (a, b) = (newer.order(id.as_str()).unwrap(), older.order(id.as_str()).unwrap());
        a == b && a["lines"].as_array().unwrap().len() == 3 && a["note"] == "birthday"
    });
    newer.stop();
    older.stop();

    for (who, data_dir) in [("NEW", &newer.data_dir), ("OLD", &older.data_dir)] {
        let doc = stored(data_dir, &id);
        let line = map(&doc, &map(&doc, &ROOT, "lines"), soup.as_str());
        assert_eq!(scalar(&doc, &ROOT, "schema"), Some(ScalarValue::Int(2)), "{who}");
        assert_eq!(scalar(&doc, &ROOT, "tip"), Some(ScalarValue::Int(250)), "{who}: unknown order field");
        let seating = map(&doc, &ROOT, "seating");
        assert_eq!(scalar(&doc, &seating, "seat"), Some(ScalarValue::Str("window".into())), "{who}: nested");
        assert_eq!(
            scalar(&doc, &line, "allergens"),
            Some(ScalarValue::Str("celery".into())),
            "{who}: line field"
        );
        assert_eq!(scalar(&doc, &line, "note"), Some(ScalarValue::Str("hot".into())), "{who}: our edit");
        assert_eq!(scalar(&doc, &ROOT, "note"), Some(ScalarValue::Str("birthday".into())), "{who}: our edit");
    }
}
