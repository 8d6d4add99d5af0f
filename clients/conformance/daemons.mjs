// Runs real `possync run` daemons on loopback for the conformance test:
// the binary is $POSSYNC_BIN (cargo passes CARGO_BIN_EXE_possync).

import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, readFileSync, createWriteStream } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const BIN = process.env.POSSYNC_BIN
if (!BIN) throw new Error('set POSSYNC_BIN to the possync binary (cargo test -p possync-daemon --test conformance does)')

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `fn` until it returns a truthy value; throws with `what` after `ms`. */
export async function until (what, fn, ms = 10000) {
  const deadline = Date.now() + ms
  let last
  for (;;) {
    try { last = await fn(); if (last) return last } catch (e) { last = e }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last?.message ?? JSON.stringify(last)})`)
    await sleep(50)
  }
}

export function freePort () {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
    s.on('error', reject)
  })
}

export const scratch = mkdtempSync(join(tmpdir(), 'possync-conformance-'))
// POSSYNC_KEEP=1 keeps the daemons' data and logs for a look afterwards.
export function cleanup () { if (process.env.POSSYNC_KEEP !== '1') rmSync(scratch, { recursive: true, force: true }) }

/** A fresh session key file; returns its bytes. */
export function keygen (name) {
  const path = join(scratch, `${name}.key`)
  execFileSync(BIN, ['keygen', '--out', path], { stdio: 'ignore' })
  return { path, bytes: readFileSync(path) }
}

export class Daemon {
  /** `peers`: other daemons it dials (and redials) as static peers. */
  constructor ({ name, session, key, peers = [] }) {
    Object.assign(this, { name, session, key, peers })
    this.dataDir = join(scratch, name)
  }

  async start () {
    this.p2p ??= await freePort()
    this.apiPort ??= await freePort()
    const args = ['run', '--session', this.session, '--terminal', this.name, '--data-dir', this.dataDir,
      '--listen', `/ip4/127.0.0.1/tcp/${this.p2p}`, '--api', `127.0.0.1:${this.apiPort}`]
    args.push(...(this.key ? ['--key-file', this.key.path] : ['--insecure-no-key']))
    for (const p of this.peers) args.push('--peer', p.addr)
    const log = createWriteStream(join(scratch, `${this.name}.log`), { flags: 'a' })
    this.proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc.stdout.pipe(log); this.proc.stderr.pipe(log)
    this.exited = new Promise((resolve) => this.proc.on('exit', resolve))
    const status = await until(`${this.name}'s API`, () => this.get('/api/status'), 15000)
    this.peerId = status.status.peer_id
    return this
  }

  get addr () { return `/ip4/127.0.0.1/tcp/${this.p2p}` }

  async stop () {
    if (!this.proc || this.proc.exitCode !== null) return
    this.proc.kill('SIGTERM')
    const kill = setTimeout(() => this.proc.kill('SIGKILL'), 5000)
    await this.exited
    clearTimeout(kill) // a pending timer would keep node alive
  }

  async call (method, path, body) {
    const res = await fetch(`http://127.0.0.1:${this.apiPort}${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined
    })
    const json = await res.json()
    if (!res.ok) { const e = new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`); e.status = res.status; throw e }
    return json
  }

  get (path) { return this.call('GET', path) }
  post (path, body) { return this.call('POST', path, body) }
  order (id) { return this.get(`/api/orders/${id}`).catch((e) => (e.status === 404 ? null : Promise.reject(e))) }
  edit (id, edit) { return this.post(`/api/orders/${id}/edit`, { user: 'ana', edit }) }
  async status () { return (await this.get('/api/status')).status }
}

/** The daemon's view of an order, in the shape `peer.view` gives. */
export function daemonView (o) {
  if (!o) return null
  const lines = o.lines.map((l) => ({ id: l.id, product: l.product, qty: l.qty, unit_price: l.unit_price, discount: l.discount, ext: l.ext ?? {} }))
    .sort((a, b) => a.id.localeCompare(b.id))
  return { id: o.id, name: o.name, note: o.note, lines, ext: o.ext }
}
