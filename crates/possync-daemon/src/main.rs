//! `possync`: the LAN peer binary. See `possync --help`.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use possync::model::TerminalId;
use possync::{Identity, Multiaddr, Node, SessionKey};
use possync_daemon::api::{AppState, router};
use possync_daemon::catalogue_file::{self, CatalogueFormat};
use possync_daemon::config::{FileConfig, check_api_exposure};
use possync_daemon::demo::{self, DemoOptions};
use possync_daemon::demo_postgres::{self, DemoPostgres};
use possync_daemon::policy::Policy;
use possync_daemon::sink_config::SinkKind;
use possync_daemon::{client, export, offline_import};
use tokio::net::TcpListener;

/// Peer-to-peer sync of point-of-sale orders between the terminals of one floor.
#[derive(Parser, Debug)]
#[command(name = "possync", version, about, long_about = None)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a terminal: sync with its peers and serve the local API and web page.
    Run(RunArgs),
    /// Create a multi-session key file (0600). Copy it to every terminal.
    Keygen {
        /// Where to write the key; never overwritten.
        #[arg(long, default_value = "possync.key")]
        out: PathBuf,
    },
    /// Several terminals on this machine, each with its own web page.
    Demo {
        /// How many terminals.
        #[arg(long, default_value_t = 3)]
        terminals: usize,
        /// First web/API port (terminal i uses port + i); 0 for any free ports.
        #[arg(long, default_value_t = 8401)]
        port: u16,
        /// Data directory (default: a fresh one under the temp directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Drive a scripted restaurant rush (this many orders per terminal),
        /// check that every terminal ends identical, and exit.
        #[arg(long, num_args = 0..=1, default_missing_value = "20")]
        rush: Option<usize>,
        /// A TOML file with `[[sink]]` sections (as in a terminal's config):
        /// every demo terminal delivers closed orders there.
        #[arg(long)]
        sink_config: Option<PathBuf>,
        /// Deliver closed orders to PostgreSQL and show them arriving:
        /// alone, a throw-away cluster in a temporary directory (Debian's
        /// `postgresql`); or `postgresql://user@host[:port]/dbname`
        /// (password in PGPASSWORD).
        #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
        postgres: Option<String>,
        /// Start without the restaurant catalogue: free-text users, menu
        /// lines priced by the client, no taxes.
        #[arg(long)]
        no_catalogue: bool,
    },
    /// Show a running terminal's status.
    Status(ClientArgs),
    /// List or show a running terminal's orders.
    Orders {
        #[command(subcommand)]
        what: OrdersCommand,
    },
    /// Import or show the catalogue every terminal of the floor shares.
    Catalogue {
        #[command(subcommand)]
        what: CatalogueCommand,
    },
    /// Print paid orders as JSON, or as Odoo's POS server reads them.
    Export {
        #[command(flatten)]
        client: ClientArgs,
        /// A terminal config (TOML) with an Odoo `[[sink]]`: print the
        /// `orders` argument of the method it names (`create_from_ui` or
        /// `sync_from_ui`), ids mapped as that sink maps them. Orders whose
        /// ids do not map are listed on stderr, and the exit status is 1.
        #[arg(long, value_name = "CONFIG")]
        odoo: Option<PathBuf>,
        /// Which Odoo `[[sink]]` of the config, when it has several.
        #[arg(long, requires = "odoo")]
        sink: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum OrdersCommand {
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Include the archive (paid and cancelled orders).
        #[arg(long)]
        archived: bool,
    },
    Show {
        /// Order id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand, Debug)]
enum CatalogueCommand {
    /// Replace the floor's catalogue with FILE, through a running
    /// terminal's API (default) or into a stopped terminal's store
    /// (--data-dir). A file that does not read or validate is refused with
    /// the line and field that is wrong, and nothing changes.
    Import {
        /// The catalogue file.
        file: PathBuf,
        /// The file's format (default: told by its shape).
        #[arg(long, value_enum)]
        format: Option<CatalogueFormat>,
        /// Who replaces it: a manager of the current catalogue (needed once
        /// it lists users). Not used with --data-dir.
        #[arg(long)]
        user: Option<String>,
        /// A stopped terminal's data directory: import into its store.
        #[arg(long, conflicts_with = "user")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the catalogue a running terminal has (PINs left out).
    Show(ClientArgs),
}

#[derive(clap::Args, Debug)]
struct ClientArgs {
    /// The terminal's API address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    api: SocketAddr,
    /// API token, if the terminal requires one.
    #[arg(long, env = "POSSYNC_API_TOKEN")]
    token: Option<String>,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// TOML configuration file; flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Multi-session (floor) id.
    #[arg(long)]
    session: Option<String>,
    /// This terminal's code, unique on the floor (prefixes its order names).
    #[arg(long)]
    terminal: Option<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// libp2p listen address (repeatable), e.g. /ip4/0.0.0.0/tcp/4100.
    #[arg(long)]
    listen: Vec<String>,
    /// Another terminal's address (repeatable), e.g. /ip4/192.0.2.11/tcp/4100.
    #[arg(long)]
    peer: Vec<String>,
    /// Multi-session key file (from `possync keygen`).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Run without a session key: any libp2p node that reaches this terminal
    /// can join its floor and read its orders. For trials on a trusted,
    /// isolated network only.
    #[arg(long, conflicts_with = "key_file")]
    insecure_no_key: bool,
    /// Local API and web page address.
    #[arg(long)]
    api: Option<SocketAddr>,
    /// Token the API requires (mandatory when --api is not loopback).
    #[arg(long, env = "POSSYNC_API_TOKEN")]
    api_token: Option<String>,
    /// Discover peers by mDNS on the LAN (multicasts on every interface).
    #[arg(long)]
    mdns: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The demo prints its own live status line: keep the log to warnings.
    let default = if matches!(cli.command, Command::Run(_)) { "info,libp2p=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match cli.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Keygen { out } => {
                let key = SessionKey::generate()?;
                key.save(&out)?;
                println!("wrote {} (fingerprint {})", out.display(), key.fingerprint());
                Ok(())
            }
            Command::Demo { terminals, port, data_dir, rush, sink_config, postgres, no_catalogue } => {
                let mut sinks = match sink_config {
                    Some(path) => FileConfig::load(&path)?.sinks,
                    None => Vec::new(),
                };
                let postgres = postgres.as_deref().map(DemoPostgres::start).transpose()?;
                if let Some(pg) = &postgres {
                    if sinks.iter().any(|s| s.name == demo_postgres::SINK) {
                        bail!("--sink-config already has a [[sink]] named {}", demo_postgres::SINK);
                    }
                    sinks.push(pg.sink());
                }
                let opts = DemoOptions {
                    terminals,
                    base_port: port,
                    data_dir,
                    rush,
                    sinks,
                    catalogue: !no_catalogue,
                };
                run_demo(opts, postgres.as_ref()).await
            }
            Command::Status(c) => {
                print_json(&client::get_json(c.api, "/api/status", c.token.as_deref()).await?)
            }
            Command::Orders { what: OrdersCommand::List { client: c, archived } } => {
                let path = if archived { "/api/orders?archived=true" } else { "/api/orders" };
                let orders = client::get_json(c.api, path, c.token.as_deref()).await?;
                for o in orders.as_array().into_iter().flatten() {
                    println!(
                        "{:<12} {:<10} {:<8} table {:<6} total {:>8} {}",
                        o["name"].as_str().unwrap_or("?"),
                        o["state"].as_str().unwrap_or("?"),
                        o["created"]["terminal"].as_str().unwrap_or("?"),
                        o["table"].as_str().unwrap_or("-"),
                        o["totals"]["total"].as_i64().unwrap_or(0) as f64 / 100.0,
                        o["id"].as_str().unwrap_or("?"),
                    );
                }
                Ok(())
            }
            Command::Orders { what: OrdersCommand::Show { id, client: c } } => {
                print_json(&client::get_json(c.api, &format!("/api/orders/{id}"), c.token.as_deref()).await?)
            }
            Command::Catalogue { what } => catalogue(what).await,
            Command::Export { client: c, odoo, sink } => {
                let orders = client::get_json(c.api, "/api/orders?archived=true", c.token.as_deref()).await?;
                let paid = export::paid(&orders);
                let Some(config) = odoo else { return print_json(&serde_json::Value::Array(paid)) };
                let file = FileConfig::load(&config)?;
                let mut odoo_sinks = file
                    .sinks
                    .iter()
                    .filter(|s| s.kind == SinkKind::Odoo && sink.as_ref().is_none_or(|n| &s.name == n));
                let chosen = match (odoo_sinks.next(), odoo_sinks.next()) {
                    (Some(s), None) => s,
                    (None, _) => bail!(
                        "{}: no Odoo [[sink]]{}",
                        config.display(),
                        sink.map(|n| format!(" named {n}")).unwrap_or_default()
                    ),
                    (Some(_), Some(_)) => {
                        bail!("{}: several Odoo [[sink]]s: choose one with --sink", config.display())
                    }
                };
                let (target, catalogue) = match chosen.odoo_mapping()? {
                    (target, Some(catalogue)) => (target, catalogue),
                    // No file: the catalogue in force on the terminal.
                    (target, None) => {
                        let got = client::get_json(c.api, "/api/catalogue", c.token.as_deref()).await?;
                        let catalogue = serde_json::from_value(got["catalogue"].clone())
                            .context("the terminal's catalogue (GET /api/catalogue)")?;
                        (target, catalogue)
                    }
                };
                let out = export::to_odoo(&paid, &target, &possync_sink::OdooIds::new(catalogue));
                print_json(&serde_json::Value::Array(out.orders))?;
                for (name, why) in &out.held {
                    eprintln!("{name}: {why}");
                }
                if !out.held.is_empty() {
                    bail!("{} of {} paid orders not exported", out.held.len(), paid.len());
                }
                Ok(())
            }
        }
    })
}

async fn catalogue(what: CatalogueCommand) -> Result<()> {
    match what {
        CatalogueCommand::Import { file, format, user, data_dir, client: c } => {
            let catalogue = catalogue_file::read(&file, format)?;
            let products = catalogue.products.len();
            let version = match data_dir {
                Some(dir) => offline_import::into_store(&dir, catalogue)?,
                None => {
                    let text = possync::catalogue::import::to_possync_json(&catalogue)?;
                    let body = serde_json::json!({
                        "user": user.as_deref().unwrap_or(possync::engine::IMPORT_USER),
                        "file": serde_json::from_str::<serde_json::Value>(&text)?,
                    });
                    let answer =
                        client::post_json(c.api, "/api/catalogue", &body, c.token.as_deref()).await?;
                    answer["version"].as_u64().context("the terminal's answer has no version")?
                }
            };
            println!("imported {} ({products} products): catalogue version {version}", file.display());
            Ok(())
        }
        CatalogueCommand::Show(c) => {
            print_json(&client::get_json(c.api, "/api/catalogue", c.token.as_deref()).await?)
        }
    }
}

fn print_json(v: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run(args: RunArgs) -> Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let session =
        args.session.or(file.session).context("--session (or `session` in the config) is required")?;
    let terminal =
        args.terminal.or(file.terminal).context("--terminal (or `terminal` in the config) is required")?;
    let terminal = TerminalId::parse(&terminal)?;
    let data_dir =
        args.data_dir.or(file.data_dir).context("--data-dir (or `data_dir` in the config) is required")?;
    let api = args.api.or(file.api).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let token = args.api_token.or(file.api_token).filter(|t| !t.is_empty());
    check_api_exposure(&api, token.as_deref())?;
    let listen = if args.listen.is_empty() { file.listen } else { args.listen };
    let peers = if args.peer.is_empty() { file.peers } else { args.peer };
    let parse = |what: &str, list: Vec<String>| -> Result<Vec<Multiaddr>> {
        list.iter().map(|a| a.parse().with_context(|| format!("{what} address {a:?}"))).collect()
    };
    let allowed = file
        .allowed_peers
        .iter()
        .map(|p| p.parse::<possync::PeerId>().with_context(|| format!("allowed peer id {p:?}")))
        .collect::<Result<Vec<_>>>()?;
    let identity = if file.persistent_identity { Identity::Persistent } else { Identity::Ephemeral };
    let mut engine = possync::engine::EngineConfig::default();
    engine.delivery = file.delivery.apply(engine.delivery)?;
    let sinks = file.sinks.iter().map(|s| s.build_parts(&terminal)).collect::<Result<Vec<_>>>()?;
    let mut followers = Vec::new();
    let initial_catalogue = match &file.catalogue {
        Some(path) => Some(catalogue_file::read(path, None)?),
        None => None,
    };
    let mut builder = Node::builder(session, terminal, data_dir)
        .engine_config(engine)
        .peers(parse("peer", peers)?)
        .identity(identity)
        .allow_peers(allowed)
        .mdns(args.mdns || file.mdns.unwrap_or(false));
    if let Some(catalogue) = initial_catalogue {
        builder = builder.initial_catalogue(catalogue);
    }
    for built in sinks {
        tracing::info!(sink = %built.sink.name(), "delivering closed orders to this back office");
        builder = builder.sink(built.sink);
        followers.extend(built.follows_catalogue);
    }
    for addr in parse("listen", listen)? {
        builder = builder.listen(addr);
    }
    let insecure = args.insecure_no_key || file.insecure_no_key;
    match (args.key_file.or(file.key_file), insecure) {
        (Some(path), false) => builder = builder.session_key(SessionKey::load(&path)?),
        (Some(_), true) => bail!("both a key file and insecure_no_key are set: choose one"),
        (None, true) => tracing::warn!(
            "running without a session key (insecure_no_key): any libp2p node on the network can join this floor"
        ),
        (None, false) => bail!(
            "no session key: pass --key-file FILE (make one with `possync keygen` and copy it to every terminal of the floor), or --insecure-no-key to run an open floor on a trusted network"
        ),
    }
    let metrics = possync::net::SharedRegistry::default();
    let node = builder.metrics(metrics.clone()).spawn().await?;
    // Odoo sinks with no catalogue file map ids through the floor's.
    for sink in followers {
        possync_daemon::sink_config::follow_catalogue(node.clone(), sink);
    }
    let listener = TcpListener::bind(api).await.with_context(|| format!("API address {api}"))?;
    let state =
        AppState::new(node.clone(), file.policy.unwrap_or_else(Policy::permissive), token.map(Arc::from))
            .with_metrics(metrics);
    tracing::info!(api = %listener.local_addr()?, libp2p = ?node.listen_addrs(), peer_id = %node.peer_id(), "terminal running");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    // Stop taking edits, flush storage, leave the mesh.
    node.shutdown().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn run_demo(opts: DemoOptions, postgres: Option<&DemoPostgres>) -> Result<()> {
    let (terminals, dir) = demo::start(&opts).await?;
    println!(
        "possync demo: {} terminals on this machine (data in {})",
        terminals.len(),
        dir.path().display()
    );
    for t in &terminals {
        println!("  terminal {}: http://{}/", t.node.terminal(), t.api);
    }
    if let Some(pg) = postgres {
        println!("  closed orders go to {} (sink `{}`)", pg.describe(), demo_postgres::SINK);
    }
    if let Some(orders) = opts.rush {
        let nodes: Vec<Node> = terminals.iter().map(|t| t.node.clone()).collect();
        wait_connected(&nodes).await?;
        let started = std::time::Instant::now();
        let made = demo::rush(&terminals, orders).await?;
        let mut result = demo::wait_identical(&terminals, Duration::from_secs(60)).await;
        if let (Some(pg), Ok(_)) = (postgres, &result) {
            match wait_delivered(&terminals[0].node, pg, Duration::from_secs(60)).await {
                Ok((held, secs)) => println!(
                    "PostgreSQL holds {held} orders, every closed order once, {secs:.1} s after the rush"
                ),
                Err(e) => result = Err(e),
            }
        }
        for t in &terminals {
            t.node.shutdown().await?;
        }
        drop(dir);
        let (count, lines) = result?;
        println!(
            "rush done in {:.1} s: {made} orders opened; every terminal holds identical orders: {count} orders, {lines} lines",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    println!("open the pages above in a browser; Ctrl-C stops the demo");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                use std::io::Write;
                let mut line = demo::status_line(&terminals).await;
                if let Some(pg) = postgres {
                    match pg.held_orders().await {
                        Ok(n) => line.push_str(&format!(" | in PostgreSQL: {n} orders")),
                        Err(e) => line.push_str(&format!(" | PostgreSQL: {e}")),
                    }
                }
                print!("\r{line}   ");
                let _ = std::io::stdout().flush();
            }
            () = shutdown_signal() => break,
        }
    }
    println!();
    for t in &terminals {
        t.node.shutdown().await?;
    }
    // A temporary data directory goes now, after the terminals closed it.
    drop(dir);
    Ok(())
}

/// Waits until PostgreSQL holds one row for every order `node` knows that
/// is owed to it or was delivered: closed with nothing to review, or
/// confirmed by the sink. (An order the rush's concurrent edits flag, e.g. a
/// line added on another terminal while it was paid, waits for a manager;
/// one flagged after its delivery keeps its row.) Returns how many and how
/// long it took.
async fn wait_delivered(node: &Node, pg: &DemoPostgres, limit: Duration) -> Result<(i64, f64)> {
    let started = std::time::Instant::now();
    let sink = demo_postgres::SINK;
    loop {
        let owed_or_delivered = node
            .orders(true)
            .await?
            .iter()
            .filter(|o| {
                let confirmed =
                    o.delivery.iter().any(|(name, d)| name.as_str() == sink && !d.confirmations.is_empty());
                !o.is_active() || confirmed
            })
            .count();
        let closed = i64::try_from(owed_or_delivered).unwrap_or(i64::MAX);
        let held = pg.held_orders().await?;
        if held == closed {
            return Ok((held, started.elapsed().as_secs_f64()));
        }
        if started.elapsed() >= limit {
            bail!("PostgreSQL holds {held} orders after {limit:?}, the terminals closed {closed}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_connected(nodes: &[Node]) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut ok = true;
        for n in nodes {
            ok &= n.status().await?.peers.len() + 1 == nodes.len();
        }
        if ok {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the demo terminals did not connect to each other");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
