//! Opening orders: what the caller chooses ([`OpenOrder`]) and what the
//! engine assigns (the name, and the id unless given).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use possync_engine::{Engine, EngineConfig, EngineError};
use possync_model::automerge::ActorId;
use possync_model::{EditContext, OpenOrder, OrderId, OrderName, TerminalId};

fn engine(now: Instant) -> Engine<u64> {
    Engine::new(EngineConfig::default(), TerminalId::parse("BAR").unwrap(), ActorId::from([1u8; 16]), 7, now)
}

fn name(seq: u64) -> OrderName {
    OrderName::compose(&TerminalId::parse("BAR").unwrap(), seq)
}

#[test]
fn the_engine_names_every_order_and_keeps_an_id_it_is_given() {
    let now = Instant::now();
    let mut e = engine(now);
    let ctx = EditContext::new("ana", TerminalId::parse("BAR").unwrap(), 1_767_225_600_000);
    let given = OrderId::parse("odoo-00042-001-0001").unwrap();

    let first = e.open_order_with_id(now, &ctx, given.clone(), OpenOrder::at_table("T4")).unwrap();
    let second = e.open_order(now, &ctx, OpenOrder { guests: 3, ..OpenOrder::default() }).unwrap();
    let again = e.open_order_with_id(now, &ctx, given.clone(), OpenOrder::default());

    assert_eq!(first, given);
    let view = e.view(&first).unwrap();
    assert_eq!((view.name, view.table.as_deref(), view.guests), (name(1), Some("T4"), 0));
    let view = e.view(&second).unwrap();
    assert_eq!((view.name, view.table, view.guests), (name(2), None, 3));
    assert_ne!(second, given);
    assert_eq!(again, Err(EngineError::DuplicateOrder(given)));
    // A refused order takes no name.
    assert_eq!(e.peek_next_name(), name(3));
}
