//! Start-up: the data directory and identity, the store read back into
//! the engine, the swarm built and listening, then the actor spawned.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, SwarmBuilder};
use possync_engine::{ActorOwner, CommitConfig, CommitPipeline, Engine};
use possync_store::StoreError;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Actor, topic_for};
use crate::admission::Admission;
use crate::clock::wall_ms;
use crate::config::{NodeConfig, check_session_id};
use crate::dialer::Dialer;
use crate::error::{NetworkError, NodeError};
use crate::gossip_batch::GossipBatch;
use crate::handle::{COMMAND_QUEUE, Node};
use crate::liveness::Liveness;
use crate::net::metrics::NetworkMetrics;
use crate::net::{Behaviour, transport};
use crate::relay_delay::{MAX_WAITING, RELAY_DELAY, RelayDelay};
use crate::shared_catalogue::SharedCatalogue;
use crate::sinks::SinkTasks;
use crate::slow_peers::{SLOW_PEER_CATCH_UP_INTERVAL, SlowPeers};
use crate::status::{Counters, Histogram};
use crate::store_opener::StoreOpener;
use crate::writer::Writer;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

/// 64 random bits, or a start-up error: a nonce from the clock could repeat
/// an (actor, sequence) pair of a cloned data directory.
fn random_u64() -> Result<u64, NodeError> {
    Ok(crate::random_u128()? as u64)
}

/// How long listeners are given to start.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn spawn(config: NodeConfig) -> Result<Node, NodeError> {
    check_session_id(&config.session).map_err(NodeError::Config)?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| StoreError::CreateDir { path: config.data_dir.clone(), source })?;
    let keypair = config.identity.resolve(&config.data_dir)?;
    let peer_id = keypair.public().to_peer_id();

    let opener = config.store.clone().unwrap_or_else(|| StoreOpener::data_dir(config.data_dir.clone()));
    let store = opener.open()?;
    let loaded = store.load()?;
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
    // The wall clock first: archived orders' retention counts from it.
    engine.set_wall_clock(now, wall_ms());
    let report = engine.restore(now, loaded.orders, loaded.next_sequence);
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
    let mut registry = config.metrics.as_ref().map(crate::net::metrics::lock);
    let network_metrics = registry.as_deref_mut().map(NetworkMetrics::register);
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| {
            transport::build(key, psk, registry.as_deref_mut()).map_err(|e| Box::new(e) as BoxError)
        })
        .map_err(NetworkError::Transport)?
        .with_behaviour(|key| {
            Behaviour::new(key, mdns, registry.as_deref_mut()).map_err(|e| Box::new(e) as BoxError)
        })
        .map_err(NetworkError::Behaviour)?
        // Session peers stay connected even when quiet: gossipsub alone lets
        // non-mesh connections idle out.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(365 * 24 * 3600)))
        .build();
    drop(registry);

    let topic = topic_for(&config.session);
    swarm.behaviour_mut().gossipsub.subscribe(&topic).map_err(NetworkError::Subscribe)?;
    let listen = if config.listen.is_empty() {
        vec!["/ip4/127.0.0.1/tcp/0".parse().map_err(|e| NodeError::Config(format!("{e}")))?]
    } else {
        config.listen.clone()
    };
    for addr in &listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|source| NetworkError::Listen { addr: addr.clone(), source })?;
    }
    // Wait for the listeners, so the handle can report real addresses.
    let mut listen_addrs = Vec::new();
    // Anything else that happens meanwhile (a peer dialling in as soon as
    // the first listener is up) is handled once the actor runs.
    let mut early = Vec::new();
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    while listen_addrs.len() < listen.len() {
        match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(SwarmEvent::NewListenAddr { address, .. }) => listen_addrs.push(address),
            Ok(SwarmEvent::ListenerError { error, .. }) => return Err(NetworkError::Listener(error).into()),
            Ok(SwarmEvent::ListenerClosed { reason: Err(error), .. }) => {
                return Err(NetworkError::Listener(error).into());
            }
            Ok(other) => early.push(other),
            Err(_) => return Err(NetworkError::ListenTimeout(LISTEN_TIMEOUT).into()),
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
    let writer = Writer::spawn(store, opener)?;
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
        network_metrics,
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
