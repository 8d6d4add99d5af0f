//! The engine's side of the delivery outbox (`crate::delivery`): which back
//! offices it delivers to, their answers, and the claims and confirmations it
//! writes into orders.

use std::time::Instant;

use possync_model::{DeliveryEdit, EditContext, OrderId, SinkName};

use super::{Engine, EngineError, PeerId};
use crate::delivery::{DeliveryAct, SinkStatus};
use crate::orders::Life;
use crate::output::{Origin, Output};

/// The user delivery steps are written under: no cashier makes them.
const DELIVERY_USER: &str = "possync-delivery";

impl<P: PeerId> Engine<P> {
    /// The back offices this terminal delivers to (`[[sink]]` in the
    /// daemon's config). Every closed order some sink has not confirmed is
    /// kept from retention and delivered (see `delivery.rs`).
    pub fn set_sinks(&mut self, now: Instant, sinks: &[SinkName]) {
        self.deliveries.set_sinks(sinks);
        let ids: Vec<OrderId> = self.orders.iter().map(|(id, _)| id.clone()).collect();
        for id in ids {
            let Some(entry) = self.orders.get(&id) else { continue };
            let archived = matches!(entry.life(), Life::Archived(_));
            self.deliveries.observe(&id, entry.doc.current_view(), archived, now);
        }
    }

    /// Tells the engine the wall-clock time (ms since the Unix epoch) at
    /// `now`: delivery state in the documents is stamped with it, and
    /// leases compare with it. Call at start and now and then.
    pub fn set_wall_clock(&mut self, now: Instant, wall_ms: i64) {
        self.deliveries.set_wall_clock(now, wall_ms);
    }

    /// A sink answered an [`Output::Deliver`]: `Ok` with its reference for
    /// the order, or why it failed (the back office, or this order: see
    /// [`crate::DeliveryFailure`]). Repeated and late answers are fine.
    pub fn delivered(
        &mut self,
        now: Instant,
        sink: &SinkName,
        order: &OrderId,
        result: Result<String, crate::DeliveryFailure>,
    ) {
        self.last_now = self.last_now.max(now);
        if let Some(act) = self.deliveries.on_result(now, sink, order, result) {
            self.delivery_acts(now, vec![act]);
        }
        self.flush();
    }

    /// The runtime could not start a delivery it was asked for (its queue is
    /// full): the order waits for its next turn, no failure is recorded.
    pub fn delivery_not_started(&mut self, sink: &SinkName, order: &OrderId) {
        self.deliveries.not_started(sink, order);
    }

    /// Backlog, age of the oldest undelivered order and counters, per sink.
    pub fn delivery_status(&self, now: Instant) -> Vec<SinkStatus> {
        self.deliveries.status(now)
    }

    pub(super) fn delivery_acts(&mut self, now: Instant, acts: Vec<DeliveryAct>) {
        for act in acts {
            match act {
                DeliveryAct::Start { sink, order } => {
                    if let Err(e) = self.record_delivery(now, &order, &sink, &DeliveryEdit::Claim) {
                        tracing::warn!(%order, %sink, error = %e, "cannot claim delivery");
                        self.deliveries.not_started(&sink, &order);
                        continue;
                    }
                    let Some(view) = self.orders.get(&order).and_then(|e| e.doc.current_view()).cloned()
                    else {
                        self.deliveries.not_started(&sink, &order);
                        continue;
                    };
                    self.outbox.push_back(Output::Deliver { sink, order, payload: Box::new(view) });
                }
                DeliveryAct::Record { sink, order, edit } => {
                    if let Err(e) = self.record_delivery(now, &order, &sink, &edit) {
                        tracing::warn!(%order, %sink, error = %e, "cannot record delivery");
                    }
                }
            }
        }
    }

    /// Writes a delivery step into the order, like a local edit.
    pub(super) fn record_delivery(
        &mut self,
        now: Instant,
        order: &OrderId,
        sink: &SinkName,
        edit: &DeliveryEdit,
    ) -> Result<(), EngineError> {
        let at_ms = self.deliveries.wall_ms(now).unwrap_or_default();
        let ctx = EditContext::new(DELIVERY_USER, self.terminal.clone(), at_ms);
        let entry = self.orders.get_mut(order).ok_or_else(|| EngineError::UnknownOrder(order.clone()))?;
        let Some(change) = entry.doc.record_delivery(&ctx, sink, edit)? else { return Ok(()) };
        self.record_append(order, vec![change.bytes.clone()]);
        self.after_change(now, order, Origin::Local, change.summary);
        self.broadcast(order, vec![change.bytes]);
        Ok(())
    }
}
