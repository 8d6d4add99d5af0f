//! The floor: what the network stack and Automerge alone cost. N bare
//! libp2p swarms in this process (loopback TCP with no Nagle + Noise +
//! Yamux, possync's transport without the pre-shared key), gossipsub alone
//! with possync's configuration (`gossipsub_config`: Signed + Strict,
//! possync's message id, mesh and heartbeat, a message forwarded once it is
//! applied), no storage, no engine, no model. Each swarm holds its own copy
//! of every order document ([`raw_order`]: possync's
//! shape). As possync's terminals each edit one of their own orders, moving
//! on every [`EDITS_PER_ORDER`](crate::common::EDITS_PER_ORDER) edits, each swarm edits one of its own: an
//! edit is the quantity increment and stamps of `Edit::ChangeQty`, one
//! commit, and the change's bytes are published with the order's number; a
//! receiver applies them and reads the quantity back. Latency runs from the
//! edit to the receiver's read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use automerge::{ActorId, Automerge, Change};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, SwarmBuilder};
use tokio::sync::mpsc;

use crate::common::{cpu_time_us, edit_target, orders_per_author};
use crate::raw_order::{self, Stamp, UNIT};
use crate::stats::{Percentiles, percentiles};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// (author, its order's round, the line's quantity after the edit) → when
/// the edit was made (or due).
type SendTimes = Arc<Mutex<HashMap<(usize, u64, i64), Instant>>>;
/// Every swarm's copies of the orders, by (author, round): the round-th
/// order its author edits.
type Docs = HashMap<(usize, u64), Automerge>;

const LINE: &str = "line-1";

/// An order of the floor: (its author, the round in which it edits it).
pub(crate) type OrderKey = (usize, u64);

/// Where a swarm reports its own edits and the others' edits it sees.
pub(crate) trait Recorder: Send + 'static {
    /// This swarm made the edit leaving `order`'s line at `qty`, due at `due`.
    fn sent(&mut self, order: OrderKey, qty: i64, due: Instant);
    /// Another swarm's edit leaving `order`'s line at `qty` is visible here.
    fn seen(&mut self, order: OrderKey, qty: i64, at: Instant);
}

/// Every swarm in this process: the latency of each sighting, from the
/// shared send times.
struct InProcess {
    sent: SendTimes,
    samples: Arc<Mutex<Vec<Duration>>>,
}

impl Recorder for InProcess {
    fn sent(&mut self, (author, round): OrderKey, qty: i64, due: Instant) {
        if let Ok(mut s) = self.sent.lock() {
            s.insert((author, round, qty), due);
        }
    }

    fn seen(&mut self, (author, round): OrderKey, qty: i64, at: Instant) {
        if let (Ok(sent), Ok(mut samples)) = (self.sent.lock(), self.samples.lock())
            && let Some(t0) = sent.get(&(author, round, qty))
        {
            samples.push(at - *t0);
        }
    }
}

/// One bare swarm: send it an edit's due time and it makes the edit.
pub(crate) struct FloorNode {
    pub edits: mpsc::UnboundedSender<Instant>,
    pub addr: Multiaddr,
    /// Peers whose subscription it has heard.
    pub subscribed: Arc<AtomicUsize>,
    pub task: tokio::task::JoinHandle<()>,
}

fn gossipsub(key: &libp2p::identity::Keypair) -> Result<gossipsub::Behaviour, BoxError> {
    let config = possync::net::behaviour::gossipsub_config()?;
    Ok(gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)?)
}

/// The orders every swarm starts with, as saved documents by (author, round).
pub(crate) fn initial_orders(swarms: usize, rounds: u64) -> Result<HashMap<(usize, u64), Vec<u8>>> {
    let mut orders = HashMap::new();
    for author in 0..swarms {
        for round in 0..rounds {
            let mut doc = Automerge::new();
            let stamp = Stamp::now(&format!("T{author}"));
            raw_order::open(&mut doc, &format!("order-{author}-{round}"), &stamp)?;
            raw_order::add_line(&mut doc, LINE, &stamp)?;
            orders.insert((author, round), doc.save());
        }
    }
    Ok(orders)
}

pub(crate) async fn spawn_floor_node(
    index: usize,
    initial: &HashMap<(usize, u64), Vec<u8>>,
    dial: Vec<Multiaddr>,
    mut recorder: impl Recorder,
) -> Result<FloorNode> {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            possync::net::transport::build(key, None, None).map_err(|e| Box::new(e) as BoxError)
        })
        .map_err(|e| anyhow!("{e}"))?
        .with_behaviour(gossipsub)
        .map_err(|e| anyhow!("{e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    let topic = IdentTopic::new("possync-floor");
    swarm.behaviour_mut().subscribe(&topic)?;
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    for a in dial {
        swarm.dial(a)?;
    }
    let mut docs = Docs::new();
    for (&key, bytes) in initial {
        let mut doc = Automerge::load(bytes)?;
        doc.set_actor(ActorId::from((index as u64 + 1).to_be_bytes().to_vec()));
        docs.insert(key, doc);
    }
    let me = format!("T{index}");
    // The highest quantity seen so far, by order.
    let mut seen = HashMap::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let subscribed = Arc::new(AtomicUsize::new(0));
    let subs = subscribed.clone();
    let task = tokio::spawn(async move {
        let mut count = 0u64;
        loop {
            tokio::select! {
                due = rx.recv() => {
                    let Some(due) = due else { break };
                    let (round, units) = edit_target(count);
                    let qty = UNIT * units;
                    count += 1;
                    recorder.sent((index, round), qty, due);
                    let Some(doc) = docs.get_mut(&(index, round)) else { continue };
                    if raw_order::change_qty(doc, LINE, UNIT, &Stamp::now(&me)).is_err() {
                        continue;
                    }
                    if let Some(change) = doc.get_last_local_change() {
                        let mut msg = vec![index as u8];
                        msg.extend_from_slice(&(round as u32).to_be_bytes());
                        msg.extend_from_slice(change.raw_bytes());
                        let _ = swarm.behaviour_mut().publish(topic.clone(), msg);
                    }
                }
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                        let accepted = apply(&mut docs, &mut seen, &message.data, &mut recorder);
                        let verdict = if accepted { MessageAcceptance::Accept } else { MessageAcceptance::Reject };
                        let _ = swarm.behaviour_mut().report_message_validation_result(&message_id, &propagation_source, verdict);
                    }
                    SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) => {
                        subs.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }
    });
    Ok(FloorNode { edits: tx, addr, subscribed, task })
}

/// `n` swarms, each dialling the ones before it, once every one has heard
/// every other's subscription and the mesh had 2 s to form.
async fn connected(
    n: usize,
    initial: &HashMap<(usize, u64), Vec<u8>>,
    sent: &SendTimes,
    samples: &Arc<Mutex<Vec<Duration>>>,
) -> Result<Vec<FloorNode>> {
    let mut nodes: Vec<FloorNode> = Vec::new();
    for i in 0..n {
        let dial = nodes.iter().map(|f| f.addr.clone()).collect();
        let recorder = InProcess { sent: sent.clone(), samples: samples.clone() };
        nodes.push(spawn_floor_node(i, initial, dial, recorder).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while nodes.iter().any(|f| f.subscribed.load(Ordering::Relaxed) < n - 1) {
        anyhow::ensure!(Instant::now() < deadline, "floor swarms did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the mesh form (heartbeats) as the possync terminals do.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(nodes)
}

/// Process CPU, in µs, of `n` connected swarms holding an order each and
/// with nothing to publish, over `seconds` (gossipsub's heartbeats, Yamux
/// and TCP keep-alive: what an idle floor costs the bare stack).
pub async fn idle_cpu_us(n: usize, seconds: u64) -> Result<f64> {
    let initial = initial_orders(n, 1)?;
    let sent: SendTimes = Arc::new(Mutex::new(HashMap::new()));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let nodes = connected(n, &initial, &sent, &samples).await?;
    let cpu0 = cpu_time_us()?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let used = cpu_time_us()? - cpu0;
    for f in nodes {
        drop(f.edits);
        f.task.abort();
    }
    Ok(used)
}

/// Applies one change and records the author's edits it makes visible.
fn apply(
    docs: &mut Docs,
    seen: &mut HashMap<(usize, u64), i64>,
    data: &[u8],
    recorder: &mut impl Recorder,
) -> bool {
    let Some((&author, rest)) = data.split_first() else { return false };
    let Some((round, bytes)) = rest.split_first_chunk::<4>() else { return false };
    let round = u64::from(u32::from_be_bytes(*round));
    let Some(doc) = docs.get_mut(&(author as usize, round)) else { return false };
    let Ok(change) = Change::from_bytes(bytes.to_vec()) else { return false };
    if doc.apply_changes([change]).is_err() {
        return false;
    }
    let now = Instant::now();
    // Every edit up to this quantity not seen before is visible now (a
    // change that came before the one it depends on waited for it).
    let Ok(Some(qty)) = raw_order::qty(doc, LINE) else { return true };
    let key = (author as usize, round);
    let seen = seen.entry(key).or_insert(UNIT);
    while *seen < qty {
        *seen += UNIT;
        recorder.seen(key, *seen, now);
    }
    true
}

/// Edit → applied on every other swarm: percentiles and the fraction of
/// (edit, receiver) pairs that gave a sample. The due time of each edit is
/// its start (the swarm task makes it at once unless it is behind).
pub async fn measure(n: usize, rate: u64, seconds: u64) -> Result<(Percentiles, f64)> {
    let run = measure_run(n, rate, seconds).await?;
    Ok((run.latency, run.delivered))
}

/// As [`measure`], with the process CPU from the first edit to the end of
/// the run (the 2 s after the last edit included).
pub async fn measure_run(n: usize, rate: u64, seconds: u64) -> Result<crate::propagation::Run> {
    let total = rate * seconds;
    let rounds = orders_per_author(total, n);
    let initial = initial_orders(n, rounds)?;
    let sent: SendTimes = Arc::new(Mutex::new(HashMap::new()));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let nodes = connected(n, &initial, &sent, &samples).await?;

    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let cpu0 = cpu_time_us()?;
    let start = Instant::now();
    for k in 0..total {
        let due = start + interval.mul_f64(k as f64);
        tokio::time::sleep_until(due.into()).await;
        nodes[(k as usize) % n].edits.send(due)?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_us = cpu_time_us()? - cpu0;
    for f in nodes {
        drop(f.edits);
        f.task.abort();
    }
    let mut s = samples.lock().map_err(|_| anyhow!("lock"))?.clone();
    let delivered = s.len() as f64 / (total as f64 * (n - 1) as f64);
    Ok(crate::propagation::Run { latency: percentiles(&mut s), delivered, edits: total, cpu_us })
}

/// The `floor` subcommand: the bare stack alone, as `propagation` measures
/// possync.
pub async fn run(args: crate::propagation::RateArgs) -> Result<()> {
    let crate::propagation::RateArgs { nodes, rate, seconds } = args;
    let (p, delivered) = measure(nodes, rate, seconds).await?;
    println!("| swarms | edits/s | samples | delivered | p50 ms | p90 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {nodes} | {rate} | {} | {delivered:.3} | {:.2} | {:.2} | {:.2} | {:.2} |",
        p.samples, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
    );
    Ok(())
}
