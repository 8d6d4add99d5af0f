//! What the engine remembers about one connected peer: its sync sessions and
//! the orders waiting to be synced or fetched. Dropped when the peer leaves.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use automerge::sync;
use possync_model::OrderId;

use crate::config::EngineConfig;
use crate::guard::PeerGuard;

/// One Automerge sync-protocol session for one order with one peer.
#[derive(Debug)]
pub(crate) struct Session {
    pub state: sync::State,
    pub last_activity: Instant,
    /// We started it (it counts against `max_sessions_per_peer`), or the peer
    /// did (it counts against `max_inbound_sessions_per_peer`).
    pub initiated: bool,
}

#[derive(Debug)]
pub(crate) struct PeerState {
    pub sessions: HashMap<OrderId, Session>,
    pub initiated: usize,
    /// Orders waiting for a session slot, each once.
    pub queue: VecDeque<OrderId>,
    pub queued: HashSet<OrderId>,
    /// Whole orders asked for and not yet received, with when we asked.
    pub fetching: HashMap<OrderId, Instant>,
    /// Sync messages to send at the end of the current step, batched into as
    /// few messages as the size limit allows.
    pub outgoing_sync: Vec<(OrderId, Vec<u8>)>,
    /// Rate limit and offence count of this peer's catch-up messages.
    pub guard: PeerGuard,
}

impl PeerState {
    pub fn new(now: Instant, cfg: &EngineConfig) -> Self {
        PeerState {
            guard: PeerGuard::new(now, cfg),
            sessions: HashMap::new(),
            initiated: 0,
            queue: VecDeque::new(),
            queued: HashSet::new(),
            fetching: HashMap::new(),
            outgoing_sync: Vec::new(),
        }
    }

    pub fn end_session(&mut self, order: &OrderId) {
        if let Some(s) = self.sessions.remove(order)
            && s.initiated
        {
            self.initiated -= 1;
        }
    }

    pub fn inbound(&self) -> usize {
        self.sessions.len() - self.initiated
    }
}
