//! Three terminals of one restaurant edit the same orders at the same time,
//! one of them offline for a while; when it comes back everything merges with
//! no user action, and all three show the same orders, down to the last cent,
//! with every conflict and review flag listed.
//!
//! The network here is simulated in-process (a queue of change bytes per
//! terminal): this is a stand-in until the networked demo exists. Run:
//! `cargo run --release -p possync-examples --bin three_terminals`. Exits
//! non-zero if the terminals end up different.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;

use anyhow::{Context, Result, ensure};
use possync_model::automerge::ActorId;
use possync_model::{
    Edit, EditContext, LineId, Money, NewLine, NewOrder, OpenOrder, OrderDoc, OrderId, OrderName, OrderView,
    PaymentId, Quantity, ReviewFlag, TerminalId,
};

/// A change on its way: which order, and the raw Automerge change.
type Message = (OrderId, Vec<u8>);

struct Terminal {
    code: TerminalId,
    /// One fresh actor per process start (docs/ORDER_MODEL.md).
    actor: ActorId,
    ctx: EditContext,
    orders: BTreeMap<OrderId, OrderDoc>,
    next_name: u64,
    online: bool,
    /// Changes made here while offline, sent on reconnect.
    outbox: Vec<Message>,
    /// Changes for this terminal not yet delivered.
    inbox: Vec<Message>,
}

struct Floor {
    terminals: Vec<Terminal>,
    next_id: u128,
}

impl Floor {
    fn new(codes: &[&str]) -> Result<Self> {
        let terminals = codes
            .iter()
            .map(|code| {
                let code = TerminalId::parse(code)?;
                Ok(Terminal {
                    ctx: EditContext::new(format!("waiter-{code}"), code.clone(), 1_704_110_400_000),
                    code,
                    actor: ActorId::random(),
                    orders: BTreeMap::new(),
                    next_name: 1,
                    online: true,
                    outbox: Vec::new(),
                    inbox: Vec::new(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { terminals, next_id: 1 })
    }

    fn broadcast(&mut self, from: usize, msg: Message) {
        if !self.terminals[from].online {
            self.terminals[from].outbox.push(msg);
            return;
        }
        for (i, t) in self.terminals.iter_mut().enumerate() {
            if i != from {
                t.inbox.push(msg.clone());
            }
        }
    }

    /// Delivers every queued change to every online terminal.
    fn pump(&mut self) -> Result<()> {
        for t in self.terminals.iter_mut().filter(|t| t.online) {
            for (order, bytes) in std::mem::take(&mut t.inbox) {
                let actor = t.actor.clone();
                let doc = t.orders.entry(order.clone()).or_insert_with(|| OrderDoc::empty(order, actor));
                doc.apply_remote_bytes([bytes.as_slice()])?;
            }
        }
        Ok(())
    }

    fn set_online(&mut self, i: usize, online: bool) -> Result<()> {
        self.terminals[i].online = online;
        if online {
            for msg in std::mem::take(&mut self.terminals[i].outbox) {
                self.broadcast(i, msg);
            }
        }
        self.pump()
    }

    /// Opens an order on terminal `i` at `table`.
    fn open(&mut self, i: usize, table: &str) -> Result<OrderId> {
        let id = OrderId::from_random(0x5eed_0000 + self.next_id);
        self.next_id += 1;
        let t = &mut self.terminals[i];
        t.ctx.at_ms += 1000;
        let fields = OpenOrder { floor: Some("main".into()), ..OpenOrder::at_table(table) };
        let new = NewOrder::with_fields(id.clone(), OrderName::compose(&t.code, t.next_name), fields);
        t.next_name += 1;
        let (doc, change) = OrderDoc::open(t.actor.clone(), &t.ctx, &new)?;
        t.orders.insert(id.clone(), doc);
        self.broadcast(i, (id.clone(), change.bytes));
        self.pump()?;
        Ok(id)
    }

    fn edit(&mut self, i: usize, order: &OrderId, edit: Edit) -> Result<()> {
        let t = &mut self.terminals[i];
        t.ctx.at_ms += 1000;
        let doc = t.orders.get_mut(order).context("terminal does not have the order")?;
        if let Some(change) = doc.edit(&t.ctx, &edit)? {
            self.broadcast(i, (order.clone(), change.bytes));
        }
        self.pump()
    }

    /// Anti-entropy: every terminal sends every other everything it has.
    fn full_exchange(&mut self) -> Result<()> {
        let all: Vec<Vec<(OrderId, Vec<u8>)>> = self
            .terminals
            .iter()
            .map(|t| {
                t.orders
                    .iter()
                    .flat_map(|(id, doc)| {
                        doc.automerge()
                            .get_changes(&[])
                            .into_iter()
                            .map(|c| (id.clone(), c.raw_bytes().to_vec()))
                    })
                    .collect()
            })
            .collect();
        for (from, msgs) in all.into_iter().enumerate() {
            for (i, t) in self.terminals.iter_mut().enumerate() {
                if i != from {
                    t.inbox.extend(msgs.iter().cloned());
                }
            }
        }
        self.pump()
    }
}

fn line(id: &str, product: &str, units: i64, price: i64) -> Result<Edit> {
    Ok(Edit::AddLine(NewLine::new(
        LineId::parse(id)?,
        product.to_lowercase(),
        product,
        Quantity::units(units),
        Money(price),
    )))
}

fn flag(f: &ReviewFlag) -> String {
    match f {
        ReviewFlag::ClosedConcurrently { closings } => format!(
            "closed concurrently ({})",
            closings
                .iter()
                .map(|(s, by)| format!("{} by {}", s.as_str(), by.terminal))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ReviewFlag::EditedAfterClose { state, closed_total, total } => format!(
            "edited after {}: closed at {}, now {}",
            state.as_str(),
            Money(*closed_total),
            Money(*total)
        ),
        ReviewFlag::Underpaid { total, paid } => format!("underpaid: {} of {}", Money(*paid), Money(*total)),
        ReviewFlag::Overpaid { total, paid } => format!("overpaid: {} of {}", Money(*paid), Money(*total)),
    }
}

fn print_orders(views: &[OrderView]) {
    println!(
        "{:<9} {:<6} {:<10} {:<8} {:<34} {:>8} {:>8}",
        "order", "table", "state", "customer", "lines", "total", "paid"
    );
    println!("{}", "-".repeat(89));
    for v in views {
        let lines: Vec<String> = v.active_lines().map(|l| format!("{}×{}", l.qty, l.display_name)).collect();
        let mut lines = lines.into_iter();
        let first = lines.next().unwrap_or_default();
        println!(
            "{:<9} {:<6} {:<10} {:<8} {:<34} {:>8} {:>8}",
            v.name.as_str(),
            v.table.as_deref().unwrap_or("-"),
            v.state.as_str(),
            v.customer.as_deref().unwrap_or("-"),
            first,
            v.totals.total.to_string(),
            v.totals.paid.to_string()
        );
        for rest in lines {
            println!("{:<36} {rest}", "");
        }
    }
    println!();
    for v in views {
        for c in &v.conflicts {
            let values: Vec<String> = c.values.iter().map(|v| v.to_string()).collect();
            println!(
                "{}: conflict on `{}`: shown {} (competing: {})",
                v.name,
                c.path,
                values[0],
                values[1..].join(", ")
            );
        }
        for f in &v.review {
            println!("{}: needs review: {}", v.name, flag(f));
        }
    }
}

fn main() -> Result<()> {
    const BAR: usize = 0;
    const T1: usize = 1;
    const T2: usize = 2;
    let mut floor = Floor::new(&["BAR", "T1", "T2"])?;
    let coffee = LineId::parse("t4-coffee")?;

    // Table 4: the bar opens it, everyone sees it.
    let t4 = floor.open(BAR, "4")?;
    floor.edit(BAR, &t4, line("t4-coffee", "Coffee", 2, 450)?)?;
    floor.edit(BAR, &t4, line("t4-cake", "Cake", 1, 520)?)?;
    // Table 7: T1 opens it, with the bill to be paid soon.
    let t7 = floor.open(T1, "7")?;
    floor.edit(T1, &t7, line("t7-pasta", "Pasta", 2, 1380)?)?;

    // T2 loses the network and keeps working.
    floor.set_online(T2, false)?;
    floor.edit(T2, &t4, Edit::ChangeQty { line: coffee.clone(), delta: Quantity::units(1) })?;
    floor.edit(T2, &t4, line("t4-water", "Water", 2, 150)?)?;
    floor.edit(T2, &t4, Edit::SetCustomer { customer: Some("Bob".into()) })?;
    floor.edit(T2, &t7, line("t7-wine", "Wine", 1, 3200)?)?;
    let takeaway = floor.open(T2, "-")?;
    floor.edit(T2, &takeaway, line("tk-soup", "Soup", 1, 650)?)?;

    // Meanwhile, online: the bar adds a coffee too, T1 names the customer of
    // table 4, and T1 takes table 7's payment and closes it.
    floor.edit(BAR, &t4, Edit::ChangeQty { line: coffee.clone(), delta: Quantity::units(1) })?;
    floor.edit(T1, &t4, Edit::SetCustomer { customer: Some("Alice".into()) })?;
    floor.edit(T1, &t7, Edit::SetGuests { guests: 2 })?;
    floor.edit(
        T1,
        &t7,
        Edit::AddPayment {
            payment: PaymentId::parse("t7-cash")?,
            method: "cash".into(),
            amount: Money(2760),
        },
    )?;
    floor.edit(T1, &t7, Edit::MarkPaid)?;

    // T2 comes back: its queued changes go out, the others' come in.
    floor.set_online(T2, true)?;
    floor.full_exchange()?;

    // Every terminal must hold the same orders, the same way.
    let views = |t: &Terminal| -> Result<Vec<OrderView>> {
        let mut v: Vec<OrderView> = t.orders.values().map(|d| d.view()).collect::<Result<_, _>>()?;
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    };
    let reference = views(&floor.terminals[0])?;
    for t in &floor.terminals[1..] {
        ensure!(
            t.orders.len() == floor.terminals[0].orders.len(),
            "{} has a different set of orders",
            t.code
        );
        for (id, doc) in &t.orders {
            let other = floor.terminals[0].orders.get(id).context("order missing on BAR")?;
            ensure!(doc.heads() == other.heads(), "{} and BAR hold different histories of {id}", t.code);
        }
        ensure!(
            serde_json::to_value(views(t)?)? == serde_json::to_value(&reference)?,
            "{} shows different orders than BAR",
            t.code
        );
    }

    println!("All three terminals (BAR, T1, T2) show the same {} orders:\n", reference.len());
    print_orders(&reference);

    // What the scenario must have produced, checked rather than trusted.
    let t4v = reference.iter().find(|v| v.id == t4).context("table 4 missing")?;
    ensure!(t4v.line(&coffee).map(|l| l.qty) == Some(Quantity::units(4)), "both coffees were counted");
    ensure!(t4v.lines.len() == 3, "T2's water is on table 4");
    ensure!(t4v.conflicts.len() == 1, "the customer conflict is reported");
    let t7v = reference.iter().find(|v| v.id == t7).context("table 7 missing")?;
    ensure!(t7v.review.len() == 2, "table 7 is flagged: edited after payment, underpaid");
    ensure!(reference.iter().any(|v| v.id == takeaway), "T2's offline order arrived");
    println!("\nEvery terminal converged; nothing entered offline was lost.");
    Ok(())
}
