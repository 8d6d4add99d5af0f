//! Noticing a silently dead link: a cable pulled or a Wi-Fi gone sends no
//! reset, and TCP would keep the connection for minutes.
//!
//! libp2p's ping reports a failure only after two in a row, and the second
//! is often a stream-open timeout (10 s): a dead link took ~18 s to show.
//! Instead the node pings every [`PING_INTERVAL`] and closes a connection
//! that has shown no sign of life for [`LINK_TIMEOUT`], so a terminal shows
//! offline (and starts redialling) within about 4 s. A sign of life is a
//! ping answered or a gossip message received on it: under a rush, when a
//! ping's answer can queue behind the gossip, the gossip itself proves the
//! link.
//!
//! Every terminal pings each of its peers, so a floor of `n` pays `n(n-1)`
//! round trips per interval: at 30 terminals, 1 s cost each terminal ~1 %
//! of a core while idle (docs/PERFORMANCE.md, "Larger floors"). Every 2 s
//! halves that and keeps the bound: the last answer before a cut came at
//! most 2 s before it, so the link is closed 2 to 4 s after the cut.
//!
//! Sans-IO: the actor reports connections and ping answers with the clock,
//! and closes what [`Liveness::dead`] returns.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How often each connection is pinged.
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(2);
/// How long one ping may take before it counts as lost.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// A connection with no ping answered for this long is closed.
pub(crate) const LINK_TIMEOUT: Duration = Duration::from_secs(4);
/// A gap between two checks longer than this means the node itself was not
/// running (a stalled machine, a suspended process): answers may be waiting
/// unread, so nothing is judged on that check.
const STALL: Duration = Duration::from_secs(1);

/// When each watched connection last proved alive.
#[derive(Debug)]
pub(crate) struct Liveness<C> {
    alive_at: HashMap<C, Instant>,
    last_check: Option<Instant>,
}

impl<C: Hash + Eq + Copy> Liveness<C> {
    pub(crate) fn new() -> Self {
        Liveness { alive_at: HashMap::new(), last_check: None }
    }

    /// A connection opened (it counts as alive now), or a ping on it was
    /// answered.
    pub(crate) fn alive(&mut self, connection: C, now: Instant) {
        self.alive_at.insert(connection, now);
    }

    /// A message arrived on the connection: alive now, if it is watched
    /// (a peer that does not answer pings stays unwatched).
    pub(crate) fn heard(&mut self, connection: &C, now: Instant) {
        if let Some(at) = self.alive_at.get_mut(connection) {
            *at = now;
        }
    }

    /// The connection is closed, or its peer does not answer pings at all
    /// (an implementation without ping): not watched.
    pub(crate) fn forget(&mut self, connection: &C) {
        self.alive_at.remove(connection);
    }

    /// The connections to close at `now`: silent for [`LINK_TIMEOUT`].
    pub(crate) fn dead(&mut self, now: Instant) -> Vec<C> {
        let stalled = self.last_check.is_some_and(|last| now.saturating_duration_since(last) > STALL);
        self.last_check = Some(now);
        if stalled {
            // Every connection gets a fresh allowance from now.
            self.alive_at.values_mut().for_each(|at| *at = now);
            return Vec::new();
        }
        let dead: Vec<C> = self
            .alive_at
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) >= LINK_TIMEOUT)
            .map(|(c, _)| *c)
            .collect();
        for c in &dead {
            self.alive_at.remove(c);
        }
        dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_connection_whose_pings_stop_is_closed_after_the_link_timeout() {
        let t0 = Instant::now();
        let mut live = Liveness::new();
        live.alive(1, t0);
        live.alive(2, t0);
        // Connection 1 keeps answering, 2 falls silent at t0.
        let mut closed_at = None;
        let mut at = t0;
        while at < t0 + Duration::from_secs(10) {
            at += ms(250);
            live.alive(1, at);
            if live.dead(at).contains(&2) {
                closed_at = Some(at - t0);
            }
        }
        assert_eq!(closed_at, Some(LINK_TIMEOUT));
        assert!(live.dead(at).is_empty(), "the live connection stays");
    }

    #[test]
    fn a_stalled_node_does_not_close_its_connections() {
        let t0 = Instant::now();
        let mut live = Liveness::new();
        live.alive(1, t0);
        assert!(live.dead(t0 + ms(250)).is_empty());
        // The process was stopped for 10 s: the answers wait unread.
        assert!(live.dead(t0 + Duration::from_secs(10)).is_empty());
        live.alive(1, t0 + Duration::from_secs(10) + ms(10));
        assert!(live.dead(t0 + Duration::from_secs(10) + ms(250)).is_empty());
        // But a connection still silent a full timeout later is closed.
        let mut at = t0 + Duration::from_secs(10) + ms(250);
        let mut closed = false;
        while at < t0 + Duration::from_secs(16) {
            at += ms(250);
            closed |= live.dead(at).contains(&1);
        }
        assert!(closed);
    }

    #[test]
    fn a_forgotten_connection_is_never_closed() {
        let t0 = Instant::now();
        let mut live = Liveness::new();
        live.alive(7, t0);
        live.forget(&7);
        let mut at = t0;
        for _ in 0..40 {
            at += ms(250);
            assert!(live.dead(at).is_empty());
        }
    }

    /// Gossip keeps a watched connection open while its ping answers are
    /// late, and does not start watching one that was forgotten.
    #[test]
    fn a_message_received_counts_as_a_sign_of_life() {
        let t0 = Instant::now();
        let mut live = Liveness::new();
        live.alive(1, t0);
        live.alive(2, t0);
        live.forget(&2);
        let mut at = t0;
        while at < t0 + Duration::from_secs(10) {
            at += ms(250);
            live.heard(&1, at);
            live.heard(&2, at);
            assert!(live.dead(at).is_empty(), "closed at {:?}", at - t0);
        }
        // Once the messages stop too, the timeout runs from the last one.
        let last = at;
        let mut closed_at = None;
        while closed_at.is_none() && at < last + Duration::from_secs(10) {
            at += ms(250);
            if live.dead(at).contains(&1) {
                closed_at = Some(at - last);
            }
        }
        assert_eq!(closed_at, Some(LINK_TIMEOUT));
    }
}
