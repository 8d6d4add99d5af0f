//! Payment claims: which terminal is taking the payment of an order right
//! now, so that two cashiers never charge one customer twice.
//!
//! A claim is ephemeral: it lives in memory for a short time (`ttl`,
//! renewed while the payment screen is open) and travels as pairwise
//! messages (`Claim`, `ClaimReply`, `ClaimRelease`, `docs/PROTOCOL.md`
//! §4.6), never in the order document. The claimant asks every connected
//! peer; the claim is **granted** once each has answered yes, has gone away,
//! or `ack_timeout` has passed (a silent peer must not block a terminal that
//! is alone; whatever that lets through, the merge flags `overpaid`). A peer
//! says no while it holds a fresh claim of its own, or knows another
//! terminal's. Two claims made at once are settled the same way on both
//! sides: the smaller `(token, terminal)` wins, the other is dropped.
//!
//! Safety between two connected terminals rests only on their own exchange:
//! each must grant the other, and a terminal never grants while its own
//! claim holds or wins the tie-break.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use automerge::ChangeHash;
use possync_model::{OrderId, TerminalId};

use crate::wire::{ClaimMsg, Direct};

/// A claim as the application sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentClaim {
    pub order: OrderId,
    /// Who is taking the payment.
    pub terminal: TerminalId,
    pub user: String,
    /// This terminal's own claim.
    pub mine: bool,
    /// For our own claim: every peer agreed (or went away, or stayed silent
    /// past the ack timeout); the payment may be taken. Always true for
    /// another terminal's claim we know.
    pub granted: bool,
    /// When the claim lapses unless renewed.
    pub expires: Instant,
}

/// What the engine must carry out after a claim step.
#[derive(Debug)]
pub(crate) enum ClaimAct<P> {
    Send(P, Direct),
    /// The order's claim changed (for an event).
    Changed(OrderId),
}

#[derive(Debug)]
struct Own<P> {
    token: u64,
    user: String,
    /// Peers that have not answered yet.
    waiting: BTreeSet<P>,
    granted: bool,
    ack_deadline: Instant,
    expires: Instant,
}

#[derive(Debug)]
struct Other<P> {
    token: u64,
    terminal: TerminalId,
    user: String,
    received: Instant,
    expires: Instant,
    /// The peer it came from: when that peer goes away, so does its claim.
    via: P,
    /// Released, once this terminal holds these heads of the order (the
    /// payment the claimant took may still be on its way).
    released_at: Option<Vec<ChangeHash>>,
}

/// Every claim this terminal knows.
#[derive(Debug)]
pub(crate) struct Claims<P> {
    ttl: Duration,
    ack_timeout: Duration,
    own: BTreeMap<OrderId, Own<P>>,
    others: BTreeMap<OrderId, Other<P>>,
}

/// The tie-break of two claims made at once: the smaller wins.
fn priority(token: u64, terminal: &TerminalId) -> (u64, &str) {
    (token, terminal.as_str())
}

impl<P: Clone + Ord> Claims<P> {
    pub fn new(ttl: Duration, ack_timeout: Duration) -> Self {
        Claims { ttl, ack_timeout, own: BTreeMap::new(), others: BTreeMap::new() }
    }

    fn ttl_ms(&self) -> u32 {
        u32::try_from(self.ttl.as_millis()).unwrap_or(u32::MAX).min(crate::wire::MAX_CLAIM_TTL_MS)
    }

    fn own_msg(&self, me: &TerminalId, order: &OrderId, own: &Own<P>) -> ClaimMsg {
        ClaimMsg {
            order: order.clone(),
            token: own.token,
            terminal: me.clone(),
            user: own.user.clone(),
            ttl_ms: self.ttl_ms(),
        }
    }

    fn view_own(me: &TerminalId, order: &OrderId, own: &Own<P>) -> PaymentClaim {
        PaymentClaim {
            order: order.clone(),
            terminal: me.clone(),
            user: own.user.clone(),
            mine: true,
            granted: own.granted,
            expires: own.expires,
        }
    }

    fn view_other(order: &OrderId, other: &Other<P>) -> PaymentClaim {
        PaymentClaim {
            order: order.clone(),
            terminal: other.terminal.clone(),
            user: other.user.clone(),
            mine: false,
            granted: true,
            expires: other.expires,
        }
    }

    /// The claim on `order` this terminal knows of, if any is fresh.
    pub fn get(&self, now: Instant, me: &TerminalId, order: &OrderId) -> Option<PaymentClaim> {
        if let Some(own) = self.own.get(order).filter(|o| o.expires > now) {
            return Some(Self::view_own(me, order, own));
        }
        self.others.get(order).filter(|o| o.expires > now).map(|o| Self::view_other(order, o))
    }

    /// Every fresh claim, by order.
    pub fn all(&self, now: Instant, me: &TerminalId) -> Vec<PaymentClaim> {
        let mut out: Vec<PaymentClaim> = self
            .own
            .iter()
            .filter(|(_, o)| o.expires > now)
            .map(|(id, o)| Self::view_own(me, id, o))
            .collect();
        out.extend(
            self.others
                .iter()
                .filter(|(id, o)| o.expires > now && !self.own.contains_key(*id))
                .map(|(id, o)| Self::view_other(id, o)),
        );
        out.sort_by(|a, b| a.order.cmp(&b.order));
        out
    }

    /// Asks for (or renews) this terminal's claim on `order`. Answers the
    /// claim that now stands: ours (granted or still waiting for peers), or
    /// another terminal's fresh one, which refuses ours.
    #[allow(clippy::too_many_arguments)] // the request, plus context
    pub fn claim(
        &mut self,
        now: Instant,
        me: &TerminalId,
        user: &str,
        order: &OrderId,
        peers: &[P],
        token: u64,
        acts: &mut Vec<ClaimAct<P>>,
    ) -> PaymentClaim {
        // A lapsed claim of ours (not yet swept by `tick`) is no claim.
        if self.own.get(order).is_some_and(|o| o.expires <= now) {
            self.own.remove(order);
        }
        if !self.own.contains_key(order)
            && let Some(other) = self.others.get(order).filter(|o| o.expires > now)
        {
            return Self::view_other(order, other);
        }
        let ttl = self.ttl;
        let renewal = self.own.contains_key(order);
        let own = self.own.entry(order.clone()).or_insert_with(|| Own {
            token,
            user: user.to_owned(),
            waiting: peers.iter().cloned().collect(),
            granted: peers.is_empty(),
            ack_deadline: now + self.ack_timeout,
            expires: now + ttl,
        });
        own.expires = now + ttl;
        // Another cashier at this terminal may take over the screen.
        let new_user = own.user != user;
        if new_user {
            own.user = user.to_owned();
        }
        let view = Self::view_own(me, order, own);
        let msg = self.own_msg(me, order, &self.own[order]);
        for p in peers {
            acts.push(ClaimAct::Send(p.clone(), Direct::Claim(msg.clone())));
        }
        if !renewal || new_user {
            acts.push(ClaimAct::Changed(order.clone()));
        }
        view
    }

    /// This terminal is done with the order's payment (paid, or gave up).
    pub fn release(
        &mut self,
        order: &OrderId,
        heads: &[ChangeHash],
        peers: &[P],
        acts: &mut Vec<ClaimAct<P>>,
    ) {
        if let Some(own) = self.own.remove(order) {
            for p in peers {
                let heads = heads.to_vec();
                acts.push(ClaimAct::Send(
                    p.clone(),
                    Direct::ClaimRelease { order: order.clone(), token: own.token, heads },
                ));
            }
            acts.push(ClaimAct::Changed(order.clone()));
        }
    }

    /// A peer asks for an order's claim.
    pub fn on_claim(
        &mut self,
        now: Instant,
        me: &TerminalId,
        from: &P,
        msg: ClaimMsg,
        peers: &[P],
        acts: &mut Vec<ClaimAct<P>>,
    ) {
        let order = msg.order.clone();
        let refuse = |holder: ClaimMsg, acts: &mut Vec<ClaimAct<P>>| {
            acts.push(ClaimAct::Send(
                from.clone(),
                Direct::ClaimReply { order: msg.order.clone(), token: msg.token, granted: false, holder },
            ));
        };
        if let Some(own) = self.own.get(&order).filter(|o| o.expires > now) {
            let ours_wins = priority(own.token, me) < priority(msg.token, &msg.terminal);
            if own.granted || ours_wins {
                refuse(self.own_msg(me, &order, own), acts);
                return;
            }
            // Both asked at once and theirs wins: ours is dropped, and the
            // peers that granted it forget it.
            if let Some(own) = self.own.remove(&order) {
                Self::send_release(&order, own.token, peers, from, acts);
            }
        } else if let Some(other) = self.others.get(&order).filter(|o| o.expires > now) {
            // Another terminal's claim we granted: the same terminal renewing
            // (or asking again) is fine; a third terminal is refused, unless
            // both asked at once and it wins the same tie-break its rival will
            // apply (the rival refuses it otherwise, so this stays safe).
            let same = other.token == msg.token || other.terminal == msg.terminal;
            let young = now.saturating_duration_since(other.received) < self.ack_timeout;
            let wins = priority(msg.token, &msg.terminal) < priority(other.token, &other.terminal);
            let may_replace = same || (young && wins);
            if !may_replace {
                let holder = ClaimMsg {
                    order: order.clone(),
                    token: other.token,
                    terminal: other.terminal.clone(),
                    user: other.user.clone(),
                    ttl_ms: u32::try_from(other.expires.saturating_duration_since(now).as_millis())
                        .unwrap_or(u32::MAX)
                        .min(crate::wire::MAX_CLAIM_TTL_MS),
                };
                refuse(holder, acts);
                return;
            }
        }
        let ttl = Duration::from_millis(u64::from(msg.ttl_ms));
        let received = match self.others.get(&order) {
            Some(o) if o.token == msg.token => o.received,
            _ => now,
        };
        let holder = ClaimMsg { ttl_ms: msg.ttl_ms, ..msg.clone() };
        self.others.insert(
            order.clone(),
            Other {
                token: msg.token,
                terminal: msg.terminal,
                user: msg.user,
                received,
                expires: now + ttl,
                via: from.clone(),
                released_at: None,
            },
        );
        acts.push(ClaimAct::Send(
            from.clone(),
            Direct::ClaimReply { order: order.clone(), token: msg.token, granted: true, holder },
        ));
        acts.push(ClaimAct::Changed(order));
    }

    /// A peer answers our claim.
    #[allow(clippy::too_many_arguments)] // one message's fields, plus context
    pub fn on_reply(
        &mut self,
        now: Instant,
        from: &P,
        order: &OrderId,
        token: u64,
        granted: bool,
        holder: ClaimMsg,
        peers: &[P],
        acts: &mut Vec<ClaimAct<P>>,
    ) {
        let Some(own) = self.own.get_mut(order).filter(|o| o.token == token) else { return };
        if own.granted {
            // A late answer (to a renewal, or after a partition healed): the
            // payment may already be under way; the merge flags a double.
            return;
        }
        if granted {
            own.waiting.remove(from);
            if own.waiting.is_empty() {
                own.granted = true;
                acts.push(ClaimAct::Changed(order.clone()));
            }
            return;
        }
        // Refused: the peers that granted ours forget it (otherwise three
        // terminals asking at once could each keep another's dropped claim
        // for its whole lifetime, and nobody could pay).
        self.own.remove(order);
        Self::send_release(order, token, peers, from, acts);
        if holder.order == *order {
            let ttl = Duration::from_millis(u64::from(holder.ttl_ms));
            self.others.insert(
                order.clone(),
                Other {
                    token: holder.token,
                    terminal: holder.terminal,
                    user: holder.user,
                    received: now,
                    expires: now + ttl,
                    via: from.clone(),
                    released_at: None,
                },
            );
        }
        acts.push(ClaimAct::Changed(order.clone()));
    }

    /// A dropped claim never paid anything: its release names no heads.
    fn send_release(order: &OrderId, token: u64, peers: &[P], except: &P, acts: &mut Vec<ClaimAct<P>>) {
        for p in peers.iter().filter(|p| *p != except) {
            let release = Direct::ClaimRelease { order: order.clone(), token, heads: Vec::new() };
            acts.push(ClaimAct::Send(p.clone(), release));
        }
    }

    /// A peer is done with its claim. `held`: whether this terminal holds
    /// every head the release names; if not, the claim stays until
    /// [`Claims::order_changed`] says it does.
    pub fn on_release(
        &mut self,
        order: &OrderId,
        token: u64,
        heads: Vec<ChangeHash>,
        held: bool,
        acts: &mut Vec<ClaimAct<P>>,
    ) {
        let Some(other) = self.others.get_mut(order).filter(|o| o.token == token) else { return };
        if held {
            self.others.remove(order);
            acts.push(ClaimAct::Changed(order.clone()));
        } else {
            other.released_at = Some(heads);
        }
    }

    /// The heads a released claim on `order` still waits for, if any.
    pub fn waiting_heads(&self, order: &OrderId) -> Option<&[ChangeHash]> {
        self.others.get(order).and_then(|o| o.released_at.as_deref())
    }

    /// The order now holds the heads its released claim waited for.
    pub fn release_complete(&mut self, order: &OrderId, acts: &mut Vec<ClaimAct<P>>) {
        if self.others.get(order).is_some_and(|o| o.released_at.is_some()) {
            self.others.remove(order);
            acts.push(ClaimAct::Changed(order.clone()));
        }
    }

    /// A peer connected: it learns the claims we hold.
    pub fn peer_up(&self, now: Instant, me: &TerminalId, peer: &P, acts: &mut Vec<ClaimAct<P>>) {
        for (order, own) in self.own.iter().filter(|(_, o)| o.expires > now) {
            acts.push(ClaimAct::Send(peer.clone(), Direct::Claim(self.own_msg(me, order, own))));
        }
    }

    /// A peer went away: we stop waiting for its answer, and the claims it
    /// held lapse (another terminal takes over).
    pub fn peer_down(&mut self, peer: &P, acts: &mut Vec<ClaimAct<P>>) {
        for (order, own) in self.own.iter_mut() {
            if own.waiting.remove(peer) && own.waiting.is_empty() && !own.granted {
                own.granted = true;
                acts.push(ClaimAct::Changed(order.clone()));
            }
        }
        let gone: Vec<OrderId> =
            self.others.iter().filter(|(_, o)| &o.via == peer).map(|(id, _)| id.clone()).collect();
        for order in gone {
            self.others.remove(&order);
            acts.push(ClaimAct::Changed(order));
        }
    }

    /// Time passed: claims waiting past the ack timeout are granted; lapsed
    /// claims are dropped.
    pub fn tick(&mut self, now: Instant, acts: &mut Vec<ClaimAct<P>>) {
        for (order, own) in self.own.iter_mut() {
            if !own.granted && now >= own.ack_deadline {
                own.granted = true;
                own.waiting.clear();
                acts.push(ClaimAct::Changed(order.clone()));
            }
        }
        self.own.retain(|order, o| {
            let keep = o.expires > now;
            if !keep {
                acts.push(ClaimAct::Changed(order.clone()));
            }
            keep
        });
        self.others.retain(|order, o| {
            let keep = o.expires > now;
            if !keep {
                acts.push(ClaimAct::Changed(order.clone()));
            }
            keep
        });
    }

    /// When [`Claims::tick`] next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        let own =
            self.own.values().map(|o| if o.granted { o.expires } else { o.ack_deadline.min(o.expires) });
        let others = self.others.values().map(|o| o.expires);
        own.chain(others).min()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(30);
    const ACK: Duration = Duration::from_secs(3);

    fn t(s: &str) -> TerminalId {
        TerminalId::parse(s).unwrap()
    }

    fn sent(acts: &[ClaimAct<u64>]) -> Vec<(u64, Direct)> {
        acts.iter()
            .filter_map(|a| match a {
                ClaimAct::Send(p, d) => Some((*p, d.clone())),
                ClaimAct::Changed(_) => None,
            })
            .collect()
    }

    #[test]
    fn two_claims_at_once_settle_the_same_way_on_both_sides() {
        let now = Instant::now();
        let order = OrderId::from_random(1);
        let (mut a, mut b) = (Claims::<u64>::new(TTL, ACK), Claims::<u64>::new(TTL, ACK));
        let mut acts = Vec::new();
        // A (peer 1 for B) draws token 5, B (peer 2 for A) token 9: A wins.
        a.claim(now, &t("A"), "ana", &order, &[2], 5, &mut acts);
        let to_b = sent(&acts);
        acts.clear();
        b.claim(now, &t("B"), "bob", &order, &[1], 9, &mut acts);
        let to_a = sent(&acts);
        acts.clear();
        let Direct::Claim(from_a) = to_b[0].1.clone() else { panic!("a claim") };
        let Direct::Claim(from_b) = to_a[0].1.clone() else { panic!("a claim") };
        b.on_claim(now, &t("B"), &1, from_a, &[1], &mut acts);
        let b_answer = sent(&acts);
        acts.clear();
        a.on_claim(now, &t("A"), &2, from_b, &[2], &mut acts);
        let a_answer = sent(&acts);
        acts.clear();
        assert!(matches!(&b_answer[0].1, Direct::ClaimReply { granted: true, .. }), "B yields");
        assert!(matches!(&a_answer[0].1, Direct::ClaimReply { granted: false, .. }), "A refuses");
        let Direct::ClaimReply { order: o, token, granted, holder } = b_answer[0].1.clone() else { panic!() };
        a.on_reply(now, &2, &o, token, granted, holder, &[2], &mut acts);
        assert!(a.get(now, &t("A"), &order).unwrap().granted);
        let seen = b.get(now, &t("B"), &order).unwrap();
        assert_eq!((seen.mine, seen.terminal.as_str(), seen.user.as_str()), (false, "A", "ana"));
    }

    #[test]
    fn a_lapsed_claim_of_ours_does_not_hide_a_fresh_one_of_another_terminal() {
        let now = Instant::now();
        let order = OrderId::from_random(2);
        let mut c = Claims::<u64>::new(TTL, ACK);
        let mut acts = Vec::new();
        c.claim(now, &t("A"), "ana", &order, &[], 1, &mut acts);
        let later = now + TTL + Duration::from_secs(1);
        let other =
            ClaimMsg { order: order.clone(), token: 7, terminal: t("B"), user: "bob".into(), ttl_ms: 30_000 };
        c.on_claim(later, &t("A"), &2, other, &[2], &mut acts);
        let again = c.claim(later, &t("A"), "ana", &order, &[2], 3, &mut acts);
        assert!(!again.mine, "B's fresh claim stands: {again:?}");
    }
}
