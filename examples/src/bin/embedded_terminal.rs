//! A small POS terminal daemon that embeds possync: what an integrator
//! writes. It opens orders with the extension fields of `docs/EXTENDING.md`
//! (`first_new_variable`, `second_new_variable` on the order, `custom_notes`
//! on lines) and prints every change other terminals make, as it arrives.
//!
//! Two terminals on this machine (two shells):
//!
//! ```sh
//! cargo run -p possync-examples --bin embedded_terminal -- A /tmp/pos-a 4101 4102
//! cargo run -p possync-examples --bin embedded_terminal -- B /tmp/pos-b 4102 4101
//! ```
//!
//! Arguments: terminal code, data directory, own port, the other terminal's
//! port (loopback only), and optionally `--orders N` to open N orders (two
//! lines each) right away. Type `open`, `add <order name>`, `list` or `quit`.
//! Kill either with Ctrl-C or `kill -9` and start it again: nothing
//! acknowledged is lost, and it catches up with what it missed.
#![allow(clippy::print_stdout)]

use anyhow::{Context, Result, bail};
use possync::model::{
    Edit, Extension, LineId, Money, NewLine, OpenOrder, OrderId, OrderView, Quantity, TerminalId, ext,
};
use possync::{ChangeOrigin, Node, NodeEvent, SessionKey};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Serialize, Deserialize, Default, Debug)]
struct OrderFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_new_variable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    second_new_variable: Option<i64>,
}
impl Extension for OrderFields {}

#[derive(Serialize, Deserialize, Default, Debug)]
struct LineFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    custom_notes: Option<String>,
}
impl Extension for LineFields {}

/// The demo's multi-session key. A real installation makes one with
/// `possync keygen` and copies it to every terminal.
const DEMO_KEY: [u8; 32] = *b"possync-demo-key-not-for-produce";

fn new_line(product: &str, price: i64, note: &str) -> Result<NewLine> {
    let fields = LineFields { custom_notes: Some(note.into()) };
    Ok(NewLine {
        ext: ext::to_fields(&fields)?,
        ..NewLine::new(
            LineId::from_random(possync::random_u128()?),
            product,
            product,
            Quantity::units(1),
            Money(price),
        )
    })
}

async fn open(node: &Node, user: &str) -> Result<OrderId> {
    let fields = OrderFields {
        first_new_variable: Some(format!("opened on {}", node.terminal())),
        second_new_variable: Some(1),
    };
    let open = OpenOrder { ext: ext::to_fields(&fields)?, ..OpenOrder::at_table("T1") };
    let order = node.open_order(user, open).await?;
    node.edit(user, &order, Edit::AddLine(new_line("burger", 1290, "no onions")?)).await?;
    node.edit(user, &order, Edit::AddLine(new_line("fries", 450, "extra salt")?)).await?;
    Ok(order)
}

fn show(view: &OrderView) -> String {
    let fields: OrderFields = view.ext_as().unwrap_or_default();
    let lines: Vec<String> = view
        .active_lines()
        .map(|l| {
            let f: LineFields = l.ext_as().unwrap_or_default();
            format!("{}×{} ({})", l.qty, l.display_name, f.custom_notes.unwrap_or_default())
        })
        .collect();
    format!(
        "{} [{:?}] table {} total {} | first_new_variable={:?} second_new_variable={:?} | {}",
        view.name,
        view.state,
        view.table.as_deref().unwrap_or("-"),
        view.totals.total,
        fields.first_new_variable,
        fields.second_new_variable,
        lines.join(", ")
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        bail!("usage: embedded_terminal <terminal> <data dir> <port> <peer port> [--orders N]");
    }
    let terminal = TerminalId::parse(&args[0])?;
    let port: u16 = args[2].parse().context("port")?;
    let peer_port: u16 = args[3].parse().context("peer port")?;
    let initial: usize = match args.get(4).map(String::as_str) {
        Some("--orders") => args.get(5).context("--orders N")?.parse()?,
        _ => 0,
    };
    let node = Node::builder("embedded-demo", terminal.clone(), &args[1])
        .session_key(SessionKey::from_bytes(DEMO_KEY))
        .listen(format!("/ip4/127.0.0.1/tcp/{port}").parse()?)
        .peer(format!("/ip4/127.0.0.1/tcp/{peer_port}").parse()?)
        .spawn()
        .await?;
    let restored = node.orders(false).await?;
    println!("terminal {terminal} up on port {port}; {} open orders restored", restored.len());
    for v in &restored {
        println!("  {}", show(v));
    }

    let mut events = node.subscribe();
    let printer = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(NodeEvent::OrderChanged {
                    origin: ChangeOrigin::Remote { .. },
                    summary,
                    view: Some(view),
                    ..
                }) => {
                    let who: Vec<String> =
                        summary.authors.iter().map(|a| format!("{}@{}", a.user, a.terminal)).collect();
                    let mut what: Vec<String> = summary.fields.iter().cloned().collect();
                    what.extend(summary.ext.iter().map(|k| format!("ext/{k}")));
                    if !summary.lines_added.is_empty() {
                        what.push(format!("+{} lines", summary.lines_added.len()));
                    }
                    if !summary.lines_changed.is_empty() {
                        what.push(format!("{} lines changed", summary.lines_changed.len()));
                    }
                    println!(
                        "<- {} by {}: {}\n   {}",
                        view.name,
                        who.join(","),
                        what.join(", "),
                        show(&view)
                    );
                }
                Ok(NodeEvent::Status(s)) => println!("** {:?}, {} peers", s.connectivity, s.peers.len()),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => println!("(missed {n} events)"),
                Err(_) => break,
            }
        }
    });

    for _ in 0..initial {
        let order = open(&node, "cashier").await?;
        println!("-> opened {}", node.order(&order).await?.map(|v| v.name.to_string()).unwrap_or_default());
    }

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = stdin.next_line() => {
                let Some(line) = line? else {
                    // stdin closed (run in the background): keep serving until killed.
                    tokio::signal::ctrl_c().await?;
                    break;
                };
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["open"] => {
                        let order = open(&node, "cashier").await?;
                        println!("-> opened {}", node.order(&order).await?.map(|v| v.name.to_string()).unwrap_or_default());
                    }
                    ["add", name] => {
                        let views = node.orders(false).await?;
                        match views.iter().find(|v| v.name.as_str() == *name) {
                            Some(v) => {
                                node.edit("cashier", &v.id, Edit::AddLine(new_line("cake", 590, "birthday")?)).await?;
                                let fields = OrderFields { first_new_variable: None, second_new_variable: Some(v.lines.len() as i64 + 1) };
                                node.edit("cashier", &v.id, Edit::SetExt { fields: ext::to_fields(&fields)? }).await?;
                                println!("-> added a line to {name}");
                            }
                            None => println!("no open order {name}"),
                        }
                    }
                    ["list"] => {
                        for v in node.orders(false).await? {
                            println!("  {}", show(&v));
                        }
                    }
                    ["quit"] => break,
                    [] => {}
                    _ => println!("commands: open | add <order name> | list | quit"),
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    node.shutdown().await?;
    printer.abort();
    println!("terminal {terminal} stopped");
    Ok(())
}
