// The possync web POS page: one terminal's open orders, edited through the
// local HTTP API and kept live by the WebSocket change feed.
//
// No build step and nothing fetched from elsewhere: this file is served as is
// by the daemon (`include_str!`). Every text that comes from the API is put in
// the page with `textContent`, never as HTML.
//
// Stable hooks for tests (see tests/browser/): `#conn[data-state]` is the
// terminal's connectivity ("online" | "syncing" | "offline"; "unknown" before
// the first answer) and `data-peers` its peer count; order list items are
// `[data-testid=order-item][data-order-id][data-order-name]`; line rows are
// `[data-testid=line][data-line-id][data-product]` with `[data-testid=line-qty]`,
// `[data-testid=line-inc|line-dec|line-remove|line-note|line-kitchen|line-who]`;
// products are `[data-testid=product-<id>]`; toasts `[data-testid=toast]`.
// Payments: `#pay-dialog` with `#pay-claim[data-state]` ("none" | "pending" |
// "mine" | "busy" | "paid"), `#pay-amount`, `#pay-tip`, `#pay-change`, the
// numpad `[data-key]`, `#pay-cash`, `#pay-card`; a payment in progress shows
// as `[data-testid=order-claim-badge]` in the list and `#order-claim` on the
// order; managers get `#review-refund`, `#review-accept`, `#resolve-review`.

/** The built-in menu: product id, name, unit price in cents. */
const MENU = [
  { product: 'espresso', name: 'Espresso', price: 250 },
  { product: 'burger', name: 'Burger', price: 1290 },
  { product: 'fries', name: 'Fries', price: 450 },
  { product: 'salad', name: 'Salad', price: 890 },
  { product: 'wine', name: 'House wine', price: 650 },
  { product: 'cake', name: 'Cake', price: 590 },
];

/** How often the connection widget asks /api/status, besides the socket. */
const STATUS_POLL_MS = 2000;
/** WebSocket reconnect backoff: first delay and ceiling. */
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8000;
/** How long a toast stays, and how long a remote change stays highlighted. */
const TOAST_MS = 6000;
const FLASH_MS = 1500;
const USER_KEY = 'possync.user';
/** How often an open payment screen renews its claim (it lapses after 30 s). */
const CLAIM_RENEW_MS = 10_000;
/** How often a screen told "being paid on T2" looks whether it still is:
 * the feed says so too, but a refusal may answer after the feed's news. */
const BUSY_CHECK_MS = 1000;
const TOKEN_KEY = 'possync.token';

const $ = (id) => document.getElementById(id);

const state = {
  terminal: null,
  /** Open-list orders by id (open, or closed with a review flag). */
  orders: new Map(),
  selected: null,
  /** Order / line id → time until which it is highlighted (remote change). */
  flash: new Map(),
  socket: null,
  socketOpen: false,
  backoff: BACKOFF_MIN_MS,
  /** Payments in progress (ours and other terminals'), by order id. */
  claims: new Map(),
  /**
   * Feed updates received so far, and the count when each order last had
   * one. The feed delivers an order's views in the order the terminal made
   * them, and its last one is always the newest; an HTTP answer is only an
   * early copy, read at some moment in between. An answer is therefore
   * applied only if the feed brought nothing for that order while the
   * request was out: otherwise it may be older than what the feed showed
   * (a page once dropped a flagged order that way).
   */
  feedSeq: 0,
  fedAt: new Map(),
  /** Users the terminal's policy makes managers. */
  managers: [],
};

/** The payment screen: which order, the digits typed (cents), our claim. */
const pay = { order: null, digits: '', renew: null, check: null, paid: false };

// ---------------------------------------------------------------- API access

/** Token for a daemon that requires one: `?token=` once, then remembered. */
const token = (() => {
  const fromUrl = new URLSearchParams(location.search).get('token');
  if (fromUrl) localStorage.setItem(TOKEN_KEY, fromUrl);
  return fromUrl || localStorage.getItem(TOKEN_KEY) || null;
})();

class ApiError extends Error {
  constructor(message, code, status, detail) {
    super(message);
    this.code = code;
    this.status = status;
    /** The whole `error` object of the answer (e.g. its `claim`). */
    this.detail = detail;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError('the terminal does not answer', 'unreachable', 0);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data && data.error;
    throw new ApiError(err?.message || `${res.status} ${res.statusText}`, err?.code || 'http', res.status, err);
  }
  return data;
}

function user() {
  const u = $('user').value.trim();
  return u || 'waiter1';
}

/** Runs an API action; any error becomes a toast. Returns undefined on error. */
async function attempt(what, fn) {
  try {
    return await fn();
  } catch (e) {
    toast(`${what}: ${e.message}`, 'error');
    // Fields that were not saved show the order's values again.
    render();
    return undefined;
  }
}

/** One edit of an order; the answer's view replaces ours unless the feed was newer. */
async function edit(id, op) {
  const since = state.feedSeq;
  const res = await api('POST', `/api/orders/${encodeURIComponent(id)}/edit`, { user: user(), edit: op });
  applyAnswer(res.order, since);
  return res;
}

// ---------------------------------------------------------------- formatting

function money(cents) {
  const sign = cents < 0 ? '-' : '';
  const a = Math.abs(cents);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

function units(thousandths) {
  const u = thousandths / 1000;
  return Number.isInteger(u) ? String(u) : u.toFixed(3).replace(/0+$/, '');
}

const plural = (n, word) => `${units(n * 1000)} ${word}${n === 1 ? '' : 's'}`;

const who = (stamp) => (stamp ? `${stamp.user}@${stamp.terminal}` : '?');

/** "1.50" or "1,50" → 150; NaN for anything else (or below zero). */
function parseMoney(text) {
  const t = String(text).trim().replace(',', '.');
  if (t === '') return 0;
  if (!/^\d{1,9}(\.\d{0,2})?$/.test(t)) return NaN;
  const [whole, frac = ''] = t.split('.');
  return Number(whole) * 100 + Number(frac.padEnd(2, '0'));
}

/** "being paid on T2 by ana" (another terminal) or "paying here (ana)". */
function claimText(c) {
  return c.mine ? `paying here (${c.user})` : `being paid on ${c.terminal} by ${c.user}`;
}

const isManager = () => state.managers.includes(user());

const receiptUrl = (id) =>
  `/api/orders/${encodeURIComponent(id)}/receipt${token ? `?token=${encodeURIComponent(token)}` : ''}`;

function clock(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function tableLabel(o) {
  if (!o.table) return 'No table';
  return o.floor ? `Table ${o.table} · ${o.floor}` : `Table ${o.table}`;
}

/** Small DOM builder: h('div', {class: 'x', dataset: {...}}, children...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// ---------------------------------------------------------------- toasts

function toast(message, kind = 'info') {
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { testid: 'toast', kind } }, message);
  el.addEventListener('click', () => el.remove());
  $('toasts').append(el);
  setTimeout(() => el.remove(), TOAST_MS);
}

// ---------------------------------------------------------------- state changes

function isActive(view) {
  return view.state === 'open' || (view.review && view.review.length > 0);
}

function applyView(view) {
  if (!view) return;
  if (isActive(view)) state.orders.set(view.id, view);
  else dropOrder(view.id);
  render();
}

/** The feed brought something for this order after `since` (a `feedSeq`). */
function fedSince(id, since) {
  return (state.fedAt.get(id) ?? -1) >= since;
}

/** An HTTP answer's view, for a request sent when `feedSeq` was `since`. */
function applyAnswer(view, since) {
  if (view && !fedSince(view.id, since)) applyView(view);
}

/** Counts a feed update of `id` (see `state.feedSeq`). */
function fed(id) {
  state.fedAt.set(id, state.feedSeq);
  state.feedSeq += 1;
}

function dropOrder(id) {
  state.orders.delete(id);
  if (state.selected === id) state.selected = null;
}

async function loadOrders() {
  const since = state.feedSeq;
  const [list, claims] = await Promise.all([api('GET', '/api/orders'), api('GET', '/api/payments')]);
  const listed = new Map(list.filter(isActive).map((o) => [o.id, o]));
  // What the feed brought meanwhile is newer than the list.
  for (const [id, at] of state.fedAt) {
    if (at < since) continue;
    if (state.orders.has(id)) listed.set(id, state.orders.get(id));
    else listed.delete(id);
  }
  state.orders = listed;
  state.claims = new Map(claims.map((c) => [c.order, c]));
  if (state.selected && !state.orders.has(state.selected)) state.selected = null;
  render();
}

function select(id) {
  state.selected = id;
  render();
}

function flash(id) {
  state.flash.set(id, Date.now() + FLASH_MS);
  setTimeout(() => {
    if ((state.flash.get(id) || 0) <= Date.now()) {
      state.flash.delete(id);
      document.querySelectorAll(`[data-flash-id="${CSS.escape(id)}"]`).forEach((el) => el.classList.remove('flash'));
    }
  }, FLASH_MS + 50);
}
const flashing = (id) => (state.flash.get(id) || 0) > Date.now();

// ---------------------------------------------------------------- connection widget

function setConn(status, reachable = true) {
  const conn = $('conn');
  if (!reachable) {
    conn.dataset.state = 'offline';
    conn.dataset.peers = '0';
    $('conn-label').textContent = 'terminal not answering';
    conn.title = 'this page cannot reach its terminal';
    return;
  }
  const n = (status.peers || []).length;
  conn.dataset.state = status.connectivity;
  conn.dataset.peers = String(n);
  $('conn-label').textContent = `${status.connectivity} · ${n} ${n === 1 ? 'peer' : 'peers'}`;
  const last = status.last_sync_ms ? `last change from a peer at ${new Date(status.last_sync_ms).toLocaleTimeString()}` : 'no change from a peer yet';
  conn.title = `${status.open_orders} open orders here; ${last}`;
}

function setTerminal(code) {
  if (!code || code === state.terminal) return;
  state.terminal = code;
  $('terminal').textContent = code;
  document.title = `${code} · possync POS`;
}

async function pollStatus() {
  try {
    const s = await api('GET', '/api/status');
    setTerminal(s.terminal);
    setConn(s.status);
    const managers = (s.policy && s.policy.managers) || [];
    if (managers.join() !== state.managers.join()) {
      state.managers = managers;
      const o = selectedOrder();
      if (o) renderWarnings(o);
    }
    // Without the socket, the list would go stale: re-read it as well.
    if (!state.socketOpen) await loadOrders();
  } catch {
    setConn(null, false);
  }
}

// ---------------------------------------------------------------- change feed

function connectSocket() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = token ? `?token=${encodeURIComponent(token)}` : '';
  let ws;
  try {
    ws = new WebSocket(`${proto}//${location.host}/api/events${q}`);
  } catch {
    scheduleReconnect();
    return;
  }
  state.socket = ws;
  ws.addEventListener('open', () => {
    state.socketOpen = true;
    state.backoff = BACKOFF_MIN_MS;
    document.body.dataset.socket = 'open';
    // Whatever changed while the socket was down.
    attempt('Reading orders', loadOrders);
  });
  ws.addEventListener('message', (m) => {
    let ev;
    try {
      ev = JSON.parse(m.data);
    } catch {
      return;
    }
    onEvent(ev);
  });
  ws.addEventListener('close', () => {
    if (state.socket !== ws) return;
    state.socketOpen = false;
    state.socket = null;
    document.body.dataset.socket = 'closed';
    scheduleReconnect();
  });
  ws.addEventListener('error', () => ws.close());
}

function scheduleReconnect() {
  const delay = state.backoff * (0.75 + Math.random() * 0.5);
  state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX_MS);
  setTimeout(connectSocket, delay);
}

function onEvent(ev) {
  switch (ev.event) {
    case 'hello':
      setTerminal(ev.terminal);
      if (ev.status) setConn(ev.status);
      break;
    case 'status':
      setConn(ev);
      break;
    case 'order_changed':
      fed(ev.order);
      if (ev.origin && ev.origin.kind === 'remote') {
        flash(ev.order);
        const s = ev.summary || {};
        for (const l of s.lines_added || []) flash(l);
        for (const l of Object.keys(s.lines_changed || {})) flash(l);
      }
      if (ev.view && ev.active) {
        state.orders.set(ev.order, ev.view);
      } else {
        dropOrder(ev.order);
      }
      render();
      break;
    case 'archived':
      fed(ev.order);
      dropOrder(ev.order);
      render();
      break;
    case 'payment_claim':
      if (ev.claim) state.claims.set(ev.order, ev.claim);
      else state.claims.delete(ev.order);
      render();
      onClaimEvent(ev.order, ev.claim);
      break;
    case 'rejected':
      toast(`A peer sent data that was refused: ${ev.reason}`, 'error');
      break;
    case 'lagged':
      attempt('Reading orders', loadOrders);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- rendering

function render() {
  renderOrders();
  renderOrder();
  renderPay();
}

function sortedOrders() {
  return [...state.orders.values()].sort(
    (a, b) =>
      (a.table ?? '\uffff').localeCompare(b.table ?? '\uffff', undefined, { numeric: true }) ||
      (a.floor ?? '').localeCompare(b.floor ?? '') ||
      a.created.at_ms - b.created.at_ms ||
      a.name.localeCompare(b.name),
  );
}

function renderOrders() {
  const box = $('orders');
  const groups = new Map();
  for (const o of sortedOrders()) {
    const key = tableLabel(o);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(o);
  }
  const nodes = [];
  for (const [label, orders] of groups) {
    nodes.push(
      h('div', { class: 'table-group', dataset: { testid: 'table-group', table: orders[0].table ?? '' } },
        h('div', { class: 'table-label' }, label),
        orders.map((o) => {
          const count = o.lines.filter((l) => l.qty > 0).reduce((n, l) => n + l.qty / 1000, 0);
          const attention = o.review.length > 0 || o.conflicts.length > 0;
          return h('button', {
            type: 'button',
            class: `order-item${o.id === state.selected ? ' selected' : ''}${flashing(o.id) ? ' flash' : ''}`,
            dataset: { testid: 'order-item', orderId: o.id, orderName: o.name, flashId: o.id },
            onclick: () => select(o.id),
          },
            h('span', { class: 'oi-name' }, o.name, attention ? h('span', { class: 'badge warn', title: 'needs attention' }, '!') : null),
            h('span', { class: 'oi-total', dataset: { testid: 'order-item-total' } }, money(o.totals.total)),
            h('span', { class: 'oi-meta' }, `${plural(count, 'item')} · ${plural(o.guests, 'guest')} · ${who(o.created)}`),
            state.claims.has(o.id)
              ? h('span', { class: 'oi-claim badge paying', dataset: { testid: 'order-claim-badge' } }, claimText(state.claims.get(o.id)))
              : null,
          );
        }),
      ),
    );
  }
  box.replaceChildren(...nodes);
  $('orders-empty').hidden = state.orders.size > 0;
}

/** Keeps what the user is typing in a field across a live re-render. */
function setField(el, value) {
  if (document.activeElement !== el) el.value = value;
}

function renderOrder() {
  const o = state.selected ? state.orders.get(state.selected) : null;
  $('order').hidden = !o;
  $('no-selection').hidden = !!o;
  if (!o) return;
  const article = $('order');
  article.dataset.orderId = o.id;
  article.dataset.state = o.state;
  $('order-name').textContent = o.name;
  $('order-table').textContent = tableLabel(o);
  $('order-state').textContent = o.state;
  $('order-state').dataset.state = o.state;
  $('order-created').textContent = `opened by ${who(o.created)} at ${clock(o.created.at_ms)}`;
  $('order-total').textContent = money(o.totals.total);
  const t = o.totals;
  const due = t.due < 0 ? `to give back ${money(-t.due)}` : `due ${money(t.due)}`;
  const extras = [t.change ? `change ${money(t.change)}` : null, t.tip ? `tip ${money(t.tip)}` : null].filter(Boolean);
  $('order-due').textContent = [t.paid ? `paid ${money(t.paid)}` : null, due, ...extras].filter(Boolean).join(' · ');
  const claim = state.claims.get(o.id);
  $('order-claim').hidden = !claim;
  $('order-claim').textContent = claim ? claimText(claim) : '';
  $('receipt').href = receiptUrl(o.id);
  setField($('order-customer'), o.customer ?? '');
  setField($('order-guests'), String(o.guests));
  setField($('order-note'), o.note ?? '');
  renderWarnings(o);
  renderLines(o);
  const open = o.state === 'open';
  const active = o.lines.filter((l) => l.qty > 0);
  $('send-kitchen').disabled = !open || !active.some((l) => l.qty > l.kitchen_qty);
  $('split').disabled = !open || active.length === 0;
  // A paid order left short by a concurrent edit can still take the
  // missing payment (the underpaid flag then clears).
  const underpaid = o.state === 'paid' && (o.review ?? []).some((r) => r.kind === 'underpaid');
  $('pay').disabled = !(open || underpaid) || o.totals.due <= 0;
  $('cancel-order').disabled = !open;
  $('move-table').disabled = !open;
  for (const id of ['order-customer', 'order-guests', 'order-note']) $(id).disabled = !open;
}

function lineName(o, lineId) {
  const l = o.lines.find((x) => x.id === lineId);
  return l ? l.display_name : `line ${lineId.slice(0, 6)}`;
}

function conflictText(o, c) {
  const parts = c.path.split('/');
  let field = c.path;
  if (parts[0] === 'lines' && parts.length >= 3) field = `${lineName(o, parts[1])}: ${parts.slice(2).join('/').replace(/_/g, ' ')}`;
  else field = field.replace(/_/g, ' ');
  const isMoney = /unit_price$/.test(c.path);
  const fmt = (v) => (v === null ? '(none)' : isMoney && typeof v === 'number' ? money(v) : typeof v === 'string' ? `“${v}”` : JSON.stringify(v));
  const [winner, ...others] = c.values;
  return `Competing values for ${field}: ${fmt(winner)} kept, ${others.map(fmt).join(', ')} overwritten`;
}

function reviewText(r) {
  switch (r.kind) {
    case 'closed_concurrently':
      return `Closed on two terminals at once: ${(r.closings || []).map(([st, s]) => `${st} by ${who(s)}`).join(', ')}`;
    case 'edited_after_close':
      return `Changed after it was ${r.state}: total ${money(r.closed_total)} when closed, ${money(r.total)} now`;
    case 'underpaid':
      return `Underpaid: total ${money(r.total)}, paid ${money(r.paid)}`;
    case 'overpaid':
      return `Paid too much: total ${money(r.total)}, paid ${money(r.paid)}: ${money(r.paid - r.total)} to give back`;
    default:
      return `Review: ${r.kind}`;
  }
}

function renderWarnings(o) {
  const items = [
    ...o.review.map((r) => h('li', { class: 'review', dataset: { testid: 'review', kind: r.kind } }, reviewText(r))),
    ...o.conflicts.map((c) => h('li', { class: 'conflict', dataset: { testid: 'conflict', path: c.path } }, conflictText(o, c))),
  ];
  $('order-warning-list').replaceChildren(...items);
  $('order-warnings').hidden = items.length === 0;
  // Resolving takes a manager (the terminal's policy) and a reason.
  const flagged = o.review.length > 0;
  const manager = isManager();
  // What goes back: the extra, or all of it on a cancelled order.
  const extra = o.state === 'cancelled' ? o.totals.paid : o.totals.paid - o.totals.total;
  const overpaid = o.review.some((r) => r.kind === 'overpaid');
  $('review-actions').hidden = !flagged || !manager;
  $('review-manager-only').hidden = !flagged || manager;
  $('review-refund').hidden = extra <= 0;
  $('review-refund').textContent = `Give back ${money(Math.max(0, extra))}`;
  $('review-accept').hidden = !overpaid;
  $('resolve-review').hidden = overpaid || o.state === 'open';
  // A refund order (or any open order owing the customer): a manager gives
  // the money back and closes it.
  $('give-back').hidden = !(o.state === 'open' && o.totals.due < 0 && manager);
  $('give-back').textContent = `Give back ${money(Math.max(0, -o.totals.due))}`;
}

function kitchenBadge(l) {
  if (l.kitchen_qty >= l.qty) return h('span', { class: 'badge sent', dataset: { testid: 'line-kitchen', kitchen: 'sent' } }, 'sent');
  const pending = l.qty - l.kitchen_qty;
  const text = l.kitchen_qty > 0 ? `pending +${units(pending)}` : 'pending';
  return h('span', { class: 'badge pending', dataset: { testid: 'line-kitchen', kitchen: 'pending' } }, text);
}

function renderLines(o) {
  // Keep a line note being typed (and its caret) across the re-render.
  const focused = document.activeElement;
  const typing = focused && focused.dataset && focused.dataset.testid === 'line-note'
    ? { line: focused.dataset.lineId, value: focused.value, start: focused.selectionStart, end: focused.selectionEnd }
    : null;
  const open = o.state === 'open';
  const rows = o.lines.filter((l) => l.qty > 0).map((l) => {
    const changedBy = l.changed && (l.changed.at_ms !== l.created.at_ms || who(l.changed) !== who(l.created))
      ? ` · changed by ${who(l.changed)}` : '';
    return h('li', {
      class: `line${flashing(l.id) ? ' flash' : ''}`,
      dataset: { testid: 'line', lineId: l.id, product: l.product, flashId: l.id },
    },
      h('div', { class: 'line-main' },
        h('span', { class: 'line-name', dataset: { testid: 'line-name' } }, l.display_name),
        h('span', { class: 'line-price' }, `${money(l.unit_price)}${l.discount ? ` −${l.discount / 100}%` : ''}`),
        kitchenBadge(l),
        h('span', { class: 'line-total', dataset: { testid: 'line-total' } }, money(l.total)),
      ),
      h('div', { class: 'line-controls' },
        h('button', { type: 'button', class: 'qty-btn', disabled: !open, 'aria-label': `one ${l.display_name} less`, dataset: { testid: 'line-dec' }, onclick: () => changeQty(o, l, -1000) }, '−'),
        h('span', { class: 'qty', dataset: { testid: 'line-qty' } }, units(l.qty)),
        h('button', { type: 'button', class: 'qty-btn', disabled: !open, 'aria-label': `one ${l.display_name} more`, dataset: { testid: 'line-inc' }, onclick: () => changeQty(o, l, 1000) }, '+'),
        h('input', {
          type: 'text', class: 'line-note', placeholder: 'note', maxlength: '200', value: l.note, disabled: !open,
          'aria-label': `note for ${l.display_name}`,
          dataset: { testid: 'line-note', lineId: l.id },
          onchange: (e) => setLineNote(o.id, l, e.target.value),
          onkeydown: (e) => { if (e.key === 'Enter') e.target.blur(); },
        }),
        h('button', { type: 'button', class: 'remove-btn', disabled: !open, 'aria-label': `remove ${l.display_name}`, dataset: { testid: 'line-remove' }, onclick: () => removeLine(o, l) }, 'Remove'),
      ),
      h('div', { class: 'who', dataset: { testid: 'line-who' } }, `added by ${who(l.created)}${changedBy}`),
    );
  });
  $('lines').replaceChildren(...rows);
  $('lines-empty').hidden = rows.length > 0;
  if (typing) {
    const again = $('lines').querySelector(`[data-testid=line-note][data-line-id="${CSS.escape(typing.line)}"]`);
    if (again) {
      again.value = typing.value;
      again.focus();
      again.setSelectionRange(typing.start, typing.end);
    }
  }
}

function renderProducts() {
  $('products').replaceChildren(
    ...MENU.map((p) =>
      h('button', {
        type: 'button', class: 'product', dataset: { testid: `product-${p.product}`, product: p.product },
        onclick: () => addProduct(p),
      },
        h('span', { class: 'p-initial', 'aria-hidden': 'true' }, p.name[0]),
        h('span', { class: 'p-name' }, p.name),
        h('span', { class: 'p-price' }, money(p.price)),
      ),
    ),
  );
}

// ---------------------------------------------------------------- actions

function selectedOrder() {
  return state.selected ? state.orders.get(state.selected) : null;
}

async function addProduct(p) {
  const o = selectedOrder();
  if (!o) {
    toast('Select an order or open a new one first', 'error');
    return;
  }
  await attempt(`Adding ${p.name}`, () =>
    edit(o.id, { op: 'add_line', product: p.product, display_name: p.name, qty: 1000, unit_price: p.price }),
  );
}

function changeQty(o, l, delta) {
  // Increments add up with other terminals' concurrent ones (a counter).
  return attempt(`Changing ${l.display_name}`, () => edit(o.id, { op: 'change_qty', line: l.id, delta }));
}

function removeLine(o, l) {
  return attempt(`Removing ${l.display_name}`, () => edit(o.id, { op: 'remove_line', line: l.id }));
}

function setLineNote(id, l, note) {
  if (note === l.note) return undefined;
  return attempt('Saving the note', () => edit(id, { op: 'set_line_note', line: l.id, note }));
}

async function newOrder(e) {
  e.preventDefault();
  const table = $('new-table').value.trim() || null;
  const guests = Math.max(0, parseInt($('new-guests').value, 10) || 0);
  const view = await attempt('Opening the order', () => api('POST', '/api/orders', { user: user(), table, guests }));
  if (view) {
    state.orders.set(view.id, view);
    state.selected = view.id;
    $('new-table').value = '';
    render();
  }
}

function bindOrderFields() {
  const commit = (el, make) => {
    el.addEventListener('change', () => {
      const o = selectedOrder();
      if (!o) return;
      const op = make(o, el.value);
      if (op) attempt('Saving', () => edit(o.id, op));
    });
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') el.blur();
    });
  };
  commit($('order-customer'), (o, v) => {
    const customer = v.trim() || null;
    return customer === (o.customer ?? null) ? null : { op: 'set_customer', customer };
  });
  commit($('order-guests'), (o, v) => {
    const guests = Math.max(0, parseInt(v, 10) || 0);
    return guests === o.guests ? null : { op: 'set_guests', guests };
  });
  commit($('order-note'), (o, v) => (v === o.note ? null : { op: 'set_note', note: v }));
}

function bindActions() {
  $('send-kitchen').addEventListener('click', () => {
    const o = selectedOrder();
    if (o) attempt('Sending to the kitchen', () => edit(o.id, { op: 'send_to_kitchen', lines: null }));
  });

  $('move-table').addEventListener('click', () => {
    const o = selectedOrder();
    if (!o) return;
    $('move-table-input').value = o.table ?? '';
    $('move-floor-input').value = o.floor ?? '';
    $('move-dialog').returnValue = '';
    $('move-dialog').showModal();
    $('move-table-input').select();
  });
  $('move-dialog').addEventListener('close', () => {
    const o = selectedOrder();
    if ($('move-dialog').returnValue !== 'ok' || !o) return;
    const table = $('move-table-input').value.trim() || null;
    const floor = $('move-floor-input').value.trim() || null;
    attempt('Moving the order', () => edit(o.id, { op: 'set_table', table, floor }));
  });

  $('split').addEventListener('click', () => {
    const o = selectedOrder();
    if (!o) return;
    $('split-lines').replaceChildren(
      ...o.lines.filter((l) => l.qty > 0).map((l) =>
        h('li', { dataset: { testid: 'split-line', lineId: l.id } },
          h('label', { class: 'split-pick' },
            h('input', { type: 'checkbox', dataset: { testid: 'split-check' } }),
            ` ${l.display_name} (${units(l.qty)} × ${money(l.unit_price)})`),
          h('input', {
            type: 'number', min: '0', max: String(l.qty / 1000), step: 'any', value: String(l.qty / 1000),
            'aria-label': `quantity of ${l.display_name} to move`, dataset: { testid: 'split-qty' },
          }),
        ),
      ),
    );
    $('split-dialog').returnValue = '';
    $('split-dialog').showModal();
  });
  $('split-dialog').addEventListener('close', async () => {
    const o = selectedOrder();
    if ($('split-dialog').returnValue !== 'ok' || !o) return;
    const lines = [...$('split-lines').querySelectorAll('[data-testid=split-line]')]
      .filter((li) => li.querySelector('[data-testid=split-check]').checked)
      .map((li) => ({ line: li.dataset.lineId, qty: Math.round(parseFloat(li.querySelector('[data-testid=split-qty]').value) * 1000) }))
      .filter((x) => x.qty > 0);
    if (lines.length === 0) {
      toast('Split: choose at least one line', 'error');
      return;
    }
    const view = await attempt('Splitting', () => api('POST', `/api/orders/${encodeURIComponent(o.id)}/split`, { user: user(), lines }));
    if (view) {
      // The source order's new view arrives on the feed; re-read it now anyway.
      await attempt('Reading orders', loadOrders);
      state.orders.set(view.id, view);
      state.selected = view.id;
      render();
      toast(`Split into ${view.name}`);
    }
  });

  $('pay').addEventListener('click', openPay);
  $('pay-cash').addEventListener('click', () => payWith('cash'));
  $('pay-card').addEventListener('click', () => payWith('card'));
  $('numpad').addEventListener('click', (e) => {
    const key = e.target.closest('[data-key]')?.dataset.key;
    if (key) numpad(key);
  });
  $('pay-tip').addEventListener('input', () => renderPay());
  // The dialog's `close` event comes a task later (much later in a tab in
  // the background): Back and a payment end the screen at once, and a late
  // `close` (Escape) only if the screen was not opened again meanwhile.
  $('pay-back').addEventListener('click', closePay);
  $('pay-dialog').addEventListener('close', () => {
    if (!$('pay-dialog').open) closePay();
  });

  $('cancel-order').addEventListener('click', () => {
    const o = selectedOrder();
    if (!o) return;
    $('cancel-name').textContent = o.name;
    $('cancel-dialog').returnValue = '';
    $('cancel-dialog').showModal();
  });
  $('cancel-dialog').addEventListener('close', () => {
    const o = selectedOrder();
    if ($('cancel-dialog').returnValue === 'ok' && o) attempt('Cancelling', () => edit(o.id, { op: 'cancel' }));
  });

  $('review-refund').addEventListener('click', () => review('refund'));
  $('give-back').addEventListener('click', giveBack);
  $('paid-orders').addEventListener('toggle', () => attempt('Reading paid orders', loadPaid));
  $('review-accept').addEventListener('click', () => review('accept'));
  $('resolve-review').addEventListener('click', () => review('resolve'));
}

// ---------------------------------------------------------------- payment screen

function payOrder() {
  return pay.order ? state.orders.get(pay.order) : null;
}

function setPayClaim(kind, text) {
  $('pay-claim').dataset.state = kind;
  $('pay-claim').textContent = text;
}

function openPay() {
  const o = selectedOrder();
  if (!o) return;
  pay.order = o.id;
  pay.digits = '';
  pay.paid = false;
  $('pay-tip').value = '0.00';
  setPayClaim('pending', 'Asking the other terminals…');
  $('pay-dialog').returnValue = '';
  $('pay-dialog').showModal();
  renderPay();
  claimPayment();
  clearInterval(pay.renew);
  pay.renew = setInterval(() => {
    if ($('pay-claim').dataset.state === 'mine') claimPayment();
  }, CLAIM_RENEW_MS);
  clearInterval(pay.check);
  pay.check = setInterval(checkBusy, BUSY_CHECK_MS);
}

/** Told another terminal is paying: take over once it no longer is. */
async function checkBusy() {
  const id = pay.order;
  if (!id || $('pay-claim').dataset.state !== 'busy') return;
  try {
    const claims = await api('GET', '/api/payments');
    if (pay.order === id && !claims.some((c) => c.order === id)) claimPayment();
  } catch {
    // The terminal does not answer: the next check asks again.
  }
}

/** Tells the other terminals this screen is open (or still open). */
async function claimPayment() {
  const id = pay.order;
  if (!id) return;
  try {
    const res = await api('POST', `/api/orders/${encodeURIComponent(id)}/payment/claim`, { user: user() });
    if (pay.order === id) setPayClaim('mine', `Paying here: the other terminals wait (${res.claim.user})`);
  } catch (e) {
    if (pay.order === id) refused(e);
  }
}

/** What a screen says while another terminal takes the payment. */
const busyText = (c) => `Being paid on ${c.terminal} by ${c.user}: wait, or take over when they are done`;

/** A refusal the cashier must read, not an error: who pays, or paid already. */
function refused(e) {
  if (e.code === 'payment_in_progress') {
    const c = e.detail && e.detail.claim;
    setPayClaim('busy', c ? busyText(c) : e.message);
  } else if (e.code === 'nothing_due' || e.code === 'order_closed') {
    setPayClaim('paid', 'Already paid: nothing is due');
  } else if (e.code === 'overpayment') {
    setPayClaim('mine', `${e.message}`);
  } else {
    toast(`Paying: ${e.message}`, 'error');
  }
}

/** The claim on an order changed: the open screen follows it. */
function onClaimEvent(order, claim) {
  if (order !== pay.order || !$('pay-dialog').open) return;
  if (claim && !claim.mine) setPayClaim('busy', busyText(claim));
  // The other terminal went away or gave up: take over.
  else if (!claim && $('pay-claim').dataset.state === 'busy') claimPayment();
}

function payAmounts() {
  const o = payOrder();
  const due = o ? Math.max(0, o.totals.due) : 0;
  const tip = parseMoney($('pay-tip').value);
  const typed = pay.digits === '' ? null : Number(pay.digits);
  const tendered = typed ?? due + (Number.isNaN(tip) ? 0 : tip);
  const change = Math.max(0, tendered - (Number.isNaN(tip) ? 0 : tip) - due);
  return { o, due, tip, typed, tendered, change };
}

function renderPay() {
  if (!$('pay-dialog').open) return;
  const { o, due, typed, tendered, change } = payAmounts();
  if (!o) {
    $('pay-left').textContent = money(0);
    return;
  }
  $('pay-due').textContent = `${o.name}: ${money(due)}`;
  $('pay-total').textContent = money(o.totals.total);
  $('pay-paid').textContent = money(o.totals.paid);
  $('pay-left').textContent = money(due);
  $('pay-amount').textContent = typed === null ? `${money(tendered)} (exact)` : money(tendered);
  $('pay-change').textContent = money(change);
  $('pay-list').replaceChildren(
    ...o.payments.map((p) =>
      h('li', { dataset: { testid: 'pay-item' } },
        `${p.amount < 0 ? 'refund ' : ''}${p.method} ${money(p.amount)}${p.tip ? ` + tip ${money(p.tip)}` : ''} · ${who(p.by)}`)),
  );
}

function numpad(key) {
  const { due, tip } = payAmounts();
  if (/^\d+$/.test(key)) pay.digits = (pay.digits + key).replace(/^0+(?=\d)/, '').slice(0, 9);
  else if (key === 'back') pay.digits = pay.digits.slice(0, -1);
  else if (key === 'clear') pay.digits = '';
  else if (key === 'exact') pay.digits = String(due + (Number.isNaN(tip) ? 0 : tip));
  else if (key.startsWith('+')) pay.digits = String(Number(pay.digits || 0) + Number(key.slice(1)));
  renderPay();
}

async function payWith(method) {
  const { o, tip, tendered, change } = payAmounts();
  if (!o) return;
  if (Number.isNaN(tip)) {
    toast('Tip: type an amount like 1.50', 'error');
    return;
  }
  if (tendered <= 0) {
    setPayClaim('paid', 'Already paid: nothing is due');
    return;
  }
  try {
    const since = state.feedSeq;
    const res = await api('POST', `/api/orders/${encodeURIComponent(o.id)}/pay`, {
      user: user(),
      tenders: [{ method, tendered, tip }],
    });
    applyAnswer(res.order, since);
    if (res.order.state !== 'open') {
      pay.paid = true;
      closePay();
      $('pay-dialog').close('paid');
      const back = change > 0 ? ` · change ${money(change)}` : '';
      toast(`${o.name} paid by ${method}${back}`);
    } else {
      pay.digits = '';
      setPayClaim('mine', `${money(res.order.totals.due)} still due: the next tender`);
      renderPay();
    }
  } catch (e) {
    refused(e);
  }
}

/** The screen closes: unless paid, the other terminals may pay again. */
function closePay() {
  const id = pay.order;
  if (!id) return;
  clearInterval(pay.renew);
  clearInterval(pay.check);
  const mine = $('pay-claim').dataset.state === 'mine';
  pay.order = null;
  setPayClaim('none', '');
  if (id && mine && !pay.paid) {
    api('POST', `/api/orders/${encodeURIComponent(id)}/payment/release`, { user: user() }).catch(() => {});
  }
}

// ---------------------------------------------------------------- paid orders, refunds

/** The archive's paid orders, newest first, with their receipt and (for
 * managers) a refund order. Read when the section opens. */
async function loadPaid() {
  if (!$('paid-orders').open) return;
  const all = await api('GET', '/api/orders?archived=true');
  const paid = all.filter((o) => o.state === 'paid' && !isActive(o)).sort((a, b) => b.changed.at_ms - a.changed.at_ms);
  $('paid-list').replaceChildren(
    ...paid.slice(0, 30).map((o) =>
      h('li', { dataset: { testid: 'paid-item', orderId: o.id, orderName: o.name } },
        h('span', { class: 'pl-name' }, `${o.name}${o.refund_of ? ' (refund)' : ''} · ${money(o.totals.total)}`),
        h('a', { href: receiptUrl(o.id), target: '_blank', rel: 'noopener' }, 'Receipt'),
        isManager() && !o.refund_of
          ? h('button', { type: 'button', dataset: { testid: 'paid-refund' }, onclick: () => refundOrder(o) }, 'Refund')
          : null,
      )),
  );
}

async function refundOrder(o) {
  const reason = $('refund-reason').value.trim();
  if (!reason) {
    toast('Say why the order is refunded', 'error');
    $('refund-reason').focus();
    return;
  }
  const view = await attempt('Opening the refund order', () =>
    api('POST', `/api/orders/${encodeURIComponent(o.id)}/refund_order`, { user: user(), reason }));
  if (view) {
    $('refund-reason').value = '';
    state.orders.set(view.id, view);
    state.selected = view.id;
    render();
    toast(`${view.name}: refund of ${o.name}, ${money(-view.totals.due)} to give back`);
  }
}

/** A manager gives back what an open order owes the customer, and closes it. */
async function giveBack() {
  const o = selectedOrder();
  if (!o || o.totals.due >= 0) return;
  const reason = o.note || 'refund';
  await attempt('Giving the money back', async () => {
    await api('POST', `/api/orders/${encodeURIComponent(o.id)}/refund`, { user: user(), method: 'cash', amount: -o.totals.due, reason });
    await edit(o.id, { op: 'mark_paid' });
    toast(`${o.name}: ${money(-o.totals.due)} given back`);
  });
  loadPaid();
}

// ---------------------------------------------------------------- manager review

async function review(action) {
  const o = selectedOrder();
  if (!o) return;
  const reason = $('review-reason').value.trim();
  if (!reason) {
    toast('Say why (the reason is kept with the order)', 'error');
    $('review-reason').focus();
    return;
  }
  const since = state.feedSeq;
  const view = await attempt('Resolving the review', () =>
    api('POST', `/api/orders/${encodeURIComponent(o.id)}/review`, { user: user(), action, reason }));
  if (view) {
    $('review-reason').value = '';
    applyAnswer(view, since);
    toast(action === 'refund' ? `${o.name}: the extra was given back` : `${o.name}: reviewed`);
  }
}

function bindUser() {
  const input = $('user');
  input.value = localStorage.getItem(USER_KEY) || 'waiter1';
  input.addEventListener('change', () => {
    const u = input.value.trim();
    if (u) localStorage.setItem(USER_KEY, u);
    else input.value = localStorage.getItem(USER_KEY) || 'waiter1';
    // Only what depends on the user (manager actions): a whole re-render
    // here would replace the button whose click blurred this field.
    const o = selectedOrder();
    if (o) renderWarnings(o);
  });
}

// ---------------------------------------------------------------- start

function start() {
  bindUser();
  renderProducts();
  bindOrderFields();
  bindActions();
  $('new-order-form').addEventListener('submit', newOrder);
  render();
  pollStatus();
  setInterval(pollStatus, STATUS_POLL_MS);
  attempt('Reading orders', loadOrders);
  connectSocket();
}

start();
