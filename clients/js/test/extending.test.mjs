// S30: a front end subclasses Order and Orderline through the library with
// the reference addon's hooks to add two fields (and one on a line); the
// front end of another terminal sees them and re-renders. Runs the example
// of docs/EXTENDING.md, which must quote examples/two_variables.mjs as it is.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'

import { PossyncClient, Pos, Edits } from '../possync.js'
import { MyOrder, MyOrderline } from '../examples/two_variables.mjs'
import { Daemon, keygen, until, cleanup } from './daemons.mjs'

const daemons = []
const fronts = []
after(async () => { for (const p of fronts) p.stop(); for (const d of daemons) await d.stop(); cleanup() })

test('docs/EXTENDING.md quotes the example as it is', () => {
  const example = readFileSync(new URL('../examples/two_variables.mjs', import.meta.url), 'utf8')
  const doc = readFileSync(new URL('../../../docs/EXTENDING.md', import.meta.url), 'utf8')
  assert.ok(doc.includes('```js\n' + example + '```'), 'copy clients/js/examples/two_variables.mjs into docs/EXTENDING.md')
})

test('S30: two front ends on two terminals keep two new Order variables and a line field in step', async () => {
  const key = keygen('s30')
  const a = await new Daemon({ name: 'SA', session: 's30', key }).start()
  const b = await new Daemon({ name: 'SB', session: 's30', key, peers: [a] }).start()
  daemons.push(a, b)
  await until('the terminals connected', async () => (await a.status()).peers.length === 1)
  const front = (d, user) => {
    const pos = new Pos({ client: new PossyncClient(`http://127.0.0.1:${d.apiPort}`), user, Order: MyOrder })
    fronts.push(pos)
    return pos
  }
  const posA = front(a, 'ana')
  const posB = front(b, 'bob')
  await Promise.all([posA.start(), posB.start()])

  const order = await posA.open({ table: 'T5' })
  assert.ok(order instanceof MyOrder)
  // Fields arriving as an update of an order the other front end already
  // shows go through apply_ms_data (a new order only through init_from_JSON).
  await until('the order on the other front end', () => posB.orders.get(order.id))
  await posA.edit(order, Edits.add_line({ id: 'coffee', product: 'coffee', display_name: 'Coffee', qty: 1000, unit_price: 250 }))
  order.first_new_variable = 'gift wrap'
  order.second_new_variable = 3
  order.get_orderline('coffee').custom_notes = 'no sugar'
  assert.equal(await order.save(), 2, 'one set_ext and one set_line_ext')
  assert.equal(await order.save(), 0, 'nothing changed since: nothing sent')

  const there = await until('the fields on the other terminal\'s front end', () => {
    const o = posB.orders.get(order.id)
    return o?.second_new_variable === 3 && o.get_orderline('coffee')?.custom_notes === 'no sugar' ? o : null
  })
  assert.ok(there instanceof MyOrder)
  assert.ok(there.get_orderline('coffee') instanceof MyOrderline)
  assert.equal(there.first_new_variable, 'gift wrap')
  assert.equal(there.shown, `${order.name}: gift wrap / 3`, 're-rendered by apply_ms_data')

  // Both terminals change a different variable at the same time: both kept.
  there.second_new_variable = 4
  order.first_new_variable = 'ribbon'
  await Promise.all([there.save(), order.save()])
  for (const pos of [posA, posB]) {
    await until(`both changes on ${pos.user}'s front end`, () => {
      const o = pos.orders.get(order.id)
      return o.first_new_variable === 'ribbon' && o.second_new_variable === 4
    })
  }
  assert.equal(posA.orders.get(order.id).shown, `${order.name}: ribbon / 4`)
  const stored = await a.order(order.id)
  assert.deepEqual(stored.ext, { first_new_variable: 'ribbon', second_new_variable: 4 })
  assert.deepEqual(stored.lines[0].ext, { custom_notes: 'no sugar' })
})
