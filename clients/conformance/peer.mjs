// An independent possync terminal in JavaScript, written from
// docs/PROTOCOL.md and docs/ORDER_MODEL.md only: it joins a multi-session
// of `possync run` daemons, holds one Automerge document per order, gossips
// its own changes and catches up pairwise (Summary, Heads, Fetch/Docs, Sync).
// It writes orders with plain Automerge JS idioms (plain strings and
// numbers in object literals), as an integrator would.

import './node20.mjs'
import * as A from '@automerge/automerge'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { randomBytes } from 'node:crypto'

import { encode, decode, messageId, sha256, bucketOf, fingerprint } from './wire.mjs'

export const CATCHUP = '/possync/catchup/1'
const BUCKETS = 64
const MAX_FRAME = 1024 * 1024
// §4.3: at most 512 ids per Fetch, about 256 KiB per Docs.
const MAX_FETCH = 512
const MAX_DOCS_BYTES = 256 * 1024

const hex = (b) => Buffer.from(b).toString('hex')

/** §1: the 12-byte actor prefix of a libp2p identity (its multihash bytes). */
export function actorPrefix (peerId) {
  return hex(sha256(new TextEncoder().encode('possync actor owner v1'), peerId.toMultihash().bytes).subarray(0, 12))
}

/** A stamp map (ORDER_MODEL.md): who, on which terminal, when. */
const stamp = (user, terminal) => ({ user, terminal, at: Date.now() })

/**
 * The checks of ORDER_MODEL.md a receiver needs to refuse what would break
 * an order: the id it is filed under, the name, and each line's types.
 * Returns null when valid, else why not.
 */
export function invalid (doc, id) {
  const d = A.toJS(doc)
  const str = (v) => typeof v === 'string'
  if (d.id === undefined) return 'no id (incomplete)'
  if (String(d.id) !== id) return `id ${d.id} filed under ${id}`
  if (!str(d.name) && !(d.name instanceof Object)) return 'no name'
  if (!Number.isInteger(Number(d.schema)) || d.schema < 1) return 'bad schema'
  for (const [lid, l] of Object.entries(d.lines ?? {})) {
    if (String(l.id) !== lid) return `line ${lid}: id`
    if (!Number.isInteger(Number(l.unit_price))) return `line ${lid}: unit_price`
    if (!Number.isInteger(Number(l.discount))) return `line ${lid}: discount`
  }
  return null
}

/** A readable view of an order: JSON, quantities as numbers. */
export function view (doc) {
  const d = A.toJS(doc)
  const lines = Object.values(d.lines ?? {}).map((l) => ({
    id: String(l.id),
    product: String(l.product),
    qty: Math.max(0, Number(l.qty)),
    unit_price: Number(l.unit_price),
    discount: Number(l.discount),
    ext: l.ext ?? {}
  })).sort((a, b) => a.id.localeCompare(b.id))
  return { id: String(d.id), name: String(d.name), note: String(d.note ?? ''), lines, ext: d.ext ?? {} }
}

export class Peer {
  /**
   * @param {object} o
   * @param {string} o.session multi-session id
   * @param {string} o.terminal this terminal's code
   * @param {Uint8Array|null} o.key the swarm key file's bytes, or null (an open floor)
   */
  constructor ({ session, terminal, key, user = 'js' }) {
    this.session = session
    this.terminal = terminal
    this.key = key
    this.user = user
    this.topic = `possync/1/${session}`
    /** order id → Automerge doc */
    this.orders = new Map()
    /** `${peer} ${order}` → {state, at}: a sync session, and when it last moved */
    this.sessions = new Map()
    /** peers whose subscription to our topic arrived (§5.1) */
    this.admitted = new Set()
    this.log = []
    this.refusedGossip = 0
  }

  async start () {
    this.privateKey = await generateKeyPair('Ed25519')
    this.peerId = peerIdFromPrivateKey(this.privateKey)
    // A fresh actor per start (§1): prefix ‖ 8-byte nonce.
    this.actor = actorPrefix(this.peerId) + hex(randomBytes(8))
    this.node = await createLibp2p({
      privateKey: this.privateKey,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionProtector: this.key ? preSharedKey({ psk: this.key }) : undefined,
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub({
          // Rust `ValidationMode::Strict` + `MessageAuthenticity::Signed`.
          globalSignaturePolicy: 'StrictSign',
          // §3: both sides must compute the same ids for IHAVE/IWANT/IDONTWANT.
          msgIdFn: (msg) => messageId(msg.data),
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          fallbackToFloodsub: false
        })
      }
    })
    const pubsub = this.node.services.pubsub
    pubsub.addEventListener('subscription-change', (evt) => {
      const { peerId, subscriptions } = evt.detail
      if (subscriptions.some((s) => s.topic === this.topic && s.subscribe)) this.admit(peerId)
    })
    pubsub.addEventListener('gossipsub:message', (evt) => {
      const { propagationSource, msg } = evt.detail
      if (msg.topic !== this.topic) return
      this.onGossip(msg, propagationSource)
    })
    this.node.addEventListener('peer:disconnect', (evt) => {
      const id = evt.detail.toString()
      this.admitted.delete(id)
      for (const k of [...this.sessions.keys()]) if (k.startsWith(id + ' ')) this.sessions.delete(k)
    })
    await this.node.handle(CATCHUP, ({ stream, connection }) => {
      this.onCatchupStream(stream, connection.remotePeer).catch((e) => this.note('catch-up stream', e))
    }, { maxInboundStreams: 1024, maxOutboundStreams: 1024 })
    // Subscribe at once: the daemon admits this peer only when the
    // subscription arrives (§5.1).
    pubsub.subscribe(this.topic)
    await this.node.start()
    this.antiEntropy()
    return this
  }

  /** §4.1: a Summary every 15 s ± 20 % to one admitted peer chosen at random;
   * and §4.4: a session silent for 10 s is dropped. */
  antiEntropy () {
    this.timer = setTimeout(() => {
      const now = Date.now()
      for (const [k, s] of this.sessions) if (now - s.at > 10000) this.sessions.delete(k)
      const peers = this.node.getConnections().map((c) => c.remotePeer).filter((p) => this.admitted.has(p.toString()))
      if (peers.length > 0) this.send(peers[Math.floor(Math.random() * peers.length)], { kind: 'summary', buckets: this.summary() })
      this.antiEntropy()
    }, 15000 * (0.8 + 0.4 * Math.random()))
    this.timer.unref() // never what keeps node running
  }

  get addr () { return this.node.getMultiaddrs()[0].toString() }
  async stop () { clearTimeout(this.timer); await this.node.stop() }
  note (what, e) { this.log.push(`${what}: ${e?.message ?? e}`) }

  async dial (addr, signal) { return this.node.dial(multiaddr(addr), { signal }) }
  async hangUp () { for (const c of this.node.getConnections()) await c.close() }

  admit (peerId) {
    const id = peerId.toString()
    if (this.admitted.has(id)) return
    this.admitted.add(id)
    // §5.1 step 2: catch-up starts with a Summary.
    this.send(peerId, { kind: 'summary', buckets: this.summary() })
  }

  // ----- orders held -----------------------------------------------------

  /** Complete = the order's creating change is applied (it has its `id`). */
  isComplete (id) {
    const d = this.orders.get(id)
    return d !== undefined && A.toJS(d).id !== undefined
  }

  completeIds () { return [...this.orders.keys()].filter((id) => this.isComplete(id)) }

  summary () {
    const buckets = Array(BUCKETS).fill(0n)
    for (const id of this.completeIds()) buckets[bucketOf(id, BUCKETS)] ^= fingerprint(id, A.getHeads(this.orders.get(id)))
    return buckets
  }

  view (id) { return this.isComplete(id) ? view(this.orders.get(id)) : null }

  // ----- local edits (plain Automerge JS idioms) ------------------------

  commit (id, fn) {
    const before = this.orders.get(id) ?? A.init({ actor: this.actor })
    const after = A.change(before, { message: JSON.stringify({ user: this.user, terminal: this.terminal }), time: Math.floor(Date.now() / 1000) }, fn)
    this.orders.set(id, after)
    const change = A.getLastLocalChange(after)
    this.publish({ kind: 'changes', order: id, changes: [change] })
    return change
  }

  publish (msg) {
    this.node.services.pubsub.publish(this.topic, encode(msg)).catch((e) => this.note('publish', e))
  }

  /** Opens an order named `<terminal>-<seq>`, lines written in the same change. */
  openOrder (id, seq, lines = [], ext = {}) {
    const who = stamp(this.user, this.terminal)
    this.commit(id, (d) => {
      Object.assign(d, {
        schema: 1,
        id,
        name: `${this.terminal}-${String(seq).padStart(4, '0')}`,
        created: who,
        changed: who,
        customer: null,
        pricelist: null,
        fiscal_position: null,
        table: null,
        floor: null,
        guests: 0,
        note: '',
        lines: {},
        payments: {},
        ext
      })
      for (const l of lines) d.lines[l.id] = this.newLine(l, who)
    })
  }

  newLine ({ id, product, qty, unit_price, discount = 0, ext = {} }, who) {
    // `discount: 0` and a negative price become float64 inside a literal:
    // the receiver reads a whole-number float as an integer (ORDER_MODEL.md).
    return { id, product, display_name: product, qty: new A.Counter(qty), unit_price, discount, note: '', kitchen_qty: 0, created: who, changed: who, ext }
  }

  addLine (order, line) {
    const who = stamp(this.user, this.terminal)
    this.commit(order, (d) => { d.lines[line.id] = this.newLine(line, who); d.changed.at = who.at })
  }

  changeQty (order, line, delta) {
    this.commit(order, (d) => { d.lines[line].qty.increment(delta); d.changed.at = Date.now() })
  }

  setExt (order, fields) {
    this.commit(order, (d) => { Object.assign(d.ext, fields); d.changed.at = Date.now() })
  }

  // ----- gossip (§3) ---------------------------------------------------

  onGossip (msg, source) {
    let m
    try { m = decode(msg.data) } catch (e) { this.refusedGossip++; return this.note('gossip undecodable', e) }
    if (m === null || m.kind !== 'changes') return
    // Only the signer's own changes may travel by gossip.
    const owner = actorPrefix(msg.from)
    for (const c of m.changes) {
      if (!A.decodeChange(c).actor.startsWith(owner)) {
        this.refusedGossip++
        return this.note('gossip', `change of another terminal signed by ${msg.from}`)
      }
    }
    const missing = this.applyChanges(m.order, m.changes)
    if (missing > 0) this.startSync(source, m.order)
  }

  /** Applies changes, rolling back what fails validation; returns the number of missing deps. */
  applyChanges (id, changes) {
    const had = this.orders.get(id)
    const base = had ? A.clone(had, { actor: this.actor }) : A.init({ actor: this.actor })
    const [next] = A.applyChanges(base, changes)
    const why = A.toJS(next).id === undefined ? null : invalid(next, id)
    if (why) { this.note(`refused ${id}`, why); return 0 }
    this.orders.set(id, next)
    return A.getMissingDeps(next, []).length
  }

  // ----- catch-up (§4) -------------------------------------------------

  /** One message per stream: `u32be length ‖ message`, answered by one 0x00 byte. */
  async send (peerId, msg) {
    const body = encode(msg)
    const frame = new Uint8Array(4 + body.length)
    new DataView(frame.buffer).setUint32(0, body.length)
    frame.set(body, 4)
    try {
      const stream = await this.node.dialProtocol(peerId, CATCHUP)
      // The writer closes its side, then reads the acknowledgement.
      await stream.sink([frame])
      for await (const chunk of stream.source) { if (chunk.length > 0) break }
      await stream.close()
    } catch (e) { this.note(`send ${msg.kind}`, e) }
  }

  async onCatchupStream (stream, from) {
    let buf = new Uint8Array(0)
    let need = null
    for await (const chunk of stream.source) {
      const c = chunk.subarray()
      const joined = new Uint8Array(buf.length + c.length)
      joined.set(buf); joined.set(c, buf.length); buf = joined
      if (need === null && buf.length >= 4) {
        need = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0)
        if (need > MAX_FRAME) throw new Error(`frame of ${need} bytes`)
      }
      if (need !== null && buf.length >= 4 + need) break
    }
    await stream.sink([Uint8Array.of(0)])
    if (need === null || buf.length < 4 + need) throw new Error('truncated catch-up frame')
    const msg = decode(buf.subarray(4, 4 + need))
    if (msg !== null) this.onCatchup(from, msg)
  }

  onCatchup (from, msg) {
    switch (msg.kind) {
      case 'summary': {
        const mine = this.summary()
        const differ = msg.buckets.length === mine.length
          ? mine.map((h, i) => (h !== msg.buckets[i] ? i : -1)).filter((i) => i >= 0)
          : mine.map((_, i) => i)
        if (differ.length > 0) this.send(from, { kind: 'heads', respond: true, buckets: differ, entries: this.entries(differ) })
        break
      }
      case 'heads': {
        const fetch = []
        for (const { id, heads } of msg.entries) {
          if (!this.isComplete(id)) fetch.push(id)
          else if (A.getHeads(this.orders.get(id)).sort().join() !== [...heads].sort().join()) this.startSync(from, id)
        }
        for (let i = 0; i < fetch.length; i += MAX_FETCH) this.send(from, { kind: 'fetch', orders: fetch.slice(i, i + MAX_FETCH) })
        if (msg.respond) {
          const named = new Set(msg.entries.map((e) => e.id))
          const extra = this.entries(msg.buckets).filter((e) => !named.has(e.id))
          if (extra.length > 0) this.send(from, { kind: 'heads', respond: false, buckets: msg.buckets, entries: extra })
        }
        break
      }
      case 'fetch': {
        let docs = []
        let size = 0
        for (const id of msg.orders.filter((id) => this.isComplete(id))) {
          const bytes = A.save(this.orders.get(id))
          if (docs.length > 0 && size + bytes.length > MAX_DOCS_BYTES) { this.send(from, { kind: 'docs', docs }); docs = []; size = 0 }
          docs.push({ id, bytes }); size += bytes.length
        }
        if (docs.length > 0) this.send(from, { kind: 'docs', docs })
        break
      }
      case 'docs':
        for (const { id, bytes } of msg.docs) {
          this.docsReceived = (this.docsReceived ?? 0) + 1
          try {
            const loaded = A.load(bytes, { actor: this.actor })
            const why = invalid(loaded, id)
            if (why) { this.note(`refused doc ${id}`, why); continue }
            const had = this.orders.get(id)
            this.orders.set(id, had ? A.merge(A.clone(had, { actor: this.actor }), loaded) : loaded)
          } catch (e) { this.note(`doc ${id}`, e) }
        }
        break
      case 'sync': {
        const out = []
        for (const { id, payload } of msg.items) {
          const key = `${from} ${id}`
          if (payload.length === 0) { this.sessions.delete(key); continue }
          let state = this.sessions.get(key)?.state ?? A.initSyncState()
          const had = this.orders.get(id) ?? A.init({ actor: this.actor })
          let doc
          try {
            ;[doc, state] = A.receiveSyncMessage(A.clone(had, { actor: this.actor }), state, payload)
          } catch (e) { this.note(`sync ${id}`, e); out.push({ id, payload: new Uint8Array(0) }); continue }
          const why = A.toJS(doc).id === undefined ? null : invalid(doc, id)
          if (why) { this.note(`refused sync ${id}`, why); this.sessions.delete(key); out.push({ id, payload: new Uint8Array(0) }); continue }
          this.orders.set(id, doc)
          let reply
          ;[state, reply] = A.generateSyncMessage(doc, state)
          if (reply) { this.sessions.set(key, { state, at: Date.now() }); out.push({ id, payload: reply }) } else { this.sessions.delete(key); out.push({ id, payload: new Uint8Array(0) }) }
        }
        if (out.length > 0) this.send(from, { kind: 'sync', items: out })
        break
      }
    }
  }

  entries (buckets) {
    const named = new Set(buckets)
    return this.completeIds().filter((id) => named.has(bucketOf(id, BUCKETS))).map((id) => ({ id, heads: A.getHeads(this.orders.get(id)) }))
  }

  startSync (peerId, id) {
    const key = `${peerId} ${id}`
    if (this.sessions.has(key)) return
    const doc = this.orders.get(id) ?? A.init({ actor: this.actor })
    const [state, msg] = A.generateSyncMessage(doc, A.initSyncState())
    if (!msg) return
    this.sessions.set(key, { state, at: Date.now() })
    this.send(peerId, { kind: 'sync', items: [{ id, payload: msg }] })
  }
}
