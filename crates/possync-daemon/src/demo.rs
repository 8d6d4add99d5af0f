//! `possync demo`: several terminals on this machine, each with its own data
//! directory, web page and API, talking over loopback. With `--rush`, a
//! scripted restaurant rush from all terminals at once, then a check that
//! every terminal holds identical orders.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use possync::model::{Edit, LineId, Money, NewLine, OpenOrder, PaymentId, Quantity, TerminalId};
use possync::{Node, SessionKey, random_u128};
use tokio::net::TcpListener;

use crate::api::{AppState, router};
use crate::policy::Policy;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub terminals: usize,
    /// First API port; terminal i serves on `base_port + i` (0: any free port).
    pub base_port: u16,
    pub data_dir: Option<PathBuf>,
    /// Run the scripted rush with this many orders per terminal, then exit.
    pub rush: Option<usize>,
    /// Back offices every terminal delivers closed orders to.
    pub sinks: Vec<crate::sink_config::SinkConfig>,
    /// Whether T1 brings the restaurant's catalogue (off: free-text users
    /// and menu lines with the client's price, no taxes, as before there
    /// was a catalogue).
    pub catalogue: bool,
}

/// Where the demo's terminals keep their data: the directory given, or a
/// fresh temporary one, removed when this is dropped (after the terminals
/// have shut down).
#[derive(Debug)]
pub enum DemoData {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl DemoData {
    pub fn path(&self) -> &Path {
        match self {
            DemoData::Kept(p) => p,
            DemoData::Temporary(t) => t.path(),
        }
    }
}

#[derive(Debug)]
pub struct DemoTerminal {
    pub node: Node,
    pub api: SocketAddr,
}

/// Starts the terminals and their API servers. The API ports are taken
/// first, so that a port in use fails before anything is written; a
/// terminal that fails to start takes the demo's temporary data with it.
pub async fn start(opts: &DemoOptions) -> Result<(Vec<DemoTerminal>, DemoData)> {
    if !(1..=26).contains(&opts.terminals) {
        bail!("--terminals must be between 1 and 26");
    }
    let mut listeners = Vec::new();
    for i in 0..opts.terminals {
        let port = if opts.base_port == 0 { 0 } else { opts.base_port.saturating_add(i as u16) };
        let listener = TcpListener::bind(("127.0.0.1", port)).await.with_context(|| {
            format!(
                "API port {port} (terminal T{}): pick other ports with --port (e.g. --port {}), or --port 0 for any free ones",
                i + 1,
                opts.base_port.saturating_add(100)
            )
        })?;
        listeners.push(listener);
    }
    let dir = match &opts.data_dir {
        Some(d) => DemoData::Kept(d.clone()),
        None => DemoData::Temporary(
            tempfile::Builder::new()
                .prefix("possync-demo-")
                .tempdir()
                .context("creating the demo's temporary data directory")?,
        ),
    };
    let mut terminals: Vec<DemoTerminal> = Vec::new();
    match spawn_terminals(dir.path(), listeners, &opts.sinks, opts.catalogue, &mut terminals).await {
        Ok(()) => Ok((terminals, dir)),
        Err(e) => {
            for t in &terminals {
                let _ = t.node.shutdown().await;
            }
            Err(e)
        }
    }
}

async fn spawn_terminals(
    dir: &std::path::Path,
    listeners: Vec<TcpListener>,
    sinks: &[crate::sink_config::SinkConfig],
    catalogue: bool,
    terminals: &mut Vec<DemoTerminal>,
) -> Result<()> {
    let key = SessionKey::generate()?;
    for (i, listener) in listeners.into_iter().enumerate() {
        let code = format!("T{}", i + 1);
        let terminal = TerminalId::parse(&code)?;
        let peers: Vec<_> = terminals.iter().flat_map(|t| t.node.listen_addrs().to_vec()).collect();
        let mut builder =
            Node::builder("demo", terminal.clone(), dir.join(&code)).session_key(key.clone()).peers(peers);
        let mut followers = Vec::new();
        for sink in sinks {
            let built = sink.build_parts(&terminal)?;
            builder = builder.sink(built.sink);
            followers.extend(built.follows_catalogue);
        }
        // The first terminal brings the restaurant's catalogue; the others
        // get it from it, as a floor's terminals do.
        if i == 0 && catalogue {
            builder = builder.initial_catalogue(demo_catalogue()?);
        }
        let metrics = possync::net::SharedRegistry::default();
        let node = builder
            .metrics(metrics.clone())
            .spawn()
            .await
            .with_context(|| format!("starting terminal {code}"))?;
        for sink in followers {
            crate::sink_config::follow_catalogue(node.clone(), sink);
        }
        let api = listener.local_addr()?;
        // "manager" may give money back and resolve reviews in the demo.
        let policy = Policy { managers: ["manager".to_owned()].into(), ..Policy::permissive() };
        let state = AppState::new(node.clone(), policy, None).with_metrics(metrics);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router(state)).await;
        });
        terminals.push(DemoTerminal { node, api });
    }
    Ok(())
}

/// The demo's catalogue: `examples/catalogue/restaurant.json`.
pub fn demo_catalogue() -> Result<possync::catalogue::Catalogue> {
    const RESTAURANT: &str = include_str!("../../../examples/catalogue/restaurant.json");
    Ok(possync::catalogue::import::from_possync_json(RESTAURANT)?)
}

/// One line of live status: each terminal's connectivity, peers, orders.
pub async fn status_line(terminals: &[DemoTerminal]) -> String {
    let mut parts = Vec::new();
    for t in terminals {
        match t.node.status().await {
            Ok(s) => {
                let mut part = format!(
                    "{}: {:?} {} peers {} open",
                    t.node.terminal(),
                    s.connectivity,
                    s.peers.len(),
                    s.open_orders
                );
                // Orders arriving in the back office: confirmed here, still owed.
                for r in &s.sinks {
                    part.push_str(&format!(", {} delivered {} backlog {}", r.name, r.delivered, r.backlog));
                }
                parts.push(part);
            }
            Err(_) => parts.push(format!("{}: stopped", t.node.terminal())),
        }
    }
    parts.join(" | ")
}

const MENU: [(&str, &str, i64); 6] = [
    ("espresso", "Espresso", 250),
    ("burger", "Burger", 1290),
    ("fries", "Fries", 450),
    ("salad", "Salad", 890),
    ("wine", "House wine", 650),
    ("cake", "Cake", 590),
];

/// A line of `units` of the menu's item `index`, with a fresh id.
fn menu_line(index: usize, units: i64, note: &str) -> Result<NewLine> {
    let (product, name, price) = MENU[index % MENU.len()];
    Ok(NewLine {
        note: note.into(),
        ..NewLine::new(
            LineId::from_random(random_u128()?),
            product,
            name,
            Quantity::units(units),
            Money(price),
        )
    })
}

/// A restaurant rush from every terminal at once: each opens `orders`
/// orders, adds lines, bumps quantities, adds to other terminals' orders,
/// sends to the kitchen, and pays about half. Returns the orders made.
pub async fn rush(terminals: &[DemoTerminal], orders: usize) -> Result<usize> {
    let mut tasks = Vec::new();
    for (i, t) in terminals.iter().enumerate() {
        let node = t.node.clone();
        let others: Vec<Node> = terminals.iter().map(|t| t.node.clone()).collect();
        tasks.push(tokio::spawn(async move {
            let user = format!("waiter{}", i + 1);
            let mut mine = Vec::new();
            for k in 0..orders {
                let table = format!("T{}", 1 + (k + i * 7) % 20);
                let fields = OpenOrder { guests: 1 + (k % 4) as u32, ..OpenOrder::at_table(table) };
                let order = node.open_order(&user, fields).await?;
                for n in 0..3 {
                    let line = menu_line((k + n + i) % MENU.len(), 1 + (n as i64 % 2), "")?;
                    let id = line.id.clone();
                    node.edit(&user, &order, Edit::AddLine(line)).await?;
                    if n == 0 {
                        node.edit(&user, &order, Edit::ChangeQty { line: id, delta: Quantity::units(1) })
                            .await?;
                    }
                }
                node.edit(&user, &order, Edit::SendToKitchen { lines: None }).await?;
                mine.push(order);
                tokio::task::yield_now().await;
            }
            // Add to orders other terminals opened, as it shows up here.
            for other in &others {
                for view in other.orders(false).await?.into_iter().take(orders / 2) {
                    if node.order(&view.id).await?.is_some() {
                        let line = menu_line(5, 1, "shared dessert")?;
                        // The order may have been paid meanwhile: that is a
                        // refusal the rush expects, not an error.
                        let _ = node.edit(&user, &view.id, Edit::AddLine(line)).await;
                    }
                }
            }
            // Pay every other order of our own.
            for order in mine.iter().step_by(2) {
                if let Some(v) = node.order(order).await? {
                    if v.totals.due.0 > 0 {
                        let payment = PaymentId::from_random(random_u128()?);
                        let pay = Edit::AddPayment { payment, method: "card".into(), amount: v.totals.due };
                        node.edit(&user, order, pay).await?;
                    }
                    let _ = node.edit(&user, order, Edit::MarkPaid).await;
                }
            }
            anyhow::Ok(mine.len())
        }));
    }
    let mut made = 0;
    for t in tasks {
        made += t.await??;
    }
    Ok(made)
}

/// Waits until every terminal holds the same orders (open and archived);
/// returns (orders, lines) or an error naming the difference.
pub async fn wait_identical(terminals: &[DemoTerminal], limit: Duration) -> Result<(usize, usize)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let first = terminals[0].node.orders(true).await?;
        let reference = serde_json::to_string(&first)?;
        let mut same = true;
        for t in &terminals[1..] {
            same &= serde_json::to_string(&t.node.orders(true).await?)? == reference;
        }
        if same {
            let lines = first.iter().map(|o| o.active_lines().count()).sum();
            return Ok((first.len(), lines));
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("terminals still differ after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
