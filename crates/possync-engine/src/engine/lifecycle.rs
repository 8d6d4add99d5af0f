//! An order's life on this terminal: restored from storage, opened, edited
//! and split by local commands, and after every change (local or a peer's)
//! re-derived: open list or archive, summary fingerprint, stored batch,
//! events, and the rename of a name the floor already used.

use std::time::Instant;

use automerge::ChangeHash;
use possync_model::{
    ChangeSummary, Edit, EditContext, LineId, NewOrder, OpenOrder, OrderDoc, OrderId, OrderName, OrderView,
    Quantity, RemoteApplied,
};

use super::{Engine, EngineError, PeerId, RestoreReport, StoredOrder};
use crate::orders::{Entry, Life};
use crate::output::{Event, Origin, Output, Rejection, StoreOp};
use crate::retention::archived_since;
use crate::summary::fingerprint;

/// The user a rename of a duplicate name is recorded under.
const RENAME_USER: &str = "possync-rename";

impl<P: PeerId> Engine<P> {
    /// Loads stored orders. Call once, before any other input but
    /// [`Engine::set_wall_clock`] (which archived orders' retention needs).
    /// A damaged
    /// order is reported and skipped; it does not hide the others.
    pub fn restore(&mut self, now: Instant, orders: Vec<StoredOrder>, next_sequence: u64) -> RestoreReport {
        let mut report = RestoreReport::default();
        if orders.is_empty() {
            self.deliveries.started_empty();
        }
        let mut max_seq = next_sequence.saturating_sub(1);
        for stored in orders {
            match self.load_stored(&stored) {
                Ok(doc) => {
                    let view = doc.view().ok();
                    if let Some(seq) = view.as_ref().and_then(|v| v.name.sequence_of(&self.terminal)) {
                        max_seq = max_seq.max(seq);
                    }
                    let active = view.as_ref().is_some_and(OrderView::is_active);
                    let unsnapshotted = stored.changes.len() as u32;
                    let id = stored.id.clone();
                    self.orders.insert(id.clone(), Entry::incomplete(doc, unsnapshotted));
                    let life = if active {
                        Life::Active
                    } else {
                        let wall_ms = self.deliveries.wall_ms(now);
                        Life::Archived(archived_since(
                            now,
                            wall_ms,
                            stored.archived_at_ms,
                            self.cfg.retention,
                        ))
                    };
                    self.set_life(&id, life);
                    self.deliveries.observe(&id, view.as_ref(), !active, now);
                    if active { report.active += 1 } else { report.archived += 1 }
                }
                Err(reason) => report.damaged.push((stored.id, reason)),
            }
        }
        self.next_sequence = max_seq + 1;
        // Restoring is not news: nothing to re-persist.
        self.pending_store.clear();
        report
    }

    pub(super) fn load_stored(&self, stored: &StoredOrder) -> Result<OrderDoc, String> {
        let mut doc = match &stored.snapshot {
            Some(bytes) => {
                OrderDoc::load(stored.id.clone(), bytes, self.actor.clone()).map_err(|e| e.to_string())?
            }
            None => OrderDoc::empty(stored.id.clone(), self.actor.clone()),
        };
        if !stored.changes.is_empty() {
            doc.apply_remote_bytes(stored.changes.iter().map(Vec::as_slice)).map_err(|e| e.to_string())?;
        }
        doc.view().map_err(|e| e.to_string())?;
        Ok(doc)
    }

    /// The name the next order opened here will get.
    pub fn peek_next_name(&self) -> OrderName {
        OrderName::compose(&self.terminal, self.next_sequence)
    }

    /// Opens a new order with a fresh id and the next name of this terminal.
    pub fn open_order(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        fields: OpenOrder,
    ) -> Result<OrderId, EngineError> {
        let id = OrderId::from_random(self.rng.next_u128());
        self.open_order_with_id(now, ctx, id, fields)
    }

    /// Opens a new order with the id given (e.g. an integrator's own order
    /// uid) and the next name of this terminal.
    pub fn open_order_with_id(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        id: OrderId,
        fields: OpenOrder,
    ) -> Result<OrderId, EngineError> {
        if self.orders.contains_key(&id) || self.tombstones.contains_key(&id) {
            return Err(EngineError::DuplicateOrder(id));
        }
        if self.orders.len() >= self.cfg.max_orders {
            return Err(EngineError::TooManyOrders(self.cfg.max_orders));
        }
        let new = NewOrder::with_fields(id, self.peek_next_name(), fields);
        let (doc, change) = OrderDoc::open(self.actor.clone(), ctx, &new)?;
        self.next_sequence += 1;
        self.pending_store.push(StoreOp::NextSequence(self.next_sequence));
        let id = new.id;
        self.pending_store.push(StoreOp::Snapshot { order: id.clone(), bytes: doc.save() });
        self.orders.insert(id.clone(), Entry::incomplete(doc, 0));
        self.after_change(now, &id, Origin::Local, change.summary);
        self.broadcast(&id, vec![change.bytes]);
        self.flush();
        Ok(id)
    }

    /// Applies one edit. `Ok(None)` when it changed nothing.
    pub fn edit(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        order: &OrderId,
        edit: &Edit,
    ) -> Result<Option<ChangeHash>, EngineError> {
        let entry = self.usable_entry(order)?;
        let Some(change) = entry.doc.edit(ctx, edit)? else { return Ok(None) };
        self.record_append(order, vec![change.bytes.clone()]);
        self.after_change(now, order, Origin::Local, change.summary);
        self.broadcast(order, vec![change.bytes]);
        self.flush();
        Ok(Some(change.hash))
    }

    /// Moves quantities of lines into a new order (splitting the bill). Both
    /// orders' changes are stored in one batch, so a crash cannot leave the
    /// items in both orders or in neither.
    pub fn split(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        order: &OrderId,
        moves: &[(LineId, Quantity)],
    ) -> Result<OrderId, EngineError> {
        if self.orders.len() >= self.cfg.max_orders {
            return Err(EngineError::TooManyOrders(self.cfg.max_orders));
        }
        let new = NewOrder::new(OrderId::from_random(self.rng.next_u128()), self.peek_next_name());
        let entry = self.usable_entry(order)?;
        let (target, target_change, source_change) = entry.doc.split(ctx, &new, moves)?;
        self.next_sequence += 1;
        self.pending_store.push(StoreOp::NextSequence(self.next_sequence));
        self.record_append(order, vec![source_change.bytes.clone()]);
        self.after_change(now, order, Origin::Local, source_change.summary);
        let new_id = new.id.clone();
        self.pending_store.push(StoreOp::Snapshot { order: new_id.clone(), bytes: target.save() });
        self.orders.insert(new_id.clone(), Entry::incomplete(target, 0));
        self.after_change(now, &new_id, Origin::Local, target_change.summary);
        self.broadcast(&new_id, vec![target_change.bytes]);
        self.broadcast(order, vec![source_change.bytes]);
        self.flush();
        Ok(new_id)
    }

    pub(super) fn usable_entry(&mut self, order: &OrderId) -> Result<&mut Entry, EngineError> {
        match self.orders.get_mut(order) {
            Some(e) if e.is_complete() => Ok(e),
            _ => Err(EngineError::UnknownOrder(order.clone())),
        }
    }

    /// Makes sure there is an entry to receive `order` into; false if the
    /// order limit forbids a new one.
    pub(super) fn ensure_entry(&mut self, from: &P, order: &OrderId) -> bool {
        if self.orders.contains_key(order) {
            return true;
        }
        if self.orders.len() >= self.cfg.max_orders {
            self.reject(from.clone(), Rejection::TooManyOrders(self.cfg.max_orders));
            return false;
        }
        self.orders
            .insert(order.clone(), Entry::incomplete(OrderDoc::empty(order.clone(), self.actor.clone()), 0));
        true
    }

    pub(super) fn drop_if_incomplete(&mut self, order: &OrderId) {
        if self.orders.get(order).is_some_and(|e| !e.is_complete() && e.doc.is_empty()) {
            self.orders.remove(order);
        }
    }

    pub(super) fn after_remote(
        &mut self,
        now: Instant,
        from: &P,
        order: &OrderId,
        applied: RemoteApplied,
        in_session: bool,
    ) {
        if let Some(summary) = applied.summary {
            for author in &summary.authors {
                self.deliveries.heard(&author.terminal, now);
            }
            self.record_append(order, applied.new_changes);
            self.after_change(now, order, Origin::Peer(from.clone()), summary);
        }
        if !applied.missing_deps.is_empty() && !in_session {
            // A change arrived whose history we lack: the sender most likely
            // has it, so catch up with it. Inside a sync session the protocol
            // itself asks for what is missing; once that session ends still
            // lacking it, the peer does not have it, and starting another
            // would ask forever for a change that died with a crashed author
            // (ARCHITECTURE.md, "The commit pipeline"). Anti-entropy still
            // finds any other peer that holds it: their heads differ.
            self.start_sync(from, order, now);
        }
    }

    pub(super) fn record_append(&mut self, order: &OrderId, changes: Vec<Vec<u8>>) {
        if changes.is_empty() {
            return;
        }
        let Some(entry) = self.orders.get_mut(order) else { return };
        entry.unsnapshotted += changes.len() as u32;
        if entry.unsnapshotted >= self.cfg.compact_after {
            entry.unsnapshotted = 0;
            self.pending_store.push(StoreOp::Snapshot { order: order.clone(), bytes: entry.doc.save() });
        } else {
            self.pending_store.push(StoreOp::Append { order: order.clone(), changes });
        }
    }

    /// Re-derives the order's place (open list or archive) and its summary
    /// fingerprint, and tells the application what changed.
    pub(super) fn after_change(
        &mut self,
        now: Instant,
        order: &OrderId,
        origin: Origin<P>,
        summary: ChangeSummary,
    ) {
        // A released claim waiting for the payment it took: here it may be.
        if let Some(heads) = self.claims.waiting_heads(order)
            && self.holds_heads(order, heads)
        {
            let mut acts = Vec::new();
            self.claims.release_complete(order, &mut acts);
            self.claim_acts(now, acts);
        }
        let Some(entry) = self.orders.get(order) else { return };
        let Some(view) = entry.doc.current_view() else { return };
        let active = view.is_active();
        let was = entry.life();
        // An order of this terminal's own prefix seen here for the first
        // time came back from a peer: this terminal was restored from a
        // backup or replaced with an empty disk. Its next order must not
        // take a name already used on the floor (S27).
        if was == Life::Incomplete
            && let Some(seq) = view.name.sequence_of(&self.terminal)
            && seq >= self.next_sequence
        {
            self.next_sequence = seq + 1;
            self.pending_store.push(StoreOp::NextSequence(self.next_sequence));
        }
        // The same name on another order: a terminal restored from a backup
        // named an order while it could not know the floor's later ones.
        // The later-opened of the two takes this terminal's next name.
        if was == Life::Incomplete && view.name.sequence_of(&self.terminal).is_some() {
            let key = |v: &OrderView| (v.created.at_ms, v.id.clone());
            let twin = self.orders.iter().find_map(|(id, e)| {
                e.doc.current_view().filter(|v| id != order && v.name == view.name).map(key)
            });
            if let Some(twin) = twin {
                let later = std::cmp::max(twin, key(view)).1;
                self.pending_renames.push((now, later));
            }
        }
        let life = match (active, was) {
            (true, _) => Life::Active,
            (false, Life::Archived(since)) => Life::Archived(since),
            (false, _) => Life::Archived(now),
        };
        self.set_life(order, life);
        let view = self.orders.get(order).and_then(|e| e.doc.current_view());
        self.deliveries.observe(order, view, matches!(life, Life::Archived(_)), now);
        match (was, life) {
            (Life::Active, Life::Archived(_)) | (Life::Incomplete, Life::Archived(_)) => {
                let at_ms = self.deliveries.wall_ms(now);
                self.pending_store.push(StoreOp::Archive { order: order.clone(), at_ms });
            }
            (Life::Archived(_), Life::Active) => {
                self.pending_store.push(StoreOp::Unarchive { order: order.clone() })
            }
            _ => {}
        }
        self.outbox.push_back(Output::Event(Event::OrderChanged {
            order: order.clone(),
            origin,
            summary,
            active,
        }));
        if matches!(life, Life::Archived(_)) && !matches!(was, Life::Archived(_)) {
            self.outbox.push_back(Output::Event(Event::Archived { order: order.clone() }));
        }
    }

    /// Moves an order between lives, keeping the summary in step.
    pub(super) fn set_life(&mut self, order: &OrderId, life: Life) {
        let Some(entry) = self.orders.set_life(order, life) else { return };
        if let Some(fp) = entry.fingerprint.take() {
            self.summary.remove(order, fp);
        }
        if life != Life::Incomplete {
            let fp = fingerprint(order, &entry.doc.heads());
            self.summary.add(order, fp);
            entry.fingerprint = Some(fp);
        }
    }

    /// Gives `order` (an order of this terminal whose name the floor
    /// already used) this terminal's next name; `renamed_from` keeps the
    /// first. Every terminal sees the rename as an ordinary change.
    pub(super) fn rename_duplicate(&mut self, now: Instant, order: &OrderId) {
        let name = self.peek_next_name();
        let at_ms = self.deliveries.wall_ms(now).unwrap_or_default();
        let ctx = EditContext::new(RENAME_USER, self.terminal.clone(), at_ms);
        let Some(entry) = self.orders.get_mut(order) else { return };
        match entry.doc.rename(&ctx, &name) {
            Ok(Some(change)) => {
                self.next_sequence += 1;
                self.pending_store.push(StoreOp::NextSequence(self.next_sequence));
                self.record_append(order, vec![change.bytes.clone()]);
                self.after_change(now, order, Origin::Local, change.summary);
                self.broadcast(order, vec![change.bytes]);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%order, error = %e, "cannot rename an order whose name the floor already used")
            }
        }
    }
}
