//! Noticing a silently dead link: a cable pulled or a Wi-Fi gone sends no
//! reset, and TCP would keep the connection for minutes.
//!
//! The node closes a connection that has shown no sign of life for
//! [`LINK_TIMEOUT`], so a terminal shows offline (and starts redialling)
//! within about 4 s. A sign of life is anything received on the link: a
//! gossip message, a catch-up message or its acknowledgement, an answer to
//! this node's ping, or a ping of the peer's.
//!
//! A connection is pinged only once it has been quiet for a while
//! ([`Liveness::pings_due`], sent by `crate::net::probe`). libp2p's own ping
//! pings every connection from both ends every interval: a floor of `n`
//! paid `n(n - 1)` round trips per interval, each a wake-up through pnet,
//! Noise and Yamux at both ends, at 30 terminals most of an idle terminal's
//! CPU (docs/PERFORMANCE.md, "Larger floors"), and under a rush pings that
//! proved nothing the gossip did not. Now a link that carries gossip is
//! not pinged at all, and a quiet one by one end only: the end with the
//! lower peer id pings after [`QUIET_BEFORE_PING`], the other waits
//! [`FOLLOWER_DELAY`] longer, by which time the first's ping has reached
//! it (and counts as a sign of life) unless that end is gone.
//!
//! Each end's own pings must keep the link open on their own: a link may
//! carry messages one way only (one terminal editing, the other silent),
//! and then the receiving end, hearing them, pings nothing, while the
//! sending end hears nothing but the answers to its own pings. So the
//! longer wait, plus a check, plus the slowest round trip allowed, stays
//! under the link timeout: 2 s + 0.25 s + 1.5 s (750 ms each way, the slow
//! link of `crates/possync-daemon/tests/double_pay.rs`) < 4 s.
//!
//! The bound is kept: a cut link is closed [`LINK_TIMEOUT`] after the last
//! sign of life before the cut, which came at most a wait, a check and a
//! round trip before it: 2 to 4 s after the cut, plus the 250 ms check.
//!
//! Sans-IO: the actor reports connections, pings and messages with the
//! clock, sends the pings [`Liveness::pings_due`] names, and closes what
//! [`Liveness::dead`] returns.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How long a connection may be quiet before this end pings it (the end
/// with the lower peer id; the other waits [`FOLLOWER_DELAY`] longer).
pub(crate) const QUIET_BEFORE_PING: Duration = Duration::from_millis(1500);
/// How much longer the end with the higher peer id waits before pinging
/// a quiet link: the other end's ping usually comes first.
pub(crate) const FOLLOWER_DELAY: Duration = Duration::from_millis(500);
/// How long one ping may take before it counts as lost.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// A connection with no sign of life for this long is closed.
pub(crate) const LINK_TIMEOUT: Duration = Duration::from_secs(4);
/// A gap between two checks longer than this means the node itself was not
/// running (a stalled machine, a suspended process): answers may be waiting
/// unread, so nothing is judged on that check.
const STALL: Duration = Duration::from_secs(1);

/// One watched connection.
#[derive(Debug)]
struct Link {
    /// When it last showed a sign of life.
    alive_at: Instant,
    /// When this end last sent a ping on it that is not answered yet.
    pinged_at: Option<Instant>,
    /// Quiet this long, it is pinged.
    quiet_after: Duration,
    /// No ping was sent on it yet: the first goes at once.
    new: bool,
}

/// When each watched connection last proved alive.
#[derive(Debug)]
pub(crate) struct Liveness<C> {
    links: HashMap<C, Link>,
    last_check: Option<Instant>,
}

impl<C: Hash + Eq + Copy> Liveness<C> {
    pub(crate) fn new() -> Self {
        Liveness { links: HashMap::new(), last_check: None }
    }

    /// A connection opened: watched, alive now. `leads`: this end pings a
    /// quiet link first (it has the lower peer id).
    pub(crate) fn watch(&mut self, connection: C, now: Instant, leads: bool) {
        let quiet_after = if leads { QUIET_BEFORE_PING } else { QUIET_BEFORE_PING + FOLLOWER_DELAY };
        self.links.insert(connection, Link { alive_at: now, pinged_at: None, quiet_after, new: true });
    }

    /// This end's ping on the connection was answered.
    pub(crate) fn answered(&mut self, connection: &C, now: Instant) {
        if let Some(link) = self.links.get_mut(connection) {
            link.alive_at = now;
            link.pinged_at = None;
        }
    }

    /// This end's ping on the connection failed: the next check may send
    /// another (the link timeout decides whether it is dead).
    pub(crate) fn ping_failed(&mut self, connection: &C) {
        if let Some(link) = self.links.get_mut(connection) {
            link.pinged_at = None;
        }
    }

    /// Something arrived on the connection (a message, the peer's ping):
    /// alive now, if it is watched (a peer that does not answer pings stays
    /// unwatched).
    pub(crate) fn heard(&mut self, connection: &C, now: Instant) {
        if let Some(link) = self.links.get_mut(connection) {
            link.alive_at = now;
        }
    }

    /// The connection is closed, or its peer does not answer pings at all
    /// (an implementation without ping): not watched.
    pub(crate) fn forget(&mut self, connection: &C) {
        self.links.remove(connection);
    }

    /// The connections to ping at `now`: new ones, and those quiet long
    /// enough with no ping of this end's out on them for less than
    /// [`PING_TIMEOUT`]. Each is taken to be pinged now.
    ///
    /// A new connection is pinged at once, by both ends: its ping stream
    /// is opened while the link is fresh (over a slow link, opening one
    /// costs a round trip more than a ping on it: 750 ms each way made the
    /// first answer come after the link timeout), and the peer shows early
    /// whether it speaks ping at all.
    pub(crate) fn pings_due(&mut self, now: Instant) -> Vec<C> {
        let mut due = Vec::new();
        for (connection, link) in &mut self.links {
            let quiet = now.saturating_duration_since(link.alive_at) >= link.quiet_after;
            let out = link.pinged_at.is_some_and(|at| now.saturating_duration_since(at) < PING_TIMEOUT);
            if link.new || (quiet && !out) {
                link.new = false;
                link.pinged_at = Some(now);
                due.push(*connection);
            }
        }
        due
    }

    /// The connections to close at `now`: silent for [`LINK_TIMEOUT`].
    pub(crate) fn dead(&mut self, now: Instant) -> Vec<C> {
        let stalled = self.last_check.is_some_and(|last| now.saturating_duration_since(last) > STALL);
        self.last_check = Some(now);
        if stalled {
            // Every connection gets a fresh allowance from now.
            self.links.values_mut().for_each(|link| link.alive_at = now);
            return Vec::new();
        }
        let dead: Vec<C> = self
            .links
            .iter()
            .filter(|(_, link)| now.saturating_duration_since(link.alive_at) >= LINK_TIMEOUT)
            .map(|(c, _)| *c)
            .collect();
        for c in &dead {
            self.links.remove(c);
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
        live.watch(1, t0, true);
        live.watch(2, t0, true);
        // Connection 1 keeps answering, 2 falls silent at t0.
        let mut closed_at = None;
        let mut at = t0;
        while at < t0 + Duration::from_secs(10) {
            at += ms(250);
            live.answered(&1, at);
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
        live.watch(1, t0, true);
        assert!(live.dead(t0 + ms(250)).is_empty());
        // The process was stopped for 10 s: the answers wait unread.
        assert!(live.dead(t0 + Duration::from_secs(10)).is_empty());
        live.answered(&1, t0 + Duration::from_secs(10) + ms(10));
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
        live.watch(7, t0, true);
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
        live.watch(1, t0, true);
        live.watch(2, t0, true);
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
    /// Two ends of one quiet link, each checked every 250 ms as the actor
    /// does (the two checks out of phase), a ping taking `one_way` to
    /// arrive and its answer as long to come back, until `cut`: the pings
    /// each end sent, and when each closed the link (from the start).
    fn quiet_link(one_way: Duration, cut: Duration, until: Duration) -> ([u32; 2], [Option<Duration>; 2]) {
        busy_link(one_way, [None, None], cut, until)
    }

    /// [`quiet_link`], with each end also sending a gossip message every
    /// `gossip[end]`, which counts as a sign of life at the other end only.
    fn busy_link(
        one_way: Duration,
        gossip: [Option<Duration>; 2],
        cut: Duration,
        until: Duration,
    ) -> ([u32; 2], [Option<Duration>; 2]) {
        let t0 = Instant::now();
        let mut ends = [Liveness::new(), Liveness::new()];
        ends[0].watch(1, t0, true);
        ends[1].watch(1, t0, false);
        let (mut pings, mut closed) = ([0u32; 2], [None; 2]);
        // (arrival, receiving end, whether it is an answer)
        let mut in_flight: Vec<(Instant, usize, bool)> = Vec::new();
        let phase = [ms(0), ms(130)];
        let mut at = t0;
        while at < t0 + until {
            at += ms(10);
            let (arrived, rest): (Vec<_>, Vec<_>) =
                in_flight.into_iter().partition(|(when, _, _)| *when <= at);
            in_flight = rest;
            for (when, to, answer) in arrived {
                if answer {
                    ends[to].answered(&1, when);
                } else {
                    ends[to].heard(&1, when);
                    if when - t0 < cut {
                        in_flight.push((when + one_way, 1 - to, true));
                    }
                }
            }
            for me in 0..2 {
                if let Some(every) = gossip[me]
                    && (at - t0).as_millis().is_multiple_of(every.as_millis())
                    && at - t0 < cut
                {
                    // A message: heard at the other end, answered by nothing.
                    in_flight.push((at + one_way, 1 - me, true));
                }
                if !(at - t0 + phase[me]).as_millis().is_multiple_of(250) {
                    continue;
                }
                if closed[me].is_none() && ends[me].dead(at).contains(&1) {
                    closed[me] = Some(at - t0);
                }
                for _ in ends[me].pings_due(at) {
                    pings[me] += 1;
                    if at - t0 < cut {
                        in_flight.push((at + one_way, 1 - me, false));
                    }
                }
            }
        }
        (pings, closed)
    }

    #[test]
    fn a_quiet_link_is_pinged_by_one_end_about_every_interval() {
        let (pings, closed) = quiet_link(ms(1), Duration::from_secs(600), Duration::from_secs(60));
        assert_eq!(closed, [None, None], "a link whose pings are answered stays open");
        // Both ends once when the link opens; then the leading end every
        // 1.5 to 1.75 s, the other never: the leader's pings reach it first.
        assert!((35..=41).contains(&pings[0]), "leader pinged {} times in 60 s", pings[0]);
        assert_eq!(pings[1], 1, "the follower pinged after the first");
    }

    /// A slow link (750 ms each way, `crates/possync-daemon/tests/
    /// double_pay.rs` S22) stays open: its pings come back well within
    /// the link timeout.
    #[test]
    fn a_quiet_slow_link_stays_open() {
        let (_, closed) = quiet_link(ms(760), Duration::from_secs(600), Duration::from_secs(120));
        assert_eq!(closed, [None, None]);
        // Messages one way only keep the receiving end from pinging; the
        // sending end's own pings must keep it from closing the link.
        for gossip in [[Some(ms(990)), None], [None, Some(ms(990))], [Some(ms(1990)), Some(ms(4970))]] {
            let (_, closed) = busy_link(ms(760), gossip, Duration::from_secs(600), Duration::from_secs(120));
            assert_eq!(closed, [None, None], "with gossip every {gossip:?}");
        }
    }

    #[test]
    fn a_cut_quiet_link_is_closed_at_both_ends_within_the_bound() {
        let cut = Duration::from_secs(30);
        let (pings, closed) = quiet_link(ms(1), cut, Duration::from_secs(60));
        for (end, at) in closed.iter().enumerate() {
            let at = at.unwrap_or_else(|| panic!("end {end} never closed the link"));
            let after = at - cut;
            assert!(after <= LINK_TIMEOUT + ms(250), "end {end} closed {after:?} after the cut");
        }
        // Once the leader's pings stop arriving, the follower pings too.
        assert!(pings[1] >= 1);
    }

    /// Link 1, opened at `t0` by the leading end, its first ping (sent at
    /// once) answered at once.
    fn opened_and_answered(t0: Instant) -> Liveness<u32> {
        let mut live = Liveness::new();
        live.watch(1, t0, true);
        assert_eq!(live.pings_due(t0), vec![1], "a new link is pinged at once");
        live.answered(&1, t0);
        live
    }

    #[test]
    fn a_link_that_carries_messages_is_never_pinged() {
        let t0 = Instant::now();
        let mut live = opened_and_answered(t0);
        let mut at = t0;
        while at < t0 + Duration::from_secs(30) {
            at += ms(250);
            if (at - t0).as_millis().is_multiple_of(1000) {
                live.heard(&1, at);
            }
            assert!(live.pings_due(at).is_empty(), "pinged at {:?}", at - t0);
        }
    }

    #[test]
    fn one_ping_is_out_at_a_time_and_a_failed_one_is_sent_again() {
        let t0 = Instant::now();
        let mut live = opened_and_answered(t0);
        assert!(live.pings_due(t0 + ms(1250)).is_empty());
        assert_eq!(live.pings_due(t0 + ms(1500)), vec![1]);
        // Unanswered: not again before the ping timeout...
        assert!(live.pings_due(t0 + ms(3250)).is_empty());
        // ...then again.
        assert_eq!(live.pings_due(t0 + ms(3500)), vec![1]);
        // A failure lets the next check send another at once.
        live.ping_failed(&1);
        assert_eq!(live.pings_due(t0 + ms(3750)), vec![1]);
    }
}
