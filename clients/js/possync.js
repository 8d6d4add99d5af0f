// possync client library: typed calls for the local HTTP API of a
// `possync run` terminal (docs/openapi.json), a live feed of its orders
// that survives reconnects and daemon restarts, and Order / Orderline
// classes with the reference addon's extension points (export_as_JSON,
// init_from_JSON, apply_ms_data). No dependencies: an ES module for
// browsers (no bundler) and Node 20+ (pass `WebSocket` on Node 20, or run
// it with --experimental-websocket).

/**
 * @typedef {{user: string, terminal: string, at_ms: number}} Stamp
 * @typedef {{id: string, name: string, amount_type: 'percent'|'fixed', amount: string,
 *   price_include?: boolean, include_base_amount?: boolean, is_base_affected?: boolean,
 *   sequence?: number}} TaxJSON
 * @typedef {{id: string, product: string, display_name: string, qty: number,
 *   unit_price: number, discount: number, note: string, kitchen_qty: number,
 *   created: Stamp, changed: Stamp, ext: Record<string, any>, total?: number,
 *   taxes?: TaxJSON[], untaxed?: number, tax?: number}} LineJSON
 *   Quantities in thousandths, money in minor units, discount in basis points.
 *   `taxes`: the snapshots the line was added with (catalogue products);
 *   `untaxed` + `tax` = `total`, what the customer pays for the line.
 * @typedef {{total: number, paid: number, due: number, change?: number, tip?: number,
 *   untaxed?: number, tax?: number,
 *   taxes?: {tax_id: string, name: string, base: number, amount: number}[]}} TotalsJSON
 *   `total` includes the taxes; `taxes` is one entry per tax rate.
 * @typedef {{id: string, name: string, revision: number, schema: number, state: 'open'|'paid'|'cancelled',
 *   created: Stamp, changed: Stamp, customer: string|null, pricelist: string|null,
 *   fiscal_position: string|null, table: string|null, floor: string|null, guests: number,
 *   note: string, split_from: string|null, lines: LineJSON[], payments: object[],
 *   ext: Record<string, any>, totals: TotalsJSON,
 *   pricing?: {decimals: number, rounding: number, method: string}|null,
 *   conflicts: {path: string, values: any[]}[], review: {kind: string}[]}} OrderJSON
 * @typedef {{terminal: string, status: object, policy: object}} StatusJSON
 * @typedef {{user: string, id?: string, table?: string|null, floor?: string|null,
 *   guests?: number, customer?: string|null, pricelist?: string|null,
 *   fiscal_position?: string|null, ext?: Record<string, any>}} OpenOrderBody
 * @typedef {{op: string, [key: string]: any}} Edit
 * @typedef {{code: string, symbol: string, position: 'before'|'after', decimals: number,
 *   rounding: number}} CurrencyJSON
 * @typedef {{id: string, name: string, category?: string, price: number, taxes?: string[],
 *   barcode?: string, available?: boolean}} ProductJSON
 * @typedef {{id: string, name: string, seats?: number, shape?: 'square'|'round',
 *   x: number, y: number, width: number, height: number}} TableJSON
 * @typedef {{id: string, name: string, role: 'cashier'|'manager'}} UserJSON
 * @typedef {{currency?: CurrencyJSON, rounding_method?: string,
 *   categories?: {id: string, name: string, sequence?: number}[], taxes?: TaxJSON[],
 *   pricelists?: object[], payment_methods?: {id: string, name: string, kind: string}[],
 *   floors?: {id: string, name: string, sequence?: number, tables: TableJSON[]}[],
 *   users?: UserJSON[], products?: ProductJSON[]}} CatalogueJSON
 *   The catalogue as the terminals share it (docs/CATALOGUE.md); users come without PINs.
 */

/** An error answer of the API: `{"error": {"code", "message", ...}}`. */
export class ApiError extends Error {
  constructor (status, body) {
    const e = body?.error ?? {}
    super(e.message ?? `HTTP ${status}`)
    this.name = 'ApiError'
    /** HTTP status */
    this.status = status
    /** stable code, e.g. `order_closed`, `unknown_order` */
    this.code = e.code ?? 'http_error'
    this.detail = e
  }
}

/**
 * Every route of docs/openapi.json and the client method that calls it
 * (test/routes.test.mjs checks both ways against the document).
 */
export const ROUTES = Object.freeze([
  { method: 'GET', path: '/api/status', call: 'status' },
  { method: 'GET', path: '/api/orders', call: 'orders' },
  { method: 'POST', path: '/api/orders', call: 'openOrder' },
  { method: 'GET', path: '/api/orders/{id}', call: 'order' },
  { method: 'POST', path: '/api/orders/{id}/edit', call: 'edit' },
  { method: 'POST', path: '/api/orders/{id}/split', call: 'split' },
  { method: 'POST', path: '/api/orders/{id}/pay', call: 'pay' },
  { method: 'POST', path: '/api/orders/{id}/payment/claim', call: 'claimPayment' },
  { method: 'POST', path: '/api/orders/{id}/payment/release', call: 'releasePayment' },
  { method: 'POST', path: '/api/orders/{id}/refund', call: 'refund' },
  { method: 'POST', path: '/api/orders/{id}/refund_order', call: 'refundOrder' },
  { method: 'POST', path: '/api/orders/{id}/review', call: 'review' },
  { method: 'GET', path: '/api/orders/{id}/receipt', call: 'receipt' },
  { method: 'GET', path: '/api/payments', call: 'payments' },
  { method: 'POST', path: '/api/network', call: 'setIsolated' },
  { method: 'GET', path: '/api/catalogue', call: 'catalogue' },
  { method: 'POST', path: '/api/catalogue', call: 'replaceCatalogue' },
  { method: 'POST', path: '/api/login', call: 'login' },
  { method: 'GET', path: '/api/events', call: 'events' },
  { method: 'GET', path: '/metrics', call: 'metrics' },
  { method: 'GET', path: '/openapi.json', call: 'openapi' }
])

/**
 * Every edit `op` of the `Edit` schema and its required fields
 * (test/routes.test.mjs checks both against the document).
 * @type {Readonly<Record<string, string[]>>}
 */
export const EDIT_OPS = Object.freeze({
  add_line: ['product', 'qty'],
  change_qty: ['line', 'delta'],
  set_qty: ['line', 'qty'],
  remove_line: ['line'],
  set_unit_price: ['line', 'unit_price'],
  set_discount: ['line', 'discount'],
  set_line_note: ['line', 'note'],
  set_customer: ['customer'],
  set_pricelist: ['pricelist'],
  set_fiscal_position: ['fiscal_position'],
  set_table: ['table', 'floor'],
  set_guests: ['guests'],
  set_note: ['note'],
  send_to_kitchen: ['lines'],
  add_payment: ['method', 'amount'],
  pay: ['method', 'tendered'],
  refund: ['method', 'amount', 'reason'],
  mark_paid: [],
  cancel: [],
  set_ext: ['fields'],
  set_line_ext: ['line', 'fields'],
  resolve_review: ['state']
})

/**
 * A builder per edit `op`, taking the op's fields:
 * `Edits.add_line({product, qty})` (a menu line; add `display_name` and `unit_price` without a catalogue).
 * @type {Readonly<Record<string, (fields?: object) => Edit>>}
 */
export const Edits = Object.freeze(Object.fromEntries(Object.entries(EDIT_OPS).map(([op, required]) => [op, (fields = {}) => {
  for (const k of required) if (!(k in fields)) throw new TypeError(`${op}: missing ${k}`)
  return { op, ...fields }
}])))

const enc = encodeURIComponent

/** Typed calls for a terminal's local API. */
export class PossyncClient {
  /**
   * @param {string} [base] the terminal's API address, e.g. `http://127.0.0.1:8401`;
   *   '' (the default) for the page's own origin
   * @param {{token?: string, fetch?: typeof fetch, WebSocket?: any}} [options]
   */
  constructor (base = '', { token, fetch: f, WebSocket: ws } = {}) {
    this.base = base.replace(/\/$/, '')
    this.token = token
    this.fetch = f ?? globalThis.fetch.bind(globalThis)
    this.WebSocket = ws ?? globalThis.WebSocket
  }

  async request (method, path, body, { text = false } = {}) {
    const headers = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.token) headers.authorization = `Bearer ${this.token}`
    const res = await this.fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    if (text && res.ok) return res.text()
    const json = await res.json().catch(() => null)
    if (!res.ok) throw new ApiError(res.status, json)
    return json
  }

  /** @returns {Promise<StatusJSON>} connectivity, peers, counters, policy */
  status () { return this.request('GET', '/api/status') }
  /** @param {{archived?: boolean}} [q] @returns {Promise<OrderJSON[]>} the open list, by name */
  orders ({ archived = false } = {}) { return this.request('GET', `/api/orders${archived ? '?archived=true' : ''}`) }
  /** @param {OpenOrderBody} body @returns {Promise<OrderJSON>} */
  openOrder (body) { return this.request('POST', '/api/orders', body) }
  /** @param {string} id @returns {Promise<OrderJSON>} */
  order (id) { return this.request('GET', `/api/orders/${enc(id)}`) }
  /**
   * One edit, answered once it is on disk.
   * @param {string} id @param {string} user @param {Edit} edit
   * @returns {Promise<{changed: boolean, order: OrderJSON}>}
   */
  edit (id, user, edit) { return this.request('POST', `/api/orders/${enc(id)}/edit`, { user, edit }) }
  /**
   * Splits the bill: moves quantities (thousandths) of lines to a new order.
   * @param {string} id @param {string} user @param {{line: string, qty: number}[]} lines
   * @returns {Promise<OrderJSON>} the new order
   */
  split (id, user, lines) { return this.request('POST', `/api/orders/${enc(id)}/split`, { user, lines }) }
  /**
   * Takes tenders under this terminal's payment claim (a till's Pay button).
   * @param {string} id @param {string} user
   * @param {{method: string, tendered: number, tip?: number}[]} tenders
   * @returns {Promise<{order: OrderJSON}>} a 409 `payment_in_progress` names who pays elsewhere
   */
  pay (id, user, tenders) { return this.request('POST', `/api/orders/${enc(id)}/pay`, { user, tenders }) }
  /** The payment screen opens (or is renewed, every 10 s): claims the order. @param {string} id @param {string} user */
  claimPayment (id, user) { return this.request('POST', `/api/orders/${enc(id)}/payment/claim`, { user }) }
  /** The payment screen closes without paying. @param {string} id @param {string} user */
  releasePayment (id, user) { return this.request('POST', `/api/orders/${enc(id)}/payment/release`, { user }) }
  /** Gives money back (managers only). @param {string} id @param {{user: string, method: string, amount: number, reason: string}} body */
  refund (id, body) { return this.request('POST', `/api/orders/${enc(id)}/refund`, body) }
  /** Opens a refund order for a paid order (managers only). @param {string} id @param {string} user @param {string} reason */
  refundOrder (id, user, reason) { return this.request('POST', `/api/orders/${enc(id)}/refund_order`, { user, reason }) }
  /** A manager resolves a flagged order. @param {string} id @param {{user: string, action: 'refund'|'accept'|'resolve', reason: string}} body */
  review (id, body) { return this.request('POST', `/api/orders/${enc(id)}/review`, body) }
  /** The printable HTML receipt. @param {string} id @returns {Promise<string>} */
  receipt (id) { return this.request('GET', `/api/orders/${enc(id)}/receipt`, undefined, { text: true }) }
  /** Payments in progress this terminal knows of (its own claims and others'). */
  payments () { return this.request('GET', '/api/payments') }
  /** Drill: cut the terminal off the network, or let it reconnect. @param {boolean} isolated */
  setIsolated (isolated) { return this.request('POST', '/api/network', { isolated }) }
  /** The catalogue every terminal shares: `{version, catalogue, by}` (version 0: none yet; no PINs). */
  catalogue () { return this.request('GET', '/api/catalogue') }
  /**
   * A manager replaces the catalogue on every terminal. Resolves to `{version}`.
   * @param {string} user @param {object} file a possync catalogue file (`{format, version, catalogue}`)
   */
  replaceCatalogue (user, file) { return this.request('POST', '/api/catalogue', { user, file }) }
  /** Checks a user's PIN: `{id, name, role}`; ApiError `wrong_pin`, `unknown_user`, `too_many_attempts`. */
  login (user, pin) { return this.request('POST', '/api/login', { user, pin }) }
  /** Prometheus text. @returns {Promise<string>} */
  metrics () { return this.request('GET', '/metrics', undefined, { text: true }) }
  /** The API's own description. */
  openapi () { return this.request('GET', '/openapi.json') }

  /** The raw WebSocket change feed (prefer `LiveFeed`). */
  events () {
    if (!this.WebSocket) throw new Error('no WebSocket: pass {WebSocket} (Node 20: run with --experimental-websocket)')
    const origin = this.base || (globalThis.location ? globalThis.location.origin : '')
    const url = new URL('/api/events', origin)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    // Browsers cannot set headers on a WebSocket upgrade: the token goes in the query.
    if (this.token) url.searchParams.set('token', this.token)
    return new this.WebSocket(url.toString())
  }
}

/**
 * The terminal's open orders, kept current: a snapshot, then the WebSocket
 * feed. It reconnects by itself (backoff 250 ms doubling to 5 s) and, on
 * every connection, compares a fresh snapshot with what it holds, so that
 * nothing that changed while it was away is missed (also across a daemon
 * restart, which has no event log to replay) and nothing it already holds
 * is delivered again (an order whose JSON is unchanged is not re-emitted).
 *
 * `onOrder(order, info)`: an order is new or changed (`info.origin`: the
 * event's origin `{kind: 'local'|'remote', peer?}`, or `{kind: 'resync'}`
 * when found by a snapshot). `onRemoved(id, info)`: it left the open list.
 * `onStatus(status)`, `onConnection(connected)`, `onEvent(raw)` (every raw
 * event, e.g. `rejected`, `payment_claim`).
 */
export class LiveFeed {
  /**
   * @param {PossyncClient} client
   * @param {{onOrder?: Function, onRemoved?: Function, onStatus?: Function,
   *   onConnection?: Function, onEvent?: Function, minDelayMs?: number, maxDelayMs?: number}} handlers
   */
  constructor (client, handlers = {}) {
    this.client = client
    this.h = handlers
    /** id → the JSON text last delivered */
    this.known = new Map()
    this.minDelay = handlers.minDelayMs ?? 250
    this.maxDelay = handlers.maxDelayMs ?? 5000
    this.delay = this.minDelay
    this.stopped = false
    this.connected = false
    /** events held while a snapshot is read; null when none is */
    this.held = null
    /** id → the highest `revision` shown (see `deliver`); kept when an
     * order leaves the list, so that a late, older view cannot bring it back */
    this.revisions = new Map()
  }

  /** Connects; resolves once the first snapshot is applied. */
  start () {
    this.stopped = false
    return new Promise((resolve) => { this.firstSync = resolve; this.connect() })
  }

  stop () {
    this.stopped = true
    clearTimeout(this.timer)
    this.ws?.close()
  }

  connect () {
    if (this.stopped) return
    let ws
    try { ws = this.client.events() } catch (e) { return this.retry() }
    this.ws = ws
    ws.onmessage = (m) => {
      let ev
      try { ev = JSON.parse(typeof m.data === 'string' ? m.data : new TextDecoder().decode(m.data)) } catch { return }
      this.onRaw(ev)
    }
    ws.onclose = () => {
      if (this.ws !== ws) return
      this.ws = null
      if (this.connected) { this.connected = false; this.h.onConnection?.(false) }
      this.retry()
    }
    ws.onerror = () => {} // onclose follows
  }

  retry () {
    if (this.stopped) return
    this.timer = setTimeout(() => this.connect(), this.delay)
    this.delay = Math.min(this.delay * 2, this.maxDelay)
  }

  onRaw (ev) {
    this.h.onEvent?.(ev)
    switch (ev.event) {
      case 'hello':
        // The daemon subscribed this socket before saying hello: every
        // change from here on arrives as an event; the snapshot covers the rest.
        this.delay = this.minDelay
        this.connected = true
        this.h.onConnection?.(true)
        this.h.onStatus?.(ev.status)
        this.resync()
        break
      case 'lagged':
        this.resync()
        break
      case 'status':
        this.h.onStatus?.(ev)
        break
      case 'order_changed':
      case 'archived':
        if (this.held) this.held.push(ev)
        else this.apply(ev)
        break
    }
  }

  async resync () {
    // One at a time. A hello or lag during one means its snapshot may be
    // older than what was missed since: read another when it is done.
    if (this.held) { this.again = true; return }
    this.again = false
    this.held = []
    let snapshot
    try {
      snapshot = await this.client.orders()
    } catch {
      // No snapshot, no resume: start over (reconnect, hello, snapshot).
      this.held = null
      this.again = false
      this.ws?.close()
      return
    }
    // Orders an event named since the hello are newer there than in the
    // snapshot, or as new: the events decide them.
    const touched = new Set(this.held.map((ev) => ev.order))
    const listed = new Set()
    for (const order of snapshot) {
      listed.add(order.id)
      // The snapshot is the terminal's word as of now, even below a
      // revision shown before (a terminal restored from a backup).
      if (!touched.has(order.id)) { this.revisions.delete(order.id); this.deliver(order, { kind: 'resync' }) }
    }
    for (const id of [...this.known.keys()]) {
      if (!listed.has(id) && !touched.has(id)) this.remove(id, { kind: 'resync' })
    }
    while (this.held.length > 0) await this.apply(this.held.shift())
    this.held = null
    if (this.again) return this.resync()
    this.firstSync?.(); this.firstSync = null
  }

  async apply (ev) {
    if (ev.event === 'archived') { this.revisions.delete(ev.order); return this.remove(ev.order, { kind: 'archived' }) }
    if (!ev.active) return this.remove(ev.order, ev.origin, ev.view?.revision)
    let view = ev.view
    if (!view) view = await this.client.order(ev.order).catch(() => null)
    if (view) this.deliver(view, ev.origin, ev.summary)
  }

  /**
   * An HTTP answer's view of an order. The feed delivers an order's views
   * in the order the terminal made them; an answer is a copy read at some
   * moment in between, and may be older than what the feed already showed
   * (or newer than what it has shown so far). Its `revision` tells: it is
   * applied unless the feed showed a newer one, so it never undoes a newer
   * update, and once it is applied the edit it answers is on show.
   * @param {OrderJSON|null|undefined} view
   * @returns {boolean} applied
   */
  answer (view) {
    if (!view || this.older(view)) return false
    if (isActive(view)) this.deliver(view, { kind: 'local' })
    else this.remove(view.id, { kind: 'local' }, view.revision)
    return true
  }

  /** Whether a newer view of this order was shown already. @param {OrderJSON} view */
  older (view) {
    return (view.revision ?? 0) < (this.revisions.get(view.id) ?? -1)
  }

  deliver (order, origin, summary) {
    if (this.older(order)) return // a late copy: a newer one is on show
    this.revisions.set(order.id, order.revision ?? 0)
    const text = JSON.stringify(order)
    if (this.known.get(order.id) === text) return // held already: not twice
    this.known.set(order.id, text)
    this.h.onOrder?.(order, { origin, summary })
  }

  remove (id, origin, revision) {
    if (revision !== undefined) this.revisions.set(id, Math.max(revision, this.revisions.get(id) ?? 0))
    if (!this.known.delete(id)) return
    this.h.onRemoved?.(id, { origin })
  }
}

/** Open, or closed but flagged for review: either way on the open list. @param {OrderJSON} view */
export function isActive (view) {
  return view.state === 'open' || (view.review?.length ?? 0) > 0
}

/** Fields of an order that possync manages; every other key of
 * `export_as_JSON()` is an integrator field, synced under `ext`. */
export const ORDER_FIELDS = Object.freeze(['id', 'name', 'revision', 'schema', 'state', 'created', 'changed', 'customer', 'pricelist',
  'fiscal_position', 'table', 'floor', 'guests', 'note', 'split_from', 'refund_of', 'renamed_from', 'lines', 'payments',
  'ext', 'totals', 'conflicts', 'review', 'closed', 'delivery', 'pricing'])
/** Fields of a line that possync manages. */
export const LINE_FIELDS = Object.freeze(['id', 'product', 'display_name', 'qty', 'unit_price', 'discount', 'note',
  'kitchen_qty', 'created', 'changed', 'ext', 'total', 'taxes', 'untaxed', 'tax'])

/** The synced JSON with its `ext` keys also at the top level, as the
 * reference addon's hooks read them (`json.first_new_variable`); a key
 * named like a possync field is only under `json.ext`. */
function withExt (json, own) {
  const out = { ...json }
  for (const [k, v] of Object.entries(json.ext ?? {})) if (!own.includes(k)) out[k] = v
  return out
}

function integratorFields (exported, own) {
  const out = {}
  for (const [k, v] of Object.entries(exported)) if (!own.includes(k) && v !== undefined) out[k] = v
  return out
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)

/**
 * One order line. Subclass it to add fields: extend `export_as_JSON`,
 * `init_from_JSON` and `apply_ms_data`, calling `super`.
 */
export class Orderline {
  /** @param {Order} order */
  constructor (order) {
    this.order = order
    /** @type {string} */
    this.id = ''
    /** the line's synced integrator fields @type {Record<string, any>} */
    this.ext = {}
  }

  /** Builds the line from synced data (`json.ext` keys also at the top). @param {LineJSON & Record<string, any>} json */
  init_from_JSON (json) {
    for (const k of LINE_FIELDS) this[k] = json[k]
  }

  /** The line's JSON; keys beyond possync's fields are synced (`set_line_ext`). */
  export_as_JSON () {
    const out = {}
    for (const k of LINE_FIELDS) out[k] = this[k]
    return out
  }

  /** A remote or local update of this line arrived. */
  apply_ms_data (data) {
    this.init_from_JSON(data)
  }
}

/**
 * One order. Subclass it (and `Orderline`) to add fields, as with the
 * reference addon: `export_as_JSON()` returns the fields to sync (possync's
 * own plus yours; yours go under `ext`), `init_from_JSON(json)` builds the
 * order from synced data, `apply_ms_data(data)` applies an update that
 * arrived from a terminal (this one or another): the place to re-render.
 * Set `static Orderline = MyOrderline` to choose the line class.
 */
export class Order {
  static Orderline = Orderline

  /** @param {Pos} pos */
  constructor (pos) {
    this.pos = pos
    /** @type {Orderline[]} */
    this.orderlines = []
    /** @type {string} */
    this.id = ''
    /** the order's synced integrator fields @type {Record<string, any>} */
    this.ext = {}
  }

  init_from_JSON (json) {
    for (const k of ORDER_FIELDS) if (k !== 'lines') this[k] = json[k]
    const byId = new Map(this.orderlines.map((l) => [l.id, l]))
    this.orderlines = (json.lines ?? []).map((lj) => {
      const data = withExt(lj, LINE_FIELDS)
      let line = byId.get(lj.id)
      if (line) line.apply_ms_data(data)
      else { line = new (/** @type {typeof Order} */ (this.constructor).Orderline)(this); line.init_from_JSON(data) }
      return line
    })
  }

  export_as_JSON () {
    const out = {}
    for (const k of ORDER_FIELDS) if (k !== 'lines') out[k] = this[k]
    out.lines = this.orderlines.map((l) => l.export_as_JSON())
    return out
  }

  apply_ms_data (data) {
    this.init_from_JSON(data)
  }

  get_orderline (id) { return this.orderlines.find((l) => l.id === id) }

  /**
   * Sends the integrator fields that changed since the order was last
   * synced: one `set_ext`, and one `set_line_ext` per line that changed.
   * Fields not changed here are not written, so they cannot win a conflict
   * they have no part in.
   * @returns {Promise<number>} edits sent
   */
  async save () {
    let sent = 0
    const exported = this.export_as_JSON()
    const mine = integratorFields(exported, ORDER_FIELDS)
    const diff = Object.fromEntries(Object.entries(mine).filter(([k, v]) => !same(this.ext?.[k], v)))
    if (Object.keys(diff).length > 0) { await this.pos.edit(this, Edits.set_ext({ fields: diff })); sent++ }
    for (const lj of exported.lines ?? []) {
      const line = this.get_orderline(lj.id)
      const fields = integratorFields(lj, LINE_FIELDS)
      const ldiff = Object.fromEntries(Object.entries(fields).filter(([k, v]) => !same(line?.ext?.[k], v)))
      if (Object.keys(ldiff).length > 0) { await this.pos.edit(this, Edits.set_line_ext({ line: lj.id, fields: ldiff })); sent++ }
    }
    return sent
  }
}

/**
 * A front end's view of one terminal: its open orders as `Order` objects
 * (of your subclass), kept current by a `LiveFeed`.
 */
export class Pos {
  /**
   * @param {{client: PossyncClient, user: string, Order?: typeof Order,
   *   onChange?: (order: Order|null, id: string, info: object) => void, feed?: object}} o
   */
  constructor ({ client, user, Order: OrderClass = Order, onChange, feed = {} }) {
    this.client = client
    this.user = user
    this.OrderClass = OrderClass
    this.onChange = onChange
    /** @type {Map<string, Order>} */
    this.orders = new Map()
    this.feed = new LiveFeed(client, {
      ...feed,
      onOrder: (json, info) => this.receive(json, info),
      onRemoved: (id, info) => { this.orders.delete(id); this.onChange?.(null, id, info) }
    })
  }

  start () { return this.feed.start() }
  stop () { this.feed.stop() }

  receive (json, info) {
    const data = withExt(json, ORDER_FIELDS)
    let order = this.orders.get(json.id)
    if (order) {
      order.apply_ms_data(data)
    } else {
      order = new this.OrderClass(this)
      order.init_from_JSON(data)
      this.orders.set(json.id, order)
    }
    this.onChange?.(order, json.id, info)
    return order
  }

  /**
   * Runs a request whose answer carries an order view (`view(answer)`),
   * and applies that view unless the feed showed a newer one meanwhile
   * (`LiveFeed.answer`). Through the feed, so that the feed's own event for
   * the same state is not applied again. @returns the answer
   */
  async track (request, view = (answer) => answer) {
    const answer = await request()
    this.feed.answer(view(answer))
    return answer
  }

  /** Opens an order on this terminal. @param {Omit<OpenOrderBody, 'user'>} [fields] */
  async open (fields = {}) {
    const json = await this.track(() => this.client.openOrder({ user: this.user, ...fields }))
    return this.orders.get(json.id)
  }

  /** Applies one edit (see `Edits`); the order is updated from the answer. */
  edit (order, edit) {
    const id = typeof order === 'string' ? order : order.id
    return this.track(() => this.client.edit(id, this.user, edit), (res) => res.order)
  }
}
