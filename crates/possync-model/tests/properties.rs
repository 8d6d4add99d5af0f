//! Property tests: three terminals make random edits to one order and deliver
//! their changes to each other in random order, some twice, some late; after a
//! final full exchange all three must hold the same document and view, with
//! every increment counted, every line and payment present and every extension
//! field kept.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use possync_model::automerge::ReadDoc;
use possync_model::{Edit, EditError, LineId, Money, PaymentId, Quantity, ReviewFlag};
use proptest::prelude::*;
use serde_json::{Map, Value as Json, json};

const REPLICAS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    AddLine { milli: i64, price: i64 },
    ChangeQty { line: usize, half_units: i64 },
    SetQty { line: usize, half_units: i64 },
    Remove { line: usize },
    SetPrice { line: usize, price: i64 },
    LineNote { line: usize, note: u8 },
    Customer { customer: Option<u8> },
    Table { table: u8 },
    Guests { guests: u32 },
    Ext { key: u8, value: i64 },
    LineExt { line: usize, key: u8, value: i64 },
    Kitchen { line: Option<usize> },
    Payment { amount: i64 },
}

#[derive(Clone, Debug)]
enum Step {
    Edit {
        replica: usize,
        op: Op,
    },
    /// Deliver one pending change to `to`; with `again` it also stays queued,
    /// to be delivered a second time later.
    Deliver {
        to: usize,
        pick: usize,
        again: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let line = any::<usize>();
    prop_oneof![
        3 => (1i64..5000, 1i64..3000).prop_map(|(milli, price)| Op::AddLine { milli, price }),
        5 => (line, -4i64..=6).prop_map(|(line, half_units)| Op::ChangeQty { line, half_units }),
        2 => (line, 0i64..=8).prop_map(|(line, half_units)| Op::SetQty { line, half_units }),
        2 => line.prop_map(|line| Op::Remove { line }),
        1 => (line, 0i64..3000).prop_map(|(line, price)| Op::SetPrice { line, price }),
        1 => (line, 0u8..3).prop_map(|(line, note)| Op::LineNote { line, note }),
        1 => proptest::option::of(0u8..3).prop_map(|customer| Op::Customer { customer }),
        1 => (0u8..4).prop_map(|table| Op::Table { table }),
        1 => (0u32..9).prop_map(|guests| Op::Guests { guests }),
        2 => (0u8..3, -50i64..50).prop_map(|(key, value)| Op::Ext { key, value }),
        1 => (line, 0u8..2, -50i64..50).prop_map(|(line, key, value)| Op::LineExt { line, key, value }),
        1 => proptest::option::of(line).prop_map(|line| Op::Kitchen { line }),
        1 => (1i64..5000).prop_map(|amount| Op::Payment { amount }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..REPLICAS, op()).prop_map(|(replica, op)| Step::Edit { replica, op }),
        2 => (0..REPLICAS, any::<usize>(), proptest::bool::weighted(0.25))
            .prop_map(|(to, pick, again)| Step::Deliver { to, pick, again }),
    ]
}

fn fields(key: String, value: i64) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert(key, json!(value));
    m
}

/// What the test knows must be true at the end, whatever the delivery order.
#[derive(Default)]
struct Expected {
    lines: Vec<LineId>,
    /// Per line: the quantity counter as the sum of every increment any
    /// terminal applied (measured on the editing terminal).
    raw_qty: BTreeMap<LineId, i64>,
    ext: BTreeMap<String, BTreeSet<i64>>,
    line_ext: BTreeMap<(LineId, String), BTreeSet<i64>>,
    payments: BTreeMap<PaymentId, i64>,
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let (opener, _) = Terminal::open("A", 0xa1, &order_id(42));
    let mut replicas = vec![opener];
    for (i, code) in ["B", "C"].into_iter().enumerate() {
        let t = Terminal::join(code, 0xa2 + i as u8, &replicas[0]);
        replicas.push(t);
    }
    // The seed field every terminal must keep: nothing in the workload
    // writes it again.
    let seed = replicas[0].edit(Edit::SetExt { fields: fields("seed".into(), 7) });
    let mut outbox: Vec<Vec<Vec<u8>>> = vec![Vec::new(); REPLICAS];
    for queue in outbox.iter_mut().skip(1) {
        queue.push(seed.bytes.clone());
    }
    let mut exp = Expected::default();
    exp.ext.entry("seed".into()).or_default().insert(7);

    for step in steps {
        match step {
            Step::Edit { replica, op } => edit(&mut replicas, &mut outbox, &mut exp, replica, op)?,
            Step::Deliver { to, pick, again } => {
                let queue = &mut outbox[to];
                if queue.is_empty() {
                    continue;
                }
                let i = pick % queue.len();
                let bytes = if again { queue[i].clone() } else { queue.remove(i) };
                let applied = replicas[to].doc.apply_remote_bytes([bytes.as_slice()]);
                prop_assert!(applied.is_ok(), "delivery refused: {:?}", applied.err());
            }
        }
    }
    // Whatever is still in flight arrives (in queue order), then a full
    // exchange between every pair.
    for (to, queue) in outbox.iter().enumerate() {
        for bytes in queue {
            let applied = replicas[to].doc.apply_remote_bytes([bytes.as_slice()]);
            prop_assert!(applied.is_ok(), "delivery refused: {:?}", applied.err());
        }
    }
    for from in 0..REPLICAS {
        for to in 0..REPLICAS {
            if from != to {
                let changes = replicas[from].doc.automerge().get_changes(&[]);
                let applied = replicas[to].doc.apply_remote(changes);
                prop_assert!(applied.is_ok(), "exchange refused: {:?}", applied.err());
            }
        }
    }

    let refs: Vec<&Terminal> = replicas.iter().collect();
    let view = assert_converged(&refs);
    for t in &replicas {
        prop_assert!(t.doc.automerge().get_missing_deps(&[]).is_empty());
    }

    // Every line, with every increment counted (clamped at zero only in the
    // view).
    prop_assert_eq!(view.lines.len(), exp.lines.len());
    for id in &exp.lines {
        let line = view.line(id);
        prop_assert!(line.is_some(), "line {} lost", id);
        let want = exp.raw_qty[id];
        prop_assert_eq!(replicas[0].raw_qty(id), want, "counter of {}", id);
        prop_assert_eq!(line.unwrap().qty, Quantity(want.max(0)), "quantity of {}", id);
    }
    // Every payment.
    let got: BTreeMap<PaymentId, i64> = view.payments.iter().map(|p| (p.id.clone(), p.amount.0)).collect();
    prop_assert_eq!(&got, &exp.payments);
    prop_assert_eq!(view.totals.paid, Money(exp.payments.values().sum()));
    // Every extension field, with one of the values written for it.
    let keys: BTreeSet<&String> = view.ext.keys().collect();
    prop_assert_eq!(keys, exp.ext.keys().collect::<BTreeSet<_>>());
    for (key, values) in &exp.ext {
        let v = view.ext[key].as_i64().unwrap();
        prop_assert!(values.contains(&v), "ext {} = {} not among {:?}", key, v, values);
    }
    for ((line, key), values) in &exp.line_ext {
        let v = view.line(line).unwrap().ext.get(key).and_then(Json::as_i64);
        prop_assert!(v.is_some_and(|v| values.contains(&v)), "line ext {}/{} = {:?}", line, key, v);
    }
    // Nobody closes the order here: the only flag is `overpaid`, raised
    // exactly when concurrent payments (or lines removed after a payment)
    // leave payments above the total.
    let overpaid = view.totals.paid > view.totals.total;
    let want = if overpaid {
        vec![ReviewFlag::Overpaid { total: view.totals.total.0, paid: view.totals.paid.0 }]
    } else {
        Vec::new()
    };
    prop_assert_eq!(&view.review, &want);
    Ok(())
}

fn edit(
    replicas: &mut [Terminal],
    outbox: &mut [Vec<Vec<u8>>],
    exp: &mut Expected,
    replica: usize,
    op: Op,
) -> Result<(), TestCaseError> {
    let line_ref = |i: usize| -> Option<LineId> {
        if exp.lines.is_empty() { None } else { Some(exp.lines[i % exp.lines.len()].clone()) }
    };
    let t = &mut replicas[replica];
    // The line a quantity edit touches, if this terminal already has it.
    let mut qty_line: Option<LineId> = None;
    let edit = match op {
        Op::AddLine { milli, price } => {
            let id = format!("L{}", exp.lines.len());
            let mut line = new_line(&id, "item", 0, price);
            line.qty = Quantity(milli);
            let id = line_id(&id);
            exp.lines.push(id.clone());
            exp.raw_qty.insert(id, milli);
            Edit::AddLine(line)
        }
        Op::ChangeQty { line, half_units } => {
            let Some(line) = line_ref(line) else { return Ok(()) };
            qty_line = Some(line.clone());
            Edit::ChangeQty { line, delta: Quantity(half_units * 500) }
        }
        Op::SetQty { line, half_units } => {
            let Some(line) = line_ref(line) else { return Ok(()) };
            qty_line = Some(line.clone());
            Edit::SetQty { line, qty: Quantity(half_units * 500) }
        }
        Op::Remove { line } => {
            let Some(line) = line_ref(line) else { return Ok(()) };
            qty_line = Some(line.clone());
            Edit::RemoveLine { line }
        }
        Op::SetPrice { line, price } => {
            let Some(line) = line_ref(line) else { return Ok(()) };
            Edit::SetUnitPrice { line, unit_price: Money(price) }
        }
        Op::LineNote { line, note } => {
            let Some(line) = line_ref(line) else { return Ok(()) };
            Edit::SetLineNote { line, note: format!("note {note}") }
        }
        Op::Customer { customer } => {
            Edit::SetCustomer { customer: customer.map(|c| format!("customer {c}")) }
        }
        Op::Table { table } => {
            Edit::SetTable { table: Some(format!("T{table}")), floor: Some(format!("F{}", table % 2)) }
        }
        Op::Guests { guests } => Edit::SetGuests { guests },
        Op::Ext { key, value } => {
            exp.ext.entry(format!("k{key}")).or_default().insert(value);
            Edit::SetExt { fields: fields(format!("k{key}"), value) }
        }
        Op::LineExt { line, key, value } => {
            let Some(line) = line_ref(line) else { return Ok(()) };
            // Recorded only once the edit succeeds (the terminal may not
            // have the line yet).
            Edit::SetLineExt { line, fields: fields(format!("x{key}"), value) }
        }
        Op::Kitchen { line } => match line {
            None => Edit::SendToKitchen { lines: None },
            Some(i) => {
                let Some(line) = line_ref(i) else { return Ok(()) };
                Edit::SendToKitchen { lines: Some(vec![line]) }
            }
        },
        Op::Payment { amount } => {
            let id = PaymentId::parse(&format!("P{}", exp.payments.len())).unwrap();
            Edit::AddPayment { payment: id, method: "cash".into(), amount: Money(amount) }
        }
    };

    let before = t.view();
    let raw_before = qty_line.as_ref().filter(|l| before.line(l).is_some()).map(|l| t.raw_qty(l));
    let result = t.try_edit(edit.clone());
    match result {
        Ok(change) => {
            if let Some(change) = change {
                for (to, queue) in outbox.iter_mut().enumerate() {
                    if to != replica {
                        queue.push(change.bytes.clone());
                    }
                }
            }
            let after = t.view();
            if let (Some(line), Some(raw_before)) = (&qty_line, raw_before) {
                let applied = t.raw_qty(line) - raw_before;
                *exp.raw_qty.get_mut(line).unwrap() += applied;
                // Each quantity edit does what the cashier asked, from what
                // this terminal showed.
                let shown = before.line(line).unwrap().qty.0;
                let now = after.line(line).unwrap().qty.0;
                match &edit {
                    Edit::ChangeQty { delta, .. } => prop_assert_eq!(now, shown + delta.0),
                    Edit::SetQty { qty, .. } => prop_assert_eq!(now, qty.0),
                    Edit::RemoveLine { .. } => prop_assert_eq!(now, 0),
                    _ => {}
                }
            }
            match &edit {
                Edit::AddPayment { payment, amount, .. } => {
                    exp.payments.insert(payment.clone(), amount.0);
                }
                Edit::SetLineExt { line, fields } => {
                    for (key, value) in fields {
                        exp.line_ext
                            .entry((line.clone(), key.clone()))
                            .or_default()
                            .insert(value.as_i64().unwrap());
                    }
                }
                _ => {}
            }
        }
        // The terminal has not received the line yet, or the edit would take
        // a quantity below zero: refused locally, nothing written.
        Err(EditError::UnknownLine(_)) | Err(EditError::Invalid { field: "qty", .. }) => {
            prop_assert_eq!(t.view(), before);
            if let Edit::AddLine(_) = edit {
                prop_assert!(false, "adding a line failed");
            }
        }
        // A payment above what this terminal sees due: refused locally
        // (concurrent payments that get through are flagged `overpaid`).
        Err(EditError::NothingDue { .. }) | Err(EditError::Overpayment { .. }) => {
            prop_assert_eq!(t.view(), before);
        }
        Err(e) => prop_assert!(false, "{} failed: {}", edit.kind(), e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn three_terminals_converge_and_keep_every_edit(steps in proptest::collection::vec(step(), 1..90)) {
        run(steps)?;
    }
}
