//! Seed corpora: real inputs of each target, made by running the real code
//! (two terminals catching up, local edits, API bodies as clients write
//! them, a store written by the store), so that fuzzing starts deep inside
//! every decoder instead of at its first byte. `make_seeds` writes them to
//! `fuzz/seeds/<target>/`.

use std::path::Path;
use std::time::{Duration, Instant};

use possync_engine::{Output, StoreOp};
use possync_model::automerge::ReadDoc;
use possync_model::{Discount, Edit, Money, NewLine, OpenOrder, PaymentId, Quantity};
use possync_store::Store;
use possync_store::fault::MemDisk;
use serde_json::{Value, json};

use crate::fixture::{self, PEER, ctx, line_id, open_order_id};

/// One seed file: target, file name, contents.
pub type Seed = (&'static str, String, Vec<u8>);

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let talk = conversation();
    for (i, msg) in talk.gossip.iter().enumerate() {
        seeds.push(("wire_envelope", format!("gossip-{i}"), msg.clone()));
        seeds.push(("catchup_message", format!("gossip-{i}"), msg.clone()));
    }
    for (i, (kind, msg)) in talk.to_c.iter().enumerate() {
        seeds.push(("wire_envelope", format!("to-c-{i:02}-{kind}"), msg.clone()));
        seeds.push(("catchup_message", format!("to-c-{i:02}-{kind}"), msg.clone()));
    }
    for (i, (kind, msg)) in talk.to_a.iter().enumerate() {
        seeds.push(("wire_envelope", format!("to-a-{i:02}-{kind}"), msg.clone()));
    }
    // Payment claims (PROTOCOL.md §4.6), as a terminal sends them.
    for (name, msg) in claim_messages() {
        seeds.push(("wire_envelope", name.clone(), msg.clone()));
        seeds.push(("catchup_message", name, msg));
    }
    // The catalogue (PROTOCOL.md §4.7): heads, and a whole document.
    for (name, msg) in catalogue_messages() {
        seeds.push(("wire_envelope", name.clone(), msg.clone()));
        seeds.push(("catchup_message", name, msg));
    }
    // The whole conversation A had with C, in order: one input, many steps.
    seeds.push((
        "catchup_message",
        "conversation".into(),
        talk.to_c.iter().flat_map(|(_, m)| m.clone()).collect(),
    ));

    let fx = fixture::fixture();
    for (i, change) in fx.changes[0].iter().enumerate() {
        seeds.push(("change_validation", format!("open-order-change-{i:02}"), change.clone()));
    }
    seeds.push(("change_validation", "open-order-all-changes".into(), fx.changes[0].concat()));
    seeds.push(("change_validation", "paid-order-all-changes".into(), fx.changes[1].concat()));
    seeds.push(("change_validation", "local-edits".into(), talk.local_changes.concat()));
    seeds.push(("change_validation", "saved-open-order".into(), fx.orders[0].save()));

    for (name, body) in api_bodies() {
        seeds.push(("api_json", name.into(), body.into_bytes()));
    }

    seeds.push(("storage_records", "store-with-orders".into(), store_image(true)));
    seeds.push(("storage_records", "empty-store".into(), store_image(false)));
    seeds.push(("storage_records", "records".into(), store_records()));
    seeds
}

/// Writes every seed under `dir/<target>/<name>`, replacing what is there.
pub fn write(dir: &Path) -> std::io::Result<usize> {
    let seeds = all();
    for (target, _) in crate::TARGETS {
        let sub = dir.join(target);
        if sub.exists() {
            std::fs::remove_dir_all(&sub)?;
        }
        std::fs::create_dir_all(&sub)?;
    }
    for (target, name, bytes) in &seeds {
        std::fs::write(dir.join(target).join(name), bytes)?;
    }
    Ok(seeds.len())
}

/// What terminal A, which has more than the fixture, said to C.
struct Conversation {
    gossip: Vec<Vec<u8>>,
    to_c: Vec<(&'static str, Vec<u8>)>,
    to_a: Vec<(&'static str, Vec<u8>)>,
    local_changes: Vec<Vec<u8>>,
}

/// Terminal A (the fixture plus a new order and edits) and terminal C (the
/// fixture, as the targets have it) catch up with each other.
fn conversation() -> Conversation {
    const C_AS_SEEN_BY_A: u8 = 3;
    let now = Instant::now();
    let mut a = fixture::restored_as(now, &fixture::disk(), "A");
    let mut c = fixture::engine(now);
    let ana = ctx("A", "ana");
    let mut local_changes = Vec::new();
    let edits = [
        Edit::AddLine(NewLine {
            discount: Discount(500),
            note: "candles".into(),
            ext: json!({"course": 2}).as_object().cloned().unwrap_or_default(),
            ..NewLine::new(line_id("cake"), "cake", "Cake", Quantity::units(2), Money(450))
        }),
        Edit::SetQty { line: line_id("soup"), qty: Quantity(1_500) },
        Edit::SetTable { table: Some("T9".into()), floor: None },
    ];
    for edit in &edits {
        if let Ok(Some(hash)) = a.edit(now, &ana, &open_order_id(), edit)
            && let Some(change) =
                a.order(&open_order_id()).and_then(|o| o.automerge().get_change_by_hash(&hash))
        {
            local_changes.push(change.raw_bytes().to_vec());
        }
    }
    let _ = a.open_order(now, &ana, OpenOrder::at_table("T2"));

    let mut talk = Conversation { gossip: Vec::new(), to_c: Vec::new(), to_a: Vec::new(), local_changes };
    while let Some(out) = a.poll_output() {
        if let Output::Broadcast(bytes) = out {
            talk.gossip.push(bytes);
        }
    }
    a.peer_up(now, C_AS_SEEN_BY_A);
    c.catch_up_with(&PEER);
    for step in 0..64u64 {
        let at = now + Duration::from_millis(step);
        let mut quiet = true;
        while let Some(out) = a.poll_output() {
            if let Output::Send { bytes, .. } = out {
                quiet = false;
                talk.to_c.push((kind(&bytes), bytes.clone()));
                c.handle_direct(at, PEER, &bytes);
            }
        }
        while let Some(out) = c.poll_output() {
            if let Output::Send { bytes, .. } = out {
                quiet = false;
                talk.to_a.push((kind(&bytes), bytes.clone()));
                a.handle_direct(at, C_AS_SEEN_BY_A, &bytes);
            }
        }
        if quiet {
            break;
        }
    }
    talk
}

fn kind(bytes: &[u8]) -> &'static str {
    possync_engine::wire::Direct::decode(bytes).map(|m| m.kind()).unwrap_or("invalid")
}

/// API request bodies as clients send them, one per line; the last seeds
/// are sequences that close an order and resolve its review.
fn api_bodies() -> Vec<(&'static str, String)> {
    let coffee = line_id("coffee").to_string();
    let soup = line_id("soup").to_string();
    let edit = |e: &Edit| -> Value { serde_json::to_value(e).unwrap_or(Value::Null) };
    let body = |e: Value| json!({"user": "ana", "edit": e}).to_string();
    let edits = [
        Edit::ChangeQty { line: line_id("coffee"), delta: Quantity::units(-1) },
        Edit::SetQty { line: line_id("soup"), qty: Quantity(2_500) },
        Edit::RemoveLine { line: line_id("soup") },
        Edit::SetUnitPrice { line: line_id("coffee"), unit_price: Money(275) },
        Edit::SetDiscount { line: line_id("soup"), discount: Discount(2_500) },
        Edit::SetLineNote { line: line_id("coffee"), note: "oat milk".into() },
        Edit::SetCustomer { customer: Some("res.partner,17".into()) },
        Edit::SetPricelist { pricelist: Some("happy-hour".into()) },
        Edit::SetFiscalPosition { fiscal_position: None },
        Edit::SetTable { table: Some("T1".into()), floor: Some("main".into()) },
        Edit::SetGuests { guests: 4 },
        Edit::SetNote { note: "window seat".into() },
        Edit::SendToKitchen { lines: Some(vec![line_id("coffee")]) },
        Edit::SetExt {
            fields: json!({"odoo": {"uid": "00042-001-0002"}, "tip": 150})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
        Edit::SetLineExt {
            line: line_id("soup"),
            fields: json!({"course": 1}).as_object().cloned().unwrap_or_default(),
        },
        Edit::Cancel,
    ];
    let mut out: Vec<(&'static str, String)> = edits.iter().map(|e| (e.kind(), body(edit(e)))).collect();
    out.push((
        "add_line_without_id",
        body(json!({
            "op": "add_line", "product": "tea", "display_name": "Tea", "qty": 1000, "unit_price": 220
        })),
    ));
    out.push((
        "add_payment_without_id",
        body(json!({"op": "add_payment", "method": "card", "amount": 1000})),
    ));
    out.push((
        "pay_close_and_resolve",
        [
            body(json!({"op": "add_payment", "method": "card", "amount": 2000})),
            body(json!({"op": "mark_paid"})),
            body(json!({"op": "resolve_review", "state": "cancelled"})),
            body(json!({"op": "set_note", "note": "too late"})),
        ]
        .join("\n"),
    ));
    out.push((
        "raw_edits",
        [
            edit(&Edit::AddPayment {
                payment: PaymentId::from_random(99),
                method: "cash".into(),
                amount: Money(10),
            }),
            edit(&Edit::ResolveReview { state: None, reason: None, accept: false }),
            edit(&Edit::Pay(possync_model::Tender {
                payment: PaymentId::from_random(98),
                method: "cash".into(),
                tendered: Money(500),
                tip: Money(50),
            })),
            edit(&Edit::Refund(possync_model::NewRefund {
                payment: PaymentId::from_random(97),
                method: "card".into(),
                amount: Money(200),
                reason: "paid twice".into(),
                refund_of: Some(PaymentId::from_random(99)),
            })),
        ]
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n"),
    ));
    out.push((
        "till",
        [
            body(json!({"op": "pay", "method": "cash", "tendered": 2000, "tip": 100})),
            body(json!({"op": "pay", "method": "card", "tendered": 500})),
            body(json!({"op": "refund", "method": "cash", "amount": 300, "reason": "cold soup"})),
            body(json!({"op": "resolve_review", "state": null, "reason": "kept", "accept": true})),
        ]
        .join("\n"),
    ));
    out.push((
        "split",
        json!({"user": "ana", "lines": [{"line": coffee, "qty": 1000}, {"line": soup, "qty": 500}]})
            .to_string(),
    ));
    out.push((
        "open",
        json!({"user": "ana", "id": "00042-001-0009", "table": "T7", "floor": "main", "guests": 2,
               "customer": "res.partner,3", "pricelist": "default", "fiscal_position": "eu",
               "ext": {"odoo": {"session": 42}}})
        .to_string(),
    ));
    out.push(("open_minimal", json!({"user": "bob"}).to_string()));
    out.push(("network", json!({"isolated": true}).to_string()));
    out
}

/// The three claim messages about the fixture's open order.
fn claim_messages() -> Vec<(String, Vec<u8>)> {
    use possync_engine::wire::{ClaimMsg, Direct};
    let order = open_order_id();
    let claim = ClaimMsg {
        order: order.clone(),
        token: 0x5eed_c1a1,
        terminal: possync_model::TerminalId::parse("T2").expect("valid terminal id"),
        user: "ana".into(),
        ttl_ms: 30_000,
    };
    let heads = fixture::fixture().orders[0].heads();
    vec![
        ("claim".into(), Direct::Claim(claim.clone()).encode()),
        (
            "claim-reply".into(),
            Direct::ClaimReply { order: order.clone(), token: 7, granted: false, holder: claim }.encode(),
        ),
        ("claim-release".into(), Direct::ClaimRelease { order, token: 0x5eed_c1a1, heads }.encode()),
    ]
}

/// A catalogue document holding the restaurant example, as an import
/// writes it, and its heads.
fn catalogue_messages() -> Vec<(String, Vec<u8>)> {
    use possync_engine::wire::Direct;
    use possync_engine::{CatalogueDoc, IMPORT_USER};
    const RESTAURANT: &str = include_str!("../../../examples/catalogue/restaurant.json");
    let Ok(catalogue) = possync_catalogue::import::from_possync_json(RESTAURANT) else { return Vec::new() };
    let mut doc = CatalogueDoc::new(fixture::actor("A", 9));
    if doc.replace(&fixture::ctx("A", IMPORT_USER), &catalogue).is_err() {
        return Vec::new();
    }
    vec![
        ("catalogue-heads".into(), Direct::CatalogueHeads { heads: doc.heads() }.encode()),
        ("catalogue-doc".into(), Direct::CatalogueDoc { bytes: doc.save() }.encode()),
    ]
}

/// A store as a terminal leaves it: the fixture's orders as snapshots, a
/// change log, an archived flag, a sequence number. Or a new, empty one.
fn store_image(with_orders: bool) -> Vec<u8> {
    let disk = MemDisk::new();
    let Ok(mut store) = Store::open_with_backend(disk.backend(), Path::new("seed.redb")) else {
        return Vec::new();
    };
    if with_orders {
        let fx = fixture::fixture();
        let open = &fx.orders[0];
        let paid = &fx.orders[1];
        let batches = vec![
            vec![
                StoreOp::Snapshot { order: paid.id().clone(), bytes: paid.save() },
                StoreOp::Archive { order: paid.id().clone(), at_ms: Some(fixture::T0_MS) },
            ],
            vec![StoreOp::Append { order: open.id().clone(), changes: fx.changes[0].clone() }],
            vec![StoreOp::NextSequence(3)],
        ];
        if store.apply(&batches).is_err() {
            return Vec::new();
        }
    }
    drop(store);
    disk.image()
}

/// The records a terminal's store holds for the fixture, in the record form
/// of `storage_records`: a snapshot and an archived flag for the paid order,
/// the open order as a log of changes, the next sequence number.
fn store_records() -> Vec<u8> {
    let fx = fixture::fixture();
    let record = |kind: u8, order: &str, value: &[u8]| -> Vec<u8> {
        [crate::storage_records::RECORD_MARKER, &[kind], order.as_bytes(), b" ", value].concat()
    };
    let open = fx.orders[0].id().as_str();
    let paid = fx.orders[1].id().as_str();
    let mut out = record(b's', paid, &fx.orders[1].save());
    out.extend(record(b'a', paid, b""));
    for change in &fx.changes[0] {
        out.extend(record(b'c', open, change));
    }
    out.extend(record(b'n', open, &[3]));
    out
}
