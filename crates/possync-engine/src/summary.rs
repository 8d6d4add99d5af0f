//! Anti-entropy summaries: a fingerprint of a terminal's orders (open and
//! archived) that two
//! terminals compare to find the few orders that differ, at a cost that does
//! not grow with the number of orders.
//!
//! Every order falls in one of `buckets` buckets by a hash of its id. Each
//! order contributes `fingerprint(id, heads)` (8 bytes) and a bucket's hash is
//! the XOR of its orders' fingerprints, so an edit updates one bucket in O(1)
//! and a summary of 10,000 identical orders is `buckets × 8` bytes.

use std::collections::BTreeSet;

use automerge::ChangeHash;
use possync_model::OrderId;
use sha2::{Digest, Sha256};

/// The bucket an order falls in: the first two bytes of SHA-256 of its id
/// (big-endian) modulo the bucket count.
pub fn bucket_of(order: &OrderId, buckets: u16) -> u16 {
    let d = Sha256::digest(order.as_str().as_bytes());
    u16::from_be_bytes([d[0], d[1]]) % buckets.max(1)
}

/// An order's contribution to its bucket: the first 8 bytes (big-endian) of
/// SHA-256 over the id, a zero byte, then its heads sorted bytewise.
pub fn fingerprint(order: &OrderId, heads: &[ChangeHash]) -> u64 {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(order.as_str().as_bytes());
    h.update([0u8]);
    for head in sorted {
        h.update(head.0);
    }
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The incrementally maintained summary of one terminal's complete orders.
#[derive(Debug, Clone)]
pub struct Summary {
    hashes: Vec<u64>,
    members: Vec<BTreeSet<OrderId>>,
}

impl Summary {
    pub fn new(buckets: u16) -> Self {
        let n = usize::from(buckets.max(1));
        Summary { hashes: vec![0; n], members: vec![BTreeSet::new(); n] }
    }

    pub fn bucket_count(&self) -> u16 {
        self.hashes.len() as u16
    }

    pub fn bucket_of(&self, order: &OrderId) -> u16 {
        bucket_of(order, self.bucket_count())
    }

    /// Adds an order's fingerprint; pair every `add` with a `remove` of the
    /// same fingerprint.
    pub fn add(&mut self, order: &OrderId, fingerprint: u64) {
        let b = usize::from(self.bucket_of(order));
        self.hashes[b] ^= fingerprint;
        self.members[b].insert(order.clone());
    }

    pub fn remove(&mut self, order: &OrderId, fingerprint: u64) {
        let b = usize::from(self.bucket_of(order));
        self.hashes[b] ^= fingerprint;
        self.members[b].remove(order);
    }

    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// Buckets whose hash differs from `theirs`. A summary with another bucket
    /// count is incomparable: every bucket then differs.
    pub fn differing(&self, theirs: &[u64]) -> Vec<u16> {
        if theirs.len() != self.hashes.len() {
            return (0..self.bucket_count()).collect();
        }
        (0..self.bucket_count()).filter(|&b| self.hashes[usize::from(b)] != theirs[usize::from(b)]).collect()
    }

    pub fn members(&self, bucket: u16) -> impl Iterator<Item = &OrderId> {
        self.members.get(usize::from(bucket)).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_summary_tracks_membership_and_heads() {
        let a = OrderId::from_random(1);
        let b = OrderId::from_random(2);
        let h1 = [ChangeHash([1; 32])];
        let h2 = [ChangeHash([2; 32])];
        let mut left = Summary::new(64);
        let mut right = Summary::new(64);
        left.add(&a, fingerprint(&a, &h1));
        right.add(&a, fingerprint(&a, &h1));
        assert!(left.differing(right.hashes()).is_empty());
        left.add(&b, fingerprint(&b, &h1));
        assert_eq!(left.differing(right.hashes()), vec![left.bucket_of(&b)]);
        right.add(&b, fingerprint(&b, &h2));
        assert_eq!(left.differing(right.hashes()), vec![left.bucket_of(&b)]);
        right.remove(&b, fingerprint(&b, &h2));
        right.add(&b, fingerprint(&b, &h1));
        assert!(left.differing(right.hashes()).is_empty());
        assert_eq!(Summary::new(64).differing(&[0; 8]).len(), 64);
    }

    #[test]
    fn fingerprint_ignores_head_order() {
        let a = OrderId::from_random(1);
        let (x, y) = (ChangeHash([1; 32]), ChangeHash([2; 32]));
        assert_eq!(fingerprint(&a, &[x, y]), fingerprint(&a, &[y, x]));
    }
}
