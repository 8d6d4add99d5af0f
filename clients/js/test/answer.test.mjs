// An HTTP answer older than what the feed already delivered must not undo
// it (issue 17 item 6): `LiveFeed.answer` applies an answer only if the feed
// brought nothing for that order while the request was out.

import { test } from 'node:test'
import assert from 'node:assert/strict'

import { LiveFeed, PossyncClient, Pos } from '../possync.js'

const view = (id, qty, state = 'open') => ({ id, name: id, state, review: [], lines: [{ id: 'l1', qty }], totals: { total: qty } })
const event = (v) => ({ event: 'order_changed', order: v.id, active: v.state === 'open', view: v, origin: { kind: 'remote' } })

test('an answer is dropped when the feed showed the order while the request was out, applied otherwise', () => {
  const seen = []
  const feed = new LiveFeed(new PossyncClient('http://127.0.0.1:9'), { onOrder: (o) => seen.push([o.id, o.lines[0].qty]), onRemoved: (id) => seen.push([id, 'removed']) })
  feed.onRaw(event(view('a', 1000)))
  const since = feed.mark()
  // The feed shows 3 while the request for the 2 is out: the 2 is older.
  feed.onRaw(event(view('a', 3000)))
  assert.equal(feed.answer(view('a', 2000), since), false)
  // Another order, untouched by the feed meanwhile: its answer applies.
  assert.equal(feed.answer(view('b', 1000), since), true)
  // An answer that closes an order takes it off the list.
  const later = feed.mark()
  assert.equal(feed.answer(view('b', 1000, 'paid'), later), true)
  assert.deepEqual(seen, [['a', 1000], ['a', 3000], ['b', 1000], ['b', 'removed']])
})

test('Pos.edit applies its answer through the same rule', async () => {
  let hold
  const fake = async (url, init) => {
    await new Promise((resolve) => { hold = resolve })
    return new Response(JSON.stringify({ changed: true, order: view('a', 2000) }), { status: 200 })
  }
  const pos = new Pos({ client: new PossyncClient('http://127.0.0.1:9', { fetch: fake }), user: 'ana' })
  pos.feed.onRaw(event(view('a', 1000)))
  const pending = pos.edit('a', { op: 'change_qty', line: 'l1', delta: 1000 })
  await new Promise((resolve) => setImmediate(resolve))
  pos.feed.onRaw(event(view('a', 3000)))
  hold()
  await pending
  assert.equal(pos.orders.get('a').orderlines[0].qty, 3000)
})
