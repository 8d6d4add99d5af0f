//! Which terminals to dial, and when: static peers (addresses from the
//! configuration) and peers found by mDNS, both redialled with back-off
//! for as long as they are configured or listed.
//!
//! Sans-IO: the actor feeds it connections, discoveries and the clock, and
//! carries out the [`Dial`]s it returns. A dropped link must come back by
//! itself (S12): the back-off stays short ([`REDIAL_MAX`]) because a LAN
//! dial costs one SYN, and a terminal whose cable returns should be online
//! within a second, not at the next mDNS query minutes later.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

/// First redial delay after a link is lost or a dial fails.
pub(crate) const REDIAL_MIN: Duration = Duration::from_millis(250);
/// Longest redial delay. A dial whose SYN is lost (link down) stays pending
/// until the transport's outgoing timeout; a fresh dial at this pace is
/// what notices the link's return quickly.
pub(crate) const REDIAL_MAX: Duration = Duration::from_millis(500);

/// A dial the actor should start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dial {
    /// A static peer: its peer id is learnt on connection.
    Address(Multiaddr),
    /// A discovered peer, at every address discovery listed for it.
    Peer(PeerId, Vec<Multiaddr>),
}

#[derive(Debug)]
struct Retry {
    next: Instant,
    backoff: Duration,
}

impl Retry {
    fn now(now: Instant) -> Self {
        Retry { next: now, backoff: REDIAL_MIN }
    }

    /// Dialled at `now`: the next attempt waits, a little longer each time.
    fn dialled(&mut self, now: Instant) {
        self.next = now + self.backoff;
        self.backoff = (self.backoff * 2).min(REDIAL_MAX);
    }

    /// The link was lost: retry soon, starting the back-off afresh.
    fn lost(&mut self, now: Instant) {
        *self = Retry { next: now + REDIAL_MIN, backoff: REDIAL_MIN * 2 };
    }
}

#[derive(Debug)]
struct StaticPeer {
    addr: Multiaddr,
    /// The terminal answering at `addr`, while connected.
    connected: Option<PeerId>,
    retry: Retry,
}

#[derive(Debug)]
struct DiscoveredPeer {
    addrs: BTreeSet<Multiaddr>,
    connected: bool,
    retry: Retry,
}

/// The dialling policy of one terminal.
#[derive(Debug)]
pub(crate) struct Dialer {
    statics: Vec<StaticPeer>,
    discovered: BTreeMap<PeerId, DiscoveredPeer>,
    /// Peers not to dial until the instant given: another session's
    /// terminals, banned peers.
    refused: BTreeMap<PeerId, Instant>,
}

impl Dialer {
    pub(crate) fn new(statics: impl IntoIterator<Item = Multiaddr>, now: Instant) -> Self {
        let statics = statics
            .into_iter()
            .map(|addr| StaticPeer { addr, connected: None, retry: Retry::now(now) })
            .collect();
        Dialer { statics, discovered: BTreeMap::new(), refused: BTreeMap::new() }
    }

    /// mDNS listed `peer` at `addr`: dial it now unless connected.
    pub(crate) fn discovered(&mut self, peer: PeerId, addr: Multiaddr, now: Instant) {
        let entry = self.discovered.entry(peer).or_insert_with(|| DiscoveredPeer {
            addrs: BTreeSet::new(),
            connected: false,
            retry: Retry::now(now),
        });
        if entry.addrs.insert(without_p2p(&addr)) && !entry.connected {
            entry.retry = Retry::now(now);
        }
    }

    /// mDNS no longer lists `peer` at `addr` (its record expired): once no
    /// address is left, the peer is no longer dialled.
    pub(crate) fn expired(&mut self, peer: &PeerId, addr: &Multiaddr) {
        if let Some(entry) = self.discovered.get_mut(peer) {
            entry.addrs.remove(&without_p2p(addr));
            if entry.addrs.is_empty() {
                self.discovered.remove(peer);
            }
        }
    }

    /// A connection to `peer` is up; `dialled` is the address this terminal
    /// dialled, if it did.
    pub(crate) fn connected(&mut self, peer: PeerId, dialled: Option<&Multiaddr>) {
        if let Some(dialled) = dialled.map(without_p2p) {
            for p in self.statics.iter_mut().filter(|p| without_p2p(&p.addr) == dialled) {
                p.connected = Some(peer);
            }
        }
        if let Some(entry) = self.discovered.get_mut(&peer) {
            entry.connected = true;
        }
    }

    /// The last connection to `peer` closed: redial it soon.
    pub(crate) fn disconnected(&mut self, peer: &PeerId, now: Instant) {
        for p in self.statics.iter_mut().filter(|p| p.connected.as_ref() == Some(peer)) {
            p.connected = None;
            p.retry.lost(now);
        }
        if let Some(entry) = self.discovered.get_mut(peer) {
            entry.connected = false;
            entry.retry.lost(now);
        }
    }

    /// `peer` was refused (another session, a ban): neither dialled nor
    /// heard before `until`, including a static peer whose address it
    /// answers at. A refusal never shortens one already standing (a ban
    /// outlasts a later refusal for another session).
    pub(crate) fn refuse(&mut self, peer: PeerId, until: Instant) {
        let until = *self.refused.entry(peer).and_modify(|u| *u = (*u).max(until)).or_insert(until);
        for p in self.statics.iter_mut().filter(|p| p.connected == Some(peer)) {
            p.connected = None;
            p.retry.next = p.retry.next.max(until);
        }
        if let Some(entry) = self.discovered.get_mut(&peer) {
            entry.connected = false;
        }
    }

    /// Whether `peer` is refused at `now`: its connections are closed at once.
    pub(crate) fn is_refused(&self, peer: &PeerId, now: Instant) -> bool {
        self.refused.get(peer).is_some_and(|until| *until > now)
    }

    /// Everything is to be dialled now (the cable is back).
    pub(crate) fn reset(&mut self, now: Instant) {
        for p in &mut self.statics {
            p.retry = Retry::now(now);
        }
        for entry in self.discovered.values_mut() {
            entry.retry = Retry::now(now);
        }
    }

    /// The dials due at `now`, each counted as attempted.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Dial> {
        self.refused.retain(|_, until| *until > now);
        let mut dials = Vec::new();
        for p in self.statics.iter_mut().filter(|p| p.connected.is_none() && now >= p.retry.next) {
            p.retry.dialled(now);
            dials.push(Dial::Address(p.addr.clone()));
        }
        for (peer, entry) in &mut self.discovered {
            if !entry.connected && now >= entry.retry.next && !self.refused.contains_key(peer) {
                entry.retry.dialled(now);
                dials.push(Dial::Peer(*peer, entry.addrs.iter().cloned().collect()));
            }
        }
        dials
    }
}

/// An address without its `/p2p/<peer id>` suffix, which the swarm and mDNS
/// may add.
pub(crate) fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    addr.iter().filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_))).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/10.0.0.1/tcp/{port}").parse().unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_discovered_peer_is_dialled_at_once_and_redialled_after_its_link_drops() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut dialer = Dialer::new([], t0);
        dialer.discovered(peer, addr(1), t0);
        assert_eq!(dialer.due(t0), vec![Dial::Peer(peer, vec![addr(1)])]);
        dialer.connected(peer, None);
        assert!(dialer.due(t0 + Duration::from_secs(60)).is_empty(), "connected: not dialled");

        // The link drops: redialled within REDIAL_MIN, then at most every
        // REDIAL_MAX for as long as mDNS lists it, however long that is.
        let lost = t0 + Duration::from_secs(60);
        dialer.disconnected(&peer, lost);
        assert!(dialer.due(lost).is_empty());
        let mut at = lost + REDIAL_MIN;
        let mut dials = 0;
        while at < lost + Duration::from_secs(30) {
            dials += dialer.due(at).len();
            at += ms(50);
        }
        assert!((58..=62).contains(&dials), "two dials a second once backed off, got {dials}");
        // Gone from mDNS: no longer dialled.
        dialer.expired(&peer, &addr(1));
        assert!(dialer.due(at + Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn a_static_peer_is_redialled_with_back_off_until_connected() {
        let t0 = Instant::now();
        let mut dialer = Dialer::new([addr(1)], t0);
        let times: Vec<Duration> =
            (0..80u64).map(|i| ms(i * 50)).filter(|&d| !dialer.due(t0 + d).is_empty()).collect();
        assert_eq!(&times[..5], &[ms(0), ms(250), ms(750), ms(1250), ms(1750)]);
        let peer = PeerId::random();
        dialer.connected(peer, Some(&addr(1)));
        assert!(dialer.due(t0 + Duration::from_secs(10)).is_empty());
        dialer.disconnected(&peer, t0 + Duration::from_secs(10));
        assert_eq!(dialer.due(t0 + Duration::from_secs(10) + REDIAL_MIN), vec![Dial::Address(addr(1))]);
    }

    #[test]
    fn a_refused_peer_is_not_dialled_until_its_refusal_ends() {
        let t0 = Instant::now();
        let foreign = PeerId::random();
        let mut dialer = Dialer::new([addr(1)], t0);
        dialer.discovered(foreign, addr(2), t0);
        assert_eq!(dialer.due(t0).len(), 2);
        // The static address answered as the foreign terminal too.
        dialer.connected(foreign, Some(&addr(1)));
        let until = t0 + Duration::from_secs(60);
        dialer.refuse(foreign, until);
        dialer.disconnected(&foreign, t0);
        for s in 1..60 {
            assert!(dialer.due(t0 + Duration::from_secs(s)).is_empty(), "dialled at {s} s");
        }
        assert_eq!(dialer.due(until).len(), 2, "both dialled again once the refusal ends");
    }

    #[test]
    fn a_shorter_refusal_does_not_cut_a_ban_short() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut dialer = Dialer::new([], t0);
        dialer.refuse(peer, t0 + Duration::from_secs(600));
        dialer.refuse(peer, t0 + Duration::from_secs(60));
        assert!(dialer.is_refused(&peer, t0 + Duration::from_secs(61)));
        assert!(!dialer.is_refused(&peer, t0 + Duration::from_secs(600)));
    }

    #[test]
    fn an_address_with_a_peer_suffix_names_the_same_static_peer() {
        let t0 = Instant::now();
        let peer = PeerId::random();
        let mut dialer = Dialer::new([addr(1)], t0);
        let with_suffix: Multiaddr = format!("{}/p2p/{peer}", addr(1)).parse().unwrap();
        dialer.connected(peer, Some(&with_suffix));
        assert!(dialer.due(t0 + Duration::from_secs(5)).is_empty());
    }
}
