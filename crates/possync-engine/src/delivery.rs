//! The delivery outbox: which closed orders this terminal delivers to which
//! back office ("sink"), when it retries, when it takes over from another
//! terminal, and which orders retention must keep.
//!
//! Sans-IO like the rest of the engine: the engine asks its runtime to
//! deliver with [`crate::Output::Deliver`] and receives the answer back
//! through [`crate::Engine::delivered`]; sinks make a repeated delivery of
//! one order change nothing (the order id is their key), so attempts are
//! at-least-once and the effect is exactly once.
//!
//! The state that must survive a terminal (who claimed, attempts, the last
//! error, the sinks' confirmations) is in the order document
//! (`possync_model::delivery`); what lives here is this terminal's own:
//! attempts in flight, each sink's back-off, and when each other terminal
//! was last heard from.
//!
//! Who delivers: the terminal that closed the order (every terminal knows
//! which one did), right away. Another terminal takes over only when that
//! one has been silent (no change of its arrived) for `takeover_after`,
//! and no claim is live (a claim is renewed by each attempt and lapses
//! after `lease`); terminals taking over go in turn, lowest terminal code
//! among those heard from first, so with everyone online one terminal
//! delivers.
//! A partition can make both sides deliver: the sink keeps one, and the
//! two confirmations merge.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use possync_model::{DeliveryEdit, OrderId, OrderView, SinkDelivery, SinkName, TerminalId};

use crate::delivery_failure::DeliveryFailure;

/// Tunables of delivery; see `docs/OPERATIONS.md`, "Back office".
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// A claim with no news (attempt, failure, confirmation) for this long
    /// is free for another terminal. Longer than `attempt_timeout`, so a
    /// claim does not lapse while its attempt runs.
    pub lease: Duration,
    /// How long the terminal that closed an order may stay silent before
    /// others deliver it in its place.
    pub takeover_after: Duration,
    /// Terminals taking over go one after the other, this far apart, in
    /// the order of their codes among the terminals heard from lately: the
    /// first one's claim reaches the others before their turn.
    pub takeover_stagger: Duration,
    /// An attempt with no answer for this long counts as failed; an answer
    /// that comes later is still recorded.
    pub attempt_timeout: Duration,
    /// Back-off of a failing sink: doubles from `backoff_min` to
    /// `backoff_max`. While a sink fails, one order at a time probes it.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Back-off of one order the sink refused ([`DeliveryFailure::Refused`]):
    /// doubles from `refused_backoff_min` to `refused_backoff_max`, while
    /// the sink's other orders go on.
    pub refused_backoff_min: Duration,
    pub refused_backoff_max: Duration,
    /// Most attempts in flight to one sink.
    pub max_in_flight: usize,
    /// Nothing is delivered this soon after start: a restarted terminal
    /// first catches up with its peers, which may have delivered its orders
    /// while it was away. Not applied when the terminal started with an
    /// empty disk.
    pub start_delay: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            lease: Duration::from_secs(60),
            takeover_after: Duration::from_secs(90),
            takeover_stagger: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(30),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            refused_backoff_min: Duration::from_secs(5),
            refused_backoff_max: Duration::from_secs(600),
            max_in_flight: 16,
            start_delay: Duration::from_secs(3),
        }
    }
}

/// One sink as the status and metrics show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStatus {
    pub sink: String,
    /// Closed orders this sink has not confirmed (as far as this terminal
    /// knows: another terminal may be delivering them).
    pub backlog: usize,
    /// Age of the oldest of them, since it was closed.
    pub oldest_undelivered: Option<Duration>,
    pub in_flight: usize,
    /// The latest failure this terminal saw, with its wall-clock time.
    pub last_error: Option<(i64, String)>,
    /// Counters since start: confirmations received, attempts at an order
    /// that had failed before, failed attempts (timeouts included).
    pub delivered: u64,
    pub retried: u64,
    pub failed: u64,
    /// Failures in a row: above zero, the sink is being probed one order at
    /// a time.
    pub failing: u32,
    /// Orders the sink refused as they are, waiting for their own retry
    /// (held: a catalogue or configuration fix lets them through).
    pub refused: usize,
}

/// What the engine must do after a delivery step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DeliveryAct {
    /// Record the claim in the order, then ask the runtime to deliver.
    Start { sink: SinkName, order: OrderId },
    /// Record this step in the order.
    Record { sink: SinkName, order: OrderId, edit: DeliveryEdit },
}

#[derive(Debug)]
struct Attempt {
    deadline: Instant,
    digest: String,
}

#[derive(Debug, Default)]
struct SinkState {
    in_flight: BTreeMap<OrderId, Attempt>,
    /// Attempts that timed out, by order, with the digest they carried: an
    /// answer that comes late is still a confirmation. Bounded.
    timed_out: BTreeMap<OrderId, String>,
    failing: u32,
    retry_at: Option<Instant>,
    /// Orders the sink refused, with when to try each again and how many
    /// refusals in a row. Only orders still pending (pruned each tick).
    refused: BTreeMap<OrderId, Refusal>,
    last_error: Option<(i64, String)>,
    delivered: u64,
    retried: u64,
    failed: u64,
}

#[derive(Debug, Clone, Copy)]
struct Refusal {
    retry_at: Instant,
    count: u32,
}

/// A closed order some sink has not confirmed.
#[derive(Debug)]
struct Pending {
    /// The terminal that closed it: it delivers first.
    preferred: TerminalId,
    closed_at_ms: i64,
    digest: String,
    /// Sinks that have not confirmed this content: configured here or
    /// named in the order (another terminal's sink: kept for it).
    unconfirmed: BTreeSet<SinkName>,
}

/// Most terminals whose last change is remembered: far more than a floor has.
const MAX_HEARD: usize = 1024;
/// Most late answers remembered per sink.
const MAX_TIMED_OUT: usize = 4096;
/// How often pending deliveries are looked at when nothing else wakes the
/// engine.
const DELIVERY_TICK: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(crate) struct Deliveries {
    cfg: DeliveryConfig,
    me: TerminalId,
    sinks: BTreeMap<SinkName, SinkState>,
    /// An instant and the wall-clock time (ms) it was: the document's times
    /// are wall-clock, the engine's are monotonic.
    wall: Option<(Instant, i64)>,
    pending: BTreeMap<OrderId, Pending>,
    /// When a change from each terminal last arrived.
    heard: HashMap<TerminalId, Instant>,
    /// Terminals count as heard at start: a restarted terminal must not take
    /// over everything at once.
    started: Instant,
    next_check: Option<Instant>,
}

impl Deliveries {
    pub(crate) fn new(cfg: DeliveryConfig, me: TerminalId, now: Instant) -> Self {
        Deliveries {
            cfg,
            me,
            sinks: BTreeMap::new(),
            wall: None,
            pending: BTreeMap::new(),
            heard: HashMap::new(),
            started: now,
            next_check: None,
        }
    }

    /// Nothing was on disk at start: no order can have been delivered by
    /// others while this terminal was away, so there is nothing to wait for.
    pub(crate) fn started_empty(&mut self) {
        self.cfg.start_delay = Duration::ZERO;
    }

    pub(crate) fn set_sinks(&mut self, sinks: &[SinkName]) {
        self.sinks.retain(|s, _| sinks.contains(s));
        for s in sinks {
            self.sinks.entry(s.clone()).or_default();
        }
    }

    pub(crate) fn set_wall_clock(&mut self, now: Instant, wall_ms: i64) {
        self.wall = Some((now, wall_ms));
    }

    /// Wall-clock ms at `now`, when known.
    pub(crate) fn wall_ms(&self, now: Instant) -> Option<i64> {
        let (at, ms) = self.wall?;
        let since = now.saturating_duration_since(at).as_millis() as i64;
        let before = at.saturating_duration_since(now).as_millis() as i64;
        Some(ms + since - before)
    }

    pub(crate) fn heard(&mut self, terminal: &TerminalId, now: Instant) {
        match self.heard.get_mut(terminal) {
            Some(t) => *t = (*t).max(now),
            None => {
                // Terminal codes come from peers' changes: bounded, the
                // longest silent forgotten first.
                if self.heard.len() >= MAX_HEARD
                    && let Some(oldest) = self.heard.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone())
                {
                    self.heard.remove(&oldest);
                }
                self.heard.insert(terminal.clone(), now);
            }
        }
    }

    /// Re-derives what is owed for one order after it changed. `archived`:
    /// closed with nothing to review (an order under review waits for the
    /// manager; an open one is not due).
    pub(crate) fn observe(
        &mut self,
        order: &OrderId,
        view: Option<&OrderView>,
        archived: bool,
        now: Instant,
    ) {
        let Some(view) = view.filter(|_| archived) else {
            self.pending.remove(order);
            return;
        };
        let digest = view.content_digest();
        let unconfirmed: BTreeSet<SinkName> = self
            .sinks
            .keys()
            .chain(view.delivery.keys())
            .filter(|s| !view.delivery.get(*s).is_some_and(|d| d.confirms(&digest)))
            .cloned()
            .collect();
        if unconfirmed.is_empty() {
            self.pending.remove(order);
            return;
        }
        let (preferred, closed_at_ms) = match &view.closed {
            Some(c) => (c.terminal.clone(), c.at_ms),
            None => (view.changed.terminal.clone(), view.changed.at_ms),
        };
        self.pending.insert(order.clone(), Pending { preferred, closed_at_ms, digest, unconfirmed });
        // Look at it soon: the closing terminal delivers right away.
        self.next_check = Some(self.next_check.map_or(now, |t| t.min(now)));
    }

    /// Whether retention must keep the order: some sink has not confirmed.
    pub(crate) fn holds(&self, order: &OrderId) -> bool {
        self.pending.contains_key(order)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.sinks.is_empty() || self.pending.is_empty() {
            return None;
        }
        self.next_check
    }

    /// Time passed: attempts that timed out fail, and orders whose turn has
    /// come start. `view` reads an order's current view.
    /// `jitter` spreads the next look so terminals do not look in lockstep.
    pub(crate) fn tick<'a>(
        &mut self,
        now: Instant,
        jitter: Duration,
        view: impl Fn(&OrderId) -> Option<&'a OrderView>,
    ) -> Vec<DeliveryAct> {
        let mut acts = Vec::new();
        self.next_check = Some(now + DELIVERY_TICK + jitter);
        if now < self.started + self.cfg.start_delay {
            self.next_check = Some(self.started + self.cfg.start_delay);
            return acts;
        }
        let Some(now_ms) = self.wall_ms(now) else { return acts };
        let timeout = self.cfg.attempt_timeout;
        for (sink, state) in &mut self.sinks {
            let expired: Vec<OrderId> =
                state.in_flight.iter().filter(|(_, a)| now >= a.deadline).map(|(o, _)| o.clone()).collect();
            for order in expired {
                let Some(attempt) = state.in_flight.remove(&order) else { continue };
                if state.timed_out.len() >= MAX_TIMED_OUT {
                    state.timed_out.pop_first();
                }
                state.timed_out.insert(order.clone(), attempt.digest);
                let error = format!("no answer within {timeout:?}");
                fail(&self.cfg, state, now, now_ms, &error);
                acts.push(DeliveryAct::Record {
                    sink: sink.clone(),
                    order,
                    edit: DeliveryEdit::Failed { error },
                });
            }
        }
        let silent = |t: &TerminalId, heard: &HashMap<TerminalId, Instant>| {
            let last = heard.get(t).copied().unwrap_or(self.started).max(self.started);
            now.saturating_duration_since(last) >= self.cfg.takeover_after
        };
        // Terminals heard from lately with a lower code than ours: they take
        // over before us.
        let below: Vec<&TerminalId> =
            self.heard.keys().filter(|t| *t < &self.me && !silent(t, &self.heard)).collect();
        for (sink, state) in &mut self.sinks {
            state.refused.retain(|order, _| self.pending.contains_key(order));
            let room = if state.failing > 0 {
                // A failing sink is probed by one order at a time.
                if state.retry_at.is_some_and(|t| now < t) { 0 } else { 1 }
            } else {
                self.cfg.max_in_flight
            };
            for (order, p) in &self.pending {
                if state.in_flight.len() >= room {
                    break;
                }
                if !p.unconfirmed.contains(sink) || state.in_flight.contains_key(order) {
                    continue;
                }
                if state.refused.get(order).is_some_and(|r| now < r.retry_at) {
                    continue;
                }
                let Some(v) = view(order) else { continue };
                let record = v.delivery.get(sink);
                let rank = below.iter().filter(|t| **t != &p.preferred).count();
                if !my_turn(&self.cfg, &self.me, rank, p, record, now_ms, silent(&p.preferred, &self.heard)) {
                    continue;
                }
                if record.is_some_and(|r| r.attempts > 0) {
                    state.retried += 1;
                }
                state
                    .in_flight
                    .insert(order.clone(), Attempt { deadline: now + timeout, digest: p.digest.clone() });
                acts.push(DeliveryAct::Start { sink: sink.clone(), order: order.clone() });
            }
        }
        acts
    }

    /// The sink answered. Answers for attempts not in flight (late, or
    /// repeated) still confirm; a late failure is ignored, it was counted
    /// when the attempt timed out.
    pub(crate) fn on_result(
        &mut self,
        now: Instant,
        sink: &SinkName,
        order: &OrderId,
        result: Result<String, DeliveryFailure>,
    ) -> Option<DeliveryAct> {
        let now_ms = self.wall_ms(now)?;
        let state = self.sinks.get_mut(sink)?;
        let attempt = state.in_flight.remove(order);
        let in_flight = attempt.is_some();
        match result {
            Ok(remote_ref) => {
                let digest = match attempt {
                    Some(a) => a.digest,
                    None => state.timed_out.remove(order)?,
                };
                state.failing = 0;
                state.retry_at = None;
                state.refused.remove(order);
                state.delivered += 1;
                self.next_check = Some(now);
                Some(DeliveryAct::Record {
                    sink: sink.clone(),
                    order: order.clone(),
                    edit: DeliveryEdit::Delivered { remote_ref, digest },
                })
            }
            Err(failure) => {
                if !in_flight {
                    return None;
                }
                let error = failure.message().to_owned();
                match failure {
                    DeliveryFailure::Unavailable(_) => fail(&self.cfg, state, now, now_ms, &error),
                    DeliveryFailure::Refused(_) => refuse(&self.cfg, state, order, now, now_ms, &error),
                }
                Some(DeliveryAct::Record {
                    sink: sink.clone(),
                    order: order.clone(),
                    edit: DeliveryEdit::Failed { error },
                })
            }
        }
    }

    /// The runtime could not start the attempt it was asked for (its queue
    /// is full): it goes back to waiting, no failure recorded.
    pub(crate) fn not_started(&mut self, sink: &SinkName, order: &OrderId) {
        if let Some(s) = self.sinks.get_mut(sink) {
            s.in_flight.remove(order);
        }
    }

    pub(crate) fn status(&self, now: Instant) -> Vec<SinkStatus> {
        let now_ms = self.wall_ms(now);
        self.sinks
            .iter()
            .map(|(sink, s)| {
                let owed = self.pending.values().filter(|p| p.unconfirmed.contains(sink));
                let (backlog, oldest) = owed.fold((0, None::<i64>), |(n, o), p| {
                    (n + 1, Some(o.map_or(p.closed_at_ms, |o| o.min(p.closed_at_ms))))
                });
                SinkStatus {
                    sink: sink.to_string(),
                    backlog,
                    oldest_undelivered: oldest
                        .zip(now_ms)
                        .map(|(at, now)| Duration::from_millis(now.saturating_sub(at).max(0) as u64)),
                    in_flight: s.in_flight.len(),
                    last_error: s.last_error.clone(),
                    delivered: s.delivered,
                    retried: s.retried,
                    failed: s.failed,
                    failing: s.failing,
                    refused: s.refused.len(),
                }
            })
            .collect()
    }
}

fn fail(cfg: &DeliveryConfig, state: &mut SinkState, now: Instant, now_ms: i64, error: &str) {
    state.failed += 1;
    state.failing = state.failing.saturating_add(1);
    let doublings = state.failing.saturating_sub(1).min(20);
    let backoff = cfg.backoff_min.saturating_mul(1 << doublings).min(cfg.backoff_max);
    state.retry_at = Some(now + backoff);
    state.last_error = Some((now_ms, error.to_owned()));
}

/// This order was refused: it waits on its own schedule; the sink is not
/// failing for that (its other orders go on at full rate).
fn refuse(
    cfg: &DeliveryConfig,
    state: &mut SinkState,
    order: &OrderId,
    now: Instant,
    now_ms: i64,
    error: &str,
) {
    state.failed += 1;
    let count = state.refused.get(order).map_or(0, |r| r.count).saturating_add(1);
    let doublings = (count - 1).min(20);
    let backoff = cfg.refused_backoff_min.saturating_mul(1 << doublings).min(cfg.refused_backoff_max);
    state.refused.insert(order.clone(), Refusal { retry_at: now + backoff, count });
    state.last_error = Some((now_ms, error.to_owned()));
}

/// Whether this terminal should attempt `order` now.
fn my_turn(
    cfg: &DeliveryConfig,
    me: &TerminalId,
    rank: usize,
    p: &Pending,
    record: Option<&SinkDelivery>,
    now_ms: i64,
    preferred_silent: bool,
) -> bool {
    let lease = cfg.lease.as_millis() as i64;
    if let Some(c) = record.and_then(|r| r.claim.as_ref())
        && &c.terminal != me
        && now_ms < c.at_ms.saturating_add(lease)
    {
        return false;
    }
    if &p.preferred == me {
        return true;
    }
    if !preferred_silent {
        return false;
    }
    let last = record.and_then(SinkDelivery::last_activity_ms).unwrap_or(i64::MIN).max(p.closed_at_ms);
    let step = cfg.takeover_stagger.as_millis() as i64;
    let wait = (cfg.takeover_after.as_millis() as i64).saturating_add(step.saturating_mul(rank as i64));
    now_ms >= last.saturating_add(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use possync_model::DeliveryClaim;

    fn t(code: &str) -> TerminalId {
        TerminalId::parse(code).unwrap_or_else(|_| unreachable!())
    }

    fn pending(preferred: &str) -> Pending {
        Pending {
            preferred: t(preferred),
            closed_at_ms: 1_000,
            digest: "d".into(),
            unconfirmed: [SinkName::parse("pg").unwrap_or_else(|_| unreachable!())].into(),
        }
    }

    fn cancelled_order() -> OrderView {
        use possync_model::{Edit, EditContext, NewOrder, OrderDoc, OrderName};
        let ctx = EditContext::new("ana", t("A"), 1_000);
        let new = NewOrder::new(OrderId::from_random(1), OrderName::compose(&t("A"), 1));
        let (mut doc, _) =
            OrderDoc::open(automerge::ActorId::from([1; 16]), &ctx, &new).unwrap_or_else(|_| unreachable!());
        doc.edit(&ctx, &Edit::Cancel).unwrap_or_else(|_| unreachable!());
        doc.view().unwrap_or_else(|_| unreachable!())
    }

    fn claimed(by: &str, at_ms: i64) -> SinkDelivery {
        SinkDelivery { claim: Some(DeliveryClaim { at_ms, terminal: t(by) }), ..Default::default() }
    }

    #[test]
    fn the_closing_terminal_delivers_at_once_unless_another_holds_a_live_claim() {
        let cfg = DeliveryConfig::default();
        let p = pending("A");
        assert!(my_turn(&cfg, &t("A"), 0, &p, None, 1_000, false));
        let lease = cfg.lease.as_millis() as i64;
        let b = claimed("B", 1_000);
        assert!(!my_turn(&cfg, &t("A"), 0, &p, Some(&b), 1_000 + lease - 1, false));
        assert!(my_turn(&cfg, &t("A"), 0, &p, Some(&b), 1_000 + lease, false));
        // Its own claim (a restart mid-delivery) does not stop it.
        assert!(my_turn(&cfg, &t("A"), 0, &p, Some(&claimed("A", 1_000)), 1_001, false));
    }

    #[test]
    fn others_take_over_only_from_a_silent_closer_and_in_turn() {
        let cfg = DeliveryConfig::default();
        let p = pending("A");
        let after = cfg.takeover_after.as_millis() as i64;
        let step = cfg.takeover_stagger.as_millis() as i64;
        // The closer is heard from: nobody else delivers, however late.
        assert!(!my_turn(&cfg, &t("B"), 0, &p, None, 1_000_000, false));
        // Silent: the first in turn after `takeover_after`, the second a step later.
        assert!(!my_turn(&cfg, &t("B"), 0, &p, None, 1_000 + after - 1, true));
        assert!(my_turn(&cfg, &t("B"), 0, &p, None, 1_000 + after, true));
        assert!(!my_turn(&cfg, &t("C"), 1, &p, None, 1_000 + after, true));
        assert!(my_turn(&cfg, &t("C"), 1, &p, None, 1_000 + after + step, true));
        // Counted from the latest activity: B's claim, once lapsed.
        let b = claimed("B", 50_000);
        assert!(!my_turn(&cfg, &t("C"), 1, &p, Some(&b), 1_000 + after + step, true));
        assert!(my_turn(&cfg, &t("C"), 1, &p, Some(&b), 50_000 + after + step, true));
    }

    #[test]
    fn a_failing_sink_backs_off_doubling_to_the_cap() {
        let cfg = DeliveryConfig::default();
        let mut s = SinkState::default();
        let now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..10 {
            fail(&cfg, &mut s, now, 0, "down");
            waits.push(s.retry_at.map(|r| r - now).unwrap_or_default());
        }
        assert_eq!(waits[0], cfg.backoff_min);
        assert_eq!(waits[1], cfg.backoff_min * 2);
        assert_eq!(*waits.last().unwrap_or(&Duration::ZERO), cfg.backoff_max);
        assert_eq!((s.failed, s.failing), (10, 10));
    }

    #[test]
    fn answers_for_unknown_or_finished_attempts_change_nothing() {
        let now = Instant::now();
        let mut d = Deliveries::new(DeliveryConfig::default(), t("A"), now);
        let sink = SinkName::parse("pg").unwrap_or_else(|_| unreachable!());
        d.set_sinks(std::slice::from_ref(&sink));
        d.set_wall_clock(now, 1_000);
        let order = OrderId::from_random(1);
        assert_eq!(d.on_result(now, &sink, &order, Ok("r".into())), None);
        assert_eq!(d.on_result(now, &sink, &order, Err("x".into())), None);
        assert_eq!(d.on_result(now, &sink, &order, Err(DeliveryFailure::Refused("x".into()))), None);
        let other = SinkName::parse("other").unwrap_or_else(|_| unreachable!());
        assert_eq!(d.on_result(now, &other, &order, Ok("r".into())), None);
        assert_eq!(d.status(now)[0].failed, 0);
    }

    #[test]
    fn a_late_failure_after_a_timeout_is_not_counted_twice_and_a_late_success_confirms() {
        let now = Instant::now();
        let cfg = DeliveryConfig { start_delay: Duration::ZERO, ..DeliveryConfig::default() };
        let mut d = Deliveries::new(cfg.clone(), t("A"), now);
        let sink = SinkName::parse("pg").unwrap_or_else(|_| unreachable!());
        d.set_sinks(std::slice::from_ref(&sink));
        d.set_wall_clock(now, 1_000);
        let order = OrderId::from_random(1);
        d.pending.insert(order.clone(), pending("A"));
        let view = cancelled_order();
        let acts = d.tick(now, Duration::ZERO, |_| Some(&view));
        assert_eq!(acts, vec![DeliveryAct::Start { sink: sink.clone(), order: order.clone() }]);
        let later = now + cfg.attempt_timeout;
        let acts = d.tick(later, Duration::ZERO, |_| Some(&view));
        assert!(matches!(&acts[0], DeliveryAct::Record { edit: DeliveryEdit::Failed { .. }, .. }));
        assert_eq!(d.on_result(later, &sink, &order, Err("timed out too".into())), None);
        assert_eq!(d.status(later)[0].failed, 1);
        let confirmed = d.on_result(later, &sink, &order, Ok("r".into()));
        assert!(matches!(confirmed, Some(DeliveryAct::Record { edit: DeliveryEdit::Delivered { .. }, .. })));
    }

    #[test]
    fn a_refused_order_waits_on_its_own_and_does_not_hold_up_the_others() {
        let now = Instant::now();
        let cfg = DeliveryConfig { start_delay: Duration::ZERO, ..DeliveryConfig::default() };
        let mut d = Deliveries::new(cfg.clone(), t("A"), now);
        let sink = SinkName::parse("pg").unwrap_or_else(|_| unreachable!());
        d.set_sinks(std::slice::from_ref(&sink));
        d.set_wall_clock(now, 1_000);
        // The lowest id: the one a probe would pick first every time.
        let bad = OrderId::from_random(1);
        let good: Vec<OrderId> = (2..=4).map(OrderId::from_random).collect();
        for o in std::iter::once(&bad).chain(&good) {
            d.pending.insert(o.clone(), pending("A"));
        }
        let view = cancelled_order();
        let started = |acts: &[DeliveryAct]| -> Vec<OrderId> {
            acts.iter()
                .filter_map(|a| match a {
                    DeliveryAct::Start { order, .. } => Some(order.clone()),
                    DeliveryAct::Record { .. } => None,
                })
                .collect()
        };
        assert_eq!(started(&d.tick(now, Duration::ZERO, |_| Some(&view))).len(), 4);
        let refused =
            d.on_result(now, &sink, &bad, Err(DeliveryFailure::Refused("product \"burger\"".into())));
        assert!(matches!(refused, Some(DeliveryAct::Record { edit: DeliveryEdit::Failed { .. }, .. })));
        let s = &d.status(now)[0];
        assert_eq!((s.failing, s.refused, s.failed), (0, 1, 1), "the sink is not failing for it");
        // The others are delivered at full rate meanwhile.
        for o in &good {
            assert!(d.on_result(now, &sink, o, Ok("r".into())).is_some());
            d.pending.remove(o);
        }
        let soon = now + cfg.refused_backoff_min / 2;
        assert!(
            started(&d.tick(soon, Duration::ZERO, |_| Some(&view))).is_empty(),
            "not before its own retry"
        );
        let later = now + cfg.refused_backoff_min;
        assert_eq!(started(&d.tick(later, Duration::ZERO, |_| Some(&view))), vec![bad.clone()]);
        // Refused again: it waits twice as long; once through, it is forgotten.
        d.on_result(later, &sink, &bad, Err(DeliveryFailure::Refused("still".into())));
        let next = later + cfg.refused_backoff_min * 2;
        assert!(
            started(&d.tick(next - Duration::from_millis(1), Duration::ZERO, |_| Some(&view))).is_empty()
        );
        assert_eq!(started(&d.tick(next, Duration::ZERO, |_| Some(&view))), vec![bad.clone()]);
        assert!(d.on_result(next, &sink, &bad, Ok("r".into())).is_some());
        assert_eq!(d.status(next)[0].refused, 0);
    }
}
