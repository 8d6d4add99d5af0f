//! Per-peer protection for the pairwise catch-up protocol: a token bucket
//! per kind of traffic (catch-up messages, gossip, gossip that brings
//! nothing new) that bounds what a peer may send, and a count of recent
//! offences (refused data, messages over a rate) after which the peer is
//! disconnected. A broken or hostile peer then costs a bounded amount of work.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::EngineConfig;

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn full(now: Instant, burst: u32) -> Self {
        TokenBucket { tokens: f64::from(burst), refilled: now }
    }

    fn take(&mut self, now: Instant, rate: u32, burst: u32) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
pub(crate) struct PeerGuard {
    catchup: TokenBucket,
    gossip: TokenBucket,
    duplicates: TokenBucket,
    /// When recent offences happened, oldest first, within the window.
    offences: VecDeque<Instant>,
}

impl PeerGuard {
    pub fn new(now: Instant, cfg: &EngineConfig) -> Self {
        PeerGuard {
            catchup: TokenBucket::full(now, cfg.peer_message_burst),
            gossip: TokenBucket::full(now, cfg.peer_gossip_burst),
            duplicates: TokenBucket::full(now, cfg.peer_duplicate_burst),
            offences: VecDeque::new(),
        }
    }

    /// Takes one catch-up message's token; false when the peer is over its rate.
    pub fn admit(&mut self, now: Instant, cfg: &EngineConfig) -> bool {
        self.catchup.take(now, cfg.peer_messages_per_second, cfg.peer_message_burst)
    }

    /// Takes one gossip message's token (the peer forwarded or published it).
    pub fn admit_gossip(&mut self, now: Instant, cfg: &EngineConfig) -> bool {
        self.gossip.take(now, cfg.peer_gossip_per_second, cfg.peer_gossip_burst)
    }

    /// Takes a token for a gossip message that brought nothing new. A few are
    /// normal (a change can arrive by catch-up before its gossip copy); a
    /// storm of them is a peer replaying old changes at us.
    pub fn admit_duplicate(&mut self, now: Instant, cfg: &EngineConfig) -> bool {
        self.duplicates.take(now, cfg.peer_duplicates_per_second, cfg.peer_duplicate_burst)
    }

    /// Records an offence; true when the peer has now offended too often and
    /// should be disconnected.
    pub fn offend(&mut self, now: Instant, cfg: &EngineConfig) -> bool {
        let window = cfg.offence_window;
        while self.offences.front().is_some_and(|t| now.saturating_duration_since(*t) > window) {
            self.offences.pop_front();
        }
        self.offences.push_back(now);
        // Never hold more than the limit: the deque is bounded.
        while self.offences.len() > cfg.max_offences as usize + 1 {
            self.offences.pop_front();
        }
        self.offences.len() > cfg.max_offences as usize
    }
}

/// How long a runtime should refuse a disconnected offender's reconnections.
pub const BAN: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_the_configured_rate() {
        let cfg = EngineConfig { peer_messages_per_second: 10, peer_message_burst: 5, ..Default::default() };
        let t0 = Instant::now();
        let mut g = PeerGuard::new(t0, &cfg);
        assert_eq!((0..8).filter(|_| g.admit(t0, &cfg)).count(), 5, "the burst, then nothing");
        let later = t0 + Duration::from_millis(500);
        assert_eq!((0..8).filter(|_| g.admit(later, &cfg)).count(), 5, "half a second at 10/s");
    }

    #[test]
    fn offences_within_the_window_lead_to_disconnection() {
        let cfg =
            EngineConfig { max_offences: 3, offence_window: Duration::from_secs(60), ..Default::default() };
        let t0 = Instant::now();
        let mut g = PeerGuard::new(t0, &cfg);
        assert!(!g.offend(t0, &cfg) && !g.offend(t0, &cfg) && !g.offend(t0, &cfg));
        assert!(g.offend(t0, &cfg), "the fourth within a minute");
        let mut g = PeerGuard::new(t0, &cfg);
        for i in 0..10 {
            assert!(!g.offend(t0 + Duration::from_secs(61 * i), &cfg), "spread out, they expire");
        }
    }
}
