//! Gossip received: each message checked on its own (its sender is up, the
//! sender's rate, the wire format, the signer owning every change), then the changes of the
//! messages that came together from one peer for one order applied in one
//! merge.
//!
//! Applying a change costs one Automerge merge, one validating read of the
//! order and one change event, however many changes the merge brings: the
//! model applies 50 changes at 19 µs each and one alone at ~100 µs
//! (docs/PERFORMANCE.md). A terminal that falls behind finds several of an
//! author's messages for its current order waiting at once; taking them
//! together makes it catch up faster the further it falls behind, where
//! one by one each would pay the whole price. A batch that fails
//! validation is applied again message by message, so that only the
//! offending message is refused, as if they had come one at a time.

use std::time::Instant;

use automerge::Change;
use possync_model::{OrderId, decode_changes};

use super::{Engine, PeerId, Verdict};
use crate::output::Rejection;
use crate::owner::ActorOwner;
use crate::wire::Gossip;

/// One gossip message handed to [`Engine::handle_gossip_batch`].
#[derive(Debug, Clone, Copy)]
pub struct GossipIn<'a, P> {
    /// The peer that delivered it (its author, or one relaying it).
    pub from: &'a P,
    /// Who signed it: its author.
    pub signer: ActorOwner,
    pub bytes: &'a [u8],
}

/// A message's changes, ready to apply, or its verdict already.
enum Checked {
    Changes { order: OrderId, changes: Vec<Change> },
    Done(Verdict),
}

/// Messages of one peer for one order, in the order they came.
struct Group<'a, P> {
    from: &'a P,
    order: OrderId,
    messages: Vec<usize>,
    changes: Vec<Change>,
}

impl<P: PeerId> Engine<P> {
    /// Gossip messages that arrived together, in the order they arrived:
    /// one verdict each, in the same order. The same outcome as
    /// [`Engine::handle_gossip`] for each in turn (the same changes held,
    /// the same messages refused), with fewer merges and change events:
    /// one per peer and order.
    pub fn handle_gossip_batch(&mut self, now: Instant, batch: &[GossipIn<'_, P>]) -> Vec<Verdict> {
        let mut verdicts = vec![Verdict::Ignore; batch.len()];
        let mut groups: Vec<Group<'_, P>> = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            match self.check_gossip(now, m) {
                Checked::Done(verdict) => verdicts[i] = verdict,
                Checked::Changes { order, changes } => {
                    match groups.iter_mut().find(|g| g.from == m.from && g.order == order) {
                        Some(g) => {
                            g.messages.push(i);
                            g.changes.extend(changes);
                        }
                        None => groups.push(Group { from: m.from, order, messages: vec![i], changes }),
                    }
                }
            }
        }
        for g in groups {
            if !self.peers.contains_key(g.from) {
                // Disconnected by an earlier group (a storm of duplicates):
                // what else it sent is a stranger's, as one by one.
                for &i in &g.messages {
                    self.refuse_stranger(g.from);
                    verdicts[i] = Verdict::Ignore;
                }
                continue;
            }
            if g.messages.len() == 1 {
                verdicts[g.messages[0]] = self.apply_gossiped(now, g.from, g.order, g.changes);
                continue;
            }
            match self.apply_group(now, g.from, &g.order, g.changes, g.messages.len()) {
                Some(verdict) => {
                    for &i in &g.messages {
                        verdicts[i] = verdict;
                    }
                }
                // Refused as a whole: one by one, to refuse only the culprit.
                None => {
                    for &i in &g.messages {
                        verdicts[i] = match self.check_gossip_again(&batch[i]) {
                            Checked::Changes { order, changes } => {
                                self.apply_gossiped(now, g.from, order, changes)
                            }
                            Checked::Done(verdict) => verdict,
                        };
                    }
                }
            }
        }
        self.flush();
        verdicts
    }

    /// The checks of one message, up to its decoded changes.
    fn check_gossip(&mut self, now: Instant, m: &GossipIn<'_, P>) -> Checked {
        let cfg = &self.cfg;
        let Some(peer) = self.peers.get_mut(m.from) else {
            self.refuse_stranger(m.from);
            return Checked::Done(Verdict::Ignore);
        };
        if !peer.guard.admit_gossip(now, cfg) {
            // Over its rate: dropped unread, so a flood costs little more.
            self.refuse_flood(now, m.from, Rejection::Flood { what: "gossip messages" });
            return Checked::Done(Verdict::Ignore);
        }
        let (order, raw) = match Gossip::decode(m.bytes) {
            Err(e) if e.is_from_the_future() => return Checked::Done(Verdict::Ignore),
            Err(e) => {
                self.reject_offence(now, m.from, Rejection::Wire(e));
                return Checked::Done(Verdict::Reject);
            }
            Ok(Gossip::Changes { order, changes }) => (order, changes),
        };
        if self.tombstones.contains_key(&order) {
            return Checked::Done(Verdict::Ignore);
        }
        let changes = match decode_changes(raw.iter().map(Vec::as_slice)) {
            Ok(changes) => changes,
            Err(e) => {
                self.reject_offence(now, m.from, Rejection::Order { order, detail: e.to_string() });
                return Checked::Done(Verdict::Reject);
            }
        };
        // Gossip only ever carries its signer's own changes (see `owner`).
        if let Some(foreign) = changes.iter().find(|c| !m.signer.owns(c.actor_id())) {
            let actor = foreign.actor_id().to_hex_string();
            self.reject_offence(now, m.from, Rejection::ForeignActor { order, actor });
            return Checked::Done(Verdict::Reject);
        }
        Checked::Changes { order, changes }
    }

    /// A message of a refused batch, decoded again: it passed every check
    /// of [`Self::check_gossip`] once (its rate is not counted twice).
    fn check_gossip_again(&self, m: &GossipIn<'_, P>) -> Checked {
        match Gossip::decode(m.bytes) {
            Ok(Gossip::Changes { order, changes }) => match decode_changes(changes.iter().map(Vec::as_slice))
            {
                Ok(changes) => Checked::Changes { order, changes },
                Err(_) => Checked::Done(Verdict::Reject),
            },
            Err(_) => Checked::Done(Verdict::Reject),
        }
    }

    /// Applies the changes of `messages` messages of `from` for `order` in
    /// one merge. `None` when the merged document fails validation (nothing
    /// is kept).
    fn apply_group(
        &mut self,
        now: Instant,
        from: &P,
        order: &OrderId,
        changes: Vec<Change>,
        messages: usize,
    ) -> Option<Verdict> {
        if !self.ensure_entry(from, order) {
            return Some(Verdict::Ignore);
        }
        let entry = self.orders.get_mut(order)?;
        match entry.doc.apply_remote_with_roles(changes, &self.roles) {
            Ok(applied) if applied.new_changes.is_empty() && applied.missing_deps.is_empty() => {
                for _ in 0..messages {
                    self.count_duplicate(now, from);
                }
                Some(Verdict::Ignore)
            }
            Ok(applied) => {
                self.after_remote(now, from, order, applied, false);
                Some(Verdict::Accept)
            }
            Err(_) => {
                self.drop_if_incomplete(order);
                None
            }
        }
    }

    /// Applies one message's checked changes.
    pub(super) fn apply_gossiped(
        &mut self,
        now: Instant,
        from: &P,
        order: OrderId,
        changes: Vec<Change>,
    ) -> Verdict {
        if !self.ensure_entry(from, &order) {
            return Verdict::Ignore;
        }
        let entry = self.orders.get_mut(&order).expect("ensured above");
        match entry.doc.apply_remote_with_roles(changes, &self.roles) {
            Ok(applied) if applied.new_changes.is_empty() && applied.missing_deps.is_empty() => {
                self.count_duplicate(now, from);
                Verdict::Ignore
            }
            Ok(applied) => {
                self.after_remote(now, from, &order, applied, false);
                Verdict::Accept
            }
            Err(e) => {
                // Not an offence: a newer release's valid change can fail an
                // older release's validation, and its author must stay heard.
                self.drop_if_incomplete(&order);
                self.reject(from.clone(), Rejection::Order { order, detail: e.to_string() });
                Verdict::Reject
            }
        }
    }

    /// Nothing new: normal now and then, an offence in a storm.
    fn count_duplicate(&mut self, now: Instant, from: &P) {
        let cfg = &self.cfg;
        if let Some(peer) = self.peers.get_mut(from)
            && !peer.guard.admit_duplicate(now, cfg)
        {
            self.refuse_flood(now, from, Rejection::Duplicates);
        }
    }
}
