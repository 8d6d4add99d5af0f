//! `catchup_message`: a whole terminal (an [`Engine`] restored from the
//! fixture, one peer connected) fed a sequence of peer messages, each through
//! both the gossip and the catch-up handler, then a maintenance tick. After
//! it:
//!
//! - nothing panicked, and everything the engine sent decodes;
//! - every order it holds is readable, and the fixture's orders are all
//!   still there (refused data never costs an order);
//! - its disk, restored into a fresh terminal, gives back exactly the same
//!   orders, views, open list and catalogue (what it acknowledged is what
//!   it keeps).

use std::time::{Duration, Instant};

use possync_engine::Engine;

use crate::fixture::{self, PEER};
use crate::split::split_at_marker;

/// Messages per input: enough for summary → heads → fetch → docs → sync.
const MAX_MESSAGES: usize = 16;

pub fn catchup_message(data: &[u8]) {
    let start = Instant::now();
    let mut engine = fixture::engine(start);
    let mut disk = fixture::disk();
    for (i, msg) in split_at_marker(data, &possync_engine::wire::MAGIC, MAX_MESSAGES).into_iter().enumerate()
    {
        let now = start + Duration::from_millis(10 * i as u64);
        let _ = fixture::gossip(&mut engine, now, msg);
        engine.handle_direct(now, PEER, msg);
        fixture::drain(&mut engine, &mut disk);
    }
    // Past the sync timeout: stalled sessions and half-received orders go.
    let later = start + Duration::from_secs(11);
    engine.handle_timeout(later);
    fixture::drain(&mut engine, &mut disk);

    let orders = engine.all_orders();
    for id in &orders {
        assert!(engine.view(id).is_some(), "order {id} is held but unreadable");
    }
    for doc in &fixture::fixture().orders {
        assert!(engine.order(doc.id()).is_some(), "fixture order {} was lost", doc.id());
    }
    same_after_restart(&engine, &disk, later);
}

fn same_after_restart(live: &Engine<u8>, disk: &possync_sim::SimStore, now: Instant) {
    let restarted = fixture::restored(now, disk);
    assert_eq!(restarted.all_orders(), live.all_orders(), "the disk holds other orders");
    assert_eq!(restarted.active_orders(), live.active_orders(), "the open list differs after a restart");
    assert_eq!(restarted.catalogue_state(), live.catalogue_state(), "the catalogue differs after a restart");
    for id in live.all_orders() {
        assert_eq!(restarted.view(&id), live.view(&id), "order {id} differs after a restart");
    }
}
