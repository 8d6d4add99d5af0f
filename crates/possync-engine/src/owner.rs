//! Which terminal an Automerge actor belongs to.
//!
//! Automerge refuses a second change with an (actor, sequence number) pair it
//! already holds. If a member could publish changes under another terminal's
//! actor, it could take that terminal's next sequence numbers first: the real
//! terminal's edits would then be refused everywhere, silently lost. So every
//! terminal writes under an actor id that starts with a fingerprint of its
//! network identity, followed by a nonce drawn at every start (a cloned data
//! directory, S20, must never reuse a pair either):
//!
//! ```text
//! actor = SHA-256("possync actor owner v1" ‖ identity)[..12] ‖ nonce (8 bytes)
//! ```
//!
//! Gossip is signed by the terminal that published it, so a receiver checks
//! that every change in a gossip message was written by its signer
//! ([`ActorOwner::owns`]). Catch-up relays other terminals' changes and cannot
//! be checked this way (that would need signed changes; see `docs/SECURITY.md`).

use automerge::ActorId;
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"possync actor owner v1";
const FINGERPRINT_LEN: usize = 12;
const NONCE_LEN: usize = 8;
/// Length of every actor id this release writes.
const ACTOR_LEN: usize = FINGERPRINT_LEN + NONCE_LEN;

/// The fingerprint of one terminal identity, as it prefixes its actor ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActorOwner([u8; FINGERPRINT_LEN]);

impl ActorOwner {
    /// The owner for a network identity: for libp2p, the bytes of the peer id
    /// (which embeds or hashes the terminal's public key).
    pub fn of_identity(identity: &[u8]) -> Self {
        let digest = Sha256::new().chain_update(DOMAIN).chain_update(identity).finalize();
        let mut fingerprint = [0u8; FINGERPRINT_LEN];
        fingerprint.copy_from_slice(&digest[..FINGERPRINT_LEN]);
        ActorOwner(fingerprint)
    }

    /// An actor id of this owner; `nonce` must be fresh for every start.
    pub fn actor(&self, nonce: u64) -> ActorId {
        let mut bytes = [0u8; ACTOR_LEN];
        bytes[..FINGERPRINT_LEN].copy_from_slice(&self.0);
        bytes[FINGERPRINT_LEN..].copy_from_slice(&nonce.to_be_bytes());
        ActorId::from(&bytes[..])
    }

    /// Whether `actor` was written by this owner.
    pub fn owns(&self, actor: &ActorId) -> bool {
        let bytes = actor.to_bytes();
        bytes.len() == ACTOR_LEN && bytes[..FINGERPRINT_LEN] == self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_owns_its_actors_and_no_one_elses() {
        let a = ActorOwner::of_identity(b"terminal A");
        let b = ActorOwner::of_identity(b"terminal B");
        assert!(a.owns(&a.actor(1)) && a.owns(&a.actor(u64::MAX)));
        assert!(!a.owns(&b.actor(1)));
        assert_ne!(a.actor(1), a.actor(2), "every start writes under a new actor");
        assert!(!a.owns(&ActorId::from(&[0u8; 16][..])), "a random legacy actor belongs to no one");
        let mut long = a.actor(1).to_bytes().to_vec();
        long.push(0);
        assert!(!a.owns(&ActorId::from(long)), "the prefix alone is not enough");
    }
}
