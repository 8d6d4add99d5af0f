//! A screen in front of Automerge's decoders, for bytes from a peer or
//! from the disk: their chunk headers are read here, and only the kinds of
//! chunk possync writes reach Automerge.
//!
//! Automerge bytes are a sequence of chunks, each `magic (4) | checksum (4)
//! | type (1) | length (uLEB128) | body`: documents (`save()`, and a sync
//! message that carries a whole document), changes (`raw_bytes()`, as
//! broadcast, stored and synced) and compressed changes (`bytes()`: the
//! catalogue document's messages, and any peer's change that Automerge
//! chose to compress). Automerge 0.12 reads a fourth kind, and two kinds
//! let a few bytes claim gigabytes before any check can refuse them:
//! - a *bundle* (type 3) is decoded eagerly: an 874-byte one whose delta
//!   column claims billions of values made `Change::from_bytes` and
//!   `Automerge::load` allocate over 20 GiB until the process was killed
//!   (found by the `change_validation` fuzz target; an allocation failure
//!   aborts, no `catch_unwind` turns it into a refusal). possync never
//!   writes one: bundles are refused unread.
//! - a *compressed change* (type 2), and a document's DEFLATE columns, are
//!   inflated whole before they are parsed, about a thousandfold for a
//!   crafted body. Each one is inflated here first, into nothing, and the
//!   bytes are refused if all of them together would grow past
//!   [`MAX_INFLATED_BYTES`].
//!
//! What Automerge would refuse anyway at the header (bad magic, unknown
//! type, a length past the end) is refused here too.

use std::io::Read;

/// The most a screened piece of bytes may inflate to, its compressed
/// changes and its documents' DEFLATE columns together: four times the largest catalogue the local API takes
/// (8 MiB); an order's change is far smaller.
pub const MAX_INFLATED_BYTES: u64 = 32 * 1024 * 1024;

/// What a piece of bytes must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exactly one change chunk, compressed or not: a change as broadcast
    /// or stored.
    OneChange,
    /// Document and change chunks, in any number: a saved document, the
    /// changes of a sync message (one chunk each, or all in one), the
    /// catalogue document's messages.
    Saved,
}

/// Bytes refused by [`screen`]. `at` is the offset of the chunk at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("no Automerge chunk at byte {at} (bad magic bytes)")]
    BadMagic { at: usize },
    #[error("the chunk header at byte {at} is cut short")]
    Truncated { at: usize },
    #[error("the chunk at byte {at} claims {declared} bytes where {left} remain")]
    PastTheEnd { at: usize, declared: u64, left: usize },
    #[error("unknown chunk type {kind} at byte {at}")]
    UnknownType { at: usize, kind: u8 },
    #[error("a {what} chunk at byte {at}: possync never writes one, and refuses it unread")]
    Refused { at: usize, what: &'static str },
    #[error("a {what} chunk at byte {at} where a change was expected")]
    NotAChange { at: usize, what: &'static str },
    #[error("{count} chunks where one change was expected")]
    NotOneChange { count: usize },
    #[error("the chunk at byte {at} holds DEFLATE data that does not inflate")]
    BadDeflate { at: usize },
    #[error("the chunk at byte {at} inflates past {MAX_INFLATED_BYTES} bytes (with those before it)")]
    InflatesTooFar { at: usize },
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;
const BUNDLE: u8 = 3;

/// Checks the chunk headers of `bytes` against `expect`. Of the bodies it
/// reads only a document's column layout, and inflates only what is
/// compressed (into nothing, up to the bound). Empty bytes hold no chunk: they pass as
/// [`Expect::Saved`] (Automerge loads them as an empty document), not as
/// [`Expect::OneChange`].
pub fn screen(bytes: &[u8], expect: Expect) -> Result<(), ChunkError> {
    let mut at = 0;
    let mut count = 0;
    let mut inflated = 0;
    while at < bytes.len() {
        let (kind, body, end) = header(bytes, at)?;
        match kind {
            DOCUMENT if expect == Expect::OneChange => {
                return Err(ChunkError::NotAChange { at, what: "document" });
            }
            DOCUMENT => {
                inflated += document_inflated_len(&bytes[body..end], MAX_INFLATED_BYTES - inflated, at)?;
            }
            CHANGE => {}
            COMPRESSED_CHANGE => {
                inflated += inflated_len(&bytes[body..end], MAX_INFLATED_BYTES - inflated, at)?;
            }
            BUNDLE => return Err(ChunkError::Refused { at, what: "bundle" }),
            kind => return Err(ChunkError::UnknownType { at, kind }),
        }
        count += 1;
        at = end;
    }
    if expect == Expect::OneChange && count != 1 {
        return Err(ChunkError::NotOneChange { count });
    }
    Ok(())
}

/// The type of the chunk starting at `at`, where its body starts and
/// where it ends.
fn header(bytes: &[u8], at: usize) -> Result<(u8, usize, usize), ChunkError> {
    let rest = &bytes[at..];
    if rest.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(rest) {
            ChunkError::Truncated { at }
        } else {
            ChunkError::BadMagic { at }
        });
    }
    if rest[..MAGIC.len()] != MAGIC {
        return Err(ChunkError::BadMagic { at });
    }
    // Magic, checksum, then the type.
    let Some(&kind) = rest.get(8) else { return Err(ChunkError::Truncated { at }) };
    let (declared, length_bytes) = uleb128(&rest[9..]).ok_or(ChunkError::Truncated { at })?;
    let body = 9 + length_bytes;
    let left = rest.len() - body;
    match usize::try_from(declared) {
        Ok(len) if len <= left => Ok((kind, at + body, at + body + len)),
        _ => Err(ChunkError::PastTheEnd { at, declared, left }),
    }
}

/// How many bytes a compressed change's DEFLATE `body` inflates to, read
/// into nothing and given up past `limit`.
fn inflated_len(body: &[u8], limit: u64, at: usize) -> Result<u64, ChunkError> {
    let decoder = flate2::bufread::DeflateDecoder::new(body);
    let n = std::io::copy(&mut decoder.take(limit + 1), &mut std::io::sink())
        .map_err(|_| ChunkError::BadDeflate { at })?;
    if n > limit { Err(ChunkError::InflatesTooFar { at }) } else { Ok(n) }
}

/// How many bytes the DEFLATE columns of a document chunk's `body`
/// inflate to, given up past `limit`. A document keeps its columns after
/// a prefix: its actors, its heads, then the change columns' and the
/// operation columns' (spec, length) pairs; a spec's bit 3 marks a column
/// Automerge inflates whole at load (`save()` deflates the larger ones).
fn document_inflated_len(body: &[u8], limit: u64, at: usize) -> Result<u64, ChunkError> {
    const DEFLATE_BIT: u64 = 0b1000;
    const HASH_LEN: u64 = 32;
    let mut cursor = Cursor { bytes: body, pos: 0, at };
    for _ in 0..cursor.uleb()? {
        let actor_len = cursor.uleb()?;
        cursor.skip(actor_len)?;
    }
    let heads = cursor.uleb()?;
    cursor.skip(heads.saturating_mul(HASH_LEN))?;
    let mut columns = Vec::new();
    // The change columns, then the operation columns.
    for _ in 0..2 {
        for _ in 0..cursor.uleb()? {
            let spec = cursor.uleb()?;
            columns.push((spec & DEFLATE_BIT != 0, cursor.uleb()?));
        }
    }
    // The columns' data follows, in the order of their specs.
    let mut inflated = 0;
    for (deflated, len) in columns {
        let data = cursor.skip(len)?;
        if deflated {
            inflated += inflated_len(data, limit - inflated, at)?;
        }
    }
    Ok(inflated)
}

/// Reads LEB128 numbers and skips bytes of the chunk at `at`; running
/// past the end is [`ChunkError::Truncated`].
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn uleb(&mut self) -> Result<u64, ChunkError> {
        let (value, len) = uleb128(&self.bytes[self.pos..]).ok_or(ChunkError::Truncated { at: self.at })?;
        self.pos += len;
        Ok(value)
    }

    /// The next `len` bytes.
    fn skip(&mut self, len: u64) -> Result<&'a [u8], ChunkError> {
        let bytes: &'a [u8] = self.bytes;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|&end| end <= bytes.len())
            .ok_or(ChunkError::Truncated { at: self.at })?;
        let skipped = &bytes[self.pos..end];
        self.pos = end;
        Ok(skipped)
    }
}

/// An unsigned LEB128 number and the bytes it took; `None` if the bytes
/// end before it does or it does not fit in 64 bits.
fn uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        let low = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        if shift == 63 && low > 1 {
            return None;
        }
        value |= low << shift;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT};

    use super::*;

    /// A document with two changes: its saved form and each change's bytes.
    fn document() -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut doc = Automerge::new();
        for i in 0..2 {
            let mut tx = doc.transaction();
            tx.put(ROOT, "n", i64::from(i)).unwrap();
            tx.commit();
        }
        let changes = doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect();
        (doc.save(), changes)
    }

    /// The chunk type's byte: after the magic bytes and the checksum.
    const TYPE_BYTE: usize = 8;

    /// `bytes` with its chunk type set.
    fn retyped(mut bytes: Vec<u8>, kind: u8) -> Vec<u8> {
        bytes[TYPE_BYTE] = kind;
        bytes
    }

    #[test]
    fn what_possync_writes_passes() {
        let (saved, changes) = document();
        assert_eq!(screen(&changes[0], Expect::OneChange), Ok(()));
        assert_eq!(screen(&saved, Expect::Saved), Ok(()));
        // A sync message's changes all in one, and a document followed by
        // a change (both of which `Automerge::load` takes).
        assert_eq!(screen(&changes.concat(), Expect::Saved), Ok(()));
        assert_eq!(screen(&[saved.as_slice(), &changes[1]].concat(), Expect::Saved), Ok(()));
        assert_eq!(screen(&[], Expect::Saved), Ok(()));
    }

    #[test]
    fn bundles_are_refused_unread() {
        let (saved, changes) = document();
        let bundle = retyped(changes[0].clone(), BUNDLE);
        assert_eq!(screen(&bundle, Expect::OneChange), Err(ChunkError::Refused { at: 0, what: "bundle" }));
        assert_eq!(screen(&bundle, Expect::Saved), Err(ChunkError::Refused { at: 0, what: "bundle" }));
        // Hidden after a valid document.
        let behind = [saved.as_slice(), &bundle].concat();
        assert_eq!(
            screen(&behind, Expect::Saved),
            Err(ChunkError::Refused { at: saved.len(), what: "bundle" })
        );
    }

    /// A compressed change, as the catalogue document sends its changes,
    /// passes, as a change and in a document's company; a DEFLATE bomb
    /// does not, nor does a body that is not DEFLATE.
    #[test]
    fn compressed_changes_pass_only_if_bounded() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(ROOT, "catalogue", "x".repeat(4096)).unwrap();
        tx.commit();
        let compressed = doc.get_last_local_change().unwrap().clone().bytes().into_owned();
        assert_eq!(compressed[TYPE_BYTE], COMPRESSED_CHANGE);
        assert_eq!(screen(&compressed, Expect::OneChange), Ok(()));
        assert_eq!(screen(&compressed, Expect::Saved), Ok(()));
        assert_eq!(Automerge::load(&compressed).unwrap().get_heads(), doc.get_heads());

        let bomb = compressed_chunk(&zeros_deflated(MAX_INFLATED_BYTES + 1));
        assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
        assert_eq!(screen(&bomb, Expect::Saved), Err(ChunkError::InflatesTooFar { at: 0 }));
        // The bound holds for all of them together.
        let half = compressed_chunk(&zeros_deflated(MAX_INFLATED_BYTES / 2 + 1));
        assert_eq!(screen(&half, Expect::Saved), Ok(()));
        assert_eq!(
            screen(&[half.as_slice(), &half].concat(), Expect::Saved),
            Err(ChunkError::InflatesTooFar { at: half.len() })
        );
        let garbage = compressed_chunk(&[0xff; 16]);
        assert_eq!(screen(&garbage, Expect::Saved), Err(ChunkError::BadDeflate { at: 0 }));
    }

    /// A saved document whose columns `save()` deflated passes and loads;
    /// one whose column claims to inflate past the bound is refused.
    #[test]
    fn a_documents_deflate_columns_are_bounded_too() {
        let mut doc = Automerge::new();
        for i in 0..200 {
            let mut tx = doc.transaction();
            tx.put(ROOT, format!("key-{i}"), "x".repeat(64)).unwrap();
            tx.commit();
        }
        let saved = doc.save();
        assert_eq!(screen(&saved, Expect::Saved), Ok(()));
        let (_, body, end) = header(&saved, 0).unwrap();
        let inflated = document_inflated_len(&saved[body..end], MAX_INFLATED_BYTES, 0).unwrap();
        assert!(inflated >= 200 * 64, "{inflated} bytes inflated");

        // One actor, no heads, one change column (deflated), no op column.
        let bomb = zeros_deflated(MAX_INFLATED_BYTES + 1);
        let mut body = vec![1, 16];
        body.extend([7; 16]);
        body.extend([0, 1]);
        push_uleb(&mut body, (1 << 4) | 0b1000);
        push_uleb(&mut body, bomb.len() as u64);
        body.push(0);
        body.extend(&bomb);
        let document = chunk(DOCUMENT, &body);
        assert_eq!(screen(&document, Expect::Saved), Err(ChunkError::InflatesTooFar { at: 0 }));
        // Cut inside its columns: refused as cut short, not read past the end.
        let cut = chunk(DOCUMENT, &body[..body.len() - 10]);
        assert_eq!(screen(&cut, Expect::Saved), Err(ChunkError::Truncated { at: 0 }));
    }

    fn zeros_deflated(len: u64) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            encoder.write_all(&block[..n]).unwrap();
            left -= n as u64;
        }
        encoder.finish().unwrap()
    }

    /// A compressed-change chunk around `body`.
    fn compressed_chunk(body: &[u8]) -> Vec<u8> {
        chunk(COMPRESSED_CHANGE, body)
    }

    /// A chunk of type `kind` around `body` (the screen does not check the
    /// checksum).
    fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut chunk = MAGIC.to_vec();
        chunk.extend([0; 4]);
        chunk.push(kind);
        push_uleb(&mut chunk, body.len() as u64);
        chunk.extend_from_slice(body);
        chunk
    }

    fn push_uleb(out: &mut Vec<u8>, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    #[test]
    fn one_change_means_one_change_chunk() {
        let (saved, changes) = document();
        assert_eq!(
            screen(&saved, Expect::OneChange),
            Err(ChunkError::NotAChange { at: 0, what: "document" })
        );
        assert_eq!(screen(&changes.concat(), Expect::OneChange), Err(ChunkError::NotOneChange { count: 2 }));
        assert_eq!(screen(&[], Expect::OneChange), Err(ChunkError::NotOneChange { count: 0 }));
    }

    #[test]
    fn broken_headers_are_refused() {
        let (_, changes) = document();
        let change = &changes[0];
        assert_eq!(screen(&change[..3], Expect::Saved), Err(ChunkError::Truncated { at: 0 }));
        assert_eq!(screen(&change[..9], Expect::Saved), Err(ChunkError::Truncated { at: 0 }));
        assert_eq!(screen(b"not automerge", Expect::Saved), Err(ChunkError::BadMagic { at: 0 }));
        assert_eq!(
            screen(&retyped(change.clone(), 9), Expect::Saved),
            Err(ChunkError::UnknownType { at: 0, kind: 9 })
        );
        let cut = &change[..change.len() - 1];
        assert!(matches!(screen(cut, Expect::OneChange), Err(ChunkError::PastTheEnd { at: 0, .. })));
        // A length of 2^64 - 1, and one that does not end.
        let mut huge = change[..9].to_vec();
        huge.extend([0xff; 9]);
        huge.push(0x01);
        assert!(matches!(
            screen(&huge, Expect::Saved),
            Err(ChunkError::PastTheEnd { declared: u64::MAX, .. })
        ));
        let mut endless = change[..9].to_vec();
        endless.extend([0x80; 12]);
        assert_eq!(screen(&endless, Expect::Saved), Err(ChunkError::Truncated { at: 0 }));
    }
}
