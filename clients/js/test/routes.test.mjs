// The client against docs/openapi.json: every documented route has a call,
// every call a documented route, and every edit op its builder with the
// document's required fields. A route added to the API without the client
// (or the other way round) fails here.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'

import { ROUTES, EDIT_OPS, Edits, PossyncClient, ApiError } from '../possync.js'

const doc = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url)))

test('every route of docs/openapi.json has a client call, and no call is undocumented', () => {
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort()
  const covered = ROUTES.map((r) => `${r.method} ${r.path}`).sort()
  assert.deepEqual(covered, documented)
  for (const r of ROUTES) assert.equal(typeof PossyncClient.prototype[r.call], 'function', `${r.call} for ${r.method} ${r.path}`)
})

test('every edit of the Edit schema has a builder with its required fields', () => {
  const schema = Object.fromEntries(doc.components.schemas.Edit.oneOf.map((v) => [v.properties.op.const, v.required.filter((k) => k !== 'op').sort()]))
  assert.deepEqual(Object.keys(EDIT_OPS).sort(), Object.keys(schema).sort())
  for (const [op, required] of Object.entries(schema)) {
    assert.deepEqual([...EDIT_OPS[op]].sort(), required, op)
    if (required.length > 0) assert.throws(() => Edits[op]({}), TypeError)
  }
  assert.deepEqual(Edits.change_qty({ line: 'l1', delta: 1000 }), { op: 'change_qty', line: 'l1', delta: 1000 })
})

test('calls send what the document describes and turn errors into ApiError', async () => {
  const seen = []
  const fake = async (url, init) => {
    seen.push({ url, method: init.method, headers: init.headers, body: init.body && JSON.parse(init.body) })
    if (url.endsWith('/api/orders/nope')) return new Response(JSON.stringify({ error: { code: 'unknown_order', message: 'no order nope' } }), { status: 404 })
    return new Response(url.endsWith('/metrics') ? 'possync_peers 0\n' : '{}', { status: 200 })
  }
  const c = new PossyncClient('http://127.0.0.1:9/', { token: 't0k', fetch: fake })
  await c.orders({ archived: true })
  await c.edit('o1', 'ana', Edits.set_note({ note: 'hi' }))
  await c.split('o1', 'ana', [{ line: 'l1', qty: 1000 }])
  await c.setIsolated(true)
  assert.equal(await c.metrics(), 'possync_peers 0\n')
  const err = await c.order('nope').catch((e) => e)
  assert.ok(err instanceof ApiError)
  assert.deepEqual([err.status, err.code, err.message], [404, 'unknown_order', 'no order nope'])
  assert.deepEqual(seen.map((s) => `${s.method} ${s.url}`), [
    'GET http://127.0.0.1:9/api/orders?archived=true',
    'POST http://127.0.0.1:9/api/orders/o1/edit',
    'POST http://127.0.0.1:9/api/orders/o1/split',
    'POST http://127.0.0.1:9/api/network',
    'GET http://127.0.0.1:9/metrics',
    'GET http://127.0.0.1:9/api/orders/nope'
  ])
  assert.equal(seen[0].headers.authorization, 'Bearer t0k')
  assert.deepEqual(seen[1].body, { user: 'ana', edit: { op: 'set_note', note: 'hi' } })
  assert.deepEqual(seen[2].body, { user: 'ana', lines: [{ line: 'l1', qty: 1000 }] })
  // Request bodies use only the document's property names.
  const props = (p, m) => Object.keys(doc.paths[p][m].requestBody.content['application/json'].schema.properties).sort()
  assert.deepEqual(Object.keys(seen[1].body).sort(), props('/api/orders/{id}/edit', 'post'))
  assert.deepEqual(Object.keys(seen[2].body).sort(), props('/api/orders/{id}/split', 'post'))
  assert.deepEqual(Object.keys(seen[3].body).sort(), props('/api/network', 'post'))
})
