//! A terminal's simulated disk: what the engine asked to persist and the
//! commit pipeline made durable, surviving crashes (see `disk.rs`).

use std::collections::BTreeMap;

use possync_engine::{StoreOp, StoredOrder};
use possync_model::OrderId;

#[derive(Debug, Default, Clone)]
pub struct SimStore {
    pub next_sequence: u64,
    pub orders: BTreeMap<OrderId, StoredRecord>,
    pub bytes_written: u64,
    /// The catalogue document, as last persisted.
    pub catalogue: Option<Vec<u8>>,
    /// Orders deleted after their retention: acknowledged changes of
    /// theirs are rightly gone.
    pub deleted: std::collections::BTreeSet<OrderId>,
}

#[derive(Debug, Default, Clone)]
pub struct StoredRecord {
    pub snapshot: Option<Vec<u8>>,
    pub changes: Vec<Vec<u8>>,
    pub archived: bool,
    /// When it was archived (wall-clock ms), as the engine said.
    pub archived_at_ms: Option<i64>,
}

impl SimStore {
    pub fn apply(&mut self, batch: Vec<StoreOp>) {
        for op in batch {
            match op {
                StoreOp::Append { order, changes } => {
                    self.deleted.remove(&order);
                    self.bytes_written += changes.iter().map(|c| c.len() as u64).sum::<u64>();
                    self.orders.entry(order).or_default().changes.extend(changes);
                }
                StoreOp::Snapshot { order, bytes } => {
                    self.deleted.remove(&order);
                    self.bytes_written += bytes.len() as u64;
                    let rec = self.orders.entry(order).or_default();
                    rec.snapshot = Some(bytes);
                    rec.changes.clear();
                }
                StoreOp::Archive { order, at_ms } => {
                    let rec = self.orders.entry(order).or_default();
                    rec.archived = true;
                    rec.archived_at_ms = at_ms;
                }
                StoreOp::Unarchive { order } => self.orders.entry(order).or_default().archived = false,
                StoreOp::Delete { order } => {
                    self.orders.remove(&order);
                    self.deleted.insert(order);
                }
                StoreOp::NextSequence(n) => self.next_sequence = self.next_sequence.max(n),
                StoreOp::Catalogue { bytes } => {
                    self.bytes_written += bytes.len() as u64;
                    self.catalogue = Some(bytes);
                }
            }
        }
    }

    pub fn stored_orders(&self) -> Vec<StoredOrder> {
        self.orders
            .iter()
            .map(|(id, r)| StoredOrder {
                id: id.clone(),
                snapshot: r.snapshot.clone(),
                changes: r.changes.clone(),
                archived_at_ms: r.archived_at_ms.filter(|_| r.archived),
            })
            .collect()
    }
}
