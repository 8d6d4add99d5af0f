//! Tunables of the engine. Defaults suit a restaurant floor of 2 to 20
//! terminals on a LAN; every queue and table they bound is named here.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Buckets of the anti-entropy summary. 64 × 8 bytes = a 512-byte summary
    /// whatever the number of orders.
    pub summary_buckets: u16,
    /// How often a terminal compares summaries with one peer even when
    /// nothing seems wrong (gossip has no delivery guarantee).
    pub anti_entropy_interval: Duration,
    /// A sync session or fetch with no reply for this long is dropped; the
    /// next anti-entropy round starts it again.
    pub sync_timeout: Duration,
    /// Most order sync sessions this terminal runs with one peer at once; the
    /// rest wait in that peer's queue.
    pub max_sessions_per_peer: usize,
    /// Most sync sessions a peer may open with us at once; beyond it its
    /// messages are dropped (it retries after `sync_timeout`).
    pub max_inbound_sessions_per_peer: usize,
    /// Largest pairwise message we build. Larger content is split.
    pub max_direct_bytes: usize,
    /// Largest gossip message (gossipsub's default limit is 64 KiB). Larger
    /// changes are not gossiped; peers get them through catch-up.
    pub max_gossip_bytes: usize,
    /// How long paid and cancelled orders stay in the archive.
    pub retention: Duration,
    /// Rewrite an order's stored snapshot after this many appended changes:
    /// small enough that a typical order (~50 changes) is a snapshot and a
    /// short log on disk (figures: docs/PERFORMANCE.md, "Bytes on disk").
    pub compact_after: u32,
    /// Most orders (open, archived and half-received) held at once.
    pub max_orders: usize,
    /// Catch-up messages one peer may send per second, sustained...
    pub peer_messages_per_second: u32,
    /// ...and in a burst. Messages over the rate are dropped and count as an
    /// offence.
    pub peer_message_burst: u32,
    /// Gossip messages one peer may forward or publish per second, and in a
    /// burst: a whole floor's rush passes through one mesh neighbour.
    pub peer_gossip_per_second: u32,
    pub peer_gossip_burst: u32,
    /// Gossip messages that bring only changes already held, per peer per
    /// second and in a burst, before each further one is an offence.
    pub peer_duplicates_per_second: u32,
    pub peer_duplicate_burst: u32,
    /// A peer with more offences (refused data, messages over the rate) than
    /// this within `offence_window` is disconnected.
    pub max_offences: u32,
    pub offence_window: Duration,
    /// How long a payment claim lasts unless renewed (the payment screen
    /// renews it while open); a terminal that died holding one frees the
    /// order after this at the latest.
    pub payment_claim_ttl: Duration,
    /// How long a claim waits for every peer's answer before it is granted
    /// anyway: a peer that stays silent (partitioned while still connected)
    /// must not stop a terminal from taking a payment.
    pub payment_claim_ack_timeout: Duration,
    /// Delivery of closed orders to back offices.
    pub delivery: crate::delivery::DeliveryConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            summary_buckets: 64,
            anti_entropy_interval: Duration::from_secs(15),
            sync_timeout: Duration::from_secs(10),
            max_sessions_per_peer: 64,
            max_inbound_sessions_per_peer: 256,
            max_direct_bytes: 256 * 1024,
            max_gossip_bytes: 60 * 1024,
            retention: Duration::from_secs(24 * 3600),
            compact_after: 32,
            max_orders: 100_000,
            // A late joiner's catch-up sends a few hundred messages at most;
            // these bounds only stop floods.
            peer_messages_per_second: 500,
            peer_message_burst: 5_000,
            peer_gossip_per_second: 2_000,
            peer_gossip_burst: 20_000,
            peer_duplicates_per_second: 100,
            peer_duplicate_burst: 1_000,
            max_offences: 20,
            offence_window: Duration::from_secs(60),
            payment_claim_ttl: Duration::from_secs(30),
            payment_claim_ack_timeout: Duration::from_secs(3),
            delivery: Default::default(),
        }
    }
}
