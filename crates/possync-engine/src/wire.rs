//! The wire format: every message possync sends, as bytes. `docs/PROTOCOL.md`
//! describes the same encoding for implementers in other languages.
//!
//! ```text
//! message  = magic "PS" | version u8 (= 1) | kind u8 | body
//! varint   = unsigned LEB128, at most 10 bytes
//! bytes    = varint length | that many bytes
//! str      = bytes, UTF-8
//! list<T>  = varint count | count × T
//! ```
//!
//! Decoding never panics and never allocates more than the input could hold:
//! every length is checked against the bytes that remain.

use automerge::ChangeHash;
use possync_model::{OrderId, TerminalId};
use sha2::{Digest, Sha256};

/// First two bytes of every message.
pub const MAGIC: [u8; 2] = *b"PS";
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Most buckets a summary may carry.
pub const MAX_BUCKETS: usize = 4096;

/// Gossip (fan-out) messages: published on the multi-session topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gossip {
    /// New changes of one order, in causal order (kind 1).
    Changes { order: OrderId, changes: Vec<Vec<u8>> },
}

/// Pairwise catch-up messages: sent to one peer over a reliable stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Direct {
    /// A fingerprint of the sender's orders (open and archived), one 8-byte hash per bucket
    /// (kind 16). See [`crate::summary`].
    Summary { buckets: Vec<u64> },
    /// The sender's orders and their heads, for the listed buckets (kind
    /// 17). `respond`: whether the receiver should answer with its own
    /// `Heads` for orders the sender lacks.
    Heads { respond: bool, buckets: Vec<u16>, entries: Vec<(OrderId, Vec<ChangeHash>)> },
    /// Asks for whole orders the sender lacks (kind 18).
    Fetch { orders: Vec<OrderId> },
    /// Whole orders, as saved Automerge documents (kind 19).
    Docs { docs: Vec<(OrderId, Vec<u8>)> },
    /// Automerge sync-protocol messages, one per order (kind 20). An empty
    /// payload means "done": the sender ended its session for that order.
    Sync { items: Vec<(OrderId, Vec<u8>)> },
    /// "I am taking a payment for this order" (kind 21): a short-lived claim,
    /// sent to every connected peer, answered with `ClaimReply`. Never
    /// stored: see the engine's `claims` module.
    Claim(ClaimMsg),
    /// The answer to a `Claim` (kind 22): granted, or refused because
    /// `holder` holds (or is also asking for) the order's claim.
    ClaimReply { order: OrderId, token: u64, granted: bool, holder: ClaimMsg },
    /// The claimant is done (paid or gave up) (kind 23). `heads`: the
    /// order's heads when it let go: the receiver keeps showing the claim
    /// until it holds them, so that nobody pays again before the payment
    /// that was just taken has arrived.
    ClaimRelease { order: OrderId, token: u64, heads: Vec<ChangeHash> },
    /// The heads of the sender's catalogue document (kind 24): sent when a
    /// peer comes up, after every catalogue change, and with each
    /// anti-entropy summary. See [`crate::CatalogueDoc`].
    CatalogueHeads { heads: Vec<ChangeHash> },
    /// Catalogue changes the receiver lacks, or the sender's whole catalogue
    /// document (kind 25): what Automerge's `load_incremental` takes.
    CatalogueDoc { bytes: Vec<u8> },
}

/// One terminal's claim on an order's payment, as it travels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMsg {
    pub order: OrderId,
    /// Random, drawn per claim: names it in replies and releases, and breaks
    /// the tie between two claims made at once (the smaller wins).
    pub token: u64,
    pub terminal: TerminalId,
    pub user: String,
    /// How long the claim lasts from its receipt, unless renewed.
    pub ttl_ms: u32,
}

/// Longest user name a claim carries, in bytes.
pub const MAX_CLAIM_USER: usize = 64;
/// Longest claim lifetime a message may ask for.
pub const MAX_CLAIM_TTL_MS: u32 = 5 * 60 * 1000;

const KIND_CHANGES: u8 = 1;
const KIND_SUMMARY: u8 = 16;
const KIND_HEADS: u8 = 17;
const KIND_FETCH: u8 = 18;
const KIND_DOCS: u8 = 19;
const KIND_SYNC: u8 = 20;
const KIND_CLAIM: u8 = 21;
const KIND_CLAIM_REPLY: u8 = 22;
const KIND_CLAIM_RELEASE: u8 = 23;
const KIND_CATALOGUE_HEADS: u8 = 24;
const KIND_CATALOGUE_DOC: u8 = 25;

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not a possync message (bad magic)")]
    BadMagic,
    #[error("protocol version {0} is not supported (this build speaks {VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    #[error("message truncated while reading {0}")]
    Truncated(&'static str),
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
}

impl WireError {
    /// A message from a newer protocol: ignore it rather than punish the peer.
    pub fn is_from_the_future(&self) -> bool {
        matches!(self, WireError::UnsupportedVersion(v) if *v > VERSION)
            || matches!(self, WireError::UnknownKind(_))
    }
}

/// Length of a gossip message id, in bytes.
pub const MESSAGE_ID_LEN: usize = 20;

/// The gossipsub message id of a gossip message: the first 20 bytes of
/// SHA-256 over its bytes. Content-derived, so the same changes relayed by
/// several peers are recognised as one message.
pub fn message_id(bytes: &[u8]) -> [u8; MESSAGE_ID_LEN] {
    let digest = Sha256::digest(bytes);
    let mut id = [0u8; MESSAGE_ID_LEN];
    id.copy_from_slice(&digest[..MESSAGE_ID_LEN]);
    id
}

impl Gossip {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(KIND_CHANGES);
        match self {
            Gossip::Changes { order, changes } => {
                w.str(order.as_str());
                w.varint(changes.len() as u64);
                for c in changes {
                    w.bytes(c);
                }
            }
        }
        w.out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let (kind, mut r) = Reader::open(bytes)?;
        let msg = match kind {
            KIND_CHANGES => {
                let order = r.order_id()?;
                let changes = r.list("changes", |r| r.bytes("change").map(<[u8]>::to_vec))?;
                Gossip::Changes { order, changes }
            }
            other => return Err(WireError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(msg)
    }
}

impl Direct {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Direct::Summary { buckets } => {
                let mut w = Writer::new(KIND_SUMMARY);
                w.varint(buckets.len() as u64);
                for b in buckets {
                    w.out.extend_from_slice(&b.to_be_bytes());
                }
                w.out
            }
            Direct::Heads { respond, buckets, entries } => {
                let mut w = Writer::new(KIND_HEADS);
                w.out.push(u8::from(*respond));
                w.varint(buckets.len() as u64);
                for b in buckets {
                    w.varint(u64::from(*b));
                }
                w.varint(entries.len() as u64);
                for (order, heads) in entries {
                    w.str(order.as_str());
                    w.varint(heads.len() as u64);
                    for h in heads {
                        w.out.extend_from_slice(&h.0);
                    }
                }
                w.out
            }
            Direct::Fetch { orders } => {
                let mut w = Writer::new(KIND_FETCH);
                w.varint(orders.len() as u64);
                for o in orders {
                    w.str(o.as_str());
                }
                w.out
            }
            Direct::Docs { docs } => Self::encode_pairs(KIND_DOCS, docs),
            Direct::Sync { items } => Self::encode_pairs(KIND_SYNC, items),
            Direct::Claim(claim) => {
                let mut w = Writer::new(KIND_CLAIM);
                w.claim(claim);
                w.out
            }
            Direct::ClaimReply { order, token, granted, holder } => {
                let mut w = Writer::new(KIND_CLAIM_REPLY);
                w.str(order.as_str());
                w.varint(*token);
                w.out.push(u8::from(*granted));
                w.claim(holder);
                w.out
            }
            Direct::ClaimRelease { order, token, heads } => {
                let mut w = Writer::new(KIND_CLAIM_RELEASE);
                w.str(order.as_str());
                w.varint(*token);
                w.varint(heads.len() as u64);
                for h in heads {
                    w.out.extend_from_slice(&h.0);
                }
                w.out
            }
            Direct::CatalogueHeads { heads } => {
                let mut w = Writer::new(KIND_CATALOGUE_HEADS);
                w.varint(heads.len() as u64);
                for h in heads {
                    w.out.extend_from_slice(&h.0);
                }
                w.out
            }
            Direct::CatalogueDoc { bytes } => {
                let mut w = Writer::new(KIND_CATALOGUE_DOC);
                w.bytes(bytes);
                w.out
            }
        }
    }

    fn encode_pairs(kind: u8, pairs: &[(OrderId, Vec<u8>)]) -> Vec<u8> {
        let mut w = Writer::new(kind);
        w.varint(pairs.len() as u64);
        for (order, bytes) in pairs {
            w.str(order.as_str());
            w.bytes(bytes);
        }
        w.out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let (kind, mut r) = Reader::open(bytes)?;
        let msg = match kind {
            KIND_SUMMARY => {
                let n = r.count("buckets", 8)?;
                if n > MAX_BUCKETS {
                    return Err(WireError::Invalid { what: "summary", detail: format!("{n} buckets") });
                }
                let mut buckets = Vec::with_capacity(n);
                for _ in 0..n {
                    let b = r.take(8, "bucket hash")?;
                    buckets.push(u64::from_be_bytes(b.try_into().unwrap_or([0; 8])));
                }
                Direct::Summary { buckets }
            }
            KIND_HEADS => {
                let respond = match r.take(1, "respond flag")?[0] {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(WireError::Invalid { what: "respond flag", detail: other.to_string() });
                    }
                };
                let buckets = r.list("buckets", |r| {
                    let b = r.varint("bucket")?;
                    u16::try_from(b).map_err(|_| WireError::Invalid { what: "bucket", detail: b.to_string() })
                })?;
                let entries = r.list("entries", |r| {
                    let order = r.order_id()?;
                    let heads = r.list("heads", |r| {
                        let h = r.take(32, "change hash")?;
                        ChangeHash::try_from(h)
                            .map_err(|e| WireError::Invalid { what: "change hash", detail: e.to_string() })
                    })?;
                    Ok((order, heads))
                })?;
                Direct::Heads { respond, buckets, entries }
            }
            KIND_FETCH => Direct::Fetch { orders: r.list("orders", Reader::order_id)? },
            KIND_DOCS => Direct::Docs { docs: r.pairs()? },
            KIND_SYNC => Direct::Sync { items: r.pairs()? },
            KIND_CLAIM => Direct::Claim(r.claim()?),
            KIND_CLAIM_REPLY => {
                let order = r.order_id()?;
                let token = r.varint("token")?;
                let granted = match r.take(1, "granted flag")?[0] {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(WireError::Invalid { what: "granted flag", detail: other.to_string() });
                    }
                };
                Direct::ClaimReply { order, token, granted, holder: r.claim()? }
            }
            KIND_CLAIM_RELEASE => {
                let order = r.order_id()?;
                let token = r.varint("token")?;
                let heads = r.list("heads", |r| {
                    let h = r.take(32, "change hash")?;
                    ChangeHash::try_from(h)
                        .map_err(|e| WireError::Invalid { what: "change hash", detail: e.to_string() })
                })?;
                Direct::ClaimRelease { order, token, heads }
            }
            KIND_CATALOGUE_HEADS => Direct::CatalogueHeads { heads: r.list("heads", Reader::change_hash)? },
            KIND_CATALOGUE_DOC => Direct::CatalogueDoc { bytes: r.bytes("catalogue document")?.to_vec() },
            other => return Err(WireError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(msg)
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Direct::Summary { .. } => "summary",
            Direct::Heads { .. } => "heads",
            Direct::Fetch { .. } => "fetch",
            Direct::Docs { .. } => "docs",
            Direct::Sync { .. } => "sync",
            Direct::Claim(_) => "claim",
            Direct::ClaimReply { .. } => "claim_reply",
            Direct::ClaimRelease { .. } => "claim_release",
            Direct::CatalogueHeads { .. } => "catalogue_heads",
            Direct::CatalogueDoc { .. } => "catalogue_doc",
        }
    }
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new(kind: u8) -> Self {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(kind);
        Writer { out }
    }

    fn varint(&mut self, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.out.push(byte);
                return;
            }
            self.out.push(byte | 0x80);
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.out.extend_from_slice(b);
    }

    fn claim(&mut self, c: &ClaimMsg) {
        self.str(c.order.as_str());
        self.varint(c.token);
        self.str(c.terminal.as_str());
        self.str(&c.user);
        self.varint(u64::from(c.ttl_ms));
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn open(bytes: &'a [u8]) -> Result<(u8, Self), WireError> {
        if bytes.len() < 2 || bytes[..2] != MAGIC {
            return Err(WireError::BadMagic);
        }
        let version = *bytes.get(2).ok_or(WireError::Truncated("version"))?;
        if version != VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        let kind = *bytes.get(3).ok_or(WireError::Truncated("kind"))?;
        Ok((kind, Reader { rest: &bytes[4..] }))
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, WireError> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let byte = self.take(1, what)?[0];
            let bits = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(WireError::Invalid { what, detail: "varint overflows 64 bits".into() });
            }
            n |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(WireError::Invalid { what, detail: "varint longer than 10 bytes".into() })
    }

    /// A count of items each at least `min_item_bytes` long; refuses counts
    /// the remaining input cannot hold, so a hostile count cannot make us
    /// allocate.
    fn count(&mut self, what: &'static str, min_item_bytes: usize) -> Result<usize, WireError> {
        let n = self.varint(what)?;
        let n = usize::try_from(n).map_err(|_| WireError::Truncated(what))?;
        if n.saturating_mul(min_item_bytes.max(1)) > self.rest.len() {
            return Err(WireError::Truncated(what));
        }
        Ok(n)
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let n = self.count(what, 1)?;
        self.take(n, what)
    }

    fn order_id(&mut self) -> Result<OrderId, WireError> {
        let raw = self.bytes("order id")?;
        let s = std::str::from_utf8(raw)
            .map_err(|_| WireError::Invalid { what: "order id", detail: "not UTF-8".into() })?;
        OrderId::parse(s).map_err(|e| WireError::Invalid { what: "order id", detail: e.to_string() })
    }

    fn list<T>(
        &mut self,
        what: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        let n = self.count(what, 1)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }

    fn change_hash(&mut self) -> Result<ChangeHash, WireError> {
        let h = self.take(32, "change hash")?;
        ChangeHash::try_from(h).map_err(|e| WireError::Invalid { what: "change hash", detail: e.to_string() })
    }

    fn pairs(&mut self) -> Result<Vec<(OrderId, Vec<u8>)>, WireError> {
        self.list("items", |r| Ok((r.order_id()?, r.bytes("payload")?.to_vec())))
    }

    fn claim(&mut self) -> Result<ClaimMsg, WireError> {
        let order = self.order_id()?;
        let token = self.varint("token")?;
        let terminal = self.bytes("terminal")?;
        let terminal = std::str::from_utf8(terminal)
            .ok()
            .and_then(|t| TerminalId::parse(t).ok())
            .ok_or_else(|| WireError::Invalid { what: "terminal", detail: "not a terminal id".into() })?;
        let user = self.bytes("user")?;
        let user = std::str::from_utf8(user)
            .ok()
            .filter(|u| u.len() <= MAX_CLAIM_USER)
            .ok_or_else(|| WireError::Invalid { what: "user", detail: "not UTF-8 or too long".into() })?
            .to_owned();
        let ttl = self.varint("ttl")?;
        let ttl_ms = u32::try_from(ttl)
            .ok()
            .filter(|t| *t <= MAX_CLAIM_TTL_MS)
            .ok_or_else(|| WireError::Invalid { what: "ttl", detail: format!("{ttl} ms") })?;
        Ok(ClaimMsg { order, token, terminal, user, ttl_ms })
    }

    fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() { Ok(()) } else { Err(WireError::Trailing(self.rest.len())) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn order(n: u128) -> OrderId {
        OrderId::from_random(n)
    }

    fn claim() -> ClaimMsg {
        ClaimMsg {
            order: order(7),
            token: 0xdead_beef,
            terminal: TerminalId::parse("T2").unwrap(),
            user: "ana".into(),
            ttl_ms: 30_000,
        }
    }

    #[test]
    fn a_bad_claim_is_an_error() {
        let good = Direct::Claim(claim()).encode();
        for cut in 0..good.len() {
            assert!(Direct::decode(&good[..cut]).is_err(), "prefix of {cut} bytes decoded");
        }
        let long_ttl = Direct::Claim(ClaimMsg { ttl_ms: MAX_CLAIM_TTL_MS + 1, ..claim() }).encode();
        assert!(matches!(Direct::decode(&long_ttl), Err(WireError::Invalid { what: "ttl", .. })));
        let long_user = Direct::Claim(ClaimMsg { user: "x".repeat(MAX_CLAIM_USER + 1), ..claim() }).encode();
        assert!(matches!(Direct::decode(&long_user), Err(WireError::Invalid { what: "user", .. })));
    }

    #[test]
    fn every_message_round_trips() {
        let hash = ChangeHash([7; 32]);
        let direct = [
            Direct::Summary { buckets: vec![0, u64::MAX, 42] },
            Direct::Heads {
                respond: true,
                buckets: vec![0, 300],
                entries: vec![(order(1), vec![hash, hash])],
            },
            Direct::Fetch { orders: vec![order(2), order(3)] },
            Direct::Docs { docs: vec![(order(4), vec![1, 2, 3])] },
            Direct::Sync { items: vec![(order(5), vec![]), (order(6), vec![9; 300])] },
            Direct::Claim(claim()),
            Direct::ClaimReply { order: order(7), token: 3, granted: false, holder: claim() },
            Direct::ClaimRelease { order: order(7), token: u64::MAX, heads: vec![hash] },
            Direct::CatalogueHeads { heads: vec![hash, hash] },
            Direct::CatalogueHeads { heads: vec![] },
            Direct::CatalogueDoc { bytes: vec![0x85, 0x6f, 0x4a, 0x83] },
        ];
        for msg in direct {
            assert_eq!(Direct::decode(&msg.encode()).unwrap(), msg);
        }
        let g = Gossip::Changes { order: order(9), changes: vec![vec![1; 200], vec![]] };
        assert_eq!(Gossip::decode(&g.encode()).unwrap(), g);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let good = Direct::Fetch { orders: vec![order(2)] }.encode();
        for cut in 0..good.len() {
            assert!(Direct::decode(&good[..cut]).is_err(), "prefix of {cut} bytes decoded");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(Direct::decode(&trailing), Err(WireError::Trailing(1)));
        assert_eq!(Direct::decode(b"XX\x01\x10"), Err(WireError::BadMagic));
        let future = [b'P', b'S', 2, 16];
        assert!(Direct::decode(&future).unwrap_err().is_from_the_future());
        // A count of 2^60 items in a 10-byte message must not allocate.
        let mut huge = vec![b'P', b'S', 1, 18];
        huge.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
        assert_eq!(Direct::decode(&huge), Err(WireError::Truncated("orders")));
    }

    #[test]
    fn message_id_depends_on_content_only() {
        let a = Gossip::Changes { order: order(1), changes: vec![vec![1, 2]] }.encode();
        let b = Gossip::Changes { order: order(1), changes: vec![vec![1, 2]] }.encode();
        let c = Gossip::Changes { order: order(1), changes: vec![vec![1, 3]] }.encode();
        assert_eq!(message_id(&a), message_id(&b));
        assert_ne!(message_id(&a), message_id(&c));
    }
}
