//! The order model's hot paths on a typical order of 50 changes, next to the
//! raw Automerge operations they are built on. `docs/PERFORMANCE.md` has the
//! figures. Run: `cargo bench -p possync-model --bench order_ops`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use possync_catalogue::{PricingRules, RoundingMethod, Tax, TaxAmount, TaxId};
use possync_model::automerge::transaction::Transactable;
use possync_model::automerge::{ActorId, Automerge, Change, ROOT};
use possync_model::{
    Discount, Edit, EditContext, LineId, Money, NewLine, NewOrder, OrderDoc, OrderId, OrderName, Quantity,
    TerminalId,
};

const CHANGES: usize = 50;

fn ctx(at_ms: i64) -> EditContext {
    EditContext::new("anna", TerminalId::parse("BAR").unwrap(), at_ms)
}

fn line(i: usize) -> NewLine {
    taxed_line(i, false)
}

/// A line; with `taxed`, carrying two taxes as a restaurant's might: one
/// included in the price, one added to it.
fn taxed_line(i: usize, taxed: bool) -> NewLine {
    let taxes = if taxed { restaurant_taxes() } else { Vec::new() };
    NewLine {
        id: LineId::parse(&format!("line-{i}")).unwrap(),
        product: format!("product-{i}"),
        display_name: format!("Product {i}"),
        qty: Quantity::units(1),
        unit_price: Money(250 + i as i64),
        discount: Discount::NONE,
        note: String::new(),
        ext: Default::default(),
        taxes,
    }
}

fn restaurant_taxes() -> Vec<Tax> {
    let mut included = Tax::percent(TaxId::parse("vat10i").unwrap(), "VAT 10% (incl.)", TaxAmount::whole(10));
    included.price_include = true;
    vec![included, Tax::percent(TaxId::parse("city").unwrap(), "City tax 2%", TaxAmount::whole(2))]
}

/// An order built the way a terminal builds one: opened, 12 lines added, then
/// quantities, notes, a customer, a table, guests and a kitchen ticket, for
/// `CHANGES` changes in all. Returns the document and every change in order.
fn order() -> (OrderDoc, Vec<Change>) {
    order_with(false)
}

/// [`order`], with pricing rules and two taxes on every line when `taxed`.
fn order_with(taxed: bool) -> (OrderDoc, Vec<Change>) {
    let id = OrderId::from_random(0x5eed);
    let mut new = NewOrder::new(id, OrderName::compose(&TerminalId::parse("BAR").unwrap(), 1));
    if taxed {
        new.fields.pricing = Some(PricingRules::cents(RoundingMethod::RoundGlobally));
    }
    let (mut doc, _) = OrderDoc::open(ActorId::from([1u8; 16]), &ctx(0), &new).unwrap();
    let mut i = 1;
    while doc.automerge().get_changes(&[]).len() < CHANGES {
        let edit = match i {
            1..=12 => Edit::AddLine(taxed_line(i, taxed)),
            13 => Edit::SetCustomer { customer: Some("customer-7".into()) },
            14 => Edit::SetTable { table: Some("T4".into()), floor: Some("main".into()) },
            15 => Edit::SetGuests { guests: 4 },
            16 => Edit::SendToKitchen { lines: None },
            n if n % 3 == 0 => Edit::SetLineNote { line: line(n % 12 + 1).id, note: format!("note {n}") },
            n => Edit::ChangeQty { line: line(n % 12 + 1).id, delta: Quantity::units(1) },
        };
        doc.edit(&ctx(i as i64 * 1000), &edit).unwrap().unwrap();
        i += 1;
    }
    let changes = doc.automerge().get_changes(&[]);
    assert_eq!(changes.len(), CHANGES);
    (doc, changes)
}

fn model(c: &mut Criterion) {
    let (doc, changes) = order();
    let id = doc.id().clone();
    let saved = doc.save();
    println!("a {CHANGES}-change order saves to {} bytes", saved.len());

    let mut g = c.benchmark_group("model");
    let at = 1_000_000;
    g.bench_function("local_edit_add_line", |b| {
        b.iter_batched(
            || doc.clone(),
            |mut d| d.edit(&ctx(at), &Edit::AddLine(line(99))).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let l1 = line(1).id;
    g.bench_function("local_edit_change_qty", |b| {
        b.iter_batched(
            || doc.clone(),
            |mut d| {
                d.edit(&ctx(at), &Edit::ChangeQty { line: l1.clone(), delta: Quantity::units(1) }).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    // The receiver has the first 49 changes, received one by one as a live
    // terminal receives them; the 50th arrives.
    let mut before_last = OrderDoc::empty(id.clone(), ActorId::from([2u8; 16]));
    for change in &changes[..CHANGES - 1] {
        before_last.apply_remote(vec![change.clone()]).unwrap();
    }
    let last = changes[CHANGES - 1].raw_bytes().to_vec();
    g.bench_function("apply_one_remote_change", |b| {
        b.iter_batched(
            || before_last.clone(),
            |mut d| d.apply_remote_bytes([last.as_slice()]).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let raw: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
    g.bench_function("apply_batch_of_50_remote_changes", |b| {
        b.iter_batched(
            || OrderDoc::empty(id.clone(), ActorId::from([2u8; 16])),
            |mut d| d.apply_remote_bytes(raw.iter().map(Vec::as_slice)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    // `view()` returns the view cached at the current heads (a clone);
    // `OrderView::read` is the full validating read every change pays once.
    g.bench_function("view_cached", |b| b.iter(|| black_box(&doc).view().unwrap()));
    g.bench_function("view_read", |b| {
        b.iter(|| possync_model::OrderView::read(black_box(&doc).automerge(), doc.id()).unwrap())
    });
    // What a merge pays to be able to undo itself (`OrderDoc::guarded`).
    g.bench_function("copy_for_undo", |b| b.iter(|| black_box(&before_last).automerge().clone()));
    g.bench_function("save", |b| b.iter(|| black_box(&doc).save()));
    g.bench_function("load", |b| {
        b.iter(|| OrderDoc::load(id.clone(), black_box(&saved), ActorId::from([3u8; 16])).unwrap())
    });
    g.finish();
}

/// The cost of taxes: the same edits and remote changes on the same order,
/// without and with pricing rules and two taxes per line (issue target:
/// at most 10 % slower with taxes).
fn taxes(c: &mut Criterion) {
    let mut g = c.benchmark_group("taxes");
    for taxed in [false, true] {
        let label = if taxed { "with" } else { "without" };
        let (doc, changes) = order_with(taxed);
        let at = 1_000_000;
        g.bench_function(format!("local_edit_add_line/{label}"), |b| {
            b.iter_batched(
                || doc.clone(),
                |mut d| d.edit(&ctx(at), &Edit::AddLine(taxed_line(99, taxed))).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let l1 = line(1).id;
        g.bench_function(format!("local_edit_change_qty/{label}"), |b| {
            b.iter_batched(
                || doc.clone(),
                |mut d| {
                    d.edit(&ctx(at), &Edit::ChangeQty { line: l1.clone(), delta: Quantity::units(1) })
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        let mut before_last = OrderDoc::empty(doc.id().clone(), ActorId::from([2u8; 16]));
        for change in &changes[..CHANGES - 1] {
            before_last.apply_remote(vec![change.clone()]).unwrap();
        }
        let last = changes[CHANGES - 1].raw_bytes().to_vec();
        g.bench_function(format!("apply_one_remote_change/{label}"), |b| {
            b.iter_batched(
                || before_last.clone(),
                |mut d| d.apply_remote_bytes([last.as_slice()]).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// The floor: the same work done with Automerge alone, no validation, no
/// view, no stamps.
fn raw_automerge(c: &mut Criterion) {
    let (doc, changes) = order();
    let am = doc.automerge().clone().with_actor(ActorId::from([4u8; 16]));
    let mut g = c.benchmark_group("automerge");
    g.bench_function("commit_one_put", |b| {
        b.iter_batched(
            || am.clone(),
            |mut d| {
                let mut tx = d.transaction();
                tx.put(ROOT, "note", "x").unwrap();
                tx.commit()
            },
            BatchSize::SmallInput,
        )
    });
    let mut before_last = Automerge::new();
    before_last.apply_changes(changes[..CHANGES - 1].to_vec()).unwrap();
    let last = changes[CHANGES - 1].clone();
    g.bench_function("apply_one_change", |b| {
        b.iter_batched(
            || (before_last.clone(), last.clone()),
            |(mut d, c)| d.apply_changes([c]).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("apply_batch_of_50_changes", |b| {
        b.iter_batched(
            || (Automerge::new(), changes.clone()),
            |(mut d, cs)| d.apply_changes(cs).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40);
    targets = model, taxes, raw_automerge
}
criterion_main!(benches);
