//! An order document written with raw Automerge in the shape possync's
//! model writes (`possync-model`'s `order_doc.rs`): the same root and line
//! keys, a counter for the quantity, `created`/`changed` stamp maps updated
//! in place, an author message and a time on each commit. The floor's swarms
//! and the samod peers edit these, so both move changes and documents of
//! about the size possync does, and make the same Automerge calls per edit;
//! what they skip is the model's validation and view, which possync pays on
//! both sides of every edit (see `docs/PERFORMANCE.md`).

use anyhow::Result;
use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

/// Who and when, as a possync `EditContext` stamps it.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub terminal: String,
    pub at_ms: i64,
}

impl Stamp {
    pub fn now(terminal: &str) -> Self {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Stamp { terminal: terminal.to_owned(), at_ms }
    }
}

/// One milli-unit quantity step: possync's `Quantity::units(1)`.
pub const UNIT: i64 = 1000;

/// Opens an order in one change, as `OrderDoc::open` does.
pub fn open(doc: &mut Automerge, id: &str, stamp: &Stamp) -> Result<()> {
    let mut tx = doc.transaction();
    tx.put(ROOT, "schema", 1i64)?;
    tx.put(ROOT, "id", id)?;
    tx.put(ROOT, "name", format!("{}-0001", stamp.terminal))?;
    put_stamp(&mut tx, &ROOT, "created", stamp)?;
    put_stamp(&mut tx, &ROOT, "changed", stamp)?;
    for key in ["customer", "pricelist", "fiscal_position", "table", "floor"] {
        tx.put(ROOT, key, ScalarValue::Null)?;
    }
    tx.put(ROOT, "guests", 0i64)?;
    tx.put(ROOT, "note", "")?;
    for key in ["lines", "payments", "ext"] {
        tx.put_object(ROOT, key, ObjType::Map)?;
    }
    commit(tx, stamp);
    Ok(())
}

/// Adds a line of one espresso, as `Edit::AddLine` does.
pub fn add_line(doc: &mut Automerge, line: &str, stamp: &Stamp) -> Result<()> {
    let mut tx = doc.transaction();
    let lines = map(&tx, &ROOT, "lines")?;
    let o = tx.put_object(&lines, line, ObjType::Map)?;
    tx.put(&o, "id", line)?;
    tx.put(&o, "product", "espresso")?;
    tx.put(&o, "display_name", "Espresso")?;
    tx.put(&o, "qty", ScalarValue::counter(UNIT))?;
    tx.put(&o, "unit_price", 250i64)?;
    tx.put(&o, "discount", 0i64)?;
    tx.put(&o, "note", "")?;
    tx.put(&o, "kitchen_qty", 0i64)?;
    put_stamp(&mut tx, &o, "created", stamp)?;
    put_stamp(&mut tx, &o, "changed", stamp)?;
    tx.put_object(&o, "ext", ObjType::Map)?;
    put_stamp(&mut tx, &ROOT, "changed", stamp)?;
    commit(tx, stamp);
    Ok(())
}

/// Adds `delta` milli-units to a line's quantity counter and moves the
/// line's and the order's `changed` stamps, as `Edit::ChangeQty` does.
pub fn change_qty(doc: &mut Automerge, line: &str, delta: i64, stamp: &Stamp) -> Result<()> {
    let mut tx = doc.transaction();
    let lines = map(&tx, &ROOT, "lines")?;
    let o = map(&tx, &lines, line)?;
    tx.increment(&o, "qty", delta)?;
    put_stamp(&mut tx, &o, "changed", stamp)?;
    put_stamp(&mut tx, &ROOT, "changed", stamp)?;
    commit(tx, stamp);
    Ok(())
}

/// The line's quantity in milli-units, if the line is there.
pub fn qty(doc: &Automerge, line: &str) -> Result<Option<i64>> {
    let Some((Value::Object(ObjType::Map), lines)) = doc.get(ROOT, "lines")? else { return Ok(None) };
    let Some((Value::Object(ObjType::Map), o)) = doc.get(&lines, line)? else { return Ok(None) };
    Ok(match doc.get(&o, "qty")? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Counter(c) => Some(i64::from(c)),
            _ => None,
        },
        _ => None,
    })
}

/// An order of `changes` changes (at least 2): open, up to 5 lines, then
/// quantity changes round the lines; the shape of the possync catch-up
/// fixture (`common::build_order`). Returns the line ids.
pub fn build(doc: &mut Automerge, id: &str, changes: usize, stamp: &Stamp) -> Result<Vec<String>> {
    open(doc, id, stamp)?;
    let count = 5.min(changes.saturating_sub(1)).max(1);
    let lines: Vec<String> = (1..=count).map(|l| format!("line-{l}")).collect();
    for line in &lines {
        add_line(doc, line, stamp)?;
    }
    for k in 0..changes.saturating_sub(1 + count) {
        change_qty(doc, &lines[k % count], UNIT, stamp)?;
    }
    Ok(lines)
}

fn map(tx: &Transaction<'_>, parent: &ObjId, key: &str) -> Result<ObjId> {
    match tx.get(parent, key)? {
        Some((Value::Object(ObjType::Map), o)) => Ok(o),
        _ => anyhow::bail!("order has no map at {key}"),
    }
}

/// Writes a stamp map, or updates only the fields that differ in an
/// existing one (most edits only move `at`), as the model does.
fn put_stamp(tx: &mut Transaction<'_>, parent: &ObjId, key: &str, stamp: &Stamp) -> Result<()> {
    let m = match tx.get(parent, key)? {
        Some((Value::Object(ObjType::Map), m)) => m,
        _ => tx.put_object(parent, key, ObjType::Map)?,
    };
    let fields = [
        ("user", ScalarValue::Str("bench".into())),
        ("terminal", ScalarValue::Str(stamp.terminal.as_str().into())),
        ("at", ScalarValue::Int(stamp.at_ms)),
    ];
    for (k, v) in fields {
        let same = matches!(tx.get(&m, k)?, Some((Value::Scalar(old), _)) if *old == v);
        if !same {
            tx.put(&m, k, v)?;
        }
    }
    Ok(())
}

/// Commits with the author as the message and the time in seconds, as the
/// model's commits carry them.
fn commit(tx: Transaction<'_>, stamp: &Stamp) {
    let message = format!(r#"{{"user":"bench","terminal":"{}"}}"#, stamp.terminal);
    tx.commit_with(CommitOptions::default().with_time(stamp.at_ms / 1000).with_message(message));
}
