//! Terminals as processes: the propagation run of `scale` with each
//! terminal (a possync node, or a bare swarm of the floor) in an operating
//! system process of its own, as on a real floor where every terminal runs
//! its own daemon, with its own runtime, threads and store.
//!
//! The parent (`scale-step --what possync-processes` or `floor-processes`)
//! starts the `terminal` children one after the other, each dialling the
//! ones before it; each says `READY` once connected to every other and
//! holding its own orders. After 2 s for the mesh to settle, the parent
//! gives every child one start time. From then each child makes its share
//! of the open-loop schedule (edit `k`, due at start + `k` / rate, is made
//! by terminal `k` mod `n`, each edit as soon as it is due, without waiting
//! for the previous one) and notes when each of its edits was due and when
//! each edit of another terminal became visible to it. Times are the
//! wall clock in nanoseconds: one clock for every process of the machine.
//! The parent joins the notes into latencies; CPU is the sum of the
//! children's process CPU from the start to 2 s after the last edit.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use possync::model::{Edit, OpenOrder, Quantity};
use possync::{ChangeOrigin, Multiaddr, NodeEvent, SessionKey};

use crate::common::{cpu_time_us, edit_target, new_line, orders_per_author, scratch, spawn_node, wait_peers};
use crate::cost::{lines_of, next_line};
use crate::floor::{self, OrderKey, Recorder};
use crate::propagation::Run;
use crate::stats::percentiles;

/// Which stack the terminals run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum System {
    Possync,
    Floor,
}

/// Options of the hidden `terminal` subcommand: one terminal of a
/// multi-process run.
#[derive(Debug, clap::Args)]
pub struct TerminalArgs {
    #[arg(long, value_enum)]
    system: System,
    /// This terminal's number, from 0.
    #[arg(long)]
    index: usize,
    #[arg(long)]
    terminals: usize,
    /// Edits per second, over all terminals.
    #[arg(long)]
    rate: u64,
    #[arg(long)]
    seconds: u64,
    /// How long the measured window goes on after the last edit is due.
    #[arg(long, default_value_t = 2000)]
    tail_ms: u64,
    /// The run's directory: the session key, the floor's orders, stores.
    #[arg(long)]
    dir: PathBuf,
    /// Addresses of the terminals started before this one.
    #[arg(long, value_delimiter = ',')]
    dial: Vec<Multiaddr>,
}

/// One edit as a child notes it: the order, the line's quantity after
/// the edit, and when (wall clock, ns).
#[derive(Debug, Clone)]
struct Note {
    order: String,
    qty: i64,
    at_ns: u128,
}

fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Converts between this process's monotonic clock and the wall clock
/// shared with the other processes.
#[derive(Clone, Copy)]
struct Clock {
    instant: Instant,
    unix_ns: u128,
}

impl Clock {
    fn now() -> Self {
        Clock { instant: Instant::now(), unix_ns: unix_ns() }
    }

    fn to_ns(self, at: Instant) -> u128 {
        match at.checked_duration_since(self.instant) {
            Some(after) => self.unix_ns + after.as_nanos(),
            None => self.unix_ns.saturating_sub(self.instant.duration_since(at).as_nanos()),
        }
    }

    fn to_instant(self, ns: u128) -> Instant {
        let after = Duration::from_nanos(u64::try_from(ns.saturating_sub(self.unix_ns)).unwrap_or(u64::MAX));
        self.instant + after
    }
}

/// The floor's orders file in the run's directory.
fn floor_orders_file(dir: &Path) -> PathBuf {
    dir.join("floor-orders.json")
}

/// Edit → visible on every other terminal with `n` terminals as processes.
pub async fn measure(system: System, n: usize, rate: u64, seconds: u64) -> Result<Run> {
    run(system, n, rate, seconds, TAIL).await
}

/// The window of a run goes on this long after its last edit is due, for
/// the last edits to arrive.
const TAIL: Duration = Duration::from_secs(2);

/// CPU, in µs, of `n` terminals as processes, connected, holding an order
/// each and with nothing to do, over `seconds`.
pub async fn idle_cpu_us(system: System, n: usize, seconds: u64) -> Result<f64> {
    Ok(run(system, n, 0, seconds, Duration::ZERO).await?.cpu_us)
}

async fn run(system: System, n: usize, rate: u64, seconds: u64, tail: Duration) -> Result<Run> {
    anyhow::ensure!(n >= 2, "a floor needs two terminals");
    let dir = scratch("procs");
    std::fs::create_dir_all(&dir)?;
    let total = rate * seconds;
    match system {
        System::Possync => SessionKey::generate()?.save(&dir.join("session.key"))?,
        System::Floor => {
            // Every swarm loads the same documents: a copy made apart from
            // the others would not take their changes.
            let initial: Vec<(OrderKey, Vec<u8>)> =
                floor::initial_orders(n, orders_per_author(total, n))?.into_iter().collect();
            std::fs::write(floor_orders_file(&dir), serde_json::to_vec(&initial)?)?;
        }
    }
    let mut children = Vec::new();
    let mut addrs: Vec<Multiaddr> = Vec::new();
    for index in 0..n {
        let window = Window { rate, seconds, tail };
        let child = TerminalChild::spawn(system, index, n, window, &dir, &addrs)?;
        let listen = child.expect("LISTEN", Duration::from_secs(60)).await?;
        addrs.push(listen.parse().with_context(|| format!("terminal {index}: address {listen:?}"))?);
        children.push(child);
    }
    for child in &children {
        child.expect("READY", Duration::from_secs(120)).await?;
    }
    // Let the mesh form (heartbeats) and the orders spread.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start_ns = unix_ns() + Duration::from_millis(500).as_nanos();
    for child in &mut children {
        writeln!(child.stdin, "START {start_ns}")?;
        child.stdin.flush()?;
    }
    let mut sent: HashMap<(String, i64), u128> = HashMap::new();
    let mut seen: Vec<Note> = Vec::new();
    let mut cpu_us = 0.0;
    for child in &mut children {
        let report = child.report(Duration::from_secs(seconds + 120)).await?;
        sent.extend(report.sent.into_iter().map(|n| ((n.order, n.qty), n.at_ns)));
        seen.extend(report.seen);
        cpu_us += report.cpu_us;
    }
    // Each child exits once it has reported.
    for mut child in children {
        let _ = child.process.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut samples: Vec<Duration> = seen
        .iter()
        .filter_map(|n| {
            let due = sent.get(&(n.order.clone(), n.qty))?;
            Some(Duration::from_nanos(u64::try_from(n.at_ns.saturating_sub(*due)).unwrap_or(u64::MAX)))
        })
        .collect();
    let delivered = if total == 0 { 1.0 } else { samples.len() as f64 / (total as f64 * (n - 1) as f64) };
    Ok(Run { latency: percentiles(&mut samples), delivered, edits: total, cpu_us })
}

/// A run's schedule: `rate` edits per second for `seconds`, measured until
/// `tail` after.
#[derive(Debug, Clone, Copy)]
struct Window {
    rate: u64,
    seconds: u64,
    tail: Duration,
}

/// What a terminal reports at the end of its run.
struct Report {
    sent: Vec<Note>,
    seen: Vec<Note>,
    cpu_us: f64,
}

/// A running `terminal` child: its input, and its output line by line.
struct TerminalChild {
    index: usize,
    process: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl TerminalChild {
    fn spawn(
        system: System,
        index: usize,
        n: usize,
        window: Window,
        dir: &Path,
        dial: &[Multiaddr],
    ) -> Result<Self> {
        let Window { rate, seconds, tail } = window;
        let system = match system {
            System::Possync => "possync",
            System::Floor => "floor",
        };
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["terminal", "--system", system])
            .args(["--index", &index.to_string(), "--terminals", &n.to_string()])
            .args(["--rate", &rate.to_string(), "--seconds", &seconds.to_string()])
            .args(["--tail-ms", &tail.as_millis().to_string()])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if !dial.is_empty() {
            let dial: Vec<String> = dial.iter().map(ToString::to_string).collect();
            command.args(["--dial", &dial.join(",")]);
        }
        let mut process = command.spawn().context("starting a terminal")?;
        let stdin = process.stdin.take().context("terminal stdin")?;
        let lines = lines_of(process.stdout.take().context("terminal stdout")?);
        Ok(TerminalChild { index, process, stdin, lines })
    }

    /// The rest of the next line, which must start with `word`.
    async fn expect(&self, word: &str, timeout: Duration) -> Result<String> {
        let line =
            next_line(&self.lines, timeout).await.with_context(|| format!("terminal {}", self.index))?;
        match line.strip_prefix(word) {
            Some(rest) => Ok(rest.trim().to_owned()),
            None => bail!("terminal {}: expected {word}, got {line:?}", self.index),
        }
    }

    /// Reads the notes up to `DONE <cpu µs>`.
    async fn report(&self, timeout: Duration) -> Result<Report> {
        let mut report = Report { sent: Vec::new(), seen: Vec::new(), cpu_us: 0.0 };
        loop {
            let line =
                next_line(&self.lines, timeout).await.with_context(|| format!("terminal {}", self.index))?;
            let mut f = line.split_whitespace();
            let kind = f.next().unwrap_or_default();
            if kind == "DONE" {
                report.cpu_us = f.next().context("DONE without CPU")?.parse()?;
                return Ok(report);
            }
            let (Some(order), Some(qty), Some(at)) = (f.next(), f.next(), f.next()) else {
                bail!("terminal {}: unexpected line {line:?}", self.index);
            };
            let note = Note { order: order.to_owned(), qty: qty.parse()?, at_ns: at.parse()? };
            match kind {
                "SENT" => report.sent.push(note),
                "SEEN" => report.seen.push(note),
                _ => bail!("terminal {}: unexpected line {line:?}", self.index),
            }
        }
    }
}

/// A run that stops early (an error, a child that does not answer) leaves
/// no terminal behind.
impl Drop for TerminalChild {
    fn drop(&mut self) {
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

/// The `terminal` subcommand.
pub async fn terminal(args: TerminalArgs) -> Result<()> {
    let notes = Arc::new(Mutex::new(Notes::default()));
    match args.system {
        System::Possync => possync_terminal(&args, notes.clone()).await?,
        System::Floor => floor_terminal(&args, notes.clone()).await?,
    }
    Ok(())
}

/// A terminal's notes so far.
#[derive(Default)]
struct Notes {
    sent: Vec<Note>,
    seen: Vec<Note>,
}

/// Waits for the parent's `START <ns>`.
async fn start_time() -> Result<u128> {
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await??;
    let ns = line.trim().strip_prefix("START ").with_context(|| format!("expected START, got {line:?}"))?;
    Ok(ns.parse()?)
}

/// The due times (wall clock, ns) of this terminal's edits: edit `k` of
/// the floor is terminal `k mod n`'s.
fn my_schedule(args: &TerminalArgs, start_ns: u128) -> impl Iterator<Item = (u64, u128)> {
    let interval_ns = 1e9 / args.rate as f64;
    let n = args.terminals as u64;
    (args.index as u64..args.rate * args.seconds)
        .step_by(args.terminals)
        .map(move |k| (k / n, start_ns + (k as f64 * interval_ns) as u128))
}

/// When the measured window ends: `--tail-ms` after the last edit is due.
fn window_end(args: &TerminalArgs, start_ns: u128) -> u128 {
    start_ns + u128::from(args.seconds) * 1_000_000_000 + u128::from(args.tail_ms) * 1_000_000
}

/// Prints the notes and the CPU used since `cpu0`.
fn finish(notes: &Mutex<Notes>, cpu0: f64) -> Result<()> {
    let cpu = cpu_time_us()? - cpu0;
    let notes = notes.lock().map_err(|_| anyhow::anyhow!("notes lock"))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (kind, list) in [("SENT", &notes.sent), ("SEEN", &notes.seen)] {
        for n in list {
            writeln!(out, "{kind} {} {} {}", n.order, n.qty, n.at_ns)?;
        }
    }
    writeln!(out, "DONE {cpu}")?;
    out.flush()?;
    Ok(())
}

fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(out.flush()?)
}

async fn possync_terminal(args: &TerminalArgs, notes: Arc<Mutex<Notes>>) -> Result<()> {
    let key = SessionKey::load(&args.dir.join("session.key"))?;
    let node = spawn_node(&args.dir, &format!("T{}", args.index), &key, args.dial.clone()).await?;
    say(&format!("LISTEN {}", node.listen_addrs().first().context("no listen address")?))?;
    wait_peers(std::slice::from_ref(&node), args.terminals - 1).await?;
    let rounds = orders_per_author(args.rate * args.seconds, args.terminals);
    let mut own = Vec::new();
    for round in 0..rounds {
        let order = node.open_order("bench", OpenOrder::default()).await?;
        let line = new_line(args.index as u128 * 1_000_000 + u128::from(round) + 1);
        let line_id = line.id.clone();
        node.edit("bench", &order, Edit::AddLine(line)).await?;
        own.push((order, line_id));
    }
    // Every other terminal's edit up to the quantity a view shows is
    // visible from then on (changes that arrive together make one event).
    let mut events = node.subscribe();
    let listener_notes = notes.clone();
    // One conversion for the whole run, the edits' and the sightings'.
    let clock = Clock::now();
    let listener = tokio::spawn(async move {
        let unit = Quantity::units(1).milli();
        let mut shown: HashMap<String, i64> = HashMap::new();
        while let Ok(event) = events.recv().await {
            let NodeEvent::OrderChanged {
                order, origin: ChangeOrigin::Remote { .. }, view: Some(view), ..
            } = event
            else {
                continue;
            };
            let Some(line) = view.lines.first() else { continue };
            let at_ns = clock.to_ns(Instant::now());
            let order = order.as_str().to_owned();
            let shown = shown.entry(order.clone()).or_insert(unit);
            let Ok(mut notes) = listener_notes.lock() else { break };
            while *shown < line.qty.0 {
                *shown += unit;
                notes.seen.push(Note { order: order.clone(), qty: *shown, at_ns });
            }
        }
    });
    say("READY")?;
    let start_ns = start_time().await?;
    tokio::time::sleep_until(clock.to_instant(start_ns).into()).await;
    let cpu0 = cpu_time_us()?;
    let mut edits = Vec::new();
    for (mine, due_ns) in my_schedule(args, start_ns) {
        tokio::time::sleep_until(clock.to_instant(due_ns).into()).await;
        let (round, units) = edit_target(mine);
        let Some((order, line)) = own.get(round as usize) else { bail!("no order for round {round}") };
        let qty = Quantity::units(units).milli();
        notes.lock().map_err(|_| anyhow::anyhow!("notes lock"))?.sent.push(Note {
            order: order.as_str().to_owned(),
            qty,
            at_ns: due_ns,
        });
        let edit = Edit::ChangeQty { line: line.clone(), delta: Quantity::units(1) };
        let (node, order) = (node.clone(), order.clone());
        edits.push(tokio::spawn(async move { node.edit("bench", &order, edit).await }));
    }
    for e in edits {
        e.await?.context("edit")?;
    }
    let end_ns = window_end(args, start_ns);
    tokio::time::sleep_until(clock.to_instant(end_ns).into()).await;
    finish(&notes, cpu0)?;
    listener.abort();
    node.shutdown().await?;
    Ok(())
}

/// A floor swarm's notes, on the shared clock.
struct Noting {
    notes: Arc<Mutex<Notes>>,
    clock: Clock,
}

fn floor_order((author, round): OrderKey) -> String {
    format!("{author}-{round}")
}

impl Recorder for Noting {
    fn sent(&mut self, order: OrderKey, qty: i64, due: Instant) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.sent.push(Note { order: floor_order(order), qty, at_ns: self.clock.to_ns(due) });
        }
    }

    fn seen(&mut self, order: OrderKey, qty: i64, at: Instant) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.seen.push(Note { order: floor_order(order), qty, at_ns: self.clock.to_ns(at) });
        }
    }
}

async fn floor_terminal(args: &TerminalArgs, notes: Arc<Mutex<Notes>>) -> Result<()> {
    let initial: Vec<(OrderKey, Vec<u8>)> =
        serde_json::from_slice(&std::fs::read(floor_orders_file(&args.dir))?)?;
    let initial: HashMap<OrderKey, Vec<u8>> = initial.into_iter().collect();
    let clock = Clock::now();
    let recorder = Noting { notes: notes.clone(), clock };
    let node = floor::spawn_floor_node(args.index, &initial, args.dial.clone(), recorder).await?;
    say(&format!("LISTEN {}", node.addr))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.subscribed.load(std::sync::atomic::Ordering::Relaxed) < args.terminals - 1 {
        anyhow::ensure!(Instant::now() < deadline, "terminal {}: peers did not subscribe", args.index);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    say("READY")?;
    let start_ns = start_time().await?;
    tokio::time::sleep_until(clock.to_instant(start_ns).into()).await;
    let cpu0 = cpu_time_us()?;
    for (_, due_ns) in my_schedule(args, start_ns) {
        let due = clock.to_instant(due_ns);
        tokio::time::sleep_until(due.into()).await;
        node.edits.send(due)?;
    }
    let end_ns = window_end(args, start_ns);
    tokio::time::sleep_until(clock.to_instant(end_ns).into()).await;
    finish(&notes, cpu0)?;
    node.task.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared clock round-trips through the process's own clock.
    #[test]
    fn wall_clock_and_monotonic_clock_convert_both_ways() {
        let clock = Clock::now();
        let later = clock.instant + Duration::from_millis(1500);
        let ns = clock.to_ns(later);
        assert_eq!(ns - clock.unix_ns, 1_500_000_000);
        assert_eq!(clock.to_instant(ns), later);
        let earlier = clock.instant.checked_sub(Duration::from_millis(3)).unwrap_or(clock.instant);
        assert!(clock.to_ns(earlier) <= clock.unix_ns);
    }

    /// Edit k of the floor is terminal k mod n's, due k / rate after the start.
    #[test]
    fn each_terminal_takes_every_nth_edit_of_the_schedule() {
        let args = TerminalArgs {
            system: System::Possync,
            index: 1,
            terminals: 3,
            rate: 100,
            seconds: 1,
            tail_ms: 0,
            dir: PathBuf::new(),
            dial: Vec::new(),
        };
        let schedule: Vec<(u64, u128)> = my_schedule(&args, 0).collect();
        assert_eq!(schedule.len(), 33);
        assert_eq!(schedule[0], (0, 10_000_000));
        assert_eq!(schedule[1], (1, 40_000_000));
        assert_eq!(schedule.last(), Some(&(32, 970_000_000)));
    }
}
