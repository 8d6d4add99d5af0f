//! A random restaurant rush: open orders, add lines, change quantities, move
//! tables, send to the kitchen, pay, cancel, split, from random terminals.

use possync_model::{Edit, LineId, Money, NewLine, OpenOrder, PaymentId, Quantity};
use serde_json::json;

use crate::Sim;

const PRODUCTS: [(&str, &str, i64); 6] = [
    ("p-espresso", "Espresso", 250),
    ("p-burger", "Burger", 1290),
    ("p-fries", "Fries", 450),
    ("p-salad", "Salad", 890),
    ("p-wine", "House wine", 650),
    ("p-cake", "Cake", 590),
];

/// A random line of one of the menu's products.
pub fn random_line(sim: &mut Sim) -> NewLine {
    let (product, name, price) = PRODUCTS[sim.rng().below(PRODUCTS.len() as u64) as usize];
    NewLine::new(
        LineId::from_random(sim.rng().next_u128()),
        product,
        name,
        Quantity::units(1 + sim.rng().below(3) as i64),
        Money(price),
    )
}

/// One random action on terminal `node`. Returns a short description.
/// Refusals the model is right to make (editing an order closed meanwhile,
/// paying an empty order) are part of a rush and are not errors.
pub fn rush_step(sim: &mut Sim, node: u64) -> &'static str {
    if !sim.is_up(node) {
        return "down";
    }
    let orders = sim.engine(node).active_orders();
    let roll = sim.rng().below(100);
    if orders.is_empty() || roll < 12 {
        let table = format!("T{}", 1 + sim.rng().below(12));
        let guests = 1 + sim.rng().below(6) as u32;
        sim.open(node, OpenOrder { guests, ..OpenOrder::at_table(table) }).expect("opening succeeds");
        return "open";
    }
    let order = orders[sim.rng().below(orders.len() as u64) as usize].clone();
    let Some(view) = sim.engine(node).view(&order) else { return "none" };
    let lines: Vec<LineId> = view.active_lines().map(|l| l.id.clone()).collect();
    let pick_line = |sim: &mut Sim| -> Option<LineId> {
        if lines.is_empty() {
            None
        } else {
            Some(lines[sim.rng().below(lines.len() as u64) as usize].clone())
        }
    };
    let user = ["ana", "bo", "chen"][sim.rng().below(3) as usize];
    let (edit, what) = match roll {
        12..=41 => (Edit::AddLine(random_line(sim)), "add_line"),
        42..=61 => match pick_line(sim) {
            Some(line) => {
                let delta = if sim.rng().chance(0.75) { 1 } else { -1 };
                let current = view.line(&line).map(|l| l.qty).unwrap_or_default();
                let delta = if current.0 + delta * 1000 < 0 { 1 } else { delta };
                (Edit::ChangeQty { line, delta: Quantity::units(delta) }, "change_qty")
            }
            None => (Edit::AddLine(random_line(sim)), "add_line"),
        },
        62..=65 => match pick_line(sim) {
            Some(line) => (Edit::RemoveLine { line }, "remove_line"),
            None => return "none",
        },
        66..=69 => {
            let table = format!("T{}", 1 + sim.rng().below(12));
            (Edit::SetTable { table: Some(table), floor: Some("main".into()) }, "move_table")
        }
        70..=72 => (Edit::SetNote { note: format!("note {}", sim.rng().below(1000)) }, "note"),
        73..=75 => (Edit::SetCustomer { customer: Some(format!("c{}", sim.rng().below(50))) }, "customer"),
        76..=79 => (Edit::SendToKitchen { lines: None }, "kitchen"),
        80..=82 => {
            let n = sim.rng().below(100);
            (
                Edit::SetExt {
                    fields: json!({ "loyalty_points": n }).as_object().cloned().unwrap_or_default(),
                },
                "ext",
            )
        }
        83..=89 => {
            if view.totals.due.0 > 0 {
                let payment = PaymentId::from_random(sim.rng().next_u128());
                let pay = Edit::AddPayment { payment, method: "cash".into(), amount: view.totals.due };
                let _ = sim.edit_as(node, user, &order, &pay);
            }
            (Edit::MarkPaid, "pay")
        }
        90..=91 => (Edit::Cancel, "cancel"),
        92..=94 => match pick_line(sim) {
            Some(line) => {
                let _ = sim.split(node, &order, &[(line, Quantity::units(1))]);
                return "split";
            }
            None => return "none",
        },
        _ => (Edit::SetGuests { guests: 1 + sim.rng().below(8) as u32 }, "guests"),
    };
    let _ = sim.edit_as(node, user, &order, &edit);
    what
}
