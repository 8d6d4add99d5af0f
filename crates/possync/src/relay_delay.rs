//! Relaying accepted gossip a little later, so that it is not relayed to
//! terminals that already have it.
//!
//! An author publishes each change to every terminal it is connected to,
//! and on a shop's LAN that is usually every terminal. Gossipsub's mesh
//! then relays it again once the receiver has validated it, and every copy
//! a terminal already holds still costs it a signature check (rust-libp2p
//! checks it while decoding, before it looks for duplicates). Gossipsub 1.2
//! has the cure: a receiver tells its mesh peers at once that it has the
//! message (IDONTWANT), and they skip it when relaying. But possync
//! validates a change within a fraction of a millisecond, in the same task
//! that receives it, so the relay used to leave before the other
//! receivers' IDONTWANT arrived, and nearly every relayed copy was a
//! duplicate (docs/PERFORMANCE.md, "Relayed duplicates").
//!
//! The node therefore reports an accepted message to gossipsub (which
//! relays it) only [`RELAY_DELAY`] after accepting it. The change itself is
//! applied, stored and shown at once; only the relay waits. A terminal
//! connected to the author is not affected; one that hears the author only
//! through others gets the change that much later. Refusals are reported
//! at once: nothing is relayed for them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long an accepted message waits before gossipsub may relay it. On a
/// LAN an IDONTWANT takes well under a millisecond to arrive; this leaves
/// room for a loaded terminal's scheduling.
pub(crate) const RELAY_DELAY: Duration = Duration::from_millis(20);

/// Most accepted messages waiting to be relayed. At 1,000 edits/s a
/// terminal holds about 20 at [`RELAY_DELAY`]; past the bound the oldest
/// are released early, which costs duplicates, never a message.
pub(crate) const MAX_WAITING: usize = 4096;

/// Accepted messages waiting for their relay, oldest first.
#[derive(Debug)]
pub(crate) struct RelayDelay<M> {
    waiting: VecDeque<(Instant, M)>,
    delay: Duration,
    bound: usize,
}

impl<M> RelayDelay<M> {
    pub(crate) fn new(delay: Duration, bound: usize) -> Self {
        RelayDelay { waiting: VecDeque::new(), delay, bound: bound.max(1) }
    }

    /// `message` was accepted at `now`. Returns a message that must be
    /// released at once because the queue is full.
    #[must_use]
    pub(crate) fn accepted(&mut self, message: M, now: Instant) -> Option<M> {
        let overflow =
            if self.waiting.len() >= self.bound { self.waiting.pop_front().map(|(_, m)| m) } else { None };
        self.waiting.push_back((now + self.delay, message));
        overflow
    }

    /// When the oldest waiting message is due, if any waits.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.waiting.front().map(|(due, _)| *due)
    }

    /// The messages due at `now`, oldest first.
    pub(crate) fn due(&mut self, now: Instant) -> impl Iterator<Item = M> + '_ {
        let n = self.waiting.iter().take_while(|(due, _)| *due <= now).count();
        self.waiting.drain(..n).map(|(_, m)| m)
    }

    /// Every waiting message, for shutdown: relaying them is moot then, but
    /// gossipsub is told either way.
    pub(crate) fn drain_all(&mut self) -> impl Iterator<Item = M> + '_ {
        self.waiting.drain(..).map(|(_, m)| m)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_message_is_released_after_the_delay_and_in_order() {
        let mut relay = RelayDelay::new(Duration::from_millis(20), 16);
        let t0 = Instant::now();
        assert!(relay.accepted("a", t0).is_none());
        assert!(relay.accepted("b", t0 + Duration::from_millis(5)).is_none());
        assert_eq!(relay.next_due(), Some(t0 + Duration::from_millis(20)));
        assert_eq!(relay.due(t0 + Duration::from_millis(19)).count(), 0);
        assert_eq!(relay.due(t0 + Duration::from_millis(20)).collect::<Vec<_>>(), ["a"]);
        assert_eq!(relay.next_due(), Some(t0 + Duration::from_millis(25)));
        assert_eq!(relay.due(t0 + Duration::from_secs(1)).collect::<Vec<_>>(), ["b"]);
        assert_eq!(relay.next_due(), None);
        assert_eq!(relay.len(), 0);
    }

    #[test]
    fn a_full_queue_releases_its_oldest_message_at_once() {
        let mut relay = RelayDelay::new(Duration::from_millis(20), 2);
        let t0 = Instant::now();
        assert!(relay.accepted(1, t0).is_none());
        assert!(relay.accepted(2, t0).is_none());
        assert_eq!(relay.accepted(3, t0), Some(1));
        assert_eq!(relay.len(), 2);
        assert_eq!(relay.drain_all().collect::<Vec<_>>(), [2, 3]);
    }
}
