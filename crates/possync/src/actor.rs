//! The node's actor: the one task that owns the engine and the libp2p swarm,
//! and drives the store through its commit pipeline
//! ([`possync_engine::CommitPipeline`], which decides) and its writer thread
//! ([`crate::writer`], which writes).
//! Everything else talks to it through [`crate::Node`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, PublishError};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{PeerId, Swarm, SwarmBuilder, mdns, ping, request_response};
use possync_engine::{
    ActorOwner, CommitAction, CommitConfig, CommitPipeline, Engine, Event, Origin, Output, Rejection,
    Release, Verdict, WriteFailed,
};
use possync_store::Store;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::admission::{Admission, Refusal, TOPIC_PREFIX};
use crate::clock::wall_ms;
use crate::config::{NodeConfig, check_session_id};
use crate::dialer::{Dial, Dialer};
use crate::event::{ChangeOrigin, NodeEvent};
use crate::gossip_batch::GossipBatch;
use crate::handle::{COMMAND_QUEUE, Command, Node, NodeError, Reply};
use crate::liveness::Liveness;
use crate::net::codec::Oversized;
use crate::net::{Behaviour, BehaviourEvent, transport};
use crate::payment_claim::ClaimView;
use crate::relay_delay::{MAX_WAITING, RELAY_DELAY, RelayDelay};
use crate::shared_catalogue::SharedCatalogue;
use crate::sinks::SinkTasks;
use crate::slow_peers::{SLOW_PEER_CATCH_UP_INTERVAL, SlowPeers};
use crate::status::{Connectivity, Counters, Histogram, NodeStatus};
use crate::writer::{Committed, Writer};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Commands taken from the queue before one group commit.
const MAX_COMMANDS_PER_COMMIT: usize = 64;
/// Swarm events (gossip, catch-up messages) handled in one turn of the loop.
const MAX_SWARM_EVENTS_PER_TURN: usize = 64;
/// How often dials, dead links and waiting terminals are looked at.
const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// A terminal of another multi-session is not dialled again, nor heard,
/// for this long after it was refused.
const REFUSED_FOR: Duration = Duration::from_secs(60);
/// Refused terminals remembered so that each is logged as a warning once.
const MAX_WARNED_REFUSALS: usize = 1024;

/// How long a wildcard listener (`0.0.0.0`) is given to report its further
/// interfaces' addresses at start-up.
const WILDCARD_SETTLE: Duration = Duration::from_millis(100);

fn is_wildcard(addr: &libp2p::Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

/// The gossip topic of a multi-session.
pub fn topic_for(session: &str) -> IdentTopic {
    IdentTopic::new(format!("{TOPIC_PREFIX}{session}"))
}

/// Resolves at `deadline`, or never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A gossip message, which waits for the end of the turn (`GossipBatch`).
fn is_gossip_message(event: &SwarmEvent<BehaviourEvent>) -> bool {
    matches!(event, SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { .. })))
}

/// Tells gossipsub that a message was accepted, which lets it relay it.
fn relay(swarm: &mut Swarm<Behaviour>, (message_id, source): (gossipsub::MessageId, PeerId)) {
    swarm.behaviour_mut().gossipsub.report_message_validation_result(
        &message_id,
        &source,
        MessageAcceptance::Accept,
    );
}

/// How long shutdown waits for a sink to finish its delivery in progress.
const SINK_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// 64 random bits, or a start-up error: a nonce from the clock could repeat
/// an (actor, sequence) pair of a cloned data directory.
fn random_u64() -> Result<u64, NodeError> {
    crate::random_u128().map(|r| r as u64).map_err(|e| NodeError::Config(e.to_string()))
}

/// A catch-up request from a terminal not yet admitted, held until it is.
type HeldRequest = (Result<Vec<u8>, Oversized>, request_response::ResponseChannel<()>);

/// A reply waiting for the group commit that makes its change durable.
enum Deferred {
    Order(Reply<possync_model::OrderId>, Result<possync_model::OrderId, NodeError>),
    Edit(Reply<Option<automerge::ChangeHash>>, Result<Option<automerge::ChangeHash>, NodeError>),
    Done(Reply<()>),
    Version(Reply<u64>, Result<u64, NodeError>),
}

struct Actor {
    /// The catalogue in force, for the handles ([`crate::Node::catalogue`]).
    catalogue: watch::Sender<Option<SharedCatalogue>>,
    engine: Engine<PeerId>,
    writer: Writer,
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    events: broadcast::Sender<NodeEvent>,
    /// Static and discovered peers, and when to dial them.
    dialer: Dialer,
    /// Terminals connected but not yet known to be of this session.
    admission: Admission<PeerId, HeldRequest>,
    /// Open connections, to their peers, and which of them still answer.
    connections: HashMap<ConnectionId, PeerId>,
    liveness: Liveness<ConnectionId>,
    /// Refused terminals already logged as a warning.
    warned_refusals: HashSet<PeerId>,
    /// Admitted peers: connected, of this session, allowed, not banned.
    connected: BTreeSet<PeerId>,
    /// When not empty, the only peers admitted.
    allowed: BTreeSet<PeerId>,
    /// Peers disconnected for offences, refused until the instant given.
    banned: std::collections::HashMap<PeerId, Instant>,
    isolated: bool,
    /// Peers gossipsub dropped messages to, caught up with at once.
    slow_peers: SlowPeers<PeerId>,
    /// Accepted gossip whose relay waits for other receivers' IDONTWANT.
    relay_delay: RelayDelay<(gossipsub::MessageId, PeerId)>,
    /// Gossip of the current turn, applied together at its end.
    gossip_in: GossipBatch,
    last_sync_ms: Option<i64>,
    counters: Counters,
    commit_latency: Histogram,
    /// How long edits waited in the node for the commit that made them
    /// durable (from the actor taking the command to the answer).
    ack_wait: Histogram,
    /// Engine outputs to carry out at once, not yet carried out.
    pending_after: Vec<Output<PeerId>>,
    /// Storage batches, and the replies and outputs that wait for them to
    /// be durable: what to commit when, decided without IO (the simulator
    /// drives the same code).
    commits: CommitPipeline<(Instant, Deferred), PeerId>,
    last_status: Option<(Connectivity, Vec<PeerId>)>,
    shutting_down: Option<Reply<()>>,
    /// The back offices' tasks, and their answers.
    sinks: SinkTasks,
}

pub(crate) async fn spawn(config: NodeConfig) -> Result<Node, NodeError> {
    check_session_id(&config.session).map_err(NodeError::Config)?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| NodeError::Config(format!("data directory {}: {e}", config.data_dir.display())))?;
    let keypair = config.identity.resolve(&config.data_dir)?;
    let peer_id = keypair.public().to_peer_id();

    let store = Store::open(&config.data_dir).map_err(|e| NodeError::Storage(e.to_string()))?;
    let loaded = store.load().map_err(|e| NodeError::Storage(e.to_string()))?;
    for (name, reason) in &loaded.damaged {
        warn!(record = %name, %reason, "damaged stored record skipped");
    }

    // The actor names this terminal's identity (peers check that gossip
    // carries only its signer's changes) and a fresh nonce per start, so a
    // cloned data directory never reuses an (actor, sequence) pair.
    let actor_id = ActorOwner::of_identity(&peer_id.to_bytes()).actor(random_u64()?);
    let seed = match config.seed {
        Some(seed) => seed,
        None => random_u64()?,
    };
    let now = Instant::now().into_std();
    let mut engine = Engine::new(config.engine.clone(), config.terminal.clone(), actor_id, seed, now);
    let report = engine.restore(now, loaded.orders, loaded.next_sequence);
    engine.set_wall_clock(now, wall_ms());
    restore_catalogue(
        &mut engine,
        now,
        loaded.catalogue.as_deref(),
        config.initial_catalogue.clone(),
        &config,
    );
    let (catalogue_tx, catalogue_rx) = watch::channel(engine.catalogue_state().map(SharedCatalogue::of));
    let sink_names: Vec<_> = config.sinks.iter().map(|s| s.name().clone()).collect();
    engine.set_sinks(now, &sink_names);
    for (order, reason) in &report.damaged {
        warn!(%order, %reason, "stored order could not be loaded; left on disk untouched");
    }
    info!(
        open = report.active,
        archived = report.archived,
        damaged = report.damaged.len(),
        "orders restored"
    );

    let psk = config.session_key.as_ref().map(|k| k.psk());
    let mdns = config.mdns;
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| transport::build(key, psk).map_err(|e| Box::new(e) as BoxError))
        .map_err(|e| NodeError::Network(e.to_string()))?
        .with_behaviour(|key| Behaviour::new(key, mdns).map_err(|e| Box::new(e) as BoxError))
        .map_err(|e| NodeError::Network(e.to_string()))?
        // Session peers stay connected even when quiet: gossipsub alone lets
        // non-mesh connections idle out.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(365 * 24 * 3600)))
        .build();

    let topic = topic_for(&config.session);
    swarm.behaviour_mut().gossipsub.subscribe(&topic).map_err(|e| NodeError::Network(e.to_string()))?;
    let listen = if config.listen.is_empty() {
        vec!["/ip4/127.0.0.1/tcp/0".parse().map_err(|e| NodeError::Config(format!("{e}")))?]
    } else {
        config.listen.clone()
    };
    for addr in &listen {
        swarm.listen_on(addr.clone()).map_err(|e| NodeError::Network(format!("listen on {addr}: {e}")))?;
    }
    // Wait for the listeners, so the handle can report real addresses.
    let mut listen_addrs = Vec::new();
    // Anything else that happens meanwhile (a peer dialling in as soon as
    // the first listener is up) is handled once the actor runs.
    let mut early = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while listen_addrs.len() < listen.len() {
        match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(SwarmEvent::NewListenAddr { address, .. }) => listen_addrs.push(address),
            Ok(SwarmEvent::ListenerError { error, .. }) => return Err(NodeError::Network(error.to_string())),
            Ok(SwarmEvent::ListenerClosed { reason: Err(error), .. }) => {
                return Err(NodeError::Network(error.to_string()));
            }
            Ok(other) => early.push(other),
            Err(_) => return Err(NodeError::Network("listening did not start within 5 s".into())),
        }
    }
    // A wildcard listener reports one address per interface, in quick
    // succession: take them all, so the handle (and the start-up log)
    // shows every address peers can dial.
    if listen.iter().any(is_wildcard) {
        while let Ok(event) = tokio::time::timeout(WILDCARD_SETTLE, swarm.select_next_some()).await {
            match event {
                SwarmEvent::NewListenAddr { address, .. } => listen_addrs.push(address),
                other => early.push(other),
            }
        }
    }

    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let (events_tx, _) = broadcast::channel(config.event_capacity.max(16));
    let writer =
        Writer::spawn(store).map_err(|e| NodeError::Storage(format!("starting the storage writer: {e}")))?;
    let sinks = SinkTasks::spawn(&config.sinks, config.engine.delivery.attempt_timeout);
    let actor = Actor {
        catalogue: catalogue_tx,
        sinks,
        engine,
        writer,
        swarm,
        admission: Admission::new(topic.hash().into_string()),
        topic,
        events: events_tx.clone(),
        dialer: Dialer::new(config.peers.iter().cloned(), now),
        connections: HashMap::new(),
        liveness: Liveness::new(),
        warned_refusals: HashSet::new(),
        connected: BTreeSet::new(),
        banned: std::collections::HashMap::new(),
        allowed: config.allowed_peers.iter().copied().collect(),
        isolated: false,
        slow_peers: SlowPeers::new(SLOW_PEER_CATCH_UP_INTERVAL),
        relay_delay: RelayDelay::new(RELAY_DELAY, MAX_WAITING),
        gossip_in: GossipBatch::default(),
        last_sync_ms: None,
        counters: Counters::default(),
        commit_latency: Histogram::latency(),
        ack_wait: Histogram::latency(),
        pending_after: Vec::new(),
        commits: CommitPipeline::new(CommitConfig::default()),
        last_status: None,
        shutting_down: None,
    };
    let span = tracing::info_span!("node", terminal = %config.terminal, peer = %peer_id);
    tokio::spawn(tracing::Instrument::instrument(actor.run(early, commands_rx), span));
    Ok(Node {
        commands: commands_tx,
        events: events_tx,
        terminal: config.terminal,
        peer_id,
        listen_addrs,
        catalogue: catalogue_rx,
    })
}

/// Loads the stored catalogue document into the engine; on a first start
/// (no document at all), imports `initial` if the configuration names one.
fn restore_catalogue(
    engine: &mut Engine<PeerId>,
    now: std::time::Instant,
    stored: Option<&[u8]>,
    initial: Option<possync_catalogue::Catalogue>,
    config: &NodeConfig,
) {
    if let Some(bytes) = stored
        && let Err(e) = engine.restore_catalogue(bytes)
    {
        warn!(error = %e, "stored catalogue could not be loaded; waiting for a peer's");
    }
    if let Some(state) = engine.catalogue_state() {
        info!(version = state.version, by = %state.by.user, "catalogue restored");
    }
    let Some(initial) = initial.filter(|_| engine.catalogue_heads().is_empty()) else { return };
    let ctx =
        possync_model::EditContext::new(possync_engine::IMPORT_USER, config.terminal.clone(), wall_ms());
    match engine.replace_catalogue(now, &ctx, initial) {
        Ok(version) => info!(version, "catalogue imported at first start"),
        Err(e) => warn!(error = %e, "the configured catalogue was refused"),
    }
}

impl Actor {
    async fn run(mut self, early: Vec<SwarmEvent<BehaviourEvent>>, mut commands: mpsc::Receiver<Command>) {
        for event in early {
            self.handle_swarm(event);
        }
        self.apply_gossip();
        let mut peer_check = tokio::time::interval(PEER_CHECK_INTERVAL);
        peer_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            // Local work before new remote work: a finished write answers
            // its callers before the loop takes another branch (`select!`
            // picks among ready branches at random).
            if self.commits.in_flight().is_some()
                && let Ok(done) = self.writer.done.try_recv()
            {
                self.committed(Some(done));
                self.flush();
            }
            let wake = Instant::from_std(self.engine.poll_timeout());
            // A disk slower than the input makes callers and peers wait.
            let taking = self.commits.accepting();
            let committing = self.commits.in_flight().is_some();
            tokio::select! {
                command = commands.recv(), if taking => {
                    let Some(command) = command else {
                        info!("every handle dropped: stopping");
                        break;
                    };
                    self.handle_command(command);
                    // Group commit: take what else is already queued.
                    for _ in 1..MAX_COMMANDS_PER_COMMIT {
                        match commands.try_recv() {
                            Ok(c) => self.handle_command(c),
                            Err(_) => break,
                        }
                    }
                }
                event = self.swarm.select_next_some(), if taking => {
                    self.handle_swarm(event);
                    // Peers' messages that already arrived are taken in one
                    // turn, but a command or a finished write waiting cuts
                    // the turn short: under load, an edit would otherwise
                    // wait for up to 64 peers' changes to be applied.
                    for _ in 1..MAX_SWARM_EVENTS_PER_TURN {
                        if !commands.is_empty() || !self.writer.done.is_empty() {
                            break;
                        }
                        match self.swarm.next().now_or_never() {
                            Some(Some(event)) => self.handle_swarm(event),
                            _ => break,
                        }
                    }
                    self.apply_gossip();
                }
                done = self.writer.done.recv(), if committing => self.committed(done),
                Some(answer) = self.sinks.answers.recv() => {
                    let now = Self::now();
                    self.engine.set_wall_clock(now, wall_ms());
                    self.engine.delivered(now, &answer.sink, &answer.order, answer.result);
                    self.collect();
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = Self::now();
                    self.engine.set_wall_clock(now, wall_ms());
                    self.engine.handle_timeout(now);
                    self.collect();
                }
                _ = peer_check.tick() => self.check_peers(),
                () = until(self.relay_delay.next_due().map(Instant::from_std)) => self.relay_due(),
                // A deferred sync or a retry is due: `flush` starts it.
                () = until(self.commits.poll_timeout().map(Instant::from_std)) => {}
            }
            self.flush();
            if let Some(reply) = self.shutting_down.take() {
                self.stop().await;
                // Close the store (releasing its file lock) and the swarm
                // before answering, so the caller may reopen at once.
                drop(self);
                let _ = reply.send(Ok(()));
                return;
            }
        }
        self.stop().await;
    }

    /// Commits everything pending durably, waits for it, and leaves the
    /// session.
    async fn stop(&mut self) {
        for accepted in self.relay_delay.drain_all() {
            relay(&mut self.swarm, accepted);
        }
        self.flush();
        self.commits.request_sync();
        loop {
            self.drive_commits();
            // Done, or failed: a retry waits for the next start.
            if self.commits.in_flight().is_none() {
                break;
            }
            let done = self.writer.done.recv().await;
            self.committed(done);
        }
        self.writer.close();
        self.sinks.shutdown(SINK_SHUTDOWN_GRACE).await;
        let _ = self.swarm.behaviour_mut().gossipsub.unsubscribe(&self.topic);
        let peers: BTreeSet<PeerId> = self.connections.values().copied().collect();
        for p in peers {
            let _ = self.swarm.disconnect_peer_id(p);
        }
        info!("stopped");
    }

    fn now() -> std::time::Instant {
        Instant::now().into_std()
    }

    // ----- commands ---------------------------------------------------------

    fn handle_command(&mut self, command: Command) {
        if self.shutting_down.is_some() {
            // Stop accepting edits once shutdown began.
            drop(command);
            return;
        }
        let now = Self::now();
        match command {
            Command::Open { ctx, template, with_id, reply } => {
                let result = if with_id {
                    self.engine.open_order_with_id(now, &ctx, template)
                } else {
                    self.engine.open_order(now, &ctx, template)
                };
                self.collect();
                self.commits.wait((Instant::now(), Deferred::Order(reply, result.map_err(NodeError::from))));
            }
            Command::Edit { ctx, order, edit, reply } => {
                let result = self.engine.edit(now, &ctx, &order, &edit);
                self.collect();
                self.commits.wait((Instant::now(), Deferred::Edit(reply, result.map_err(NodeError::from))));
            }
            Command::Split { ctx, order, moves, reply } => {
                let result = self.engine.split(now, &ctx, &order, &moves);
                self.collect();
                self.commits.wait((Instant::now(), Deferred::Order(reply, result.map_err(NodeError::from))));
            }
            Command::ReplaceCatalogue { ctx, catalogue, reply } => {
                let result = self.engine.replace_catalogue(now, &ctx, *catalogue);
                self.collect();
                self.commits
                    .wait((Instant::now(), Deferred::Version(reply, result.map_err(NodeError::from))));
            }
            Command::View { order, reply } => {
                let _ = reply.send(Ok(self.engine.view(&order)));
            }
            Command::List { include_archived, reply } => {
                let ids =
                    if include_archived { self.engine.all_orders() } else { self.engine.active_orders() };
                let mut views: Vec<_> = ids.iter().filter_map(|id| self.engine.view(id)).collect();
                views.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = reply.send(Ok(views));
            }
            Command::Status { reply } => {
                let _ = reply.send(Ok(self.status()));
            }
            Command::Claim { user, order, reply } => {
                let result = self.engine.claim_payment(now, &user, &order);
                self.collect();
                let _ = reply.send(result.map(|c| ClaimView::new(c, now)).map_err(NodeError::from));
            }
            Command::Release { order, reply } => {
                self.engine.release_payment(now, &order);
                self.collect();
                let _ = reply.send(Ok(()));
            }
            Command::Claims { reply } => {
                let claims = self.engine.payment_claims(now).into_iter().map(|c| ClaimView::new(c, now));
                let _ = reply.send(Ok(claims.collect()));
            }
            Command::Dial { addr, reply } => {
                let result = self
                    .swarm
                    .dial(addr.clone())
                    .map_err(|e| NodeError::Network(format!("dial {addr}: {e}")));
                let _ = reply.send(result);
            }
            Command::Isolate { isolated, reply } => {
                self.isolated = isolated;
                if isolated {
                    let peers: BTreeSet<PeerId> = self.connections.values().copied().collect();
                    for p in peers {
                        let _ = self.swarm.disconnect_peer_id(p);
                    }
                    self.admission.clear();
                } else {
                    // The cable is back: dial now, not at the next tick.
                    self.dialer.reset(now);
                    self.dial_due(now);
                }
                self.commits.wait((Instant::now(), Deferred::Done(reply)));
            }
            Command::Shutdown { reply } => self.shutting_down = Some(reply),
        }
    }

    // ----- swarm events -----------------------------------------------------

    fn handle_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        // Gossip gathered in this turn is applied before anything else
        // changes (a peer leaving, catch-up), as it came before.
        if !is_gossip_message(&event) {
            self.apply_gossip();
        }
        let now = Self::now();
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, connection_id, .. } => {
                self.banned.retain(|_, until| *until > Instant::now());
                let refused = !self.allowed.is_empty() && !self.allowed.contains(&peer_id);
                if refused {
                    warn!(peer = %peer_id, "peer not in the allow-list: disconnected");
                }
                if self.isolated
                    || refused
                    || self.banned.contains_key(&peer_id)
                    || self.dialer.is_refused(&peer_id, now)
                {
                    self.swarm.close_connection(connection_id);
                    return;
                }
                let dialled = match &endpoint {
                    ConnectedPoint::Dialer { address, .. } => Some(address),
                    ConnectedPoint::Listener { .. } => None,
                };
                self.dialer.connected(peer_id, dialled);
                self.connections.insert(connection_id, peer_id);
                self.liveness.alive(connection_id, now);
                if !self.connected.contains(&peer_id) && !self.admission.is_waiting(&peer_id) {
                    debug!(peer = %peer_id, "terminal connected: waiting for its session");
                    self.admission.connected(peer_id, now);
                    // A new connection to a peer whose earlier one is still
                    // closing: gossipsub already knows its topics and will
                    // not send them again.
                    let known: Vec<String> = self
                        .swarm
                        .behaviour()
                        .gossipsub
                        .all_peers()
                        .filter(|(p, _)| **p == peer_id)
                        .flat_map(|(_, topics)| topics.into_iter().map(|t| t.as_str().to_owned()))
                        .collect();
                    for topic in known {
                        self.subscribed(now, peer_id, &topic);
                    }
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                self.connections.remove(&connection_id);
                self.liveness.forget(&connection_id);
                if num_established == 0 {
                    self.peer_gone(peer_id, now);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::NewListenAddr { address, .. } => info!(%address, "listening"),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip(now, event),
            SwarmEvent::Behaviour(BehaviourEvent::Catchup(event)) => self.on_catchup(now, event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { connection, result, peer })) => {
                match result {
                    Ok(_) => self.liveness.alive(connection, now),
                    // Not every implementation pings: such a link is
                    // watched by TCP alone.
                    Err(ping::Failure::Unsupported) => self.liveness.forget(&connection),
                    // The link timeout decides (see `liveness`).
                    Err(error) => debug!(%peer, %error, "ping failed"),
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    self.dialer.discovered(peer, addr, now);
                }
                self.dial_due(now);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, addr) in gone {
                    self.dialer.expired(&peer, &addr);
                }
            }
            _ => {}
        }
    }

    /// `peer` subscribed to `topic`: a terminal waiting for admission is
    /// admitted when it is this session's topic, with the catch-up requests
    /// it sent meanwhile.
    fn subscribed(&mut self, now: std::time::Instant, peer: PeerId, topic: &str) {
        if let Some(held) = self.admission.subscribed(&peer, topic) {
            debug!(%peer, "terminal joined this session: admitted");
            self.connected.insert(peer);
            self.engine.peer_up(now, peer);
            self.collect();
            for (request, channel) in held {
                self.catchup_request(now, peer, request, channel);
            }
        } else if topic == self.topic.hash().as_str() && self.connected.contains(&peer) {
            // Subscribed again: what it missed meanwhile, now.
            self.engine.catch_up_with(&peer);
            self.collect();
        }
    }

    /// The peer's last connection is gone (closed, or closing as dead).
    fn peer_gone(&mut self, peer: PeerId, now: std::time::Instant) {
        self.dialer.disconnected(&peer, now);
        if let Some(refusal) = self.admission.disconnected(&peer) {
            // It hung up first, having seen that this terminal is of
            // another session too: refused all the same.
            self.refuse(peer, refusal, now);
        }
        if self.connected.remove(&peer) {
            debug!(%peer, "peer disconnected");
            self.slow_peers.forget(&peer);
            self.engine.peer_down(&peer);
        }
    }

    /// Refuses a connected terminal that is not of this session, naming
    /// both sessions; it is neither dialled nor heard for [`REFUSED_FOR`].
    /// One that joined no session in time is only disconnected.
    fn refuse(&mut self, peer: PeerId, refusal: Refusal, now: std::time::Instant) {
        let _ = self.swarm.disconnect_peer_id(peer);
        if self.connected.remove(&peer) {
            self.slow_peers.forget(&peer);
            self.engine.peer_down(&peer);
        }
        if refusal == Refusal::NoSession {
            // Most likely a link too lossy or slow to carry the subscription
            // in time: hang up and try afresh, as after any lost link.
            debug!(%peer, %refusal, "disconnected; it will be dialled again");
            self.dialer.disconnected(&peer, now);
            return;
        }
        if self.warned_refusals.len() >= MAX_WARNED_REFUSALS {
            self.warned_refusals.clear();
        }
        let session = self.topic.hash().as_str().strip_prefix(TOPIC_PREFIX).unwrap_or_default().to_owned();
        if self.warned_refusals.insert(peer) {
            warn!(%peer, %refusal, this_session = %session, "terminal of another multi-session refused: disconnected, no order exchanged");
        } else {
            debug!(%peer, %refusal, "terminal of another multi-session refused again");
        }
        self.counters.peers_refused += 1;
        self.dialer.refuse(peer, now + REFUSED_FOR);
    }

    /// The periodic look at peers: dials that are due, links that went
    /// silent, terminals that did not join this session.
    fn check_peers(&mut self) {
        let now = Self::now();
        self.dial_due(now);
        let mut dead_peers = BTreeSet::new();
        for connection in self.liveness.dead(now) {
            if let Some(peer) = self.connections.remove(&connection) {
                debug!(%peer, "no ping answered for a while: closing the connection");
                self.counters.links_timed_out += 1;
                self.swarm.close_connection(connection);
                dead_peers.insert(peer);
            }
        }
        // The peer is offline now, not once the dead link has finished
        // closing (which waits on TCP).
        for peer in dead_peers {
            if !self.connections.values().any(|p| *p == peer) {
                self.peer_gone(peer, now);
            }
        }
        for (peer, refusal) in self.admission.due(now) {
            self.refuse(peer, refusal, now);
        }
        self.collect();
    }

    fn on_gossip(&mut self, now: std::time::Instant, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                self.counters.gossip_received += 1;
                // Only admitted peers (connected, allowed, not banned) are heard.
                let admitted = self.connected.contains(&propagation_source);
                match message.source {
                    // Strict validation: every message is signed by its source.
                    Some(signer) if admitted && message.topic == self.topic.hash() => {
                        let signer = ActorOwner::of_identity(&signer.to_bytes());
                        // Applied at the end of the turn, with the others.
                        self.gossip_in.push(message_id, propagation_source, signer, message.data);
                    }
                    _ => self.report_verdict(now, message_id, propagation_source, Verdict::Ignore),
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => self.subscribed(now, peer_id, topic.as_str()),
            gossipsub::Event::SlowPeer { peer_id, failed_messages } => {
                let dropped = failed_messages.priority + failed_messages.non_priority;
                self.counters.gossip_dropped += dropped as u64;
                if self.connected.contains(&peer_id) && self.slow_peers.reported(&peer_id, now) {
                    debug!(peer = %peer_id, dropped, "gossip dropped to a slow peer: catching up with it");
                    self.engine.catch_up_with(&peer_id);
                    self.collect();
                }
            }
            _ => {}
        }
    }

    /// Applies the gossip gathered in this turn and tells gossipsub what
    /// to do with each message.
    fn apply_gossip(&mut self) {
        if self.gossip_in.is_empty() {
            return;
        }
        let now = Self::now();
        for (message_id, source, verdict) in self.gossip_in.apply(&mut self.engine, now) {
            self.report_verdict(now, message_id, source, verdict);
        }
        self.collect();
    }

    fn report_verdict(
        &mut self,
        now: std::time::Instant,
        message_id: gossipsub::MessageId,
        source: PeerId,
        verdict: Verdict,
    ) {
        let acceptance = match verdict {
            Verdict::Accept => {
                // Relayed a little later (see `relay_delay`).
                if let Some(early) = self.relay_delay.accepted((message_id, source), now) {
                    relay(&mut self.swarm, early);
                }
                return;
            }
            Verdict::Ignore => MessageAcceptance::Ignore,
            Verdict::Reject => MessageAcceptance::Reject,
        };
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
            &message_id,
            &source,
            acceptance,
        );
    }

    /// Lets gossipsub relay the accepted messages whose delay is over.
    fn relay_due(&mut self) {
        for accepted in self.relay_delay.due(Self::now()) {
            relay(&mut self.swarm, accepted);
        }
    }

    fn on_catchup(
        &mut self,
        now: std::time::Instant,
        event: request_response::Event<Result<Vec<u8>, Oversized>, ()>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message: request_response::Message::Request { request, channel, .. },
                ..
            } => {
                if self.connected.contains(&peer) {
                    self.catchup_request(now, peer, request, channel);
                } else if let Err((_, channel)) = self.admission.hold(&peer, (request, channel)) {
                    // Not admitted (allow-list, ban, isolation, another
                    // session) nor waiting, or too many held: not heard.
                    drop(channel);
                }
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "catch-up message not delivered; the engine retries after its timeout");
            }
            _ => {}
        }
    }

    /// A catch-up request from an admitted peer: acknowledged, then heard.
    fn catchup_request(
        &mut self,
        now: std::time::Instant,
        peer: PeerId,
        request: Result<Vec<u8>, Oversized>,
        channel: request_response::ResponseChannel<()>,
    ) {
        self.counters.catchup_received += 1;
        let _ = self.swarm.behaviour_mut().catchup.send_response(channel, ());
        match request {
            Ok(bytes) => self.engine.handle_direct(now, peer, &bytes),
            Err(Oversized { bytes }) => {
                self.engine.refused_by_transport(now, peer, Rejection::Oversized { bytes })
            }
        }
        self.collect();
    }

    fn dial_due(&mut self, now: std::time::Instant) {
        if self.isolated {
            return;
        }
        for dial in self.dialer.due(now) {
            let result = match dial {
                Dial::Address(addr) => self.swarm.dial(addr),
                // While disconnected, a fresh dial even if one is pending: a
                // dial whose SYN was lost while the link was down would only
                // end at the transport's outgoing timeout.
                Dial::Peer(peer, addrs) => self.swarm.dial(
                    DialOpts::peer_id(peer).addresses(addrs).condition(PeerCondition::Disconnected).build(),
                ),
            };
            if let Err(e) = result {
                debug!(error = %e, "redial failed");
            }
        }
    }

    // ----- outputs ----------------------------------------------------------

    /// Takes the engine's outputs: storage batches, and what must follow
    /// them to the disk, go to the commit pipeline; the rest is carried out
    /// at the next `flush`.
    fn collect(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            if let Some(now) = self.commits.take(out) {
                self.pending_after.push(now);
            }
        }
    }

    /// Sends messages and publishes peers' changes at once, then lets the
    /// commit pipeline start the next write or release what a finished one
    /// made durable.
    fn flush(&mut self) {
        self.collect();
        for out in std::mem::take(&mut self.pending_after) {
            self.carry_out(out);
        }
        self.drive_commits();
        self.publish_status_if_changed();
    }

    /// Carries out the commit pipeline's actions: writes go to the writer
    /// thread, releases tell the outputs and answer the commands that waited.
    fn drive_commits(&mut self) {
        let now = Self::now();
        while let Some(action) = self.commits.poll_action(now) {
            match action {
                CommitAction::Write(write) => {
                    let id = write.id;
                    if let Err((error, write)) = self.writer.send(write) {
                        self.counters.store_failures += 1;
                        warn!(%error, "storage commit failed: the affected edits are not acknowledged");
                        let failed = WriteFailed { error, batches: write.batches };
                        self.commits.completed(now, id, Err(failed));
                    }
                }
                CommitAction::Release(release) => self.finish(release),
            }
        }
    }

    /// The writer finished the write in flight (`None`: the writer is gone).
    fn committed(&mut self, done: Option<Committed>) {
        let done = match (done, self.commits.in_flight()) {
            (Some(done), _) => done,
            (None, Some(id)) => Committed {
                id,
                result: Err(WriteFailed { error: "the storage writer stopped".into(), batches: Vec::new() }),
                durable: true,
                wrote: false,
                elapsed: Duration::ZERO,
            },
            (None, None) => return,
        };
        match &done.result {
            Ok(()) if done.durable => {
                if done.wrote {
                    self.commit_latency.observe(done.elapsed);
                }
                self.counters.store_commits += 1;
            }
            Ok(()) => self.counters.store_deferred_commits += 1,
            Err(failed) => {
                self.counters.store_failures += 1;
                warn!(error = %failed.error, "storage commit failed: the affected edits are not acknowledged; trying again");
            }
        }
        self.commits.completed(Self::now(), done.id, done.result);
    }

    /// Tells what waited for a commit, and answers the commands that did.
    fn finish(&mut self, release: Release<(Instant, Deferred), PeerId>) {
        let Release { result, outputs, waiters } = release;
        for out in outputs {
            self.carry_out(out);
        }
        let storage_error = result.err();
        for (since, d) in waiters {
            if !matches!(d, Deferred::Done(_)) {
                self.ack_wait.observe(since.elapsed());
            }
            let failed = |e: &Option<String>| e.as_ref().map(|m| NodeError::Storage(m.clone()));
            match d {
                Deferred::Order(reply, result) => {
                    let result = match (result, failed(&storage_error)) {
                        (Ok(_), Some(e)) => Err(e),
                        (r, _) => r,
                    };
                    if result.is_ok() {
                        self.counters.local_changes += 1;
                    }
                    let _ = reply.send(result);
                }
                Deferred::Edit(reply, result) => {
                    let result = match (result, failed(&storage_error)) {
                        (Ok(Some(_)), Some(e)) => Err(e),
                        (r, _) => r,
                    };
                    if matches!(result, Ok(Some(_))) {
                        self.counters.local_changes += 1;
                    }
                    let _ = reply.send(result);
                }
                Deferred::Done(reply) => {
                    let _ = reply.send(Ok(()));
                }
                Deferred::Version(reply, result) => {
                    let result = match (result, failed(&storage_error)) {
                        (Ok(_), Some(e)) => Err(e),
                        (r, _) => r,
                    };
                    let _ = reply.send(result);
                }
            }
        }
    }

    fn carry_out(&mut self, out: Output<PeerId>) {
        match out {
            Output::Persist(_) => {}
            Output::Broadcast(bytes) => {
                match self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes) {
                    Ok(_) => self.counters.gossip_sent += 1,
                    Err(PublishError::Duplicate) => {}
                    Err(e) => {
                        // Nothing is lost: peers get the change by catch-up,
                        // started now rather than at the next round.
                        self.counters.gossip_publish_failed += 1;
                        debug!(error = %e, "publish failed; catching up with every peer");
                        for peer in self.engine.peers() {
                            self.engine.catch_up_with(&peer);
                        }
                        self.collect();
                        let more = std::mem::take(&mut self.pending_after);
                        for o in more {
                            self.carry_out(o);
                        }
                    }
                }
            }
            Output::Send { to, bytes } => {
                if self.connected.contains(&to) {
                    self.counters.catchup_sent += 1;
                    self.swarm.behaviour_mut().catchup.send_request(&to, Ok(bytes));
                }
            }
            Output::Event(event) => self.publish_event(event),
            Output::Deliver { sink, order, payload } => {
                if !self.sinks.submit(&sink, order.clone(), payload) {
                    self.engine.delivery_not_started(&sink, &order);
                }
            }
            Output::Disconnect { peer, reason } => {
                warn!(%peer, %reason, "disconnecting and banning peer");
                let now = Self::now();
                self.banned.insert(peer, Instant::now() + possync_engine::BAN);
                self.dialer.refuse(peer, now + possync_engine::BAN);
                let _ = self.swarm.disconnect_peer_id(peer);
                self.peer_gone(peer, now);
            }
        }
    }

    fn publish_event(&mut self, event: Event<PeerId>) {
        let event = match event {
            Event::OrderChanged { order, origin, summary, active } => {
                let origin = match origin {
                    Origin::Local => ChangeOrigin::Local,
                    Origin::Peer(peer) => {
                        self.counters.remote_changes += 1;
                        self.last_sync_ms = Some(wall_ms());
                        ChangeOrigin::Remote { peer }
                    }
                };
                if self.events.receiver_count() == 0 {
                    // Nobody listens: no copy of the order's view to make.
                    return;
                }
                let view = self.engine.view(&order).map(Box::new);
                NodeEvent::OrderChanged { order, origin, summary, active, view }
            }
            Event::Archived { order } => NodeEvent::Archived { order },
            Event::PaymentClaim { order, claim } => {
                NodeEvent::PaymentClaim { order, claim: claim.map(|c| ClaimView::new(c, Self::now())) }
            }
            Event::CatalogueChanged { version, origin } => {
                // The handles read it from here: swapped before anyone is told.
                self.catalogue.send_replace(self.engine.catalogue_state().map(SharedCatalogue::of));
                let origin = match origin {
                    Origin::Local => ChangeOrigin::Local,
                    Origin::Peer(peer) => ChangeOrigin::Remote { peer },
                };
                info!(version, ?origin, "catalogue changed");
                NodeEvent::CatalogueChanged { version, origin }
            }
            Event::Rejected { from, reason } => {
                self.counters.rejected += 1;
                *self.counters.rejected_by_kind.entry(reason.kind()).or_default() += 1;
                NodeEvent::Rejected { peer: from, kind: reason.kind(), reason: reason.to_string() }
            }
        };
        // No subscriber is fine; a slow one lags, it never blocks the node.
        let _ = self.events.send(event);
    }

    fn connectivity(&self) -> Connectivity {
        if self.connected.is_empty() {
            Connectivity::Offline
        } else if self.engine.status().is_syncing() {
            Connectivity::Syncing
        } else {
            Connectivity::Online
        }
    }

    fn status(&self) -> NodeStatus {
        let s = self.engine.status();
        NodeStatus {
            connectivity: self.connectivity(),
            peers: self.connected.iter().copied().collect(),
            open_orders: s.active_orders,
            archived_orders: s.archived_orders,
            last_sync_ms: self.last_sync_ms,
            peer_id: *self.swarm.local_peer_id(),
            listen_addrs: self.swarm.listeners().map(|a| a.to_string()).collect(),
            counters: self.counters.clone(),
            store_bytes: std::fs::metadata(&self.writer.path).map(|m| m.len()).unwrap_or(0),
            commit_latency: self.commit_latency.clone(),
            ack_wait: self.ack_wait.clone(),
            sinks: self.engine.delivery_status(Self::now()).into_iter().map(Into::into).collect(),
        }
    }

    fn publish_status_if_changed(&mut self) {
        let now = (self.connectivity(), self.connected.iter().copied().collect::<Vec<_>>());
        if self.last_status.as_ref() != Some(&now) {
            self.last_status = Some(now);
            let _ = self.events.send(NodeEvent::Status(self.status()));
        }
    }
}
