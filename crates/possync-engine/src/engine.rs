//! [`Engine`]: one terminal's sync state machine. Local edits, messages from
//! peers, peer arrivals and departures, and the passing of time go in; storage
//! writes, messages and events come out ([`Output`]). It performs no IO and
//! reads no clock: the same inputs always give the same outputs.
//!
//! This file holds the state, the constructor, the reads and the network and
//! timer inputs, which dispatch to one submodule per concern:
//!
//! | input | handled in |
//! | --- | --- |
//! | `restore`, `open_order`, `open_order_with_id`, `edit`, `split` | `lifecycle.rs` (with `after_change`: open list, archive, renames) |
//! | `restore_catalogue`, `replace_catalogue` | `catalogue_sync.rs` |
//! | `peer_up`, `peer_down`, `catch_up_with` | here; catch-up in `catchup.rs` |
//! | `handle_gossip(now, from, signer, bytes)`, `handle_gossip_batch(now, messages)` | `gossip_in.rs` (`handle_gossip` here: a batch of one) |
//! | `handle_direct(now, from, bytes)` | here; summary, heads, fetch, docs, sync in `catchup.rs` |
//! | `refused_by_transport(now, from, reason)` | `offences.rs` |
//! | `claim_payment`, `release_payment` | `payment_claims.rs` |
//! | `set_sinks`, `set_wall_clock`, `delivered` | `delivery.rs` |
//! | `handle_timeout(now)` | here; the sweep in `maintenance.rs` |
//!
//! Every input ends with `flush` (`outbox.rs`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use automerge::ActorId;
use possync_model::{EditError, OrderDoc, OrderId, OrderView, Roles, TerminalId};

mod catalogue_sync;
mod catchup;
mod delivery;
mod gossip_in;
mod lifecycle;
mod maintenance;
mod offences;
mod outbox;
mod payment_claims;

pub use gossip_in::GossipIn;

use crate::catalogue_doc::CatalogueDoc;
use crate::claims::Claims;
use crate::config::EngineConfig;
use crate::delivery::Deliveries;
use crate::orders::{Life, Orders};
use crate::output::{Output, Rejection, StoreOp};
use crate::owner::ActorOwner;
use crate::peer::PeerState;
use crate::rng::SplitMix64;
use crate::summary::Summary;
use crate::wire::Direct;

/// What identifies a peer: a libp2p `PeerId` in the node, a `u64` in the
/// simulator.
pub trait PeerId: Clone + Ord + Hash + Debug {}
impl<T: Clone + Ord + Hash + Debug> PeerId for T {}

/// Errors of local commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// When this terminal archived it (wall-clock ms, from
    /// [`StoreOp::Archive`]), if it is archived and the time is known: an
    /// archived order's retention counts from then, not from the restore.
    pub archived_at_ms: Option<i64>,
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
        let Some(peer) = self.peers.get_mut(&from) else {
            self.refuse_stranger(&from);
            self.flush();
            return;
        };
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

    fn jittered(&mut self, base: Duration) -> Duration {
        // ±20 %, so terminals that started together do not stay in lockstep.
        let millis = base.as_millis() as u64;
        let spread = millis / 5;
        Duration::from_millis(millis - spread + self.rng.below(2 * spread + 1))
    }
}

/// How often stalled sessions, fetches and retention are checked.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(1);

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
