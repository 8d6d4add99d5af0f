//! Changes a peer published or relayed on the gossip topic: checked (decoded,
//! signed by the owner of their actors, within the duplicate budget) and
//! applied.

use std::time::Instant;

use possync_model::{OrderId, decode_changes};

use super::{Engine, PeerId, Verdict};
use crate::output::Rejection;
use crate::owner::ActorOwner;

impl<P: PeerId> Engine<P> {
    pub(super) fn receive_changes(
        &mut self,
        now: Instant,
        from: P,
        signer: ActorOwner,
        order: OrderId,
        changes: Vec<Vec<u8>>,
    ) -> Verdict {
        if self.tombstones.contains_key(&order) {
            return Verdict::Ignore;
        }
        let changes = match decode_changes(changes.iter().map(Vec::as_slice)) {
            Ok(changes) => changes,
            Err(e) => {
                self.reject_offence(now, &from, Rejection::Order { order, detail: e.to_string() });
                return Verdict::Reject;
            }
        };
        // Gossip only ever carries its signer's own changes (see `owner`).
        if let Some(foreign) = changes.iter().find(|c| !signer.owns(c.actor_id())) {
            let actor = foreign.actor_id().to_hex_string();
            self.reject_offence(now, &from, Rejection::ForeignActor { order, actor });
            return Verdict::Reject;
        }
        if !self.ensure_entry(&from, &order) {
            return Verdict::Ignore;
        }
        let entry = self.orders.get_mut(&order).expect("ensured above");
        match entry.doc.apply_remote_with_roles(changes, &self.roles) {
            Ok(applied) if applied.new_changes.is_empty() && applied.missing_deps.is_empty() => {
                // Nothing new: normal now and then, an offence in a storm.
                let cfg = &self.cfg;
                if let Some(peer) = self.peers.get_mut(&from)
                    && !peer.guard.admit_duplicate(now, cfg)
                {
                    self.refuse_flood(now, &from, Rejection::Duplicates);
                }
                Verdict::Ignore
            }
            Ok(applied) => {
                self.after_remote(now, &from, &order, applied, false);
                Verdict::Accept
            }
            Err(e) => {
                // Not an offence: a newer release's valid change can fail an
                // older release's validation, and its author must stay heard.
                self.drop_if_incomplete(&order);
                self.reject(from, Rejection::Order { order, detail: e.to_string() });
                Verdict::Reject
            }
        }
    }
}
