//! Gossip messages that arrived in one turn of the node's loop, handed to
//! the engine together ([`Engine::handle_gossip_batch`]): a terminal that
//! fell behind applies an author's waiting changes to an order in one merge
//! instead of one merge, one validating read and one change event each.
//! A turn takes at most the swarm events already waiting (64), and other
//! swarm events first apply what was gathered, so messages are applied in
//! the order they came relative to connections opening and closing and to
//! catch-up.

use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use possync_engine::{ActorOwner, Engine, GossipIn, Verdict};

/// A gossip message from an admitted peer, not yet applied.
struct Received {
    message_id: MessageId,
    source: PeerId,
    signer: ActorOwner,
    data: Vec<u8>,
}

/// The messages of the current turn.
#[derive(Default)]
pub(crate) struct GossipBatch {
    pending: Vec<Received>,
}

impl GossipBatch {
    pub fn push(&mut self, message_id: MessageId, source: PeerId, signer: ActorOwner, data: Vec<u8>) {
        self.pending.push(Received { message_id, source, signer, data });
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Applies every waiting message: each one's id, the peer it came
    /// from and the engine's verdict, in the order they came.
    pub fn apply(
        &mut self,
        engine: &mut Engine<PeerId>,
        now: std::time::Instant,
    ) -> Vec<(MessageId, PeerId, Verdict)> {
        let pending = std::mem::take(&mut self.pending);
        let batch: Vec<GossipIn<'_, PeerId>> =
            pending.iter().map(|r| GossipIn { from: &r.source, signer: r.signer, bytes: &r.data }).collect();
        let verdicts = engine.handle_gossip_batch(now, &batch);
        drop(batch);
        pending.into_iter().zip(verdicts).map(|(r, v)| (r.message_id, r.source, v)).collect()
    }
}
