// The possync framing (docs/PROTOCOL.md §2–§4), written from the document
// alone: encode and decode every message kind a version-1 peer exchanges.

import { createHash } from 'node:crypto'

export const MAGIC = [0x50, 0x53] // "PS"
export const VERSION = 1
export const KIND = { changes: 1, summary: 16, heads: 17, fetch: 18, docs: 19, sync: 20 }
const ID_RE = /^[A-Za-z0-9._-]{1,64}$/

export function sha256 (...parts) {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

/** §3: the gossipsub message id is the first 20 bytes of SHA-256(message). */
export function messageId (bytes) {
  return sha256(bytes).subarray(0, 20)
}

class Writer {
  constructor () { this.parts = []; this.len = 0 }
  raw (bytes) { this.parts.push(bytes); this.len += bytes.length; return this }
  u8 (n) { return this.raw(Uint8Array.of(n)) }
  varint (n) {
    let v = BigInt(n)
    const out = []
    do {
      let b = Number(v & 0x7fn)
      v >>= 7n
      if (v > 0n) b |= 0x80
      out.push(b)
    } while (v > 0n)
    return this.raw(Uint8Array.from(out))
  }
  bytes (b) { return this.varint(b.length).raw(b) }
  str (s) { return this.bytes(new TextEncoder().encode(s)) }
  id (s) {
    if (!ID_RE.test(s)) throw new Error(`invalid id ${JSON.stringify(s)}`)
    return this.str(s)
  }
  list (items, each) { this.varint(items.length); for (const x of items) each(x); return this }
  u64be (big) {
    const b = new Uint8Array(8)
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, big))
    return this.raw(b)
  }
  finish () {
    const out = new Uint8Array(this.len)
    let at = 0
    for (const p of this.parts) { out.set(p, at); at += p.length }
    return out
  }
}

class Reader {
  constructor (bytes) { this.b = bytes; this.at = 0 }
  left () { return this.b.length - this.at }
  u8 () {
    if (this.left() < 1) throw new Error('truncated')
    return this.b[this.at++]
  }
  varint () {
    let v = 0n; let shift = 0n
    for (let i = 0; i < 10; i++) {
      const b = this.u8()
      v |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) {
        if (v >= 1n << 64n) throw new Error('varint over 64 bits')
        return v
      }
      shift += 7n
    }
    throw new Error('varint over 10 bytes')
  }
  small () { return Number(this.varint()) }
  raw (n) {
    if (n > this.left()) throw new Error('truncated')
    const out = this.b.subarray(this.at, this.at + n)
    this.at += n
    return out
  }
  bytes () { return this.raw(this.small()) }
  str () { return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes()) }
  id () {
    const s = this.str()
    if (!ID_RE.test(s)) throw new Error(`invalid id ${JSON.stringify(s)}`)
    return s
  }
  // A count larger than the remaining bytes could hold is an error (§2).
  list (each, minItemBytes = 1) {
    const n = this.small()
    if (n * minItemBytes > this.left()) throw new Error('count larger than the message')
    const out = []
    for (let i = 0; i < n; i++) out.push(each())
    return out
  }
  u64be () {
    const b = this.raw(8)
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, false)
  }
  end () { if (this.left() !== 0) throw new Error('trailing bytes') }
}

const hex = (b) => Buffer.from(b).toString('hex')
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'))

/** Encodes one message: `{kind: 'changes', order, changes}` and so on. */
export function encode (msg) {
  const w = new Writer().raw(Uint8Array.from(MAGIC)).u8(VERSION).u8(KIND[msg.kind])
  switch (msg.kind) {
    case 'changes':
      w.id(msg.order).list(msg.changes, (c) => w.bytes(c)); break
    case 'summary':
      w.varint(msg.buckets.length); for (const h of msg.buckets) w.u64be(h); break
    case 'heads':
      w.u8(msg.respond ? 1 : 0)
      w.list(msg.buckets, (b) => w.varint(b))
      w.list(msg.entries, ({ id, heads }) => { w.id(id); w.list(heads, (h) => w.raw(unhex(h))) })
      break
    case 'fetch':
      w.list(msg.orders, (id) => w.id(id)); break
    case 'docs':
      w.list(msg.docs, ({ id, bytes }) => { w.id(id); w.bytes(bytes) }); break
    case 'sync':
      w.list(msg.items, ({ id, payload }) => { w.id(id); w.bytes(payload) }); break
    default: throw new Error(`unknown kind ${msg.kind}`)
  }
  return w.finish()
}

/**
 * Decodes one message. Returns null for a newer version or an unknown kind
 * (ignored, §2); throws on anything malformed.
 */
export function decode (bytes) {
  const r = new Reader(bytes)
  if (r.u8() !== MAGIC[0] || r.u8() !== MAGIC[1]) throw new Error('bad magic')
  const version = r.u8()
  if (version > VERSION) return null
  if (version < VERSION) throw new Error(`version ${version}`)
  const kind = r.u8()
  let msg
  switch (kind) {
    case KIND.changes: msg = { kind: 'changes', order: r.id(), changes: r.list(() => r.bytes()) }; break
    case KIND.summary: {
      const n = r.small()
      if (n * 8 > r.left()) throw new Error('count larger than the message')
      const buckets = []
      for (let i = 0; i < n; i++) buckets.push(r.u64be())
      msg = { kind: 'summary', buckets }
      break
    }
    case KIND.heads: {
      const respond = r.u8()
      if (respond > 1) throw new Error('respond must be 0 or 1')
      const buckets = r.list(() => r.small())
      const entries = r.list(() => ({ id: r.id(), heads: r.list(() => hex(r.raw(32)), 32) }), 2)
      msg = { kind: 'heads', respond: respond === 1, buckets, entries }
      break
    }
    case KIND.fetch: msg = { kind: 'fetch', orders: r.list(() => r.id(), 2) }; break
    case KIND.docs: msg = { kind: 'docs', docs: r.list(() => ({ id: r.id(), bytes: r.bytes() }), 2) }; break
    case KIND.sync: msg = { kind: 'sync', items: r.list(() => ({ id: r.id(), payload: r.bytes() }), 2) }; break
    default: return null
  }
  r.end()
  return msg
}

/** §4.1: the bucket of an order id. */
export function bucketOf (id, count) {
  const d = sha256(new TextEncoder().encode(id))
  return ((d[0] << 8) | d[1]) % Math.max(count, 1)
}

/** §4.1: an order's fingerprint, from its id and heads (hex strings). */
export function fingerprint (id, heads) {
  const sorted = [...heads].sort() // lowercase hex of equal length sorts as the bytes do
  const d = sha256(new TextEncoder().encode(id), Uint8Array.of(0), ...sorted.map(unhex))
  return new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0, false)
}
