//! What a set of changes wrote to in an order: which of the order's own
//! fields, which lines.
//!
//! Reading and validating a whole order costs several times what Automerge
//! spends applying a change, and most changes touch one line (and the
//! order's `changed` stamp). After a change the view is therefore re-read
//! incrementally (see [`crate::view::OrderView::read_after`]): the order's
//! own fields only when a change wrote one of them other than `changed`,
//! lines only where a change wrote. This module finds both from the
//! changes' operations: an operation on the order's root map names its
//! field by key, an operation inside an object names the root field it sits
//! under by the object's path, and under `lines`, the line.
//!
//! Anything it cannot place with certainty answers [`Touched::Everything`],
//! and the whole order is read as before.

use std::collections::BTreeSet;

use automerge::legacy::{Key, ObjectId};
use automerge::{Automerge, Change, ObjId, ObjType, Prop, ROOT, ReadDoc, Value};

use crate::schema::{K_LINES, MAX_EXT_DEPTH};

/// What the changes wrote to, as far as the view is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Touched {
    /// Re-read the whole order.
    Everything,
    /// Only these: every other field and line is as it was.
    Parts {
        /// The order's own fields (root keys other than `lines`) written,
        /// directly or inside them (a stamp's `at`, a payment).
        fields: BTreeSet<String>,
        /// The lines (by key) written, directly or inside them.
        lines: BTreeSet<String>,
    },
}

/// Where one operation wrote.
#[derive(Debug, Clone)]
enum Place {
    Field(String),
    Line(String),
}

/// Where an object sits in the order: what an operation inside it writes
/// to, whatever its key (an object never moves: Automerge places it once,
/// by the operation that creates it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum ObjPlace {
    /// Under this root field (a stamp, a payment, the `closed` map...).
    Field(String),
    /// In this line, or deeper (its stamps, its extension map).
    Line(String),
    /// The lines map itself: an operation's key names the line.
    LinesMap,
}

/// More lines than this in one batch of changes: reading them one by one
/// saves nothing over a whole read.
const MAX_TRACKED_LINES: usize = 64;

/// What `changes`, already applied to `doc`, wrote to.
pub(crate) fn touched_by(doc: &Automerge, changes: &[Change]) -> Touched {
    let (mut fields, mut lines) = (BTreeSet::new(), BTreeSet::new());
    let mut placer = Placer::default();
    for change in changes {
        for op in change.decode().operations {
            let obj_place = match &op.obj {
                ObjectId::Root => None,
                ObjectId::Id(id) => {
                    // The index is only a hint; Automerge finds the actor by its id.
                    let Some(place) = placer.place(doc, ObjId::Id(id.0, id.1.clone(), 0)) else {
                        return Touched::Everything;
                    };
                    Some(place)
                }
            };
            let place = match (obj_place, &op.key) {
                // Replacing the lines map itself: everything is new.
                (None, Key::Map(key)) if key.as_str() == K_LINES => return Touched::Everything,
                (None, Key::Map(key)) => Place::Field(key.to_string()),
                (Some(ObjPlace::Field(key)), _) => Place::Field(key),
                (Some(ObjPlace::Line(line)), _) => Place::Line(line),
                (Some(ObjPlace::LinesMap), Key::Map(line)) => Place::Line(line.to_string()),
                (None | Some(ObjPlace::LinesMap), Key::Seq(_)) => return Touched::Everything,
            };
            match place {
                Place::Field(key) => {
                    fields.insert(key);
                }
                Place::Line(line) => {
                    lines.insert(line);
                    if lines.len() > MAX_TRACKED_LINES {
                        return Touched::Everything;
                    }
                }
            }
        }
    }
    Touched::Parts { fields, lines }
}

/// The objects placed so far in one call of [`touched_by`], so that a
/// batch of many operations on one object walks its parents once, and a
/// walk stops at the first placed ancestor. Each step of a walk is a search
/// of the document's operations: with the lines map placed first, a line's
/// walk is one step instead of two, its stamp's two instead of three.
/// (Kept across calls, the places saved ~10 µs per remote change but cost
/// ~1 KiB in every order.)
#[derive(Default)]
struct Placer {
    placed: Vec<(ObjId, ObjPlace)>,
    /// Whether the lines map was looked up: at the first walk, as a change
    /// of the order's own fields alone needs none.
    lines_map_looked_up: bool,
}

impl Placer {
    /// Where `obj` sits in the order; `None` when it cannot be told.
    fn place(&mut self, doc: &Automerge, obj: ObjId) -> Option<ObjPlace> {
        if let Some((_, place)) = self.placed.iter().find(|(o, _)| *o == obj) {
            return Some(place.clone());
        }
        if !self.lines_map_looked_up {
            self.lines_map_looked_up = true;
            if let Ok(Some((Value::Object(ObjType::Map), lines_map))) = doc.get(ROOT, K_LINES) {
                self.placed.push((lines_map, ObjPlace::LinesMap));
            }
        }
        let place = place_of(doc, &obj, &self.placed)?;
        self.placed.push((obj, place.clone()));
        Some(place)
    }
}

/// Where `obj` sits in the order; `None` when it cannot be told. The walk
/// up its parents stops at the first ancestor in `placed`.
fn place_of(doc: &Automerge, obj: &ObjId, placed: &[(ObjId, ObjPlace)]) -> Option<ObjPlace> {
    // Walked with a bound: a crafted change can give an object a chain of
    // parents that never reaches the root, and `Parents::path()` then grows
    // without end (one 392-byte change took gigabytes; found by the
    // `change_validation` fuzz target). A chain longer than the schema
    // allows (an extension value nests at most MAX_EXT_DEPTH levels under a
    // line's ext map) cannot be placed.
    let mut path = Vec::new();
    for parent in doc.parents(obj).ok()? {
        if path.len() > MAX_EXT_DEPTH + 4 {
            return None;
        }
        if let Some((_, known)) = placed.iter().find(|(o, _)| *o == parent.obj) {
            return match (known, parent.prop) {
                (ObjPlace::LinesMap, Prop::Map(line)) => Some(ObjPlace::Line(line)),
                (ObjPlace::LinesMap, Prop::Seq(_)) => None,
                (known, _) => Some(known.clone()),
            };
        }
        path.push((parent.obj, parent.prop));
    }
    path.reverse();
    let root_key = match path.first() {
        Some((root, Prop::Map(k))) if *root == automerge::ROOT => k.as_str(),
        _ => return None,
    };
    if root_key != K_LINES {
        return Some(ObjPlace::Field(root_key.to_owned()));
    }
    match path.get(1) {
        Some((_, Prop::Map(line))) => Some(ObjPlace::Line(line.clone())),
        Some(_) => None,
        None => Some(ObjPlace::LinesMap),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::{ActorId, Change};

    use super::*;
    use crate::{Edit, EditContext, LineId, Money, NewLine, NewOrder, OrderDoc, OrderId, OrderName};
    use crate::{Quantity, TerminalId};

    fn ctx() -> EditContext {
        EditContext::new("ana", TerminalId::parse("A").unwrap(), 1_767_225_600_000)
    }

    fn line(n: u8) -> NewLine {
        NewLine::new(LineId::from_random(u128::from(n)), "tea", "Tea", Quantity::units(1), Money(200))
    }

    fn order_with_lines(n: u8) -> OrderDoc {
        let id = OrderId::from_random(1);
        let new = NewOrder::new(id, OrderName::compose(&TerminalId::parse("A").unwrap(), 1));
        let (mut doc, _) = OrderDoc::open(ActorId::from([1u8; 20]), &ctx(), &new).unwrap();
        for i in 0..n {
            doc.edit(&ctx(), &Edit::AddLine(line(i))).unwrap();
        }
        doc
    }

    fn touched_by_edit(doc: &mut OrderDoc, edit: Edit) -> Touched {
        let change = doc.edit(&ctx(), &edit).unwrap().unwrap();
        let change = Change::from_bytes(change.bytes).unwrap();
        touched_by(doc.automerge(), &[change])
    }

    /// The order's `fields` and the lines `ids`. (These edits all happen at
    /// the same instant, so they leave the `changed` stamps as they were.)
    fn parts(fields: &[&str], ids: &[LineId]) -> Touched {
        let fields = fields.iter().map(|f| (*f).to_owned()).collect();
        Touched::Parts { fields, lines: ids.iter().map(|l| l.as_str().to_owned()).collect() }
    }

    fn lines(ids: &[LineId]) -> Touched {
        parts(&[], ids)
    }

    #[test]
    fn an_edit_of_one_line_touches_that_line_only() {
        let mut doc = order_with_lines(3);
        let l1 = line(1).id;
        assert_eq!(
            touched_by_edit(&mut doc, Edit::ChangeQty { line: l1.clone(), delta: Quantity::units(2) }),
            lines(std::slice::from_ref(&l1))
        );
        assert_eq!(
            touched_by_edit(&mut doc, Edit::SetLineNote { line: l1.clone(), note: "hot".into() }),
            lines(&[l1])
        );
        assert_eq!(touched_by_edit(&mut doc, Edit::AddLine(line(7))), lines(&[line(7).id]));
        assert_eq!(touched_by_edit(&mut doc, Edit::RemoveLine { line: line(2).id }), lines(&[line(2).id]));
    }

    #[test]
    fn a_later_edit_moves_the_orders_changed_stamp() {
        let mut doc = order_with_lines(2);
        let later = EditContext::new("ana", TerminalId::parse("A").unwrap(), 1_767_225_660_000);
        let edit = Edit::ChangeQty { line: line(1).id, delta: Quantity::units(1) };
        let change = Change::from_bytes(doc.edit(&later, &edit).unwrap().unwrap().bytes).unwrap();
        assert_eq!(touched_by(doc.automerge(), &[change]), parts(&["changed"], &[line(1).id]));
    }

    #[test]
    fn operations_on_the_lines_map_touch_the_line_each_names() {
        use automerge::transaction::Transactable;
        let doc = order_with_lines(2);
        let mut am = doc.automerge().clone();
        let (_, lines_map) = am.get(automerge::ROOT, K_LINES).unwrap().unwrap();
        let mut tx = am.transaction();
        // One change that writes two lines through the lines map: the
        // second must not be taken for the first.
        tx.put_object(&lines_map, line(8).id.as_str(), automerge::ObjType::Map).unwrap();
        tx.put_object(&lines_map, line(1).id.as_str(), automerge::ObjType::Map).unwrap();
        tx.commit();
        let change = am.get_last_local_change().unwrap().clone();
        assert_eq!(touched_by(&am, &[change]), lines(&[line(1).id, line(8).id]));
    }

    /// A value nested deep in a line's extension map is placed in its line,
    /// whichever placed object its walk reaches first: in one change that
    /// also writes the order's own extension map, and in a later one.
    #[test]
    fn a_nested_extension_value_touches_its_line() {
        let mut doc = order_with_lines(2);
        let nested: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"kitchen": {"course": {"number": 2, "fire": true}}}"#).unwrap();
        let l1 = line(1).id;
        assert_eq!(
            touched_by_edit(&mut doc, Edit::SetLineExt { line: l1.clone(), fields: nested.clone() }),
            lines(std::slice::from_ref(&l1))
        );
        let deeper: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"kitchen": {"course": {"number": 3, "fire": false}}}"#).unwrap();
        assert_eq!(
            touched_by_edit(&mut doc, Edit::SetLineExt { line: l1.clone(), fields: deeper }),
            lines(&[l1])
        );
        assert_eq!(touched_by_edit(&mut doc, Edit::SetExt { fields: nested }), parts(&["ext"], &[]));
    }

    #[test]
    fn order_fields_touch_no_line() {
        let mut doc = order_with_lines(2);
        assert_eq!(touched_by_edit(&mut doc, Edit::SetNote { note: "window".into() }), parts(&["note"], &[]));
        assert_eq!(touched_by_edit(&mut doc, Edit::SetGuests { guests: 3 }), parts(&["guests"], &[]));
    }

    #[test]
    fn sending_to_the_kitchen_touches_every_line_it_sends() {
        let mut doc = order_with_lines(3);
        let all: Vec<LineId> = (0..3).map(|i| line(i).id).collect();
        assert_eq!(touched_by_edit(&mut doc, Edit::SendToKitchen { lines: None }), lines(&all));
    }
}
