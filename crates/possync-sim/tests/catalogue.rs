//! S24 (replication half): the catalogue every terminal shares. A manager's
//! change reaches every terminal, including one that was offline; two
//! managers' concurrent replacements converge to one catalogue; changes by a
//! non-manager or that do not validate are refused by every receiver and
//! change nothing. (That order lines keep their price and taxes is tested
//! with the order model.)

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{Automerge, ROOT};
use possync_catalogue::import::{CatalogueFile, FORMAT, VERSION, from_possync_json};
use possync_catalogue::{Catalogue, Money, ProductId, TaxAmount, TaxId};
use possync_engine::wire::Direct;
use possync_engine::{CatalogueError, EngineConfig, IMPORT_USER};
use possync_sim::{NetConfig, Sim};

const SETTLE: Duration = Duration::from_secs(120);
const RESTAURANT: &str = include_str!("../../../examples/catalogue/restaurant.json");

fn seed() -> u64 {
    std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7)
}

fn restaurant() -> Catalogue {
    from_possync_json(RESTAURANT).unwrap()
}

fn price(sim: &Sim, node: u64, product: &str) -> Option<Money> {
    let id = ProductId::parse(product).unwrap();
    sim.engine(node).catalogue().and_then(|c| c.product(&id)).map(|p| p.price)
}

fn tax_rate(sim: &Sim, node: u64, tax: &str) -> Option<TaxAmount> {
    let id = TaxId::parse(tax).unwrap();
    sim.engine(node).catalogue().and_then(|c| c.tax(&id)).map(|t| t.amount)
}

/// Three terminals sharing the restaurant catalogue (imported on the first), settled.
fn floor_with_catalogue() -> (Sim, [u64; 3]) {
    let mut sim = Sim::new(seed());
    let nodes = [sim.add_node("T1"), sim.add_node("T2"), sim.add_node("T3")];
    assert_eq!(sim.replace_catalogue(nodes[0], IMPORT_USER, restaurant()), Ok(1));
    sim.settle(SETTLE);
    for n in nodes {
        assert_eq!(sim.engine(n).catalogue_version(), 1, "node {n}");
        assert_eq!(price(&sim, n, "p26"), Some(Money(360)), "node {n}");
    }
    (sim, nodes)
}

/// A change to the catalogue document written past the engine's checks:
/// what a broken or hostile peer could send.
fn forged(base: &[u8], user: &str, version: u64, catalogue_text: &str) -> Vec<u8> {
    let mut doc = Automerge::load(base).unwrap();
    let mut tx = doc.transaction();
    tx.put(ROOT, "version", version).unwrap();
    tx.put(ROOT, "catalogue", catalogue_text).unwrap();
    tx.put(ROOT, "by", format!(r#"{{"user":"{user}","terminal":"T2","at_ms":0}}"#)).unwrap();
    let message = format!(r#"{{"user":"{user}","terminal":"T2"}}"#);
    tx.commit_with(CommitOptions::default().with_message(message));
    Direct::CatalogueDoc { bytes: doc.save() }.encode()
}

fn file_text(catalogue: &Catalogue) -> String {
    let file = CatalogueFile { format: FORMAT.into(), version: VERSION, catalogue: catalogue.clone() };
    serde_json::to_string(&file).unwrap()
}

#[test]
fn s24_a_price_and_a_tax_rate_change_reach_a_terminal_that_was_offline() {
    let (mut sim, [t1, t2, t3]) = floor_with_catalogue();
    sim.partition(&[&[t1, t2], &[t3]]);
    let mut changed = restaurant();
    changed.products.iter_mut().find(|p| p.id.as_str() == "p26").unwrap().price = Money(380);
    changed.taxes.iter_mut().find(|t| t.id.as_str() == "vat20").unwrap().amount = TaxAmount::whole(21);
    assert_eq!(sim.replace_catalogue(t1, "chloe", changed), Ok(2));
    sim.run_for(Duration::from_secs(30));
    assert_eq!(price(&sim, t2, "p26"), Some(Money(380)));
    assert_eq!(price(&sim, t3, "p26"), Some(Money(360)), "T3 is offline");
    assert_eq!(sim.engine(t3).catalogue_version(), 1);

    sim.heal();
    sim.settle(SETTLE);
    for n in [t1, t2, t3] {
        assert_eq!(sim.engine(n).catalogue_version(), 2, "node {n}");
        assert_eq!(price(&sim, n, "p26"), Some(Money(380)), "node {n}");
        assert_eq!(tax_rate(&sim, n, "vat20"), Some(TaxAmount::whole(21)), "node {n}");
        assert_eq!(sim.engine(n).catalogue_state().unwrap().by.user, "chloe");
    }
    sim.assert_invariants();
}

#[test]
fn s24_a_terminal_restarted_offline_keeps_the_last_catalogue_it_saw() {
    let (mut sim, [t1, t2, t3]) = floor_with_catalogue();
    sim.crash(t3);
    sim.partition(&[&[t1, t2], &[t3]]);
    sim.restart(t3);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.engine(t3).catalogue_version(), 1);
    assert_eq!(price(&sim, t3, "p26"), Some(Money(360)));
}

#[test]
fn s24_concurrent_replacements_on_two_partitioned_terminals_converge() {
    let (mut sim, [t1, t2, t3]) = floor_with_catalogue();
    sim.partition(&[&[t1], &[t2, t3]]);
    let mut on_t1 = restaurant();
    on_t1.products[0].price = Money(111);
    let mut on_t2 = restaurant();
    on_t2.products[0].price = Money(222);
    assert_eq!(sim.replace_catalogue(t1, "chloe", on_t1.clone()), Ok(2));
    assert_eq!(sim.replace_catalogue(t2, "chloe", on_t2.clone()), Ok(2));
    sim.run_for(Duration::from_secs(5));
    sim.heal();
    sim.settle(SETTLE);
    let winner = sim.engine(t1).catalogue().unwrap().clone();
    assert!(winner == on_t1 || winner == on_t2, "one of the two replacements wins whole");
    for n in [t1, t2, t3] {
        assert_eq!(sim.engine(n).catalogue(), Some(&winner), "node {n}");
        assert_eq!(sim.engine(n).catalogue_version(), 2, "node {n}");
    }
    // The next replacement counts from there on any terminal.
    assert_eq!(sim.replace_catalogue(t3, "chloe", restaurant()), Ok(3));
    sim.settle(SETTLE);
    for n in [t1, t2, t3] {
        assert_eq!(sim.engine(n).catalogue_version(), 3, "node {n}");
        assert_eq!(sim.engine(n).catalogue(), Some(&restaurant()), "node {n}");
    }
    sim.assert_invariants();
}

#[test]
fn s24_a_cashier_cannot_replace_the_catalogue_locally() {
    let (mut sim, [t1, t2, _]) = floor_with_catalogue();
    let mut changed = restaurant();
    changed.products[0].price = Money(1);
    let refused = sim.replace_catalogue(t2, "ana", changed);
    assert_eq!(refused, Err(CatalogueError::NotManager { user: "ana".into() }));
    sim.settle(SETTLE);
    assert_eq!(sim.engine(t1).catalogue(), Some(&restaurant()));
    assert_eq!(sim.engine(t1).catalogue_version(), 1);
}

#[test]
fn s24_a_peer_s_change_by_a_cashier_or_of_an_invalid_catalogue_is_refused() {
    let (mut sim, [t1, t2, t3]) = floor_with_catalogue();
    let base = sim.node(t2).store.catalogue.clone().unwrap();
    let heads_before = sim.engine(t3).catalogue_heads();
    let stored_before = sim.node(t3).store.catalogue.clone();

    let mut cheaper = restaurant();
    cheaper.products[0].price = Money(1);
    sim.inject(t2, t3, true, forged(&base, "ana", 2, &file_text(&cheaper)));

    let mut broken = restaurant();
    broken.products[0].taxes = vec![TaxId::parse("no-such-tax").unwrap()];
    sim.inject(t2, t3, true, forged(&base, "chloe", 2, &file_text(&broken)));

    assert_eq!(sim.node(t3).rejected_by_kind.get("invalid_catalogue"), Some(&2));
    assert_eq!(sim.engine(t3).catalogue(), Some(&restaurant()));
    assert_eq!(sim.engine(t3).catalogue_version(), 1);
    assert_eq!(sim.engine(t3).catalogue_heads(), heads_before);
    assert_eq!(sim.node(t3).store.catalogue, stored_before, "nothing was stored");
    sim.settle(SETTLE);
    for n in [t1, t2, t3] {
        assert_eq!(sim.engine(n).catalogue(), Some(&restaurant()), "node {n}");
    }
    sim.assert_invariants();
}

#[test]
fn s24_a_manager_s_valid_change_from_a_peer_is_taken() {
    let (mut sim, [_, t2, t3]) = floor_with_catalogue();
    let base = sim.node(t2).store.catalogue.clone().unwrap();
    let mut changed = restaurant();
    changed.products[0].price = Money(5);
    sim.inject(t2, t3, true, forged(&base, "chloe", 2, &file_text(&changed)));
    assert_eq!(sim.node(t3).rejected_by_kind.get("invalid_catalogue"), None);
    assert_eq!(sim.engine(t3).catalogue(), Some(&changed), "the control case of the test above");
}

#[test]
fn a_catalogue_history_larger_than_one_message_reaches_a_late_joiner() {
    // Pairwise messages of 6 KB: the document of 30 replacements (about
    // 11 KB) goes as its changes, a few per message.
    let cfg = EngineConfig { max_direct_bytes: 6_000, ..EngineConfig::default() };
    let mut sim = Sim::with(seed(), NetConfig::default(), cfg);
    let t1 = sim.add_node("T1");
    let mut catalogue = restaurant();
    for i in 0..30 {
        catalogue.products[i].price = Money(50 + i as i64);
        sim.replace_catalogue(t1, IMPORT_USER, catalogue.clone()).unwrap();
    }
    let whole = sim.node(t1).store.catalogue.as_ref().unwrap().len();
    assert!(whole > 6_000, "the document ({whole} bytes) must not fit one message");
    let t2 = sim.add_node("T2");
    sim.settle(SETTLE);
    assert_eq!(sim.engine(t2).catalogue_version(), 30);
    assert_eq!(sim.engine(t2).catalogue(), Some(&catalogue));
    assert_eq!(sim.node(t2).rejected, 0);
    sim.assert_invariants();
}
