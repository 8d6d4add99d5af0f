//! `wire_envelope`: the gossip and catch-up decoders on their own. Any bytes
//! decode to a message or an error, never a panic; a decoded message encodes
//! back to one that decodes to itself (what a terminal relays or answers is
//! what it understood).

use possync_engine::wire::{Direct, Gossip, message_id};

pub fn wire_envelope(data: &[u8]) {
    if let Ok(msg) = Gossip::decode(data) {
        let again = msg.encode();
        assert_eq!(Gossip::decode(&again).as_ref(), Ok(&msg), "gossip does not round-trip");
        assert!(again.len() <= data.len(), "re-encoding grew the message");
        // Equal content, equal id: relays of one message are deduplicated.
        assert_eq!(message_id(&again), message_id(&msg.encode()));
    }
    if let Ok(msg) = Direct::decode(data) {
        let again = msg.encode();
        assert_eq!(Direct::decode(&again).as_ref(), Ok(&msg), "catch-up message does not round-trip");
        // Varints may be written longer than needed; nothing else can be.
        assert!(again.len() <= data.len(), "re-encoding grew the message");
    }
}
