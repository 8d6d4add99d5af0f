//! The session handshake: a connected terminal becomes a peer of this
//! multi-session only once it subscribes to the session's gossip topic.
//!
//! A connection alone proves nothing about the session: two floors sharing a
//! key file, or running without one, can reach each other on one LAN (mDNS
//! finds every possync terminal). Gossip already stays within its topic;
//! catch-up, which starts as soon as a peer is admitted, carries no session,
//! so admitting on connection merged the floors' orders. Until the peer's
//! subscription arrives, nothing is exchanged with it: catch-up requests it
//! sends are held (a few, see [`MAX_HELD_REQUESTS`]) and answered once it is
//! admitted. A terminal subscribed only to other possync sessions is refused
//! and named in the log; one that subscribes to nothing within
//! [`ADMISSION_TIMEOUT`] is disconnected (the actor dials it again).
//!
//! Sans-IO: the actor reports connections and subscriptions and carries out
//! the verdicts.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Every possync topic starts with this; the multi-session id follows.
pub const TOPIC_PREFIX: &str = "possync/1/";
/// How long a connected terminal has to subscribe to a topic. Its
/// subscriptions are the first thing gossipsub sends on a new connection
/// (milliseconds); the margin is for a machine under load.
pub(crate) const ADMISSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Catch-up requests held per terminal waiting for admission; more are
/// dropped (the sender retries after its timeout).
pub(crate) const MAX_HELD_REQUESTS: usize = 32;

/// Why a connected terminal is not admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It joined these other multi-sessions, not this one.
    OtherSessions(Vec<String>),
    /// It joined no possync session in time.
    NoSession,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::OtherSessions(s) => write!(f, "it belongs to multi-session {}", s.join(", ")),
            Refusal::NoSession => {
                write!(f, "it joined no possync multi-session within {} s", ADMISSION_TIMEOUT.as_secs())
            }
        }
    }
}

#[derive(Debug)]
struct Waiting<R> {
    since: Instant,
    other_sessions: Vec<String>,
    held: Vec<R>,
}

/// Terminals connected but not yet admitted, with what they sent meanwhile.
#[derive(Debug)]
pub(crate) struct Admission<P, R> {
    topic: String,
    waiting: HashMap<P, Waiting<R>>,
}

impl<P: Hash + Eq + Clone, R> Admission<P, R> {
    /// For the multi-session whose gossip topic is `topic`.
    pub(crate) fn new(topic: impl Into<String>) -> Self {
        Admission { topic: topic.into(), waiting: HashMap::new() }
    }

    /// A first connection to `peer` is up: it waits for its subscription.
    pub(crate) fn connected(&mut self, peer: P, now: Instant) {
        self.waiting.insert(peer, Waiting { since: now, other_sessions: Vec::new(), held: Vec::new() });
    }

    pub(crate) fn is_waiting(&self, peer: &P) -> bool {
        self.waiting.contains_key(peer)
    }

    /// `peer` subscribed to `topic`. `Some(held)` admits it, with the
    /// requests held for it in arrival order.
    pub(crate) fn subscribed(&mut self, peer: &P, topic: &str) -> Option<Vec<R>> {
        if topic == self.topic {
            return self.waiting.remove(peer).map(|w| w.held);
        }
        if let (Some(w), Some(session)) = (self.waiting.get_mut(peer), topic.strip_prefix(TOPIC_PREFIX))
            && !w.other_sessions.iter().any(|s| s == session)
        {
            w.other_sessions.push(session.to_owned());
        }
        None
    }

    /// Holds a request from a waiting `peer`; gives it back when the peer is
    /// not waiting or already has [`MAX_HELD_REQUESTS`] held.
    pub(crate) fn hold(&mut self, peer: &P, request: R) -> Result<(), R> {
        match self.waiting.get_mut(peer) {
            Some(w) if w.held.len() < MAX_HELD_REQUESTS => {
                w.held.push(request);
                Ok(())
            }
            _ => Err(request),
        }
    }

    /// The peer's last connection closed. A terminal seen joining other
    /// sessions only is refused all the same (it hung up first).
    pub(crate) fn disconnected(&mut self, peer: &P) -> Option<Refusal> {
        let w = self.waiting.remove(peer)?;
        (!w.other_sessions.is_empty()).then_some(Refusal::OtherSessions(w.other_sessions))
    }

    /// Forgets every waiting peer (the node isolates itself).
    pub(crate) fn clear(&mut self) {
        self.waiting.clear();
    }

    /// The terminals to refuse at `now`: those that joined other sessions
    /// only (checked after their subscriptions had a moment to all arrive),
    /// and those silent past [`ADMISSION_TIMEOUT`].
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(P, Refusal)> {
        let mut refused = Vec::new();
        self.waiting.retain(|peer, w| {
            let refusal = if !w.other_sessions.is_empty() {
                Refusal::OtherSessions(std::mem::take(&mut w.other_sessions))
            } else if now.saturating_duration_since(w.since) >= ADMISSION_TIMEOUT {
                Refusal::NoSession
            } else {
                return true;
            };
            refused.push((peer.clone(), refusal));
            false
        });
        refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "possync/1/floor-1";

    #[test]
    fn a_terminal_of_this_session_is_admitted_with_what_it_sent_while_waiting() {
        let t0 = Instant::now();
        let mut admission = Admission::new(OURS);
        admission.connected("b", t0);
        assert!(admission.hold(&"b", 1).is_ok());
        assert!(admission.hold(&"b", 2).is_ok());
        assert_eq!(admission.hold(&"c", 3), Err(3), "c is not connected");
        assert_eq!(admission.subscribed(&"b", OURS), Some(vec![1, 2]));
        assert!(!admission.is_waiting(&"b"));
        assert!(admission.due(t0 + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn a_terminal_of_another_session_is_refused_and_named() {
        let t0 = Instant::now();
        let mut admission: Admission<&str, u8> = Admission::new(OURS);
        admission.connected("d", t0);
        assert_eq!(admission.subscribed(&"d", "possync/1/floor-2"), None);
        assert_eq!(admission.due(t0), vec![("d", Refusal::OtherSessions(vec!["floor-2".into()]))]);
        assert!(!admission.is_waiting(&"d"));
        // Its subscription to this session arriving later admits nothing.
        assert_eq!(admission.subscribed(&"d", OURS), None);
    }

    #[test]
    fn a_terminal_of_another_session_that_hangs_up_first_is_refused_all_the_same() {
        let t0 = Instant::now();
        let mut admission: Admission<&str, u8> = Admission::new(OURS);
        admission.connected("d", t0);
        admission.subscribed(&"d", "possync/1/floor-2");
        assert_eq!(admission.disconnected(&"d"), Some(Refusal::OtherSessions(vec!["floor-2".into()])));
        admission.connected("g", t0);
        assert_eq!(admission.disconnected(&"g"), None, "nothing known of it");
    }

    #[test]
    fn a_terminal_in_both_sessions_is_admitted() {
        let t0 = Instant::now();
        let mut admission: Admission<&str, u8> = Admission::new(OURS);
        admission.connected("e", t0);
        admission.subscribed(&"e", "possync/1/floor-2");
        assert_eq!(admission.subscribed(&"e", OURS), Some(vec![]));
        assert!(admission.due(t0).is_empty());
    }

    #[test]
    fn a_silent_terminal_is_refused_after_the_timeout_and_holds_at_most_the_limit() {
        let t0 = Instant::now();
        let mut admission = Admission::new(OURS);
        admission.connected("f", t0);
        for i in 0..MAX_HELD_REQUESTS {
            assert!(admission.hold(&"f", i).is_ok());
        }
        assert_eq!(admission.hold(&"f", 99), Err(99));
        // A topic that is not possync's names no session.
        admission.subscribed(&"f", "chat");
        assert!(admission.due(t0 + ADMISSION_TIMEOUT - Duration::from_millis(1)).is_empty());
        assert_eq!(admission.due(t0 + ADMISSION_TIMEOUT), vec![("f", Refusal::NoSession)]);
    }
}
