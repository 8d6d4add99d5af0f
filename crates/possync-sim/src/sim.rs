//! [`Sim`]: many terminals, one virtual clock, one seed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

use automerge::{ChangeHash, ReadDoc};
use possync_catalogue::Catalogue;
use possync_engine::{
    ActorOwner, CatalogueError, CommitAction, CommitConfig, CommitPipeline, Engine, EngineConfig,
    EngineError, Event, Output, PaymentClaim, SplitMix64, Write, WriteFailed, WriteId,
};
use possync_model::{Edit, EditContext, LineId, OpenOrder, OrderId, Quantity, SinkName, TerminalId};

use crate::disk::{DiskFaults, Unsynced, Waiter};
use crate::net::{Delivery, NetConfig, Scheduled};
use crate::sink::{SimSink, SinkRow};
use crate::store::SimStore;

/// Virtual wall-clock time at the start of every run (2026-01-01T00:00:00Z),
/// for the stamps written into orders.
const EPOCH_MS: i64 = 1_767_225_600_000;

/// One simulated terminal.
#[derive(Debug)]
pub struct SimNode {
    pub id: u64,
    pub terminal: TerminalId,
    /// `None` while crashed.
    pub engine: Option<Engine<u64>>,
    /// What is durably on the disk.
    pub store: SimStore,
    /// How the disk misbehaves.
    pub disk: DiskFaults,
    /// The running process's commit pipeline (the node's own code): what
    /// to write when, and which caller to answer once it is durable.
    commits: CommitPipeline<Waiter, u64>,
    /// Writes committed without a flush, not yet durable.
    unsynced: Unsynced,
    /// Storage batches the running process produced, and how many of them
    /// are durable (the disk holds them in order).
    batches_taken: u64,
    batches_durable: u64,
    /// Every change whose caller was told it is durable (acknowledged), by
    /// order.
    pub acked: Vec<(OrderId, ChangeHash)>,
    /// Changes whose caller was told the disk failed: applied in memory
    /// and sent to peers, they may or may not survive.
    pub uncertain: Vec<(OrderId, ChangeHash)>,
    /// Callers told the disk failed.
    pub storage_errors: u64,
    /// Extra one-way delay on every message to and from this node (a slow link).
    pub extra_delay: Duration,
    pub rejected: u64,
    /// `rejected`, by [`possync_engine::Rejection::kind`].
    pub rejected_by_kind: BTreeMap<&'static str, u64>,
    /// Peers this node disconnected for offences.
    pub disconnected: u64,
    pub events: u64,
    pub bytes_sent: u64,
    pub messages_sent: u64,
    /// Bumped at every start: answers to requests of a crashed process are
    /// lost with it.
    pub incarnation: u64,
}

impl SimNode {
    /// When the running process wants to run next: its engine's timers, or
    /// its commit pipeline's (a deferred sync, a retry).
    fn next_timer(&self) -> Option<Instant> {
        let engine = self.engine.as_ref()?.poll_timeout();
        Some(self.commits.poll_timeout().map_or(engine, |c| c.min(engine)))
    }
}

/// High-water marks, checked against the engine's configured bounds.
#[derive(Debug, Default, Clone)]
pub struct Bounds {
    pub max_outbox: usize,
    pub max_sessions_one_peer: usize,
}

#[derive(Debug)]
pub struct Sim {
    pub seed: u64,
    rng: SplitMix64,
    base: Instant,
    now: Instant,
    pub net: NetConfig,
    pub cfg: EngineConfig,
    nodes: BTreeMap<u64, SimNode>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    /// Links cut by a partition, as (low id, high id).
    cut: BTreeSet<(u64, u64)>,
    /// Per link: epoch (bumped when the link goes down) and the time its last
    /// pairwise message arrives (links deliver in order).
    links: BTreeMap<(u64, u64), (u64, Instant)>,
    pub bounds: Bounds,
    next_node: u64,
    /// The back offices every terminal delivers to.
    pub sinks: BTreeMap<SinkName, SimSink>,
    /// The commit pipeline's settings for terminals started from now on.
    pub commit_cfg: CommitConfig,
}

fn link(a: u64, b: u64) -> (u64, u64) {
    (a.min(b), a.max(b))
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        Self::with(seed, NetConfig::default(), EngineConfig::default())
    }

    pub fn with(seed: u64, net: NetConfig, cfg: EngineConfig) -> Self {
        let base = Instant::now();
        Sim {
            seed,
            rng: SplitMix64::new(seed),
            base,
            now: base,
            net,
            cfg,
            nodes: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            links: BTreeMap::new(),
            bounds: Bounds::default(),
            next_node: 1,
            sinks: BTreeMap::new(),
            commit_cfg: CommitConfig::default(),
        }
    }

    /// Adds a back office; terminals started from now on deliver to it
    /// (add sinks before terminals).
    pub fn add_sink(&mut self, sink: SimSink) {
        self.sinks.insert(sink.name.clone(), sink);
    }

    pub fn sink_mut(&mut self, name: &str) -> &mut SimSink {
        let name = SinkName::parse(name).expect("valid sink name");
        self.sinks.get_mut(&name).expect("sink exists")
    }

    pub fn sink(&self, name: &str) -> &SimSink {
        let name = SinkName::parse(name).expect("valid sink name");
        &self.sinks[&name]
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// The virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn now_ms(&self) -> i64 {
        EPOCH_MS + self.elapsed().as_millis() as i64
    }

    pub fn rng(&mut self) -> &mut SplitMix64 {
        &mut self.rng
    }

    // ----- membership -----------------------------------------------------

    /// Starts a new terminal and connects it to every reachable live one.
    pub fn add_node(&mut self, terminal: &str) -> u64 {
        let id = self.next_node;
        self.next_node += 1;
        let terminal = TerminalId::parse(terminal).expect("simulated terminal names are valid");
        self.nodes.insert(
            id,
            SimNode {
                id,
                terminal,
                engine: None,
                store: SimStore::default(),
                disk: DiskFaults::default(),
                commits: CommitPipeline::new(self.commit_cfg.clone()),
                unsynced: Vec::new(),
                batches_taken: 0,
                batches_durable: 0,
                acked: Vec::new(),
                uncertain: Vec::new(),
                storage_errors: 0,
                extra_delay: Duration::ZERO,
                rejected: 0,
                rejected_by_kind: BTreeMap::new(),
                disconnected: 0,
                events: 0,
                bytes_sent: 0,
                messages_sent: 0,
                incarnation: 0,
            },
        );
        self.start(id, true);
        id
    }

    /// Starts a node from a copy of another node's disk (a cloned terminal
    /// image, scenario S20).
    pub fn add_clone_of(&mut self, original: u64) -> u64 {
        let (terminal, store) = {
            let n = &self.nodes[&original];
            (n.terminal.to_string(), n.store.clone())
        };
        let id = self.add_node(&terminal);
        self.crash(id);
        self.node_mut(id).store = store;
        self.restart(id);
        id
    }

    /// A copy of a node's disk, as a backup takes it.
    pub fn backup(&self, id: u64) -> SimStore {
        self.nodes[&id].store.clone()
    }

    /// Stops a node, replaces its disk (a restored backup, or
    /// `SimStore::default()` for a replacement with an empty disk and the
    /// same terminal code) and starts it again (S27).
    pub fn restore_disk(&mut self, id: u64, disk: SimStore) {
        self.crash(id);
        self.node_mut(id).store = disk;
        // What it acknowledged after the backup is gone from this disk (its
        // peers hold it).
        self.start(id, false);
    }

    /// Starts a node from its disk; `check_acked`: every change it ever
    /// acknowledged must be there (a crash may lose only what no caller
    /// was told is durable).
    fn start(&mut self, id: u64, check_acked: bool) {
        let actor = owner_of(id).actor(self.rng.next_u64());
        let seed = self.rng.next_u64();
        let now = self.now;
        let node = self.nodes.get_mut(&id).expect("node exists");
        let mut engine = Engine::new(self.cfg.clone(), node.terminal.clone(), actor, seed, now);
        // The wall clock first: archived orders' retention counts from it.
        engine.set_wall_clock(now, EPOCH_MS + (now - self.base).as_millis() as i64);
        let report = engine.restore(now, node.store.stored_orders(), node.store.next_sequence);
        if let Some(bytes) = &node.store.catalogue {
            let restored = engine.restore_catalogue(bytes);
            assert!(
                restored.is_ok(),
                "seed {}: node {id} restored a damaged catalogue: {restored:?}",
                self.seed
            );
        }
        let sinks: Vec<SinkName> = self.sinks.keys().cloned().collect();
        engine.set_sinks(now, &sinks);
        node.incarnation += 1;
        node.commits = CommitPipeline::new(self.commit_cfg.clone());
        node.batches_taken = 0;
        node.batches_durable = 0;
        assert!(
            report.damaged.is_empty(),
            "seed {}: node {id} restored damaged orders: {:?}",
            self.seed,
            report.damaged
        );
        if check_acked {
            for (order, hash) in &node.acked {
                if node.store.deleted.contains(order) {
                    continue;
                }
                let present =
                    engine.order(order).is_some_and(|d| d.automerge().get_change_by_hash(hash).is_some());
                assert!(
                    present,
                    "seed {}: node {id} acknowledged change {hash} of order {order}, lost by a crash",
                    self.seed
                );
            }
        }
        node.engine = Some(engine);
        let peers: Vec<u64> = self.nodes.keys().copied().filter(|&p| p != id).collect();
        for p in peers {
            if self.reachable(id, p) {
                self.link_up(id, p);
            }
        }
    }

    /// Kills a node: its engine state and its commit pipeline (with the
    /// callers waiting for it) are gone, its disk stays. Of the writes made
    /// without a flush, a prefix survives.
    pub fn crash(&mut self, id: u64) {
        if self.node_mut(id).engine.take().is_none() {
            return;
        }
        let unsynced = std::mem::take(&mut self.node_mut(id).unsynced);
        let kept = if unsynced.is_empty() { 0 } else { self.rng.below(unsynced.len() as u64 + 1) as usize };
        let commits = CommitPipeline::new(self.commit_cfg.clone());
        let node = self.node_mut(id);
        for batch in unsynced.into_iter().take(kept).flatten() {
            node.store.apply(batch);
        }
        node.commits = commits;
        let peers: Vec<u64> = self.nodes.keys().copied().filter(|&p| p != id).collect();
        for p in peers {
            self.link_down(id, p);
        }
    }

    pub fn restart(&mut self, id: u64) {
        if self.nodes[&id].engine.is_none() {
            self.start(id, true);
        }
    }

    /// Sets how node `id`'s disk misbehaves from now on.
    pub fn set_disk_faults(&mut self, id: u64, faults: DiskFaults) {
        self.node_mut(id).disk = faults;
    }

    pub fn is_up(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.engine.is_some())
    }

    fn reachable(&self, a: u64, b: u64) -> bool {
        self.is_up(a) && self.is_up(b) && !self.cut.contains(&link(a, b))
    }

    fn link_up(&mut self, a: u64, b: u64) {
        let now = self.now;
        let entry = self.links.entry(link(a, b)).or_insert((0, now));
        entry.1 = entry.1.max(now);
        for (x, y) in [(a, b), (b, a)] {
            if let Some(engine) = self.nodes.get_mut(&x).and_then(|n| n.engine.as_mut()) {
                engine.peer_up(now, y);
            }
            self.drain(x);
        }
    }

    fn link_down(&mut self, a: u64, b: u64) {
        let entry = self.links.entry(link(a, b)).or_insert((0, self.now));
        entry.0 += 1;
        for (x, y) in [(a, b), (b, a)] {
            if let Some(engine) = self.nodes.get_mut(&x).and_then(|n| n.engine.as_mut()) {
                engine.peer_down(&y);
            }
        }
    }

    /// Cuts every link between the groups (nodes in no group keep their links).
    pub fn partition(&mut self, groups: &[&[u64]]) {
        for (i, g) in groups.iter().enumerate() {
            for h in &groups[i + 1..] {
                for &a in *g {
                    for &b in *h {
                        if self.cut.insert(link(a, b)) && self.is_up(a) && self.is_up(b) {
                            self.link_down(a, b);
                        }
                    }
                }
            }
        }
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        let cut = std::mem::take(&mut self.cut);
        for (a, b) in cut {
            if self.is_up(a) && self.is_up(b) {
                self.link_up(a, b);
            }
        }
    }

    pub fn set_extra_delay(&mut self, id: u64, delay: Duration) {
        self.node_mut(id).extra_delay = delay;
    }

    pub fn node(&self, id: u64) -> &SimNode {
        &self.nodes[&id]
    }

    fn node_mut(&mut self, id: u64) -> &mut SimNode {
        self.nodes.get_mut(&id).expect("node exists")
    }

    pub fn node_ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    pub fn live_nodes(&self) -> Vec<u64> {
        self.nodes.values().filter(|n| n.engine.is_some()).map(|n| n.id).collect()
    }

    pub fn engine(&self, id: u64) -> &Engine<u64> {
        self.nodes[&id].engine.as_ref().expect("node is up")
    }

    /// Who may make manager-only changes on `id` (its catalogue's users).
    /// Set on the running engine: a restart starts it with every user
    /// allowed again, as a terminal without a catalogue.
    pub fn set_roles(&mut self, id: u64, roles: possync_model::Roles) {
        self.node_mut(id).engine.as_mut().expect("node is up").set_roles(roles);
    }

    // ----- local work -----------------------------------------------------

    pub fn ctx(&self, id: u64, user: &str) -> EditContext {
        EditContext::new(user, self.nodes[&id].terminal.clone(), self.now_ms())
    }

    /// `user` on terminal `id` replaces the catalogue of every terminal.
    pub fn replace_catalogue(
        &mut self,
        id: u64,
        user: &str,
        catalogue: Catalogue,
    ) -> Result<u64, CatalogueError> {
        let ctx = self.ctx(id, user);
        let now = self.now;
        let engine = self.node_mut(id).engine.as_mut().expect("node is up");
        let result = engine.replace_catalogue(now, &ctx, catalogue);
        self.drain(id);
        result
    }

    /// Opens an order on `id`; its opening change is acknowledged.
    pub fn open(&mut self, id: u64, fields: OpenOrder) -> Result<OrderId, EngineError> {
        let ctx = self.ctx(id, "cashier");
        let now = self.now;
        let engine = self.node_mut(id).engine.as_mut().expect("node is up");
        let order = engine.open_order(now, &ctx, fields)?;
        let heads = engine.order(&order).map(|d| d.heads()).unwrap_or_default();
        self.command_done(id, heads.into_iter().map(|h| (order.clone(), h)).collect());
        Ok(order)
    }

    /// Opens an order with no table.
    pub fn open_simple(&mut self, id: u64) -> OrderId {
        self.open(id, OpenOrder::default()).expect("opening an order succeeds")
    }

    pub fn edit(&mut self, id: u64, order: &OrderId, edit: &Edit) -> Result<Option<ChangeHash>, EngineError> {
        self.edit_as(id, "cashier", order, edit)
    }

    pub fn edit_as(
        &mut self,
        id: u64,
        user: &str,
        order: &OrderId,
        edit: &Edit,
    ) -> Result<Option<ChangeHash>, EngineError> {
        let ctx = self.ctx(id, user);
        let now = self.now;
        let engine = self.node_mut(id).engine.as_mut().expect("node is up");
        let result = engine.edit(now, &ctx, order, edit);
        let changes = match &result {
            Ok(Some(hash)) => vec![(order.clone(), *hash)],
            _ => Vec::new(),
        };
        self.command_done(id, changes);
        result
    }

    /// `user` on terminal `id` opens the payment screen of `order`: asks
    /// for (or renews) the payment claim. See `possync_engine::PaymentClaim`.
    pub fn claim_payment(
        &mut self,
        id: u64,
        user: &str,
        order: &OrderId,
    ) -> Result<PaymentClaim, EngineError> {
        let now = self.now;
        let engine = self.node_mut(id).engine.as_mut().expect("node is up");
        let result = engine.claim_payment(now, user, order);
        self.drain(id);
        result
    }

    /// Terminal `id` is done with `order`'s payment.
    pub fn release_payment(&mut self, id: u64, order: &OrderId) {
        let now = self.now;
        let engine = self.node_mut(id).engine.as_mut().expect("node is up");
        engine.release_payment(now, order);
        self.drain(id);
    }

    /// The payment claim on `order` terminal `id` knows of, now.
    pub fn payment_claim(&self, id: u64, order: &OrderId) -> Option<PaymentClaim> {
        self.engine(id).payment_claim(self.now, order)
    }

    pub fn split(
        &mut self,
        id: u64,
        order: &OrderId,
        moves: &[(LineId, Quantity)],
    ) -> Result<OrderId, EngineError> {
        let ctx = self.ctx(id, "cashier");
        let now = self.now;
        let engine = self.node_mut(id).engine.as_mut().expect("node is up");
        let result = engine.split(now, &ctx, order, moves);
        let acked: Vec<(OrderId, ChangeHash)> = match &result {
            Ok(new) => [order, new]
                .into_iter()
                .flat_map(|o| {
                    engine.order(o).map(|d| d.heads()).unwrap_or_default().into_iter().map(|h| (o.clone(), h))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        self.command_done(id, acked);
        result
    }

    /// Delivers raw bytes from `from` to `to` now, as gossip or as a pairwise
    /// message, bypassing `from`'s engine: a broken or hostile peer.
    /// Delivers gossip that `from` forwards on behalf of `signer`, who
    /// published (signed) it: a replay, or a relay of someone else's message.
    pub fn inject_relayed(&mut self, from: u64, to: u64, signer: u64, bytes: Vec<u8>) {
        let now = self.now;
        if let Some(e) = self.node_mut(to).engine.as_mut() {
            let _verdict = e.handle_gossip(now, from, owner_of(signer), &bytes);
        }
        self.drain(to);
    }

    pub fn inject(&mut self, from: u64, to: u64, pairwise: bool, bytes: Vec<u8>) {
        let delivery = if pairwise {
            let epoch = self.links.get(&link(from, to)).map(|l| l.0).unwrap_or(0);
            Delivery::Direct { from, to, bytes, epoch }
        } else {
            Delivery::Gossip { from, to, bytes }
        };
        self.deliver(delivery);
    }

    // ----- the event loop -------------------------------------------------

    /// Carries out everything node `id` asked for: its engine's outputs,
    /// then its commit pipeline's writes and releases.
    fn drain(&mut self, id: u64) {
        self.take_outputs(id);
        self.drive_commits(id);
    }

    /// A command of node `id` returned: its outputs are taken, and its
    /// caller waits for `changes` to be durable.
    fn command_done(&mut self, id: u64, changes: Vec<(OrderId, ChangeHash)>) {
        self.take_outputs(id);
        let node = self.node_mut(id);
        let waiter = Waiter { changes, needs_batches: node.batches_taken };
        node.commits.wait(waiter);
        self.drive_commits(id);
    }

    /// Hands the engine's outputs to the commit pipeline, and carries out
    /// at once those that need not wait for the disk.
    fn take_outputs(&mut self, id: u64) {
        loop {
            let Some(node) = self.nodes.get_mut(&id) else { return };
            let Some(engine) = node.engine.as_mut() else { return };
            self.bounds.max_outbox = self.bounds.max_outbox.max(engine.pending_outputs());
            self.bounds.max_sessions_one_peer =
                self.bounds.max_sessions_one_peer.max(engine.status().max_sessions_one_peer);
            let Some(out) = engine.poll_output() else { return };
            let batch = matches!(out, Output::Persist(_));
            match node.commits.take(out) {
                Some(out) => self.carry_out(id, out),
                None if batch => node.batches_taken += 1,
                None => {}
            }
        }
    }

    /// Carries out node `id`'s commit pipeline's actions until it has none.
    fn drive_commits(&mut self, id: u64) {
        loop {
            let now = self.now;
            let Some(node) = self.nodes.get_mut(&id) else { return };
            if node.engine.is_none() {
                return;
            }
            let Some(action) = node.commits.poll_action(now) else { return };
            match action {
                CommitAction::Write(write) => self.start_write(id, write),
                CommitAction::Release(release) => {
                    for out in release.outputs {
                        self.carry_out(id, out);
                    }
                    let seed = self.seed;
                    let node = self.node_mut(id);
                    for waiter in release.waiters {
                        if release.result.is_ok() {
                            assert!(
                                node.batches_durable >= waiter.needs_batches,
                                "seed {seed}: node {id} acknowledged a change before it was durable \
                                 ({} of {} batches durable)",
                                node.batches_durable,
                                waiter.needs_batches
                            );
                            node.acked.extend(waiter.changes);
                        } else {
                            node.storage_errors += 1;
                            node.uncertain.extend(waiter.changes);
                        }
                    }
                }
            }
        }
    }

    /// Hands a write to node `id`'s disk: done in this step on a perfect
    /// disk, later (or never, if the node crashes first) on a slow one.
    fn start_write(&mut self, id: u64, write: Write) {
        let faults = self.nodes[&id].disk.clone();
        if faults.is_instant() {
            let (wid, result) = self.disk_write(id, write);
            let now = self.now;
            self.node_mut(id).commits.completed(now, wid, result);
            return;
        }
        let spread = faults.latency_max.saturating_sub(faults.latency_min).as_micros() as u64;
        let at = self.now + faults.latency_min + Duration::from_micros(self.rng.below(spread + 1));
        let incarnation = self.nodes[&id].incarnation;
        self.schedule(at, Delivery::DiskWrite { node: id, incarnation, write });
    }

    /// The write reaches node `id`'s disk, or fails whole.
    fn disk_write(&mut self, id: u64, write: Write) -> (WriteId, Result<(), WriteFailed>) {
        let fail = self.nodes[&id].disk.fail;
        if fail > 0.0 && self.rng.chance(fail) {
            let failed = WriteFailed { error: "simulated disk failure".into(), batches: write.batches };
            return (write.id, Err(failed));
        }
        let node = self.node_mut(id);
        if write.durable {
            // A flush makes the earlier deferred writes durable too.
            for batches in std::mem::take(&mut node.unsynced).into_iter().chain([write.batches]) {
                node.batches_durable += batches.len() as u64;
                for batch in batches {
                    node.store.apply(batch);
                }
            }
        } else {
            node.unsynced.push(write.batches);
        }
        (write.id, Ok(()))
    }

    fn carry_out(&mut self, id: u64, out: Output<u64>) {
        match out {
            // The commit pipeline takes every batch.
            Output::Persist(_) => {}
            Output::Broadcast(bytes) => {
                let peers: Vec<u64> = self.nodes.keys().copied().filter(|&p| p != id).collect();
                for p in peers {
                    if !self.reachable(id, p) || self.rng.chance(self.net.gossip_loss) {
                        continue;
                    }
                    let copies = if self.rng.chance(self.net.gossip_duplicate) { 2 } else { 1 };
                    for _ in 0..copies {
                        let at = self.now + self.latency(id, p);
                        self.count_sent(id, bytes.len());
                        self.schedule(at, Delivery::Gossip { from: id, to: p, bytes: bytes.clone() });
                    }
                }
            }
            Output::Send { to, bytes } => {
                if !self.reachable(id, to) {
                    return;
                }
                let latency = self.latency(id, to);
                let entry = self.links.entry(link(id, to)).or_insert((0, self.now));
                let at = (self.now + latency).max(entry.1);
                entry.1 = at;
                let epoch = entry.0;
                self.count_sent(id, bytes.len());
                self.schedule(at, Delivery::Direct { from: id, to, bytes, epoch });
            }
            Output::Disconnect { peer, .. } => {
                // The runtime bans the peer: the link stays cut until
                // the test heals the network.
                self.node_mut(id).disconnected += 1;
                if self.cut.insert(link(id, peer)) {
                    self.link_down(id, peer);
                }
            }
            Output::Deliver { sink, order, payload } => {
                let node = self.node_mut(id);
                let row = SinkRow {
                    digest: payload.content_digest(),
                    total: payload.totals.total.0,
                    paid: payload.totals.paid.0,
                    from: node.terminal.to_string(),
                };
                let at = self.now + self.sink_latency(&sink);
                self.schedule(at, Delivery::SinkRequest { node: id, sink, order, row });
            }
            Output::Event(event) => {
                let node = self.node_mut(id);
                node.events += 1;
                if let Event::Rejected { reason, .. } = event {
                    node.rejected += 1;
                    *node.rejected_by_kind.entry(reason.kind()).or_default() += 1;
                }
            }
        }
    }

    fn count_sent(&mut self, id: u64, len: usize) {
        let node = self.node_mut(id);
        node.bytes_sent += len as u64;
        node.messages_sent += 1;
    }

    fn latency(&mut self, a: u64, b: u64) -> Duration {
        let (min, max) = (self.net.latency_min, self.net.latency_max);
        let spread = (max.saturating_sub(min)).as_micros() as u64;
        let base = min + Duration::from_micros(self.rng.below(spread + 1));
        base + self.nodes[&a].extra_delay + self.nodes[&b].extra_delay
    }

    fn sink_latency(&mut self, sink: &SinkName) -> Duration {
        let Some(s) = self.sinks.get(sink) else { return Duration::ZERO };
        let (min, max) = (s.faults.latency_min, s.faults.latency_max);
        let spread = max.saturating_sub(min).as_micros() as u64;
        min + Duration::from_micros(self.rng.below(spread + 1))
    }

    /// A request reached the back office: what it does, and the answers it
    /// sends back (none, one or two).
    fn sink_request(&mut self, node: u64, sink: SinkName, order: OrderId, row: SinkRow) {
        let Some(faults) = self.sinks.get(&sink).map(|s| s.faults.clone()) else { return };
        let incarnation = self.nodes[&node].incarnation;
        let mut answers = Vec::new();
        if faults.down {
            answers.push(Err("connection refused".to_owned()));
        } else if self.rng.chance(faults.fail) {
            answers.push(Err("refused by the back office".to_owned()));
        } else if self.rng.chance(faults.no_answer) {
            // Lost on the way there: nothing applied, nothing answered.
        } else {
            let reference = self.sinks.get_mut(&sink).expect("checked").apply(&order, row);
            if !self.rng.chance(faults.lose_answer) {
                answers.push(Ok(reference.clone()));
                if self.rng.chance(faults.answer_twice) {
                    answers.push(Ok(reference));
                }
            }
        }
        for result in answers {
            let at = self.now + self.sink_latency(&sink);
            let (sink, order) = (sink.clone(), order.clone());
            self.schedule(at, Delivery::SinkAnswer { node, incarnation, sink, order, result });
        }
    }

    fn schedule(&mut self, at: Instant, delivery: Delivery) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.seq, delivery }));
    }

    /// Processes everything due up to `until` (virtual), in time order.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next_delivery = self.queue.peek().map(|Reverse(s)| s.at);
            let next_timer = self.nodes.values().filter_map(SimNode::next_timer).min();
            let next = match (next_delivery, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if next_delivery == Some(next) {
                let Reverse(s) = self.queue.pop().expect("peeked");
                self.deliver(s.delivery);
            } else {
                let due: Vec<u64> = self
                    .nodes
                    .values()
                    .filter(|n| n.next_timer().is_some_and(|t| t <= self.now))
                    .map(|n| n.id)
                    .collect();
                for id in due {
                    let now = self.now;
                    if let Some(e) = self.node_mut(id).engine.as_mut()
                        && e.poll_timeout() <= now
                    {
                        e.handle_timeout(now);
                    }
                    self.drain(id);
                }
            }
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn deliver(&mut self, delivery: Delivery) {
        let now = self.now;
        match delivery {
            Delivery::Gossip { from, to, bytes } => {
                if !self.reachable(from, to) {
                    return;
                }
                if let Some(e) = self.node_mut(to).engine.as_mut() {
                    // A rejected message shows up as an `Event::Rejected`,
                    // counted in `SimNode::rejected`; gossip forwarding itself
                    // is not simulated (every peer hears the origin directly).
                    let _verdict = e.handle_gossip(now, from, owner_of(from), &bytes);
                }
                self.drain(to);
            }
            Delivery::SinkRequest { node, sink, order, row } => self.sink_request(node, sink, order, row),
            Delivery::DiskWrite { node, incarnation, write } => {
                // A crash during the write: none of it reached the disk.
                if self.nodes.get(&node).is_none_or(|n| n.incarnation != incarnation || n.engine.is_none()) {
                    return;
                }
                let (id, result) = self.disk_write(node, write);
                let delay = self.nodes[&node].disk.report_delay;
                self.schedule(now + delay, Delivery::DiskReport { node, incarnation, id, result });
            }
            Delivery::DiskReport { node, incarnation, id, result } => {
                // A crash between the write and its report: on disk, but
                // no caller was told.
                let Some(n) = self.nodes.get_mut(&node) else { return };
                if n.incarnation != incarnation || n.engine.is_none() {
                    return;
                }
                n.commits.completed(now, id, result);
                self.drive_commits(node);
            }
            Delivery::SinkAnswer { node, incarnation, sink, order, result } => {
                let Some(n) = self.nodes.get_mut(&node) else { return };
                if n.incarnation != incarnation {
                    return;
                }
                if let Some(e) = n.engine.as_mut() {
                    // The simulated back office fails as a whole (down, slow).
                    e.delivered(
                        now,
                        &sink,
                        &order,
                        result.map_err(possync_engine::DeliveryFailure::Unavailable),
                    );
                }
                self.drain(node);
            }
            Delivery::Direct { from, to, bytes, epoch } => {
                let current = self.links.get(&link(from, to)).map(|l| l.0).unwrap_or(0);
                if epoch != current || !self.reachable(from, to) {
                    return;
                }
                if let Some(e) = self.node_mut(to).engine.as_mut() {
                    e.handle_direct(now, from, &bytes);
                }
                self.drain(to);
            }
        }
    }

    /// Runs until every live node agrees (checked once per virtual second) and
    /// nothing is in flight, or `max` has passed. Returns the time it took.
    pub fn settle(&mut self, max: Duration) -> Duration {
        let start = self.now;
        let deadline = self.now + max;
        while self.now < deadline {
            self.run_for(Duration::from_millis(500));
            if self.queue.is_empty() && self.quiet() && self.divergence().is_none() {
                break;
            }
        }
        self.now - start
    }

    fn quiet(&self) -> bool {
        self.live_nodes().iter().all(|&id| !self.engine(id).status().is_syncing())
    }

    // ----- invariants -----------------------------------------------------

    /// The first difference between live nodes, if any: order sets, heads,
    /// then each order's JSON.
    pub fn divergence(&self) -> Option<String> {
        let live = self.live_nodes();
        let (&first, rest) = live.split_first()?;
        let reference = self.engine(first);
        let ref_orders = reference.all_orders();
        for &other in rest {
            let e = self.engine(other);
            if e.catalogue_heads() != reference.catalogue_heads() {
                return Some(format!("catalogue differs between node {first} and node {other}"));
            }
            let orders = e.all_orders();
            if orders != ref_orders {
                return Some(format!(
                    "node {first} holds {} orders, node {other} holds {}",
                    ref_orders.len(),
                    orders.len()
                ));
            }
            for id in &ref_orders {
                let (a, b) = (reference.order(id)?, e.order(id)?);
                let (mut ha, mut hb) = (a.heads(), b.heads());
                ha.sort();
                hb.sort();
                if ha != hb {
                    return Some(format!("order {id}: heads differ between node {first} and node {other}"));
                }
            }
        }
        None
    }

    /// Every live node holds the same orders with the same heads and the same
    /// JSON. Panics with the seed otherwise.
    pub fn assert_converged(&self) {
        if let Some(d) = self.divergence() {
            panic!("seed {}: not converged: {d}", self.seed);
        }
        let live = self.live_nodes();
        let Some((&first, rest)) = live.split_first() else { return };
        for id in self.engine(first).all_orders() {
            let json = serde_json::to_string(&self.engine(first).view(&id)).expect("views serialize");
            for &other in rest {
                let theirs = serde_json::to_string(&self.engine(other).view(&id)).expect("views serialize");
                assert_eq!(json, theirs, "seed {}: order {id} differs on node {other}", self.seed);
            }
            assert_eq!(
                self.engine(first).is_archived(&id),
                rest.iter().all(|&o| self.engine(o).is_archived(&id)),
                "seed {}: order {id} archived on some nodes only",
                self.seed
            );
        }
    }

    /// Every change any node acknowledged is present on every live node.
    pub fn assert_acked_present(&self) {
        for node in self.nodes.values() {
            for (order, hash) in &node.acked {
                for &live in &self.live_nodes() {
                    let doc = self.engine(live).order(order).unwrap_or_else(|| {
                        panic!(
                            "seed {}: order {order} acked by node {} missing on node {live}",
                            self.seed, node.id
                        )
                    });
                    assert!(
                        doc.automerge().get_change_by_hash(hash).is_some(),
                        "seed {}: change {hash} of order {order} acked by node {} missing on node {live}",
                        self.seed,
                        node.id
                    );
                }
            }
        }
    }

    /// No two orders share a name; no order has a missing dependency.
    pub fn assert_no_duplicates(&self) {
        for &live in &self.live_nodes() {
            let e = self.engine(live);
            let mut names = BTreeMap::new();
            for id in e.all_orders() {
                let view = e.view(&id).expect("complete orders have views");
                if let Some(prev) = names.insert(view.name.clone(), id.clone()) {
                    panic!("seed {}: name {} used by orders {prev} and {id}", self.seed, view.name);
                }
                let doc = e.order(&id).expect("listed");
                assert!(
                    doc.automerge().get_missing_deps(&[]).is_empty(),
                    "seed {}: order {id} on node {live} has missing dependencies",
                    self.seed
                );
            }
        }
    }

    /// Queues and per-peer state stayed within the configured bounds.
    pub fn assert_bounds(&self) {
        let limit = self.cfg.max_sessions_per_peer + self.cfg.max_inbound_sessions_per_peer;
        assert!(
            self.bounds.max_sessions_one_peer <= limit,
            "seed {}: {} sessions with one peer (limit {limit})",
            self.seed,
            self.bounds.max_sessions_one_peer
        );
        // Outputs are drained after every input; a step never queues more than
        // its own work (a catch-up reply to one message).
        assert!(
            self.bounds.max_outbox <= 4096,
            "seed {}: outbox reached {}",
            self.seed,
            self.bounds.max_outbox
        );
        for &live in &self.live_nodes() {
            let s = self.engine(live).status();
            assert_eq!(s.sessions, 0, "seed {}: node {live} still has sessions once quiet", self.seed);
        }
    }

    /// All of the above.
    pub fn assert_invariants(&self) {
        self.assert_converged();
        self.assert_acked_present();
        self.assert_no_duplicates();
        self.assert_bounds();
    }

    /// Bytes every node has sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.nodes.values().map(|n| n.bytes_sent).sum()
    }
}

/// The owner of a simulated terminal's actors: its node id stands for the
/// network identity that signs its gossip.
pub fn owner_of(node: u64) -> ActorOwner {
    ActorOwner::of_identity(&node.to_be_bytes())
}
