//! The node's actor: the one task that owns the engine and the libp2p swarm,
//! and drives the store through its commit pipeline
//! ([`possync_engine::CommitPipeline`], which decides) and its writer thread
//! ([`crate::writer`], which writes).
//! Everything else talks to it through [`crate::Node`].
//!
//! This file is the select loop and the dispatch of its inputs; the rest is
//! by concern:
//! - `startup`: the store read back, the swarm built and listening;
//! - `peers`: which connections are heard (allow-list, bans, isolation),
//!   admission, dead links, redials;
//! - `messages`: peers' gossip (gathered for the turn, see
//!   `crate::gossip_batch`) and catch-up requests into the engine;
//! - `commit`: the hand-off to the commit pipeline and the writer thread;
//! - `status`: what the node reports about itself.

mod commit;
mod messages;
mod peers;
mod startup;
mod status;

pub(crate) use startup::spawn;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use libp2p::gossipsub::{self, IdentTopic, PublishError};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{PeerId, Swarm, mdns, request_response};
use possync_engine::{CommitPipeline, Engine, Event, Origin, Output};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info};

use crate::admission::{Admission, TOPIC_PREFIX};
use crate::clock::wall_ms;
use crate::dialer::Dialer;
use crate::error::{NetworkError, NodeError};
use crate::event::{ChangeOrigin, NodeEvent};
use crate::gossip_batch::GossipBatch;
use crate::handle::{Command, Reply};
use crate::liveness::Liveness;
use crate::net::codec::Oversized;
use crate::net::metrics::NetworkMetrics;
use crate::net::probe::ProbeEvent;
use crate::net::{Behaviour, BehaviourEvent};
use crate::payment_claim::ClaimView;
use crate::relay_delay::RelayDelay;
use crate::shared_catalogue::SharedCatalogue;
use crate::sinks::SinkTasks;
use crate::slow_peers::SlowPeers;
use crate::status::{Connectivity, Counters, Histogram};
use crate::writer::{WriteError, Writer};
use messages::{is_gossip_message, relay};

/// Commands taken from the queue before one group commit.
const MAX_COMMANDS_PER_COMMIT: usize = 64;
/// Swarm events (gossip, catch-up messages) handled in one turn of the loop.
const MAX_SWARM_EVENTS_PER_TURN: usize = 64;
/// How often dials, dead links and waiting terminals are looked at.
const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(250);

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

/// How long shutdown waits for a sink to finish its delivery in progress.
const SINK_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

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
    commits: CommitPipeline<(Instant, Deferred), PeerId, WriteError>,
    last_status: Option<(Connectivity, Vec<PeerId>)>,
    shutting_down: Option<Reply<()>>,
    /// The back offices' tasks, and their answers.
    sinks: SinkTasks,
    /// libp2p's metrics, when the application serves them.
    network_metrics: Option<NetworkMetrics>,
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
            // A disk slower than the input makes callers and peers wait; a
            // failing one refuses edits at once (`handle_command`).
            let taking = self.commits.accepting();
            let taking_commands = taking || self.commits.failure().is_some();
            let committing = self.commits.in_flight().is_some();
            tokio::select! {
                command = commands.recv(), if taking_commands => {
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
        let command = match self.commits.failure() {
            Some(failure) => {
                let Some(command) = command.refuse_change(|| NodeError::StorageFailed(failure.to_string()))
                else {
                    return;
                };
                command
            }
            None => command,
        };
        let now = Self::now();
        match command {
            Command::Open { ctx, id, fields, reply } => {
                let result = match id {
                    Some(id) => self.engine.open_order_with_id(now, &ctx, id, fields),
                    None => self.engine.open_order(now, &ctx, fields),
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
                    .map_err(|e| NodeError::Network(NetworkError::Dial { addr, source: Box::new(e) }));
                let _ = reply.send(result);
            }
            Command::Isolate { isolated, reply } => {
                self.set_isolated(now, isolated);
                self.commits.wait((Instant::now(), Deferred::Done(reply)));
            }
            Command::Shutdown { reply } => self.shutting_down = Some(reply),
        }
    }

    // ----- swarm events -----------------------------------------------------

    fn handle_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        if let Some(metrics) = &self.network_metrics {
            metrics.record(&event);
        }
        // Gossip gathered in this turn is applied before anything else
        // changes (a peer leaving, catch-up), as it came before.
        if !is_gossip_message(&event) {
            self.apply_gossip();
        }
        let now = Self::now();
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, connection_id, .. } => {
                self.connection_established(now, peer_id, connection_id, &endpoint)
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                self.connection_closed(now, peer_id, connection_id, num_established)
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::NewListenAddr { address, .. } => info!(%address, "listening"),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip(now, event),
            SwarmEvent::Behaviour(BehaviourEvent::Catchup(event)) => self.on_catchup(now, event),
            SwarmEvent::Behaviour(BehaviourEvent::Probe(event)) => match event {
                ProbeEvent::Answered { connection, .. } => self.liveness.answered(&connection, now),
                ProbeEvent::Pinged { connection, .. } => self.liveness.heard(&connection, now),
                // Not every implementation pings: such a link is watched by
                // TCP alone.
                ProbeEvent::Unsupported { connection, .. } => self.liveness.forget(&connection),
                // The link timeout decides (see `liveness`).
                ProbeEvent::Failed { connection, peer, error } => {
                    debug!(%peer, %error, "ping failed");
                    self.liveness.ping_failed(&connection);
                }
            },
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

    // ----- outputs ----------------------------------------------------------

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
            Output::Disconnect { peer, reason } => self.ban(Self::now(), peer, &reason),
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
}
