//! Delivery state: how far a closed order got on its way to each back office
//! ("sink"). It lives in the order document, under the root key `delivery`,
//! so it replicates and merges like the rest of the order, and a terminal
//! that takes over a delivery knows what the previous one did.
//!
//! ```text
//! delivery: { <sink>: { claim:     { terminal, at },          // who is delivering
//!                       attempts:  counter,                   // attempts that failed
//!                       error:     { terminal, at, text },    // the latest failure
//!                       delivered: { terminal, at, ref, digest } } }
//! ```
//!
//! Every record is written whole (`put_object`), so two terminals writing
//! one concurrently leave two complete values, never a mix. Reads keep every
//! concurrent value and merge them deterministically (see [`SinkDelivery`]);
//! that also covers two terminals creating the `delivery` map or a sink's
//! map at once, which Automerge keeps as conflicting objects.
//! The decisions (who delivers when) are the engine's
//! (`possync-engine/src/delivery.rs`); this module only stores and validates.

use std::collections::BTreeMap;

use automerge::transaction::{Transactable, Transaction};
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

use crate::error::{EditError, SchemaError};
use crate::ids::TerminalId;
use crate::read::MapReader;
use crate::schema::{K_AT, K_DIGEST, K_TERMINAL, MAX_TEXT_LEN};

/// Root key of the delivery state.
pub const K_DELIVERY: &str = "delivery";
const K_CLAIM: &str = "claim";
const K_ATTEMPTS: &str = "attempts";
const K_ERROR: &str = "error";
const K_DELIVERED: &str = "delivered";
const K_TEXT: &str = "text";
const K_REF: &str = "ref";

/// Most sinks one order may name: a floor has one or two back offices; the
/// bound protects every terminal from a hostile peer's thousand.
pub const MAX_SINKS: usize = 16;
/// Longest sink name.
pub const MAX_SINK_NAME: usize = 64;
/// Longest remote reference (a database key, an Odoo record id).
pub const MAX_REMOTE_REF: usize = 256;
/// Most concurrent values kept for one record: more only come from a hostile
/// peer (a terminal writes one value per attempt, and each replaces its last).
const MAX_CONCURRENT: usize = 64;

/// A back office's name as configured (`[[sink]] name = "..."`): lower-case
/// ASCII letters, digits, `-` and `_`, 1 to 64 bytes. It keys the order's
/// delivery state on every terminal, so every terminal must name one back
/// office alike.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SinkName(String);

impl SinkName {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > MAX_SINK_NAME {
            return Err(format!("a sink name has 1 to {MAX_SINK_NAME} bytes, not {}", s.len()));
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err(format!("sink name {s:?}: only a-z, 0-9, '-' and '_'"));
        }
        Ok(SinkName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SinkName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        SinkName::parse(&s)
    }
}

impl From<SinkName> for String {
    fn from(s: SinkName) -> String {
        s.0
    }
}

impl std::fmt::Display for SinkName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A terminal's claim on delivering the order to one sink: a lease, renewed
/// by every attempt it records.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct DeliveryClaim {
    pub at_ms: i64,
    pub terminal: TerminalId,
}

/// The latest failed attempt.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct DeliveryFailure {
    pub at_ms: i64,
    pub terminal: TerminalId,
    pub error: String,
}

/// A sink's confirmation: it holds the order as it was when `digest` (the
/// order's content digest) was taken.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct Confirmation {
    pub at_ms: i64,
    pub terminal: TerminalId,
    /// What the sink calls the order (e.g. its row key).
    pub remote_ref: String,
    pub digest: String,
}

/// One sink's delivery state, every concurrent value merged: the latest
/// claim and failure win (by time, then terminal: the same on every
/// terminal), attempts add up, and every confirmation is kept.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct SinkDelivery {
    #[serde(default)]
    pub claim: Option<DeliveryClaim>,
    /// Failed attempts, from every terminal.
    #[serde(default)]
    pub attempts: i64,
    #[serde(default)]
    pub last_error: Option<DeliveryFailure>,
    /// Sorted oldest first. More than one when terminals delivered
    /// concurrently (the sink kept one: the order id is its key) or the
    /// order changed after a delivery (a refund) and went again.
    #[serde(default)]
    pub confirmations: Vec<Confirmation>,
}

impl SinkDelivery {
    /// Whether the sink holds the order with this content digest.
    pub fn confirms(&self, digest: &str) -> bool {
        self.confirmations.iter().any(|c| c.digest == digest)
    }

    /// The latest confirmation.
    pub fn delivered(&self) -> Option<&Confirmation> {
        self.confirmations.last()
    }

    /// When anyone last did something about this delivery (claimed,
    /// failed, confirmed), in wall-clock ms.
    pub fn last_activity_ms(&self) -> Option<i64> {
        let times = [
            self.claim.as_ref().map(|c| c.at_ms),
            self.last_error.as_ref().map(|e| e.at_ms),
            self.confirmations.last().map(|c| c.at_ms),
        ];
        times.into_iter().flatten().max()
    }
}

/// A delivery step to record in the order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DeliveryEdit {
    /// This terminal starts (or renews) delivering.
    Claim,
    /// An attempt failed.
    Failed { error: String },
    /// The sink confirmed the order with this content digest.
    Delivered { remote_ref: String, digest: String },
}

/// Writes one delivery step into the open transaction. `Ok(false)` when it
/// would change nothing (a confirmation already recorded).
pub(crate) fn write(
    tx: &mut Transaction<'_>,
    current: Option<&SinkDelivery>,
    sink: &SinkName,
    terminal: &TerminalId,
    at_ms: i64,
    edit: &DeliveryEdit,
) -> Result<bool, EditError> {
    if let DeliveryEdit::Delivered { digest, .. } = edit
        && current.is_some_and(|d| d.confirms(digest))
    {
        return Ok(false);
    }
    let root = match tx.get(ROOT, K_DELIVERY)? {
        Some((Value::Object(ObjType::Map), o)) => o,
        _ => tx.put_object(ROOT, K_DELIVERY, ObjType::Map)?,
    };
    if current.is_none() && tx.length(&root) >= MAX_SINKS {
        return Err(EditError::Invalid { field: "delivery", detail: format!("at most {MAX_SINKS} sinks") });
    }
    let record = match tx.get(&root, sink.as_str())? {
        Some((Value::Object(ObjType::Map), o)) => o,
        _ => {
            let r = tx.put_object(&root, sink.as_str(), ObjType::Map)?;
            // The counter is made with the record, so that later concurrent
            // failures increment one counter instead of racing to create it.
            tx.put(&r, K_ATTEMPTS, ScalarValue::counter(0))?;
            r
        }
    };
    match edit {
        DeliveryEdit::Claim => {
            let c = tx.put_object(&record, K_CLAIM, ObjType::Map)?;
            put_who(tx, &c, terminal, at_ms)?;
        }
        DeliveryEdit::Failed { error } => {
            // A failure renews the claim too: the failing terminal is alive
            // and retries after its back-off.
            let c = tx.put_object(&record, K_CLAIM, ObjType::Map)?;
            put_who(tx, &c, terminal, at_ms)?;
            match tx.get(&record, K_ATTEMPTS)? {
                Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Counter(_)) => {
                    tx.increment(&record, K_ATTEMPTS, 1)?
                }
                _ => tx.put(&record, K_ATTEMPTS, ScalarValue::counter(1))?,
            }
            let e = tx.put_object(&record, K_ERROR, ObjType::Map)?;
            put_who(tx, &e, terminal, at_ms)?;
            tx.put(&e, K_TEXT, truncate(error, MAX_TEXT_LEN))?;
        }
        DeliveryEdit::Delivered { remote_ref, digest } => {
            if remote_ref.len() > MAX_REMOTE_REF {
                return Err(EditError::Invalid {
                    field: "remote_ref",
                    detail: format!("{} bytes (limit {MAX_REMOTE_REF})", remote_ref.len()),
                });
            }
            let d = tx.put_object(&record, K_DELIVERED, ObjType::Map)?;
            put_who(tx, &d, terminal, at_ms)?;
            tx.put(&d, K_REF, remote_ref.as_str())?;
            tx.put(&d, K_DIGEST, digest.as_str())?;
        }
    }
    Ok(true)
}

fn put_who(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    terminal: &TerminalId,
    at_ms: i64,
) -> Result<(), EditError> {
    tx.put(obj, K_TERMINAL, terminal.as_str())?;
    tx.put(obj, K_AT, at_ms)?;
    Ok(())
}

/// At most `max` bytes, cut on a character boundary: a sink's error text is
/// not ours to refuse.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reads and validates the delivery state (absent: nothing delivered yet,
/// as in every order written before delivery existed).
pub(crate) fn read<D: ReadDoc>(doc: &D) -> Result<BTreeMap<SinkName, SinkDelivery>, SchemaError> {
    let mut sinks: BTreeMap<SinkName, SinkDelivery> = BTreeMap::new();
    for root in all_maps(doc, &ROOT, K_DELIVERY, K_DELIVERY)? {
        let reader = MapReader::new(doc, root.clone(), K_DELIVERY);
        for key in reader.keys() {
            let path = reader.field_path(key);
            let sink = SinkName::parse(key)
                .map_err(|detail| SchemaError::OutOfRange { path: path.clone(), detail })?;
            if !sinks.contains_key(&sink) && sinks.len() >= MAX_SINKS {
                return Err(SchemaError::TooMany { what: "sinks", count: sinks.len() + 1, limit: MAX_SINKS });
            }
            let merged = sinks.entry(sink).or_default();
            for record in all_maps(doc, &root, key, &path)? {
                read_record(doc, record, &path, merged)?;
            }
        }
    }
    Ok(sinks)
}

fn read_record<D: ReadDoc>(
    doc: &D,
    record: ObjId,
    path: &str,
    into: &mut SinkDelivery,
) -> Result<(), SchemaError> {
    let r = MapReader::new(doc, record.clone(), path);
    if r.has(K_ATTEMPTS) {
        let n = r.counter(K_ATTEMPTS)?;
        into.attempts = into.attempts.saturating_add(n.max(0));
    }
    for c in all_maps(doc, &record, K_CLAIM, &r.field_path(K_CLAIM))? {
        let m = MapReader::new(doc, c, r.field_path(K_CLAIM));
        let (terminal, at_ms) = who(&m)?;
        let claim = DeliveryClaim { at_ms, terminal };
        if into.claim.as_ref().is_none_or(|old| claim > *old) {
            into.claim = Some(claim);
        }
    }
    for e in all_maps(doc, &record, K_ERROR, &r.field_path(K_ERROR))? {
        let m = MapReader::new(doc, e, r.field_path(K_ERROR));
        let (terminal, at_ms) = who(&m)?;
        let failure = DeliveryFailure { at_ms, terminal, error: m.str(K_TEXT)? };
        if into.last_error.as_ref().is_none_or(|old| failure > *old) {
            into.last_error = Some(failure);
        }
    }
    for d in all_maps(doc, &record, K_DELIVERED, &r.field_path(K_DELIVERED))? {
        let m = MapReader::new(doc, d, r.field_path(K_DELIVERED));
        let (terminal, at_ms) = who(&m)?;
        let remote_ref = m.str(K_REF)?;
        if remote_ref.len() > MAX_REMOTE_REF {
            return Err(SchemaError::OutOfRange {
                path: m.field_path(K_REF),
                detail: format!("{} bytes (limit {MAX_REMOTE_REF})", remote_ref.len()),
            });
        }
        let c = Confirmation { at_ms, terminal, remote_ref, digest: m.str(K_DIGEST)? };
        if let Err(i) = into.confirmations.binary_search(&c) {
            into.confirmations.insert(i, c);
        }
    }
    Ok(())
}

fn who<D: ReadDoc>(m: &MapReader<'_, D>) -> Result<(TerminalId, i64), SchemaError> {
    let terminal = TerminalId::parse(&m.str(K_TERMINAL)?)
        .map_err(|e| SchemaError::OutOfRange { path: m.field_path(K_TERMINAL), detail: e.to_string() })?;
    Ok((terminal, m.int(K_AT, i64::MIN..=i64::MAX)?))
}

/// Every concurrent value at `key`, each of which must be a map (a null is
/// skipped). Absent: none.
fn all_maps<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str, path: &str) -> Result<Vec<ObjId>, SchemaError> {
    let all = doc.get_all(obj, key).map_err(|e| SchemaError::WrongType {
        path: path.into(),
        expected: "a map",
        found: e.to_string(),
    })?;
    if all.len() > MAX_CONCURRENT {
        return Err(SchemaError::TooMany {
            what: "concurrent values",
            count: all.len(),
            limit: MAX_CONCURRENT,
        });
    }
    let mut maps = Vec::with_capacity(all.len());
    for (value, id) in all {
        match value {
            Value::Object(ObjType::Map) => maps.push(id),
            Value::Scalar(s) if s.is_null() => {}
            other => {
                return Err(SchemaError::WrongType {
                    path: path.into(),
                    expected: "a map",
                    found: crate::read::describe(&other),
                });
            }
        }
    }
    Ok(maps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_names_are_bounded_and_plain() {
        assert!(SinkName::parse("pg-main_1").is_ok());
        assert!(SinkName::parse("").is_err());
        assert!(SinkName::parse("PG").is_err());
        assert!(SinkName::parse("a/b").is_err());
        assert!(SinkName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
