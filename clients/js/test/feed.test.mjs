// The live feed against a real daemon that is stopped and restarted while
// another terminal edits: nothing that changed meanwhile is missed, and no
// order state is delivered twice.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'

import { PossyncClient, LiveFeed, Edits } from '../possync.js'
import { Daemon, keygen, until, cleanup } from './daemons.mjs'

const daemons = []
after(async () => { for (const d of daemons) await d.stop(); cleanup() })

test('the feed resumes across a daemon restart: no change lost, none applied twice', async () => {
  const key = keygen('feed')
  const a = await new Daemon({ name: 'FA', session: 'feed', key }).start()
  const b = await new Daemon({ name: 'FB', session: 'feed', key, peers: [a] }).start()
  daemons.push(a, b)
  const client = new PossyncClient(`http://127.0.0.1:${a.apiPort}`)
  const user = 'ana'

  const edited = await client.openOrder({ user, table: 'T1' })
  await client.edit(edited.id, user, Edits.add_line({ id: 'soup', product: 'soup', display_name: 'Soup', qty: 1000, unit_price: 600 }))
  const untouched = await client.openOrder({ user, table: 'T2' })
  const cancelled = await client.openOrder({ user, table: 'T3' })

  const delivered = [] // [id, JSON] in order
  const removed = []
  let connected = false
  // The feed's socket can be held off (a page whose network is down), so
  // that what changes meanwhile reaches it only by resuming, not as events.
  let blocked = false
  const gated = Object.create(client)
  gated.events = () => { if (blocked) throw new Error('network down'); return client.events() }
  const feed = new LiveFeed(gated, {
    minDelayMs: 50,
    maxDelayMs: 200,
    onOrder: (o) => delivered.push([o.id, JSON.stringify(o)]),
    onRemoved: (id) => removed.push(id),
    onConnection: (up) => { connected = up }
  })
  await feed.start()
  assert.deepEqual(new Set(delivered.map(([id]) => id)), new Set([edited.id, untouched.id, cancelled.id]))
  await until('B holding all three', async () => (await b.get('/api/orders')).length === 3)

  blocked = true
  await a.stop()
  await until('the feed noticing', () => !connected)
  // While A is down, B edits one order, opens one, cancels one.
  await b.edit(edited.id, Edits.add_line({ id: 'bread', product: 'bread', display_name: 'Bread', qty: 2000, unit_price: 100 }))
  const opened = await b.post('/api/orders', { user: 'bob', table: 'T9' })
  await b.edit(cancelled.id, Edits.cancel())

  await a.start()
  await until('A caught up from B (the feed still cut off)', async () => {
    const now = await client.orders()
    return now.length === 3 && now.some((o) => o.id === opened.id) && now.find((o) => o.id === edited.id).lines.length === 2
  }, 20000)
  assert.ok(!connected)
  blocked = false
  const want = async () => JSON.stringify((await client.orders()).map((o) => [o.id, JSON.stringify(o)]).sort())
  await until('A caught up from B and the feed with A', async () => {
    const now = (await client.orders())
    if (now.length !== 3 || !now.some((o) => o.id === opened.id)) return false
    const last = new Map(delivered)
    return JSON.stringify([...last].filter(([id]) => !removed.includes(id)).sort()) === await want()
  }, 20000)

  assert.deepEqual(removed, [cancelled.id])
  const seen = new Set()
  for (const [id, json] of delivered) {
    assert.ok(!seen.has(id + json), `order ${id} delivered twice in one state`)
    seen.add(id + json)
  }
  assert.equal(delivered.filter(([id]) => id === untouched.id).length, 1, 'an order unchanged across the restart is not delivered again')
  const last = JSON.parse(delivered.filter(([id]) => id === edited.id).at(-1)[1])
  assert.deepEqual(last.lines.map((l) => [l.id, l.qty]), [['soup', 1000], ['bread', 2000]])
  feed.stop()
})
