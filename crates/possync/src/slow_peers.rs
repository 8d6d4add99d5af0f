//! Catching up with peers that gossip left behind.
//!
//! Gossipsub drops a message to a peer that does not take it in time (its
//! queue is full, or the message waited past its deadline) and reports the
//! peer as slow. That peer now lacks changes it would otherwise learn only
//! at the next anti-entropy round (up to 15 s later) or when a later change
//! of the same order arrives: the node catches up with it at once instead.
//! A slow peer is slow because it is overloaded, so the catch-up is not
//! repeated more than once per [`SlowPeers`] interval.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// At most one catch-up per this interval with a peer reported slow.
pub(crate) const SLOW_PEER_CATCH_UP_INTERVAL: Duration = Duration::from_secs(2);

/// When each slow peer was last caught up with.
#[derive(Debug)]
pub(crate) struct SlowPeers<P> {
    last: HashMap<P, Instant>,
    interval: Duration,
}

impl<P: Hash + Eq + Clone> SlowPeers<P> {
    pub(crate) fn new(interval: Duration) -> Self {
        SlowPeers { last: HashMap::new(), interval }
    }

    /// `peer` was reported slow at `now`: whether to catch up with it now.
    pub(crate) fn reported(&mut self, peer: &P, now: Instant) -> bool {
        match self.last.get(peer) {
            Some(&last) if now.saturating_duration_since(last) < self.interval => false,
            _ => {
                self.last.insert(peer.clone(), now);
                true
            }
        }
    }

    /// The peer is gone (its next connection starts afresh).
    pub(crate) fn forget(&mut self, peer: &P) {
        self.last.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_peer_is_caught_up_with_at_most_once_per_interval() {
        let mut slow = SlowPeers::new(Duration::from_secs(2));
        let t0 = Instant::now();
        assert!(slow.reported(&"a", t0));
        assert!(!slow.reported(&"a", t0 + Duration::from_millis(500)));
        assert!(!slow.reported(&"a", t0 + Duration::from_millis(1999)));
        // Another peer has its own interval.
        assert!(slow.reported(&"b", t0 + Duration::from_millis(500)));
        assert!(slow.reported(&"a", t0 + Duration::from_secs(2)));
        assert!(!slow.reported(&"a", t0 + Duration::from_secs(3)));
    }

    #[test]
    fn a_peer_that_reconnects_starts_afresh() {
        let mut slow = SlowPeers::new(Duration::from_secs(2));
        let t0 = Instant::now();
        assert!(slow.reported(&"a", t0));
        slow.forget(&"a");
        assert!(slow.reported(&"a", t0 + Duration::from_millis(100)));
    }
}
