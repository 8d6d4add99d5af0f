// An HTTP answer older than what the feed already delivered must not undo
// it (issue 17 item 6), and an answer newer than what the feed has shown so
// far is applied at once, so that an awaited edit is on show when it
// returns: `LiveFeed.answer` compares the views' revisions.

import { test } from 'node:test'
import assert from 'node:assert/strict'

import { LiveFeed, PossyncClient, Pos } from '../possync.js'

const view = (id, qty, revision, state = 'open') => ({ id, name: id, revision, state, review: [], lines: [{ id: 'l1', qty }], totals: { total: qty } })
const event = (v) => ({ event: 'order_changed', order: v.id, active: v.state === 'open', view: v, origin: { kind: 'remote' } })

test('an answer older than what the feed showed is dropped, a newer or equal one applied', () => {
  const seen = []
  const feed = new LiveFeed(new PossyncClient('http://127.0.0.1:9'), { onOrder: (o) => seen.push([o.id, o.lines[0].qty]), onRemoved: (id) => seen.push([id, 'removed']) })
  feed.onRaw(event(view('a', 1000, 1)))
  // The feed shows revision 3 while the request for revision 2 is out.
  feed.onRaw(event(view('a', 3000, 3)))
  assert.equal(feed.answer(view('a', 2000, 2)), false)
  // The same revision again: applied, but not shown twice.
  assert.equal(feed.answer(view('a', 3000, 3)), true)
  // An order the feed has not shown yet: its answer applies, and the feed's
  // late copy of an older revision is not shown after it.
  assert.equal(feed.answer(view('b', 2000, 2)), true)
  feed.onRaw(event(view('b', 1000, 1)))
  // An answer that closes an order takes it off the list; a late, older
  // open copy does not bring it back.
  assert.equal(feed.answer(view('b', 2000, 3, 'paid')), true)
  feed.onRaw(event(view('b', 2000, 2)))
  assert.deepEqual(seen, [['a', 1000], ['a', 3000], ['b', 2000], ['b', 'removed']])
})

/** A front end whose edit answers `answer` once `release()` is called,
 * and the edit of line l1 sent to it. */
function editHeldBack (answer) {
  let release
  const fake = async (url, init) => {
    await new Promise((resolve) => { release = resolve })
    return new Response(JSON.stringify({ changed: true, order: answer }), { status: 200 })
  }
  const pos = new Pos({ client: new PossyncClient('http://127.0.0.1:9', { fetch: fake }), user: 'ana' })
  const edit = async (during) => {
    const pending = pos.edit('a', { op: 'change_qty', line: 'l1', delta: 1000 })
    await new Promise((resolve) => setImmediate(resolve))
    during()
    release()
    await pending
  }
  return { pos, edit }
}

test('Pos.edit applies its answer through the same rule', async () => {
  const { pos, edit } = editHeldBack(view('a', 2000, 2))
  pos.feed.onRaw(event(view('a', 1000, 1)))
  await edit(() => pos.feed.onRaw(event(view('a', 3000, 3))))
  assert.equal(pos.orders.get('a').orderlines[0].qty, 3000)
})

test('an edit is on show when it returns, even when the feed brought an older view of the order meanwhile', async () => {
  // What failed S30 once: the feed's event for the order's opening arrived
  // while the edit was out, and the edit's answer was dropped for it.
  const { pos, edit } = editHeldBack(view('a', 2000, 2))
  pos.feed.answer(view('a', 1000, 1))
  await edit(() => pos.feed.onRaw(event(view('a', 1000, 1))))
  assert.equal(pos.orders.get('a').orderlines[0].qty, 2000)
  // The feed's own event for the edit arrives after: nothing changes.
  pos.feed.onRaw(event(view('a', 2000, 2)))
  assert.equal(pos.orders.get('a').orderlines[0].qty, 2000)
})
