//! The engine's bounds, each lowered in `EngineConfig` until it bites, and
//! the gate on who may talk to it: a few engines wired to each other by
//! hand (no simulator: these are the engine's own promises), driven until
//! quiet, then checked on their final state: what was refused is counted,
//! nothing was made for it, nothing panicked, and what fits still syncs.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use possync_engine::wire::{Direct, Gossip};
use possync_engine::{ActorOwner, Engine, EngineConfig, EngineError, Event, Output, Rejection, Verdict};
use possync_model::{Edit, EditContext, LineId, Money, NewLine, OpenOrder, OrderId, Quantity, TerminalId};

type Id = u64;

/// The identity terminal `id` signs its gossip with.
fn owner(id: Id) -> ActorOwner {
    ActorOwner::of_identity(&id.to_be_bytes())
}

fn terminal_code(id: Id) -> TerminalId {
    TerminalId::parse(&format!("T{id}")).unwrap()
}

/// One engine and what it said.
struct Terminal {
    engine: Engine<Id>,
    /// Refusals, by `Rejection::kind`.
    rejected: BTreeMap<&'static str, u64>,
    /// Every pairwise message it sent, in bytes, with its kind.
    sent: Vec<(&'static str, usize)>,
    /// Every gossip message it published, in bytes.
    broadcast: Vec<usize>,
}

/// Engines that are all each other's peers, or not, as the test says.
struct Floor {
    now: Instant,
    terminals: BTreeMap<Id, Terminal>,
}

impl Floor {
    fn new(configs: &[(Id, EngineConfig)]) -> Self {
        let now = Instant::now();
        let terminals = configs
            .iter()
            .map(|(id, cfg)| {
                let engine = Engine::new(cfg.clone(), terminal_code(*id), owner(*id).actor(1), *id, now);
                let t =
                    Terminal { engine, rejected: BTreeMap::new(), sent: Vec::new(), broadcast: Vec::new() };
                (*id, t)
            })
            .collect();
        Floor { now, terminals }
    }

    fn engine(&mut self, id: Id) -> &mut Engine<Id> {
        &mut self.terminals.get_mut(&id).unwrap().engine
    }

    fn t(&self, id: Id) -> &Terminal {
        &self.terminals[&id]
    }

    fn ctx(&self, id: Id) -> EditContext {
        EditContext::new("ana", terminal_code(id), 1_767_225_600_000)
    }

    fn open(&mut self, id: Id) -> OrderId {
        let (now, ctx) = (self.now, self.ctx(id));
        let order = self.engine(id).open_order(now, &ctx, OpenOrder::default()).unwrap();
        self.run();
        order
    }

    fn edit(&mut self, id: Id, order: &OrderId, edit: Edit) {
        let (now, ctx) = (self.now, self.ctx(id));
        self.engine(id).edit(now, &ctx, order, &edit).unwrap();
        self.run();
    }

    fn add_line(&mut self, id: Id, order: &OrderId, line: &str, note_bytes: usize) {
        let mut new =
            NewLine::new(LineId::parse(line).unwrap(), "coffee", "Coffee", Quantity::units(1), Money(250));
        new.note = "n".repeat(note_bytes);
        self.edit(id, order, Edit::AddLine(new));
    }

    fn connect(&mut self, a: Id, b: Id) {
        let now = self.now;
        self.engine(a).peer_up(now, b);
        self.engine(b).peer_up(now, a);
        self.run();
    }

    fn disconnect(&mut self, a: Id, b: Id) {
        self.engine(a).peer_down(&b);
        self.engine(b).peer_down(&a);
        self.run();
    }

    /// Carries every output out (in order, instantly) until nobody has
    /// anything left to say. `check` sees the floor after every message.
    fn run_checking(&mut self, mut check: impl FnMut(&Floor)) {
        for _ in 0..100_000 {
            let mut moved = false;
            let ids: Vec<Id> = self.terminals.keys().copied().collect();
            for id in ids {
                while let Some(out) = self.engine(id).poll_output() {
                    moved = true;
                    self.carry_out(id, out);
                    check(self);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the engines never went quiet");
    }

    fn run(&mut self) {
        self.run_checking(|_| {});
    }

    fn carry_out(&mut self, from: Id, out: Output<Id>) {
        let now = self.now;
        match out {
            Output::Broadcast(bytes) => {
                self.terminals.get_mut(&from).unwrap().broadcast.push(bytes.len());
                let to: Vec<Id> = self.engine(from).peers();
                for to in to {
                    let _ = self.engine(to).handle_gossip(now, from, owner(from), &bytes);
                }
            }
            Output::Send { to, bytes } => {
                let kind = direct_kind(&bytes);
                self.terminals.get_mut(&from).unwrap().sent.push((kind, bytes.len()));
                self.engine(to).handle_direct(now, from, &bytes);
            }
            Output::Event(Event::Rejected { reason, .. }) => {
                *self.terminals.get_mut(&from).unwrap().rejected.entry(reason.kind()).or_default() += 1;
            }
            Output::Disconnect { peer, .. } => panic!("terminal {from} disconnected {peer}"),
            _ => {}
        }
    }

    /// Time passes by `step` until `until`, the engines' timers firing.
    fn advance(&mut self, until: Duration, step: Duration) {
        let end = self.now + until;
        while self.now < end {
            self.now += step;
            let now = self.now;
            let ids: Vec<Id> = self.terminals.keys().copied().collect();
            for id in ids {
                self.engine(id).handle_timeout(now);
            }
            self.run();
        }
    }

    /// Both terminals hold the same orders with the same heads.
    fn assert_same(&self, a: Id, b: Id) {
        let (ea, eb) = (&self.t(a).engine, &self.t(b).engine);
        assert_eq!(ea.all_orders(), eb.all_orders(), "terminals {a} and {b} hold different orders");
        for id in ea.all_orders() {
            let mut ha = ea.order(&id).unwrap().heads();
            let mut hb = eb.order(&id).unwrap().heads();
            ha.sort();
            hb.sort();
            assert_eq!(ha, hb, "order {id} differs between {a} and {b}");
        }
    }
}

fn direct_kind(bytes: &[u8]) -> &'static str {
    match Direct::decode(bytes) {
        Ok(Direct::Summary { .. }) => "summary",
        Ok(Direct::Heads { .. }) => "heads",
        Ok(Direct::Fetch { .. }) => "fetch",
        Ok(Direct::Docs { .. }) => "docs",
        Ok(Direct::Sync { .. }) => "sync",
        Ok(_) => "other",
        Err(_) => "undecodable",
    }
}

fn floor_of(n: Id, cfg: EngineConfig) -> Floor {
    Floor::new(&(1..=n).map(|id| (id, cfg.clone())).collect::<Vec<_>>())
}

// ----- who may talk to the engine ---------------------------------------

#[test]
fn gossip_and_catch_up_from_a_terminal_that_is_not_up_are_refused_and_make_no_state() {
    let mut floor = floor_of(2, EngineConfig::default());
    let order = floor.open(1);
    let doc = floor.t(1).engine.order(&order).unwrap();
    let change = doc.automerge().get_changes(&[]).into_iter().map(|c| c.raw_bytes().to_vec()).collect();
    let gossip = Gossip::Changes { order: order.clone(), changes: change }.encode();
    let docs = Direct::Docs { docs: vec![(order.clone(), doc.save())] }.encode();
    let summary = Direct::Summary { buckets: vec![1; 64] }.encode();
    let now = floor.now;

    // Terminal 2 never saw terminal 1 come up.
    let verdict = floor.engine(2).handle_gossip(now, 1, owner(1), &gossip);
    floor.engine(2).handle_direct(now, 1, &docs);
    floor.engine(2).handle_direct(now, 1, &summary);
    // Nor the one that relays terminal 1's message.
    let relayed = floor.engine(2).handle_gossip(now, 7, owner(1), &gossip);
    floor.run();
    assert_eq!(verdict, Verdict::Ignore);
    assert_eq!(relayed, Verdict::Ignore);
    assert_eq!(floor.t(2).engine.peers(), Vec::<Id>::new(), "no peer state for strangers");
    assert_eq!(floor.t(2).engine.all_orders(), Vec::<OrderId>::new(), "nothing applied");
    assert_eq!(floor.t(2).engine.status().incomplete_orders, 0);
    assert_eq!(floor.t(2).rejected.get(Rejection::NotAPeer.kind()), Some(&4));
    assert!(floor.t(2).sent.is_empty(), "no answer to a stranger's summary");

    // Once up, the very same gossip is taken.
    floor.engine(2).peer_up(now, 1);
    assert_eq!(floor.engine(2).handle_gossip(now, 1, owner(1), &gossip), Verdict::Accept);
    assert_eq!(floor.t(2).engine.all_orders(), vec![order.clone()]);

    // And once down again, it is a stranger again.
    floor.engine(2).peer_down(&1);
    floor.run();
    floor.engine(2).handle_direct(now, 1, &summary);
    floor.run();
    assert_eq!(floor.t(2).engine.peers(), Vec::<Id>::new());
    assert_eq!(floor.t(2).rejected.get(Rejection::NotAPeer.kind()), Some(&5));
}

#[test]
fn a_transport_refusal_from_a_stranger_is_reported_and_makes_no_state() {
    let mut floor = floor_of(1, EngineConfig::default());
    let now = floor.now;
    floor.engine(1).refused_by_transport(now, 9, Rejection::Oversized { bytes: 1 << 30 });
    floor.run();
    assert_eq!(floor.t(1).engine.peers(), Vec::<Id>::new());
    assert_eq!(floor.t(1).rejected.get("oversized"), Some(&1));
}

// ----- bounds --------------------------------------------------------------

#[test]
fn catch_up_messages_stay_under_max_direct_bytes_and_still_carry_everything() {
    let cfg = EngineConfig { max_direct_bytes: 4 * 1024, ..EngineConfig::default() };
    let mut floor = floor_of(2, cfg.clone());
    let mut orders = Vec::new();
    for i in 0..40 {
        let order = floor.open(1);
        floor.add_line(1, &order, &format!("l{i}"), 200);
        orders.push(order);
    }
    floor.connect(1, 2);
    floor.assert_same(1, 2);
    assert_eq!(floor.t(2).engine.all_orders().len(), 40);
    let sent = &floor.t(1).sent;
    let too_big: Vec<_> = sent.iter().filter(|(_, len)| *len > cfg.max_direct_bytes).collect();
    assert!(too_big.is_empty(), "messages over {} bytes: {too_big:?}", cfg.max_direct_bytes);
    // The limit did split: 40 orders of about 1 KiB take several messages.
    assert!(sent.iter().filter(|(kind, _)| *kind == "docs").count() > 4, "{sent:?}");
    assert!(floor.t(2).rejected.is_empty() && floor.t(1).rejected.is_empty());
}

#[test]
fn a_change_over_max_gossip_bytes_is_not_gossiped_but_reaches_peers_by_catch_up() {
    let cfg = EngineConfig { max_gossip_bytes: 600, ..EngineConfig::default() };
    let mut floor = floor_of(3, cfg.clone());
    floor.connect(1, 2);
    floor.connect(1, 3);
    floor.connect(2, 3);
    let order = floor.open(1);
    let gossiped = floor.t(1).broadcast.len();
    floor.add_line(1, &order, "small", 10);
    assert_eq!(floor.t(1).broadcast.len(), gossiped + 1, "a small change is gossiped");
    floor.add_line(1, &order, "big", 1000);
    assert_eq!(floor.t(1).broadcast.len(), gossiped + 1, "a big change is not");
    assert!(floor.t(1).broadcast.iter().all(|len| *len <= cfg.max_gossip_bytes));
    floor.assert_same(1, 2);
    floor.assert_same(1, 3);
    assert_eq!(floor.t(3).engine.view(&order).unwrap().lines.len(), 2);
}

#[test]
fn sessions_with_one_peer_stay_under_max_sessions_per_peer_and_the_rest_queue() {
    let cfg = EngineConfig { max_sessions_per_peer: 2, ..EngineConfig::default() };
    let mut floor = floor_of(2, cfg.clone());
    floor.connect(1, 2);
    let orders: Vec<OrderId> = (0..10).map(|_| floor.open(1)).collect();
    floor.assert_same(1, 2);
    // Both sides edit every order while apart: every order needs a session.
    floor.disconnect(1, 2);
    for (i, order) in orders.iter().enumerate() {
        floor.add_line(1, order, &format!("a{i}"), 0);
        floor.add_line(2, order, &format!("b{i}"), 0);
    }
    let (mut most, mut queued) = (0, 0);
    let now = floor.now;
    floor.engine(1).peer_up(now, 2);
    floor.engine(2).peer_up(now, 1);
    floor.run_checking(|f| {
        for id in [1, 2] {
            let s = f.t(id).engine.status();
            most = most.max(s.max_sessions_one_peer);
            queued = queued.max(s.queued);
        }
    });
    // Sessions either side started are at most 2 each, so at most 4 on a link.
    assert!(most <= 2 * cfg.max_sessions_per_peer, "{most} sessions with one peer");
    assert!(queued > 0, "the limit never queued anything");
    floor.assert_same(1, 2);
    for order in &orders {
        assert_eq!(floor.t(2).engine.view(order).unwrap().lines.len(), 2);
    }
    let s = floor.t(1).engine.status();
    assert_eq!((s.sessions, s.queued), (0, 0), "every session ended");
}

#[test]
fn a_terminal_at_max_orders_refuses_more_keeps_what_it_has_and_still_syncs_it() {
    let small = EngineConfig { max_orders: 5, ..EngineConfig::default() };
    let mut floor = Floor::new(&[(1, EngineConfig::default()), (2, small)]);
    let orders: Vec<OrderId> = (0..8).map(|_| floor.open(1)).collect();
    floor.connect(1, 2);
    let held = floor.t(2).engine.all_orders();
    assert_eq!(held.len(), 5);
    assert_eq!(floor.t(2).engine.status().incomplete_orders, 0, "no half-received order over the limit");
    assert!(floor.t(2).rejected.get("too_many_orders").is_some_and(|n| *n >= 3));
    // Locally too: an error, not a panic.
    let (now, ctx) = (floor.now, floor.ctx(2));
    assert_eq!(
        floor.engine(2).open_order(now, &ctx, OpenOrder::default()),
        Err(EngineError::TooManyOrders(5))
    );
    // What it holds still follows terminal 1's edits.
    for order in &orders {
        floor.add_line(1, order, "late", 0);
    }
    for order in &held {
        assert_eq!(floor.t(2).engine.view(order).unwrap().lines.len(), 1, "order {order}");
    }
    // And anti-entropy goes on asking for the rest without harm.
    floor.advance(Duration::from_secs(40), Duration::from_secs(1));
    assert_eq!(floor.t(2).engine.all_orders(), held);
}

#[test]
fn peers_with_different_summary_buckets_still_sync_everything() {
    let few = EngineConfig { summary_buckets: 4, ..EngineConfig::default() };
    let mut floor = Floor::new(&[(1, EngineConfig::default()), (2, few)]);
    for _ in 0..12 {
        floor.open(1);
        floor.open(2);
    }
    floor.connect(1, 2);
    floor.assert_same(1, 2);
    assert_eq!(floor.t(1).engine.all_orders().len(), 24);
    // Later edits, gossip lost (while apart), come back by anti-entropy.
    floor.disconnect(1, 2);
    let order = floor.t(1).engine.all_orders()[0].clone();
    floor.add_line(2, &order, "late", 0);
    floor.connect(1, 2);
    floor.advance(Duration::from_secs(40), Duration::from_secs(1));
    floor.assert_same(1, 2);
    assert!(floor.t(1).rejected.is_empty() && floor.t(2).rejected.is_empty());
}
