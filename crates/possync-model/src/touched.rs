//! Which lines of an order a set of changes wrote to.
//!
//! Reading and validating a whole order costs several times what Automerge
//! spends applying a change, and most changes touch one line. After a change
//! the view is therefore re-read incrementally: the order's own fields,
//! payments and closing records always (they are few), lines only where a
//! change wrote (see [`crate::view::OrderView::read_after`]). This module
//! finds those lines from the changes' operations: an operation on the lines
//! map names its line by key, an operation inside a line (or inside one of
//! its stamps or extension maps) names it by the object's path.
//!
//! Anything it cannot place with certainty answers [`Touched::Everything`],
//! and the whole order is read as before.

use std::collections::BTreeSet;

use automerge::legacy::{Key, ObjectId};
use automerge::{Automerge, Change, ObjId, Prop, ReadDoc};

use crate::schema::{K_LINES, MAX_EXT_DEPTH};

/// What the changes wrote to, as far as the view is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Touched {
    /// Re-read every line.
    Everything,
    /// Re-read these lines (by key); every other line is as it was.
    Lines(BTreeSet<String>),
}

/// More lines than this in one batch of changes: reading them one by one
/// saves nothing over a whole read.
const MAX_TRACKED_LINES: usize = 64;

/// The lines that `changes`, already applied to `doc`, wrote to.
pub(crate) fn touched_by(doc: &Automerge, changes: &[Change]) -> Touched {
    let mut lines = BTreeSet::new();
    // The objects already placed, so a change of many operations on one line
    // looks its path up once.
    let mut placed: Vec<(ObjectId, Option<String>)> = Vec::new();
    for change in changes {
        for op in change.decode().operations {
            let line = match &op.obj {
                ObjectId::Root => match &op.key {
                    // Replacing the lines map itself: everything is new.
                    Key::Map(key) if key.as_str() == K_LINES => return Touched::Everything,
                    _ => None,
                },
                obj => match placed.iter().find(|(o, _)| o == obj) {
                    Some((_, line)) => line.clone(),
                    None => {
                        let Some(place) = place(doc, obj, &op.key) else { return Touched::Everything };
                        placed.push((obj.clone(), place.clone()));
                        place
                    }
                },
            };
            if let Some(line) = line {
                lines.insert(line);
                if lines.len() > MAX_TRACKED_LINES {
                    return Touched::Everything;
                }
            }
        }
    }
    Touched::Lines(lines)
}

/// The line an operation on `obj` (with `key`) wrote to: `Some(None)` when it
/// is outside the lines, `None` when it cannot be told.
fn place(doc: &Automerge, obj: &ObjectId, key: &Key) -> Option<Option<String>> {
    let ObjectId::Id(op) = obj else { return Some(None) };
    // The index is only a hint; Automerge finds the actor by its id.
    let id = ObjId::Id(op.0, op.1.clone(), 0);
    // Walked with a bound: a crafted change can give an object a chain of
    // parents that never reaches the root, and `Parents::path()` then grows
    // without end (one 392-byte change took gigabytes; found by the
    // `change_validation` fuzz target). A chain longer than the schema
    // allows (an extension value nests at most MAX_EXT_DEPTH levels under a
    // line's ext map) cannot be placed.
    let mut path = Vec::new();
    for parent in doc.parents(&id).ok()? {
        if path.len() > MAX_EXT_DEPTH + 4 {
            return None;
        }
        path.push((parent.obj, parent.prop));
    }
    path.reverse();
    let root_key = match path.first() {
        Some((_, Prop::Map(k))) => k.as_str(),
        _ => return None,
    };
    if root_key != K_LINES {
        return Some(None);
    }
    match (path.get(1), key) {
        // Inside a line, or deeper (its stamps, its extension map).
        (Some((_, Prop::Map(line))), _) => Some(Some(line.clone())),
        // On the lines map itself: the key is the line.
        (None, Key::Map(line)) => Some(Some(line.to_string())),
        _ => None,
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
        NewLine {
            id: LineId::from_random(u128::from(n)),
            product: "tea".into(),
            display_name: "Tea".into(),
            qty: Quantity::units(1),
            unit_price: Money(200),
            discount: Default::default(),
            note: String::new(),
            ext: Default::default(),
        }
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

    fn lines(ids: &[LineId]) -> Touched {
        Touched::Lines(ids.iter().map(|l| l.as_str().to_owned()).collect())
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
    fn order_fields_touch_no_line() {
        let mut doc = order_with_lines(2);
        assert_eq!(touched_by_edit(&mut doc, Edit::SetNote { note: "window".into() }), lines(&[]));
        assert_eq!(touched_by_edit(&mut doc, Edit::SetGuests { guests: 3 }), lines(&[]));
    }

    #[test]
    fn sending_to_the_kitchen_touches_every_line_it_sends() {
        let mut doc = order_with_lines(3);
        let all: Vec<LineId> = (0..3).map(|i| line(i).id).collect();
        assert_eq!(touched_by_edit(&mut doc, Edit::SendToKitchen { lines: None }), lines(&all));
    }
}
