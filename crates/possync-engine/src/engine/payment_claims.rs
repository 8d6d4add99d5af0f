//! Payment claims (`crate::claims`): the local claim and release, and what
//! the claim table asks to send or announce.

use std::time::Instant;

use automerge::ChangeHash;
use possync_model::{EditError, OrderId};

use super::{Engine, EngineError, PeerId};
use crate::claims::{ClaimAct, PaymentClaim};
use crate::output::{Event, Output};

impl<P: PeerId> Engine<P> {
    /// Asks for (or renews) this terminal's claim on taking `order`'s
    /// payment (see `claims.rs`). The answer is the claim that stands:
    /// ours, granted or still waiting for peers' answers, or another
    /// terminal's, which refuses ours ("being paid on T2 by ana").
    pub fn claim_payment(
        &mut self,
        now: Instant,
        user: &str,
        order: &OrderId,
    ) -> Result<PaymentClaim, EngineError> {
        self.usable_entry(order)?;
        // Peers refuse a longer name as malformed (and count it against us).
        if user.is_empty() || user.len() > crate::wire::MAX_CLAIM_USER {
            let detail = format!("1 to {} bytes", crate::wire::MAX_CLAIM_USER);
            return Err(EngineError::Edit(EditError::Invalid { field: "user", detail }));
        }
        self.last_now = self.last_now.max(now);
        let peers: Vec<P> = self.peers.keys().cloned().collect();
        let token = self.rng.next_u64();
        let mut acts = Vec::new();
        let claim = self.claims.claim(now, &self.terminal, user, order, &peers, token, &mut acts);
        self.claim_acts(now, acts);
        self.flush();
        Ok(claim)
    }

    /// This terminal is done taking `order`'s payment (paid, or gave up).
    pub fn release_payment(&mut self, now: Instant, order: &OrderId) {
        self.last_now = self.last_now.max(now);
        let peers: Vec<P> = self.peers.keys().cloned().collect();
        let heads = self.orders.get(order).map(|e| e.doc.heads()).unwrap_or_default();
        let mut acts = Vec::new();
        self.claims.release(order, &heads, &peers, &mut acts);
        self.claim_acts(now, acts);
        self.flush();
    }

    /// Who is taking `order`'s payment right now, if anyone.
    pub fn payment_claim(&self, now: Instant, order: &OrderId) -> Option<PaymentClaim> {
        self.claims.get(now, &self.terminal, order)
    }

    /// Every payment in progress this terminal knows of.
    pub fn payment_claims(&self, now: Instant) -> Vec<PaymentClaim> {
        self.claims.all(now, &self.terminal)
    }

    /// Whether the order holds every one of `heads` (visible, not parked).
    pub(super) fn holds_heads(&self, order: &OrderId, heads: &[ChangeHash]) -> bool {
        let Some(entry) = self.orders.get(order) else { return heads.is_empty() };
        let doc = entry.doc.automerge();
        // Parked changes (missing dependencies) are not in the history.
        heads.iter().all(|h| doc.get_change_meta_by_hash(h).is_some())
    }

    pub(super) fn claim_acts(&mut self, now: Instant, acts: Vec<ClaimAct<P>>) {
        let mut changed: Vec<OrderId> = Vec::new();
        for act in acts {
            match act {
                ClaimAct::Send(to, msg) => self.send(&to, msg.encode()),
                ClaimAct::Changed(order) => {
                    if !changed.contains(&order) {
                        changed.push(order);
                    }
                }
            }
        }
        for order in changed {
            let claim = self.claims.get(now, &self.terminal, &order);
            self.outbox.push_back(Output::Event(Event::PaymentClaim { order, claim }));
        }
    }
}
