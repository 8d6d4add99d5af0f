//! The engine's storage writes, carried out by the store, restore the
//! engine after a restart: the open order, its lines and the next order name.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use possync_engine::{Engine, EngineConfig, Output, StoreOp};
use possync_model::automerge::ActorId;
use possync_model::{Edit, EditContext, LineId, Money, NewLine, OpenOrder, Quantity, TerminalId};
use possync_store::Store;

fn terminal() -> TerminalId {
    TerminalId::parse("BAR").unwrap()
}

fn ctx(at_ms: i64) -> EditContext {
    EditContext::new("anna", terminal(), at_ms)
}

fn line(i: usize) -> NewLine {
    NewLine::new(
        LineId::parse(&format!("line-{i}")).unwrap(),
        format!("product-{i}"),
        format!("Product {i}"),
        Quantity::units(1),
        Money(250),
    )
}

/// Hands every pending `Persist` to the store, in one group commit.
fn persist(engine: &mut Engine<u64>, store: &mut Store) -> usize {
    let mut batches: Vec<Vec<StoreOp>> = Vec::new();
    while let Some(output) = engine.poll_output() {
        if let Output::Persist(batch) = output {
            batches.push(batch);
        }
    }
    store.apply(&batches).unwrap();
    batches.len()
}

#[test]
fn an_engine_restores_from_what_the_store_kept() {
    let dir = tempfile::tempdir().unwrap();
    let now = Instant::now();

    let (open_id, next_name) = {
        let mut store = Store::open(dir.path()).unwrap();
        let mut engine: Engine<u64> =
            Engine::new(EngineConfig::default(), terminal(), ActorId::from([1u8; 16]), 1, now);
        let open_id = engine.open_order(now, &ctx(0), OpenOrder::default()).unwrap();
        for i in 0..30 {
            engine.edit(now, &ctx(i), &open_id, &Edit::AddLine(line(i as usize))).unwrap();
            assert!(persist(&mut engine, &mut store) > 0);
        }
        let second = engine.open_order(now, &ctx(100), OpenOrder::default()).unwrap();
        persist(&mut engine, &mut store);
        assert_ne!(open_id, second);
        (open_id, engine.peek_next_name())
    };

    let store = Store::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert!(loaded.damaged.is_empty());
    assert_eq!(loaded.orders.len(), 2);
    let mut engine: Engine<u64> =
        Engine::new(EngineConfig::default(), terminal(), ActorId::from([2u8; 16]), 2, now);
    let report = engine.restore(now, loaded.orders, loaded.next_sequence);
    assert_eq!((report.active, report.archived), (2, 0), "{:?}", report.damaged);
    assert!(report.damaged.is_empty());
    assert_eq!(engine.peek_next_name(), next_name);
    assert_eq!(engine.status().active_orders, 2);
    // The restored order takes edits.
    engine.edit(now, &ctx(200), &open_id, &Edit::AddLine(line(99))).unwrap();
}
