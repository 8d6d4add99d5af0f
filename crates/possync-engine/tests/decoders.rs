//! Property tests of every decoder a peer can reach: arbitrary bytes, and
//! valid messages with bytes flipped, cut or appended, must decode to an
//! error or a message, never panic, and never change an order they do not
//! validly apply to. These run on every build; the coverage-guided fuzz
//! targets of the same decoders are in `fuzz/` (see `docs/RELIABILITY.md`).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use possync_engine::wire::{Direct, Gossip};
use possync_engine::{ActorOwner, Engine, EngineConfig};
use possync_model::automerge::ActorId;
use possync_model::{EditContext, NewOrder, OrderDoc, OrderId, OrderName, TerminalId};
use proptest::prelude::*;

/// The terminal that writes (and signs the gossip of) the valid messages.
fn writer() -> ActorOwner {
    ActorOwner::of_identity(b"terminal A")
}

fn valid_messages() -> Vec<Vec<u8>> {
    let order = OrderId::from_random(7);
    let terminal = TerminalId::parse("A").unwrap();
    let ctx = EditContext::new("ana", terminal.clone(), 1_767_225_600_000);
    let (doc, change) = OrderDoc::open(
        writer().actor(1),
        &ctx,
        &NewOrder::new(order.clone(), OrderName::compose(&terminal, 1)),
    )
    .unwrap();
    vec![
        Gossip::Changes { order: order.clone(), changes: vec![change.bytes.clone()] }.encode(),
        Direct::Summary { buckets: vec![1, 2, 3] }.encode(),
        Direct::Heads { respond: true, buckets: vec![1], entries: vec![(order.clone(), doc.heads())] }
            .encode(),
        Direct::Fetch { orders: vec![order.clone()] }.encode(),
        Direct::Docs { docs: vec![(order.clone(), doc.save())] }.encode(),
        Direct::Sync { items: vec![(order, vec![0x42, 0, 0])] }.encode(),
    ]
}

fn mutate(mut bytes: Vec<u8>, ops: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(op, at, value) in ops {
        if bytes.is_empty() {
            bytes.push(value);
            continue;
        }
        let i = at % bytes.len();
        match op % 4 {
            0 => bytes[i] ^= value | 1,
            1 => bytes.truncate(i),
            2 => bytes.insert(i, value),
            _ => bytes.extend(std::iter::repeat_n(value, at % 64)),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Gossip::decode(&bytes);
        let _ = Direct::decode(&bytes);
        let mut framed = b"PS\\x01".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = Gossip::decode(&framed);
        let _ = Direct::decode(&framed);
    }

    #[test]
    fn mutated_messages_never_panic_or_corrupt_a_terminal(
        which in 0usize..6,
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
    ) {
        let msg = mutate(valid_messages()[which].clone(), &ops);
        let now = Instant::now();
        let mut engine: Engine<u8> =
            Engine::new(EngineConfig::default(), TerminalId::parse("B").unwrap(), ActorId::from([2u8; 16]), 1, now);
        engine.peer_up(now, 1);
        let _ = engine.handle_gossip(now, 1, writer(), &msg);
        engine.handle_direct(now, 1, &msg);
        // Whatever got in is a valid order: every complete order has a view.
        for id in engine.all_orders() {
            prop_assert!(engine.view(&id).is_some());
        }
        while engine.poll_output().is_some() {}
    }

    #[test]
    fn mutated_changes_are_applied_whole_or_refused(
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4),
    ) {
        let terminal = TerminalId::parse("A").unwrap();
        let ctx = EditContext::new("ana", terminal.clone(), 1_767_225_600_000);
        let order = OrderId::from_random(9);
        let (source, change) = OrderDoc::open(
            ActorId::from([1u8; 16]),
            &ctx,
            &NewOrder::new(order.clone(), OrderName::compose(&terminal, 1)),
        )
        .unwrap();
        let mut target = OrderDoc::empty(order, ActorId::from([2u8; 16]));
        match target.apply_remote_bytes([mutate(change.bytes, &ops).as_slice()]) {
            Ok(applied) if applied.summary.is_some() => {
                // Accepted: whatever it says (a flipped byte inside a string
                // can still be a valid change), it follows the schema.
                let view = target.view();
                prop_assert!(view.is_ok());
                prop_assert_eq!(view.unwrap().id, source.view().unwrap().id);
            }
            // Refused (Automerge panics included) or parked: nothing visible.
            _ => prop_assert!(target.is_empty()),
        }
    }
}
