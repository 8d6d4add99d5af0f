//! [`Engine`]: one terminal's sync state machine. Local edits, messages from
//! peers, peer arrivals and departures, and the passing of time go in; storage
//! writes, messages and events come out ([`Output`]). It performs no IO and
//! reads no clock: the same inputs always give the same outputs.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use automerge::{ActorId, ChangeHash, sync};
use possync_model::{
    ChangeSummary, DeliveryEdit, Edit, EditContext, EditError, LineId, NewOrder, OrderDoc, OrderId,
    OrderName, OrderView, Quantity, RemoteApplied, Roles, SinkName, TerminalId,
};

mod catalogue_sync;
mod gossip_in;

pub use gossip_in::GossipIn;

use crate::catalogue_doc::CatalogueDoc;
use crate::claims::{ClaimAct, Claims, PaymentClaim};
use crate::config::EngineConfig;
use crate::delivery::{Deliveries, DeliveryAct, SinkStatus};
use crate::orders::{Entry, Life, Orders};
use crate::output::{Event, Origin, Output, Rejection, StoreOp};
use crate::owner::ActorOwner;
use crate::peer::{PeerState, Session};
use crate::rng::SplitMix64;
use crate::summary::{Summary, fingerprint};
use crate::wire::{Direct, Gossip};

/// What identifies a peer: a libp2p `PeerId` in the node, a `u64` in the
/// simulator.
pub trait PeerId: Clone + Ord + Hash + Debug {}
impl<T: Clone + Ord + Hash + Debug> PeerId for T {}

/// Errors of local commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("no order {0}")]
    UnknownOrder(OrderId),
    #[error("order {0} already exists")]
    DuplicateOrder(OrderId),
    #[error("order limit reached ({0} orders)")]
    TooManyOrders(usize),
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// A stored order handed back at start-up.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub id: OrderId,
    pub snapshot: Option<Vec<u8>>,
    pub changes: Vec<Vec<u8>>,
}

/// What a restore found.
#[derive(Debug, Default)]
pub struct RestoreReport {
    pub active: usize,
    pub archived: usize,
    /// Orders that could not be loaded, by id, with the reason. Their stored
    /// bytes are left alone; the rest of the orders load normally.
    pub damaged: Vec<(OrderId, String)>,
}

/// A snapshot of the engine's state for status displays and the simulator's
/// bound checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStatus {
    pub peers: usize,
    pub active_orders: usize,
    pub archived_orders: usize,
    pub incomplete_orders: usize,
    /// Sync sessions open with all peers.
    pub sessions: usize,
    /// Orders waiting for a sync session.
    pub queued: usize,
    /// Whole orders asked for and not yet received.
    pub fetching: usize,
    pub max_sessions_one_peer: usize,
}

impl EngineStatus {
    /// Catch-up work is under way.
    pub fn is_syncing(&self) -> bool {
        self.sessions > 0 || self.queued > 0 || self.fetching > 0 || self.incomplete_orders > 0
    }
}

/// One terminal's sync engine. See the crate docs for the protocol.
#[derive(Debug)]
pub struct Engine<P: PeerId> {
    cfg: EngineConfig,
    terminal: TerminalId,
    /// Automerge actor for every change this engine makes: fresh per process
    /// start, so a cloned data directory never reuses an (actor, seq) pair.
    actor: ActorId,
    rng: SplitMix64,
    orders: Orders,
    summary: Summary,
    /// Orders whose retention ended, with when to forget the tombstone: data
    /// for them from slower peers is ignored instead of resurrecting them.
    tombstones: HashMap<OrderId, Instant>,
    peers: BTreeMap<P, PeerState>,
    next_sequence: u64,
    /// Orders of this terminal whose name another order of the floor
    /// already has, to rename once the current input is handled.
    pending_renames: Vec<(Instant, OrderId)>,
    outbox: VecDeque<Output<P>>,
    /// Storage writes of the current step, emitted as one batch.
    pending_store: Vec<StoreOp>,
    next_anti_entropy: Option<Instant>,
    next_maintenance: Instant,
    /// Who is taking which order's payment (ephemeral, never stored).
    claims: Claims<P>,
    /// The delivery outbox's own state (see `delivery.rs`).
    deliveries: Deliveries,
    /// The latest `now` any input brought, for inputs that carry none
    /// (`peer_down`).
    last_now: Instant,
    /// Who may make manager-only changes (from the catalogue's users); a
    /// peer's change that makes one by anyone else is refused.
    roles: Roles,
    /// The catalogue shared by the multi-session (`engine/catalogue_sync.rs`).
    catalogue: CatalogueDoc,
}

impl<P: PeerId> Engine<P> {
    pub fn new(cfg: EngineConfig, terminal: TerminalId, actor: ActorId, seed: u64, now: Instant) -> Self {
        Engine {
            summary: Summary::new(cfg.summary_buckets),
            next_maintenance: now + MAINTENANCE_INTERVAL,
            terminal: terminal.clone(),
            catalogue: CatalogueDoc::new(actor.clone()),
            actor,
            rng: SplitMix64::new(seed),
            orders: Orders::default(),
            tombstones: HashMap::new(),
            peers: BTreeMap::new(),
            next_sequence: 1,
            pending_renames: Vec::new(),
            outbox: VecDeque::new(),
            pending_store: Vec::new(),
            next_anti_entropy: None,
            claims: Claims::new(cfg.payment_claim_ttl, cfg.payment_claim_ack_timeout),
            deliveries: Deliveries::new(cfg.delivery.clone(), terminal.clone(), now),
            last_now: now,
            roles: Roles::Anyone,
            cfg,
        }
    }

    /// Who may make manager-only changes. The catalogue's users set it each
    /// time the catalogue changes (`engine/catalogue_sync.rs`); this is for
    /// tests that want roles without a catalogue.
    pub fn set_roles(&mut self, roles: Roles) {
        self.roles = roles;
    }

    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    pub fn terminal(&self) -> &TerminalId {
        &self.terminal
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    // ----- start-up -------------------------------------------------------

    /// Loads stored orders. Call once, before any other input. A damaged
    /// order is reported and skipped; it does not hide the others.
    pub fn restore(&mut self, now: Instant, orders: Vec<StoredOrder>, next_sequence: u64) -> RestoreReport {
        let mut report = RestoreReport::default();
        if orders.is_empty() {
            self.deliveries.started_empty();
        }
        let mut max_seq = next_sequence.saturating_sub(1);
        for stored in orders {
            match self.load_stored(&stored) {
                Ok(doc) => {
                    let view = doc.view().ok();
                    if let Some(seq) = view.as_ref().and_then(|v| v.name.sequence_of(&self.terminal)) {
                        max_seq = max_seq.max(seq);
                    }
                    let active = view.as_ref().is_some_and(OrderView::is_active);
                    let unsnapshotted = stored.changes.len() as u32;
                    let id = stored.id.clone();
                    self.orders.insert(id.clone(), Entry::incomplete(doc, unsnapshotted));
                    self.set_life(&id, if active { Life::Active } else { Life::Archived(now) });
                    self.deliveries.observe(&id, view.as_ref(), !active, now);
                    if active { report.active += 1 } else { report.archived += 1 }
                }
                Err(reason) => report.damaged.push((stored.id, reason)),
            }
        }
        self.next_sequence = max_seq + 1;
        // Restoring is not news: nothing to re-persist.
        self.pending_store.clear();
        report
    }

    fn load_stored(&self, stored: &StoredOrder) -> Result<OrderDoc, String> {
        let mut doc = match &stored.snapshot {
            Some(bytes) => {
                OrderDoc::load(stored.id.clone(), bytes, self.actor.clone()).map_err(|e| e.to_string())?
            }
            None => OrderDoc::empty(stored.id.clone(), self.actor.clone()),
        };
        if !stored.changes.is_empty() {
            doc.apply_remote_bytes(stored.changes.iter().map(Vec::as_slice)).map_err(|e| e.to_string())?;
        }
        doc.view().map_err(|e| e.to_string())?;
        Ok(doc)
    }

    // ----- local commands ---------------------------------------------------

    /// The name the next order opened here will get.
    pub fn peek_next_name(&self) -> OrderName {
        OrderName::compose(&self.terminal, self.next_sequence)
    }

    /// Opens a new order with a fresh id and the next name of this terminal.
    /// `template.id` and `template.name` are replaced.
    pub fn open_order(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        mut template: NewOrder,
    ) -> Result<OrderId, EngineError> {
        template.id = OrderId::from_random(self.rng.next_u128());
        self.open_order_with_id(now, ctx, template)
    }

    /// Opens a new order with the id given (e.g. an integrator's own order
    /// uid) and the next name of this terminal. `template.name` is replaced.
    pub fn open_order_with_id(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        mut template: NewOrder,
    ) -> Result<OrderId, EngineError> {
        template.name = self.peek_next_name();
        self.open_order_as(now, ctx, template)
    }

    /// Opens a new order with the id and name given (e.g. Odoo's `uid`).
    pub fn open_order_as(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        new: NewOrder,
    ) -> Result<OrderId, EngineError> {
        if self.orders.contains_key(&new.id) || self.tombstones.contains_key(&new.id) {
            return Err(EngineError::DuplicateOrder(new.id));
        }
        if self.orders.len() >= self.cfg.max_orders {
            return Err(EngineError::TooManyOrders(self.cfg.max_orders));
        }
        let (doc, change) = OrderDoc::open(self.actor.clone(), ctx, &new)?;
        if let Some(seq) = new.name.sequence_of(&self.terminal)
            && seq >= self.next_sequence
        {
            self.next_sequence = seq + 1;
            self.pending_store.push(StoreOp::NextSequence(self.next_sequence));
        }
        let id = new.id.clone();
        self.pending_store.push(StoreOp::Snapshot { order: id.clone(), bytes: doc.save() });
        self.orders.insert(id.clone(), Entry::incomplete(doc, 0));
        self.after_change(now, &id, Origin::Local, change.summary);
        self.broadcast(&id, vec![change.bytes]);
        self.flush();
        Ok(id)
    }

    /// Applies one edit. `Ok(None)` when it changed nothing.
    pub fn edit(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        order: &OrderId,
        edit: &Edit,
    ) -> Result<Option<ChangeHash>, EngineError> {
        let entry = self.usable_entry(order)?;
        let Some(change) = entry.doc.edit(ctx, edit)? else { return Ok(None) };
        self.record_append(order, vec![change.bytes.clone()]);
        self.after_change(now, order, Origin::Local, change.summary);
        self.broadcast(order, vec![change.bytes]);
        self.flush();
        Ok(Some(change.hash))
    }

    /// Moves quantities of lines into a new order (splitting the bill). Both
    /// orders' changes are stored in one batch, so a crash cannot leave the
    /// items in both orders or in neither.
    pub fn split(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        order: &OrderId,
        moves: &[(LineId, Quantity)],
    ) -> Result<OrderId, EngineError> {
        if self.orders.len() >= self.cfg.max_orders {
            return Err(EngineError::TooManyOrders(self.cfg.max_orders));
        }
        let new = NewOrder::new(OrderId::from_random(self.rng.next_u128()), self.peek_next_name());
        let entry = self.usable_entry(order)?;
        let (target, target_change, source_change) = entry.doc.split(ctx, &new, moves)?;
        self.next_sequence += 1;
        self.pending_store.push(StoreOp::NextSequence(self.next_sequence));
        self.record_append(order, vec![source_change.bytes.clone()]);
        self.after_change(now, order, Origin::Local, source_change.summary);
        let new_id = new.id.clone();
        self.pending_store.push(StoreOp::Snapshot { order: new_id.clone(), bytes: target.save() });
        self.orders.insert(new_id.clone(), Entry::incomplete(target, 0));
        self.after_change(now, &new_id, Origin::Local, target_change.summary);
        self.broadcast(&new_id, vec![target_change.bytes]);
        self.broadcast(order, vec![source_change.bytes]);
        self.flush();
        Ok(new_id)
    }

    // ----- delivery to back offices ------------------------------------------

    /// The back offices this terminal delivers to (`[[sink]]` in the
    /// daemon's config). Every closed order some sink has not confirmed is
    /// kept from retention and delivered (see `delivery.rs`).
    pub fn set_sinks(&mut self, now: Instant, sinks: &[SinkName]) {
        self.deliveries.set_sinks(sinks);
        let ids: Vec<OrderId> = self.orders.iter().map(|(id, _)| id.clone()).collect();
        for id in ids {
            let Some(entry) = self.orders.get(&id) else { continue };
            let archived = matches!(entry.life(), Life::Archived(_));
            self.deliveries.observe(&id, entry.doc.current_view(), archived, now);
        }
    }

    /// Tells the engine the wall-clock time (ms since the Unix epoch) at
    /// `now`: delivery state in the documents is stamped with it, and
    /// leases compare with it. Call at start and now and then.
    pub fn set_wall_clock(&mut self, now: Instant, wall_ms: i64) {
        self.deliveries.set_wall_clock(now, wall_ms);
    }

    /// A sink answered an [`Output::Deliver`]: `Ok` with its reference for
    /// the order, or why it failed (the back office, or this order: see
    /// [`crate::DeliveryFailure`]). Repeated and late answers are fine.
    pub fn delivered(
        &mut self,
        now: Instant,
        sink: &SinkName,
        order: &OrderId,
        result: Result<String, crate::DeliveryFailure>,
    ) {
        self.last_now = self.last_now.max(now);
        if let Some(act) = self.deliveries.on_result(now, sink, order, result) {
            self.delivery_acts(now, vec![act]);
        }
        self.flush();
    }

    /// The runtime could not start a delivery it was asked for (its queue is
    /// full): the order waits for its next turn, no failure is recorded.
    pub fn delivery_not_started(&mut self, sink: &SinkName, order: &OrderId) {
        self.deliveries.not_started(sink, order);
    }

    /// Backlog, age of the oldest undelivered order and counters, per sink.
    pub fn delivery_status(&self, now: Instant) -> Vec<SinkStatus> {
        self.deliveries.status(now)
    }

    fn delivery_acts(&mut self, now: Instant, acts: Vec<DeliveryAct>) {
        for act in acts {
            match act {
                DeliveryAct::Start { sink, order } => {
                    if let Err(e) = self.record_delivery(now, &order, &sink, &DeliveryEdit::Claim) {
                        tracing::warn!(%order, %sink, error = %e, "cannot claim delivery");
                        self.deliveries.not_started(&sink, &order);
                        continue;
                    }
                    let Some(view) = self.orders.get(&order).and_then(|e| e.doc.current_view()).cloned()
                    else {
                        self.deliveries.not_started(&sink, &order);
                        continue;
                    };
                    self.outbox.push_back(Output::Deliver { sink, order, payload: Box::new(view) });
                }
                DeliveryAct::Record { sink, order, edit } => {
                    if let Err(e) = self.record_delivery(now, &order, &sink, &edit) {
                        tracing::warn!(%order, %sink, error = %e, "cannot record delivery");
                    }
                }
            }
        }
    }

    /// Writes a delivery step into the order, like a local edit.
    fn record_delivery(
        &mut self,
        now: Instant,
        order: &OrderId,
        sink: &SinkName,
        edit: &DeliveryEdit,
    ) -> Result<(), EngineError> {
        let at_ms = self.deliveries.wall_ms(now).unwrap_or_default();
        let ctx = EditContext::new(DELIVERY_USER, self.terminal.clone(), at_ms);
        let entry = self.orders.get_mut(order).ok_or_else(|| EngineError::UnknownOrder(order.clone()))?;
        let Some(change) = entry.doc.record_delivery(&ctx, sink, edit)? else { return Ok(()) };
        self.record_append(order, vec![change.bytes.clone()]);
        self.after_change(now, order, Origin::Local, change.summary);
        self.broadcast(order, vec![change.bytes]);
        Ok(())
    }

    // ----- payment claims -------------------------------------------------

    /// Asks for (or renews) this terminal's claim on taking `order`'s
    /// payment (see `claims.rs`). The answer is the claim that stands:
    /// ours, granted or still waiting for peers' answers, or another
    /// terminal's, which refuses ours ("being paid on T2 by ana").
    pub fn claim_payment(
        &mut self,
        now: Instant,
        user: &str,
        order: &OrderId,
    ) -> Result<PaymentClaim, EngineError> {
        self.usable_entry(order)?;
        // Peers refuse a longer name as malformed (and count it against us).
        if user.is_empty() || user.len() > crate::wire::MAX_CLAIM_USER {
            let detail = format!("1 to {} bytes", crate::wire::MAX_CLAIM_USER);
            return Err(EngineError::Edit(EditError::Invalid { field: "user", detail }));
        }
        self.last_now = self.last_now.max(now);
        let peers: Vec<P> = self.peers.keys().cloned().collect();
        let token = self.rng.next_u64();
        let mut acts = Vec::new();
        let claim = self.claims.claim(now, &self.terminal, user, order, &peers, token, &mut acts);
        self.claim_acts(now, acts);
        self.flush();
        Ok(claim)
    }

    /// This terminal is done taking `order`'s payment (paid, or gave up).
    pub fn release_payment(&mut self, now: Instant, order: &OrderId) {
        self.last_now = self.last_now.max(now);
        let peers: Vec<P> = self.peers.keys().cloned().collect();
        let heads = self.orders.get(order).map(|e| e.doc.heads()).unwrap_or_default();
        let mut acts = Vec::new();
        self.claims.release(order, &heads, &peers, &mut acts);
        self.claim_acts(now, acts);
        self.flush();
    }

    /// Who is taking `order`'s payment right now, if anyone.
    pub fn payment_claim(&self, now: Instant, order: &OrderId) -> Option<PaymentClaim> {
        self.claims.get(now, &self.terminal, order)
    }

    /// Every payment in progress this terminal knows of.
    pub fn payment_claims(&self, now: Instant) -> Vec<PaymentClaim> {
        self.claims.all(now, &self.terminal)
    }

    /// Whether the order holds every one of `heads` (visible, not parked).
    fn holds_heads(&self, order: &OrderId, heads: &[ChangeHash]) -> bool {
        let Some(entry) = self.orders.get(order) else { return heads.is_empty() };
        let doc = entry.doc.automerge();
        // Parked changes (missing dependencies) are not in the history.
        heads.iter().all(|h| doc.get_change_meta_by_hash(h).is_some())
    }

    fn claim_acts(&mut self, now: Instant, acts: Vec<ClaimAct<P>>) {
        let mut changed: Vec<OrderId> = Vec::new();
        for act in acts {
            match act {
                ClaimAct::Send(to, msg) => self.send(&to, msg.encode()),
                ClaimAct::Changed(order) => {
                    if !changed.contains(&order) {
                        changed.push(order);
                    }
                }
            }
        }
        for order in changed {
            let claim = self.claims.get(now, &self.terminal, &order);
            self.outbox.push_back(Output::Event(Event::PaymentClaim { order, claim }));
        }
    }

    fn usable_entry(&mut self, order: &OrderId) -> Result<&mut Entry, EngineError> {
        match self.orders.get_mut(order) {
            Some(e) if e.is_complete() => Ok(e),
            _ => Err(EngineError::UnknownOrder(order.clone())),
        }
    }

    // ----- reads ----------------------------------------------------------

    pub fn order(&self, id: &OrderId) -> Option<&OrderDoc> {
        self.orders.get(id).filter(|e| e.is_complete()).map(|e| &e.doc)
    }

    pub fn view(&self, id: &OrderId) -> Option<OrderView> {
        self.order(id).and_then(|d| d.view().ok())
    }

    /// Ids of orders on the open list, sorted.
    pub fn active_orders(&self) -> Vec<OrderId> {
        let mut ids: Vec<OrderId> =
            self.orders.iter().filter(|(_, e)| e.life() == Life::Active).map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids
    }

    /// Ids of every complete order, open or archived, sorted.
    pub fn all_orders(&self) -> Vec<OrderId> {
        let mut ids: Vec<OrderId> =
            self.orders.iter().filter(|(_, e)| e.is_complete()).map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids
    }

    pub fn is_archived(&self, id: &OrderId) -> bool {
        self.orders.get(id).is_some_and(|e| matches!(e.life(), Life::Archived(_)))
    }

    pub fn status(&self) -> EngineStatus {
        let counts = self.orders.counts();
        // Every debug build (tests, the simulator) checks the kept counts.
        debug_assert_eq!(counts, self.orders.walked_counts());
        let mut s = EngineStatus {
            peers: self.peers.len(),
            active_orders: counts.active,
            archived_orders: counts.archived,
            incomplete_orders: counts.incomplete,
            ..Default::default()
        };
        for p in self.peers.values() {
            s.sessions += p.sessions.len();
            s.queued += p.queue.len();
            s.fetching += p.fetching.len();
            s.max_sessions_one_peer = s.max_sessions_one_peer.max(p.sessions.len());
        }
        s
    }

    /// The next output to carry out, if any. Drain after every input.
    pub fn poll_output(&mut self) -> Option<Output<P>> {
        self.outbox.pop_front()
    }

    /// Outputs waiting to be drained.
    pub fn pending_outputs(&self) -> usize {
        self.outbox.len()
    }

    /// When [`Engine::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Instant {
        let t = match self.next_anti_entropy {
            Some(t) => t.min(self.next_maintenance),
            None => self.next_maintenance,
        };
        let t = match self.claims.next_deadline() {
            Some(c) => t.min(c),
            None => t,
        };
        match self.deliveries.next_deadline() {
            Some(d) => t.min(d),
            None => t,
        }
    }

    // ----- network inputs -------------------------------------------------

    /// A connection to a peer of the multi-session is up (and its gossip
    /// subscription seen). Starts catch-up with it.
    pub fn peer_up(&mut self, now: Instant, peer: P) {
        self.last_now = self.last_now.max(now);
        self.peers.insert(peer.clone(), PeerState::new(now, &self.cfg));
        self.send_summary(&peer);
        let mut acts = Vec::new();
        self.claims.peer_up(now, &self.terminal, &peer, &mut acts);
        self.claim_acts(now, acts);
        if self.next_anti_entropy.is_none() {
            self.next_anti_entropy = Some(now + self.jittered(self.cfg.anti_entropy_interval));
        }
        self.flush();
    }

    /// Starts a catch-up round with `peer` now (e.g. when its gossip
    /// subscription arrives, or after a publish found no subscribers), instead
    /// of waiting for the next anti-entropy round.
    pub fn catch_up_with(&mut self, peer: &P) {
        if self.peers.contains_key(peer) {
            self.send_summary(peer);
            self.flush();
        }
    }

    /// Connected peers, sorted.
    pub fn peers(&self) -> Vec<P> {
        self.peers.keys().cloned().collect()
    }

    /// The peer is gone: its sessions and queues go with it.
    pub fn peer_down(&mut self, peer: &P) {
        self.peers.remove(peer);
        if self.peers.is_empty() {
            self.next_anti_entropy = None;
        }
        let mut acts = Vec::new();
        self.claims.peer_down(peer, &mut acts);
        // No clock here: the events' views are read at the last known time,
        // which only matters for claims that lapse this very instant.
        let now = self.last_now;
        self.claim_acts(now, acts);
    }

    /// A gossip message arrived: forwarded to us by `from`, published and
    /// signed by the terminal whose actors `signer` fingerprints. The verdict
    /// tells the gossip layer whether to forward it.
    pub fn handle_gossip(&mut self, now: Instant, from: P, signer: ActorOwner, bytes: &[u8]) -> Verdict {
        let message = GossipIn { from: &from, signer, bytes };
        self.handle_gossip_batch(now, &[message])[0]
    }

    /// A pairwise catch-up message arrived from `from`.
    pub fn handle_direct(&mut self, now: Instant, from: P, bytes: &[u8]) {
        self.last_now = self.last_now.max(now);
        let cfg = &self.cfg;
        let peer = self.peers.entry(from.clone()).or_insert_with(|| PeerState::new(now, cfg));
        if !peer.guard.admit(now, cfg) {
            // Over its rate: drop unread (a flood costs us nothing more).
            self.refuse_flood(now, &from, Rejection::Flood { what: "catch-up messages" });
            self.flush();
            return;
        }
        match Direct::decode(bytes) {
            Err(e) if e.is_from_the_future() => {}
            Err(e) => self.reject_offence(now, &from, Rejection::Wire(e)),
            Ok(Direct::Summary { buckets }) => self.on_summary(&from, &buckets),
            Ok(Direct::Heads { respond, buckets, entries }) => {
                self.on_heads(now, &from, respond, &buckets, entries)
            }
            Ok(Direct::Fetch { orders }) => self.on_fetch(&from, orders),
            Ok(Direct::Docs { docs }) => self.on_docs(now, &from, docs),
            Ok(Direct::Sync { items }) => self.on_sync(now, &from, items),
            Ok(Direct::Claim(msg)) => {
                let mut acts = Vec::new();
                let peers: Vec<P> = self.peers.keys().cloned().collect();
                self.claims.on_claim(now, &self.terminal, &from, msg, &peers, &mut acts);
                self.claim_acts(now, acts);
            }
            Ok(Direct::ClaimReply { order, token, granted, holder }) => {
                let mut acts = Vec::new();
                let peers: Vec<P> = self.peers.keys().cloned().collect();
                self.claims.on_reply(now, &from, &order, token, granted, holder, &peers, &mut acts);
                self.claim_acts(now, acts);
            }
            Ok(Direct::ClaimRelease { order, token, heads }) => {
                let held = self.holds_heads(&order, &heads);
                let mut acts = Vec::new();
                self.claims.on_release(&order, token, heads, held, &mut acts);
                self.claim_acts(now, acts);
            }
            Ok(Direct::CatalogueHeads { heads }) => self.on_catalogue_heads(&from, heads),
            Ok(Direct::CatalogueDoc { bytes }) => self.on_catalogue_doc(&from, &bytes),
        }
        self.flush();
    }

    /// The runtime refused something from `from` before the engine saw it
    /// (a catch-up frame over the size limit): reported and counted as an
    /// offence like data the engine refuses itself.
    pub fn refused_by_transport(&mut self, now: Instant, from: P, reason: Rejection) {
        self.reject_offence(now, &from, reason);
        self.flush();
    }

    /// Time passed: anti-entropy rounds, stalled sessions, retention.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.next_anti_entropy.is_some_and(|t| now >= t) && !self.peers.is_empty() {
            let pick = self.rng.below(self.peers.len() as u64) as usize;
            if let Some(peer) = self.peers.keys().nth(pick).cloned() {
                self.send_summary(&peer);
            }
            self.next_anti_entropy = Some(now + self.jittered(self.cfg.anti_entropy_interval));
        }
        if now >= self.next_maintenance {
            self.maintain(now);
            self.next_maintenance = now + MAINTENANCE_INTERVAL;
        }
        let mut acts = Vec::new();
        self.claims.tick(now, &mut acts);
        self.claim_acts(now, acts);
        if self.deliveries.next_deadline().is_some_and(|t| now >= t) {
            let jitter = Duration::from_millis(self.rng.below(100));
            let orders = &self.orders;
            let acts =
                self.deliveries.tick(now, jitter, |id| orders.get(id).and_then(|e| e.doc.current_view()));
            self.delivery_acts(now, acts);
        }
        self.flush();
    }

    fn maintain(&mut self, now: Instant) {
        let timeout = self.cfg.sync_timeout;
        let mut restart: Vec<P> = Vec::new();
        for (peer, state) in self.peers.iter_mut() {
            let stalled: Vec<OrderId> = state
                .sessions
                .iter()
                .filter(|(_, s)| now.saturating_duration_since(s.last_activity) >= timeout)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &stalled {
                state.end_session(id);
            }
            state.fetching.retain(|_, asked| now.saturating_duration_since(*asked) < timeout);
            if !stalled.is_empty() {
                restart.push(peer.clone());
            }
        }
        for peer in restart {
            self.fill_sessions(&peer, now);
        }
        // Retention of archived orders.
        let expired: Vec<OrderId> = self
            .orders
            .iter()
            .filter(|(_, e)| matches!(e.life(), Life::Archived(since) if now.saturating_duration_since(since) >= self.cfg.retention))
            // Never an order some back office has not confirmed.
            .filter(|(id, _)| !self.deliveries.holds(id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.orders.remove(&id);
            self.tombstones.insert(id.clone(), now + self.cfg.retention);
            self.pending_store.push(StoreOp::Delete { order: id });
        }
        self.tombstones.retain(|_, until| now < *until);
        // Half-received orders nobody completes are dropped with their peers'
        // sessions; keep only those still being worked on.
        let busy: HashSet<OrderId> = self
            .peers
            .values()
            .flat_map(|p| p.sessions.keys().chain(p.fetching.keys()).chain(p.queue.iter()))
            .cloned()
            .collect();
        self.orders.retain(|id, e| e.is_complete() || busy.contains(id) || !e.doc.is_empty());
    }

    // ----- catch-up protocol ----------------------------------------------

    fn send_summary(&mut self, peer: &P) {
        let msg = Direct::Summary { buckets: self.summary.hashes().to_vec() };
        self.send(peer, msg.encode());
        // The catalogue rides along with every catch-up round.
        self.send_catalogue_heads(peer);
    }

    fn on_summary(&mut self, from: &P, theirs: &[u64]) {
        let differing = self.summary.differing(theirs);
        if differing.is_empty() {
            return;
        }
        let entries = self.entries_in(&differing, None);
        self.send_heads(from, true, &differing, entries);
    }

    /// Our complete orders in `buckets` (only those in `only`, if given), with heads.
    fn entries_in(
        &self,
        buckets: &[u16],
        only: Option<&HashSet<OrderId>>,
    ) -> Vec<(OrderId, Vec<ChangeHash>)> {
        let mut out = Vec::new();
        for &b in buckets {
            for id in self.summary.members(b) {
                if only.is_some_and(|o| !o.contains(id)) {
                    continue;
                }
                if let Some(e) = self.orders.get(id) {
                    out.push((id.clone(), e.doc.heads()));
                }
            }
        }
        out
    }

    fn send_heads(
        &mut self,
        to: &P,
        respond: bool,
        buckets: &[u16],
        entries: Vec<(OrderId, Vec<ChangeHash>)>,
    ) {
        // Split by size; every part names all the buckets so the receiver
        // knows which of its orders to compare (with `respond` only on the
        // last part, once the receiver has seen every entry).
        let budget = self.cfg.max_direct_bytes.saturating_sub(16 + buckets.len() * 3);
        let mut parts: Vec<Vec<(OrderId, Vec<ChangeHash>)>> = vec![Vec::new()];
        let mut size = 0;
        for (id, heads) in entries {
            let entry_size = 2 + id.as_str().len() + 1 + heads.len() * 32;
            if size + entry_size > budget && !parts.last().is_some_and(Vec::is_empty) {
                parts.push(Vec::new());
                size = 0;
            }
            size += entry_size;
            parts.last_mut().expect("never empty").push((id, heads));
        }
        let last = parts.len() - 1;
        for (i, part) in parts.into_iter().enumerate() {
            let msg =
                Direct::Heads { respond: respond && i == last, buckets: buckets.to_vec(), entries: part };
            self.send(to, msg.encode());
        }
    }

    fn on_heads(
        &mut self,
        now: Instant,
        from: &P,
        respond: bool,
        buckets: &[u16],
        entries: Vec<(OrderId, Vec<ChangeHash>)>,
    ) {
        let buckets: Vec<u16> =
            buckets.iter().copied().filter(|&b| b < self.summary.bucket_count()).collect();
        let mut listed: HashSet<OrderId> = HashSet::with_capacity(entries.len());
        let mut fetch = Vec::new();
        for (id, mut their_heads) in entries {
            if self.tombstones.contains_key(&id) {
                continue;
            }
            match self.orders.get(&id) {
                None => fetch.push(id.clone()),
                Some(e) if !e.is_complete() => fetch.push(id.clone()),
                Some(e) => {
                    let mut ours = e.doc.heads();
                    ours.sort();
                    their_heads.sort();
                    if ours != their_heads {
                        self.start_sync(from, &id, now);
                    }
                }
            }
            listed.insert(id);
        }
        self.request_fetch(now, from, fetch);
        if respond {
            // Our orders in these buckets the peer did not list: it lacks
            // them. Tell it, so it fetches them.
            let theirs_lack: HashSet<OrderId> = buckets
                .iter()
                .flat_map(|&b| self.summary.members(b))
                .filter(|id| !listed.contains(*id))
                .cloned()
                .collect();
            if !theirs_lack.is_empty() {
                let entries = self.entries_in(&buckets, Some(&theirs_lack));
                self.send_heads(from, false, &buckets, entries);
            }
        }
    }

    fn request_fetch(&mut self, now: Instant, from: &P, orders: Vec<OrderId>) {
        // An order already asked of any peer is not asked again until that
        // request lapses or its peer leaves: a terminal joining a floor of
        // 30 hears every order listed by 30 peers, and took each 30 times.
        let wanted: Vec<OrderId> = orders
            .into_iter()
            .filter(|id| !self.peers.values().any(|p| p.fetching.contains_key(id)))
            .collect();
        let Some(peer) = self.peers.get_mut(from) else { return };
        if wanted.is_empty() {
            return;
        }
        for id in &wanted {
            peer.fetching.insert(id.clone(), now);
        }
        for chunk in wanted.chunks(FETCH_CHUNK) {
            let msg = Direct::Fetch { orders: chunk.to_vec() };
            self.send(from, msg.encode());
        }
    }

    fn on_fetch(&mut self, from: &P, orders: Vec<OrderId>) {
        let mut batch: Vec<(OrderId, Vec<u8>)> = Vec::new();
        let mut size = 0;
        for id in orders {
            let Some(e) = self.orders.get(&id).filter(|e| e.is_complete()) else { continue };
            let bytes = e.doc.save();
            if size + bytes.len() > self.cfg.max_direct_bytes && !batch.is_empty() {
                let msg = Direct::Docs { docs: std::mem::take(&mut batch) };
                self.send(from, msg.encode());
                size = 0;
            }
            size += bytes.len() + id.as_str().len() + 8;
            batch.push((id, bytes));
        }
        if !batch.is_empty() {
            self.send(from, Direct::Docs { docs: batch }.encode());
        }
    }

    fn on_docs(&mut self, now: Instant, from: &P, docs: Vec<(OrderId, Vec<u8>)>) {
        for (id, bytes) in docs {
            if let Some(peer) = self.peers.get_mut(from) {
                peer.fetching.remove(&id);
            }
            if self.tombstones.contains_key(&id) {
                continue;
            }
            let incoming = match OrderDoc::load(id.clone(), &bytes, self.actor.clone()) {
                Ok(doc) => doc,
                Err(e) => {
                    self.reject_offence(now, from, Rejection::Order { order: id, detail: e.to_string() });
                    continue;
                }
            };
            match self.orders.get_mut(&id) {
                Some(entry) if entry.is_complete() => {
                    let new = incoming.automerge().get_changes_added(entry.doc.automerge());
                    match entry.doc.apply_remote_with_roles(new, &self.roles) {
                        Ok(applied) => self.after_remote(now, from, &id, applied),
                        Err(e) => self.reject_offence(
                            now,
                            from,
                            Rejection::Order { order: id, detail: e.to_string() },
                        ),
                    }
                }
                _ => {
                    if !self.orders.contains_key(&id) && self.orders.len() >= self.cfg.max_orders {
                        self.reject(from.clone(), Rejection::TooManyOrders(self.cfg.max_orders));
                        continue;
                    }
                    let Some(view) = incoming.current_view() else { continue };
                    let mut summary = ChangeSummary::compare(&id, None, view);
                    // Who worked on it, from the order's own stamps: decoding
                    // every change for its commit message would cost more
                    // than loading the order.
                    let stamps = [&view.created, &view.changed]
                        .into_iter()
                        .chain(view.lines.iter().flat_map(|l| [&l.created, &l.changed]))
                        .chain(view.payments.iter().map(|p| &p.by));
                    summary.authors.extend(stamps.map(possync_model::Stamp::author));
                    self.pending_store.push(StoreOp::Snapshot { order: id.clone(), bytes });
                    self.orders.insert(id.clone(), Entry::incomplete(incoming, 0));
                    self.after_change(now, &id, Origin::Peer(from.clone()), summary);
                }
            }
        }
    }

    fn start_sync(&mut self, peer_id: &P, order: &OrderId, now: Instant) {
        let max = self.cfg.max_sessions_per_peer;
        let Some(peer) = self.peers.get_mut(peer_id) else { return };
        if peer.sessions.contains_key(order) || peer.queued.contains(order) {
            return;
        }
        if peer.initiated >= max {
            peer.queued.insert(order.clone());
            peer.queue.push_back(order.clone());
            return;
        }
        self.open_session(peer_id, order, now);
    }

    fn open_session(&mut self, peer_id: &P, order: &OrderId, now: Instant) {
        let Some(entry) = self.orders.get(order) else { return };
        let Some(peer) = self.peers.get_mut(peer_id) else { return };
        let mut state = sync::State::new();
        let Some(msg) = entry.doc.generate_sync_message(&mut state) else { return };
        peer.sessions.insert(order.clone(), Session { state, last_activity: now, initiated: true });
        peer.initiated += 1;
        peer.outgoing_sync.push((order.clone(), msg.encode()));
    }

    /// Starts queued sessions while there are free slots.
    fn fill_sessions(&mut self, peer_id: &P, now: Instant) {
        loop {
            let Some(peer) = self.peers.get_mut(peer_id) else { return };
            if peer.initiated >= self.cfg.max_sessions_per_peer {
                return;
            }
            let Some(order) = peer.queue.pop_front() else { return };
            peer.queued.remove(&order);
            if !peer.sessions.contains_key(&order) {
                self.open_session(peer_id, &order, now);
            }
        }
    }

    /// Sync sessions: the Automerge sync protocol, one session per (peer,
    /// order). An empty payload means "done": its sender has ended the session
    /// because it had nothing more to send; the receiver ends its side too
    /// and never answers a "done", so sessions cannot ping-pong.
    fn on_sync(&mut self, now: Instant, from: &P, items: Vec<(OrderId, Vec<u8>)>) {
        let mut freed = false;
        for (id, bytes) in items {
            if bytes.is_empty() {
                if let Some(peer) = self.peers.get_mut(from) {
                    freed |= peer.sessions.get(&id).is_some_and(|s| s.initiated);
                    peer.end_session(&id);
                }
                continue;
            }
            if self.tombstones.contains_key(&id) {
                continue;
            }
            let message = match sync::Message::decode(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    self.reject_offence(
                        now,
                        from,
                        Rejection::Order { order: id, detail: format!("sync message: {e}") },
                    );
                    continue;
                }
            };
            let inbound_limit = self.cfg.max_inbound_sessions_per_peer;
            let Some(peer) = self.peers.get(from) else { return };
            if !peer.sessions.contains_key(&id) && peer.inbound() >= inbound_limit {
                // Over the peer's allowance: drop; it retries after a timeout.
                continue;
            }
            if !self.ensure_entry(from, &id) {
                continue;
            }
            let peer = self.peers.get_mut(from).expect("checked above");
            let session = peer.sessions.entry(id.clone()).or_insert_with(|| Session {
                state: sync::State::new(),
                last_activity: now,
                initiated: false,
            });
            session.last_activity = now;
            let entry = self.orders.get_mut(&id).expect("ensured above");
            match entry.doc.receive_sync_message_with_roles(&mut session.state, message, &self.roles) {
                Ok(applied) => {
                    match entry.doc.generate_sync_message(&mut session.state) {
                        Some(msg) => peer.outgoing_sync.push((id.clone(), msg.encode())),
                        None => {
                            freed |= session.initiated;
                            peer.end_session(&id);
                            peer.outgoing_sync.push((id.clone(), Vec::new()));
                        }
                    }
                    self.after_remote(now, from, &id, applied);
                }
                Err(e) => {
                    peer.end_session(&id);
                    peer.outgoing_sync.push((id.clone(), Vec::new()));
                    self.drop_if_incomplete(&id);
                    self.reject_offence(now, from, Rejection::Order { order: id, detail: e.to_string() });
                }
            }
        }
        if freed {
            self.fill_sessions(from, now);
        }
    }

    /// Makes sure there is an entry to receive `order` into; false if the
    /// order limit forbids a new one.
    fn ensure_entry(&mut self, from: &P, order: &OrderId) -> bool {
        if self.orders.contains_key(order) {
            return true;
        }
        if self.orders.len() >= self.cfg.max_orders {
            self.reject(from.clone(), Rejection::TooManyOrders(self.cfg.max_orders));
            return false;
        }
        self.orders
            .insert(order.clone(), Entry::incomplete(OrderDoc::empty(order.clone(), self.actor.clone()), 0));
        true
    }

    fn drop_if_incomplete(&mut self, order: &OrderId) {
        if self.orders.get(order).is_some_and(|e| !e.is_complete() && e.doc.is_empty()) {
            self.orders.remove(order);
        }
    }

    // ----- bookkeeping after a change ---------------------------------------

    fn after_remote(&mut self, now: Instant, from: &P, order: &OrderId, applied: RemoteApplied) {
        if let Some(summary) = applied.summary {
            for author in &summary.authors {
                self.deliveries.heard(&author.terminal, now);
            }
            self.record_append(order, applied.new_changes);
            self.after_change(now, order, Origin::Peer(from.clone()), summary);
        }
        if !applied.missing_deps.is_empty() {
            // Gossip delivered a change whose history we lack: the sender has it.
            self.start_sync(from, order, now);
        }
    }

    fn record_append(&mut self, order: &OrderId, changes: Vec<Vec<u8>>) {
        if changes.is_empty() {
            return;
        }
        let Some(entry) = self.orders.get_mut(order) else { return };
        entry.unsnapshotted += changes.len() as u32;
        if entry.unsnapshotted >= self.cfg.compact_after {
            entry.unsnapshotted = 0;
            self.pending_store.push(StoreOp::Snapshot { order: order.clone(), bytes: entry.doc.save() });
        } else {
            self.pending_store.push(StoreOp::Append { order: order.clone(), changes });
        }
    }

    /// Re-derives the order's place (open list or archive) and its summary
    /// fingerprint, and tells the application what changed.
    fn after_change(&mut self, now: Instant, order: &OrderId, origin: Origin<P>, summary: ChangeSummary) {
        // A released claim waiting for the payment it took: here it may be.
        if let Some(heads) = self.claims.waiting_heads(order)
            && self.holds_heads(order, heads)
        {
            let mut acts = Vec::new();
            self.claims.release_complete(order, &mut acts);
            self.claim_acts(now, acts);
        }
        let Some(entry) = self.orders.get(order) else { return };
        let Some(view) = entry.doc.current_view() else { return };
        let active = view.is_active();
        let was = entry.life();
        // An order of this terminal's own prefix seen here for the first
        // time came back from a peer: this terminal was restored from a
        // backup or replaced with an empty disk. Its next order must not
        // take a name already used on the floor (S27).
        if was == Life::Incomplete
            && let Some(seq) = view.name.sequence_of(&self.terminal)
            && seq >= self.next_sequence
        {
            self.next_sequence = seq + 1;
            self.pending_store.push(StoreOp::NextSequence(self.next_sequence));
        }
        // The same name on another order: a terminal restored from a backup
        // named an order while it could not know the floor's later ones.
        // The later-opened of the two takes this terminal's next name.
        if was == Life::Incomplete && view.name.sequence_of(&self.terminal).is_some() {
            let key = |v: &OrderView| (v.created.at_ms, v.id.clone());
            let twin = self.orders.iter().find_map(|(id, e)| {
                e.doc.current_view().filter(|v| id != order && v.name == view.name).map(key)
            });
            if let Some(twin) = twin {
                let later = std::cmp::max(twin, key(view)).1;
                self.pending_renames.push((now, later));
            }
        }
        let life = match (active, was) {
            (true, _) => Life::Active,
            (false, Life::Archived(since)) => Life::Archived(since),
            (false, _) => Life::Archived(now),
        };
        self.set_life(order, life);
        let view = self.orders.get(order).and_then(|e| e.doc.current_view());
        self.deliveries.observe(order, view, matches!(life, Life::Archived(_)), now);
        match (was, life) {
            (Life::Active, Life::Archived(_)) | (Life::Incomplete, Life::Archived(_)) => {
                self.pending_store.push(StoreOp::Archive { order: order.clone() });
            }
            (Life::Archived(_), Life::Active) => {
                self.pending_store.push(StoreOp::Unarchive { order: order.clone() })
            }
            _ => {}
        }
        self.outbox.push_back(Output::Event(Event::OrderChanged {
            order: order.clone(),
            origin,
            summary,
            active,
        }));
        if matches!(life, Life::Archived(_)) && !matches!(was, Life::Archived(_)) {
            self.outbox.push_back(Output::Event(Event::Archived { order: order.clone() }));
        }
    }

    /// Moves an order between lives, keeping the summary in step.
    fn set_life(&mut self, order: &OrderId, life: Life) {
        let Some(entry) = self.orders.set_life(order, life) else { return };
        if let Some(fp) = entry.fingerprint.take() {
            self.summary.remove(order, fp);
        }
        if life != Life::Incomplete {
            let fp = fingerprint(order, &entry.doc.heads());
            self.summary.add(order, fp);
            entry.fingerprint = Some(fp);
        }
    }

    // ----- sending ----------------------------------------------------------

    fn broadcast(&mut self, order: &OrderId, changes: Vec<Vec<u8>>) {
        let bytes = Gossip::Changes { order: order.clone(), changes }.encode();
        if bytes.len() <= self.cfg.max_gossip_bytes {
            self.outbox.push_back(Output::Broadcast(bytes));
        } else {
            // Too big for gossip: every peer compares summaries and fetches it.
            let peers: Vec<P> = self.peers.keys().cloned().collect();
            for p in peers {
                self.send_summary(&p);
            }
        }
    }

    fn send(&mut self, to: &P, bytes: Vec<u8>) {
        self.outbox.push_back(Output::Send { to: to.clone(), bytes });
    }

    /// Counts an offence against a peer of the catch-up protocol; past the
    /// limit, asks the runtime to disconnect it and forgets its state.
    fn offence(&mut self, now: Instant, peer: &P, what: &str) {
        let cfg = &self.cfg;
        let Some(state) = self.peers.get_mut(peer) else { return };
        if state.guard.offend(now, cfg) {
            let reason =
                format!("{what}: more than {} offences in {:?}", cfg.max_offences, cfg.offence_window);
            tracing::warn!(?peer, %reason, "disconnecting peer");
            self.peer_down(peer);
            self.outbox.push_back(Output::Disconnect { peer: peer.clone(), reason });
        }
    }

    /// Refused data that counts against its sender: reported, and an offence
    /// (all refused catch-up data; undecodable gossip and gossip under another
    /// terminal's actor).
    fn reject_offence(&mut self, now: Instant, from: &P, reason: Rejection) {
        let what = reason.kind();
        self.reject(from.clone(), reason);
        self.offence(now, from, what);
    }

    /// Traffic over a per-peer budget: reported (quietly: a flood must not
    /// flood the log too), and counted as an offence.
    fn refuse_flood(&mut self, now: Instant, from: &P, reason: Rejection) {
        tracing::debug!(peer = ?from, %reason, "dropped message from peer");
        let what = reason.kind();
        self.outbox.push_back(Output::Event(Event::Rejected { from: from.clone(), reason }));
        self.offence(now, from, what);
    }

    fn reject(&mut self, from: P, reason: Rejection) {
        tracing::warn!(peer = ?from, %reason, "refused data from peer");
        self.outbox.push_back(Output::Event(Event::Rejected { from, reason }));
    }

    /// Ends a step: the step's storage writes become one batch at the front of
    /// the queue (so a runtime that carries outputs out in order never
    /// acknowledges before they are durable), then the batched sync messages.
    /// Gives `order` (an order of this terminal whose name the floor
    /// already used) this terminal's next name; `renamed_from` keeps the
    /// first. Every terminal sees the rename as an ordinary change.
    fn rename_duplicate(&mut self, now: Instant, order: &OrderId) {
        let name = self.peek_next_name();
        let at_ms = self.deliveries.wall_ms(now).unwrap_or_default();
        let ctx = EditContext::new(RENAME_USER, self.terminal.clone(), at_ms);
        let Some(entry) = self.orders.get_mut(order) else { return };
        match entry.doc.rename(&ctx, &name) {
            Ok(Some(change)) => {
                self.next_sequence += 1;
                self.pending_store.push(StoreOp::NextSequence(self.next_sequence));
                self.record_append(order, vec![change.bytes.clone()]);
                self.after_change(now, order, Origin::Local, change.summary);
                self.broadcast(order, vec![change.bytes]);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%order, error = %e, "cannot rename an order whose name the floor already used")
            }
        }
    }

    fn flush(&mut self) {
        for (now, order) in std::mem::take(&mut self.pending_renames) {
            self.rename_duplicate(now, &order);
        }
        if !self.pending_store.is_empty() {
            let batch = std::mem::take(&mut self.pending_store);
            self.outbox.push_front(Output::Persist(batch));
        }
        let max = self.cfg.max_direct_bytes;
        let mut sends = Vec::new();
        for (peer, state) in self.peers.iter_mut() {
            if state.outgoing_sync.is_empty() {
                continue;
            }
            let mut batch = Vec::new();
            let mut size = 0;
            for (id, msg) in state.outgoing_sync.drain(..) {
                if size + msg.len() > max && !batch.is_empty() {
                    sends.push((peer.clone(), Direct::Sync { items: std::mem::take(&mut batch) }.encode()));
                    size = 0;
                }
                size += msg.len() + id.as_str().len() + 8;
                batch.push((id, msg));
            }
            sends.push((peer.clone(), Direct::Sync { items: batch }.encode()));
        }
        for (to, bytes) in sends {
            self.outbox.push_back(Output::Send { to, bytes });
        }
    }

    fn jittered(&mut self, base: Duration) -> Duration {
        // ±20 %, so terminals that started together do not stay in lockstep.
        let millis = base.as_millis() as u64;
        let spread = millis / 5;
        Duration::from_millis(millis - spread + self.rng.below(2 * spread + 1))
    }
}

/// The user delivery steps are written under: no cashier makes them.
const DELIVERY_USER: &str = "possync-delivery";
/// The user a rename of a duplicate name is recorded under.
const RENAME_USER: &str = "possync-rename";
/// How often stalled sessions, fetches and retention are checked.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(1);
/// Orders per `Fetch` message.
const FETCH_CHUNK: usize = 512;

/// What the gossip layer should do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and applied: forward it.
    Accept,
    /// Not for us (a newer protocol, an expired order): drop quietly.
    Ignore,
    /// Invalid: drop and count against the sender.
    Reject,
}
