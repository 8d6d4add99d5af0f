// The possync web POS page: one terminal's open orders, edited through the
// local HTTP API and kept live by the WebSocket change feed, both through
// the client library (clients/js, served as /js/possync.js): the page is
// its first user. The menu, floors, taxes, currency and users come from the
// catalogue when the terminals have one (catalogue.js).
//
// No build step and nothing fetched from elsewhere: these files are served
// as they are by the daemon (`include_str!`). Every text that comes from
// the API is put in the page with `textContent`, never as HTML.
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
// numpad `[data-key]`, `#pay-<method>` (`#pay-cash`, `#pay-card`); a payment
// in progress shows as `[data-testid=order-claim-badge]` in the list and
// `#order-claim` on the order; managers get `#review-refund`,
// `#review-accept`, `#resolve-review`. With a catalogue: the lock screen
// `#login` (`[data-testid=login-user][data-user-id]`, `#pin-pad [data-key]`),
// the floor plan `#floor-dialog` (`[data-testid=floor][data-floor-id]`,
// `[data-testid=table][data-table-id]`), categories
// `[data-testid=category][data-category]`, `#menu-search`, `#barcode`, the
// line numpad `#line-pad` (`[data-mode=qty|discount|price]`, `[data-key]`)
// and the totals `#order-untaxed`, `[data-testid=order-tax][data-tax-id]`.

import { PossyncClient, Pos, Order, isActive } from '/js/possync.js';
import { $, h, toast } from './dom.js';
import { money, amount, parseMoney, units, plural, percent, who, clock, decimals } from './format.js';
import { cat, hasCatalogue, setCatalogue, tableLabel } from './catalogue.js';
import { bindLogin, currentUser, renderLogin } from './login.js';
import { bindMenu, renderMenu } from './menu.js';
import { bindFloorPlan, openFloorPlan } from './floorplan.js';

/** How often the connection widget asks /api/status, besides the socket. */
const STATUS_POLL_MS = 2000;
/** How often the page looks whether the catalogue changed while its feed is down. */
const CATALOGUE_POLL_MS = 10_000;
/** How long a remote change stays highlighted. */
const FLASH_MS = 1500;
/** How often an open payment screen renews its claim (it lapses after 30 s). */
const CLAIM_RENEW_MS = 10_000;
/** How often a screen told "being paid on T2" looks whether it still is:
 * the feed says so too, but a refusal may answer after the feed's news. */
const BUSY_CHECK_MS = 1000;
const TOKEN_KEY = 'possync.token';

/** Token for a daemon that requires one: `?token=` once, then remembered. */
const token = (() => {
  const fromUrl = new URLSearchParams(location.search).get('token');
  if (fromUrl) localStorage.setItem(TOKEN_KEY, fromUrl);
  return fromUrl || localStorage.getItem(TOKEN_KEY) || null;
})();

const client = new PossyncClient('', { token: token ?? undefined });

/** An order as the page holds it: the library's Order, its lines also as `lines`. */
class PageOrder extends Order {
  get lines() {
    return this.orderlines;
  }
}

const state = {
  terminal: null,
  selected: null,
  /** The selected line of the selected order (the numpad acts on it). */
  line: null,
  /** Order / line id → time until which it is highlighted (remote change). */
  flash: new Map(),
  /** Payments in progress (ours and other terminals'), by order id. */
  claims: new Map(),
  /** Users the terminal's policy makes managers. */
  managers: [],
  /** The back offices' delivery reports (`/api/status` sinks). */
  sinks: [],
};

/** The order numpad: what it sets and the digits typed since. */
const pad = { mode: 'qty', buffer: '', queue: Promise.resolve() };

/** The payment screen: which order, the digits typed (minor units), our claim. */
const pay = { order: null, digits: '', renew: null, check: null, paid: false };

const pos = new Pos({
  client,
  user: currentUser()?.id ?? '',
  Order: PageOrder,
  onChange: (order, id, info) => {
    if (info.origin?.kind === 'remote') {
      flash(id);
      const s = info.summary || {};
      for (const l of s.lines_added || []) flash(l);
      for (const l of Object.keys(s.lines_changed || {})) flash(l);
    }
    if (!order && state.selected === id) state.selected = null;
    render();
  },
  feed: {
    onStatus: (s) => setConn(s),
    onConnection: (up) => {
      document.body.dataset.socket = up ? 'open' : 'closed';
      if (up) {
        attempt('Reading payments', loadClaims);
        refreshCatalogue();
      }
    },
    onEvent: (ev) => {
      if (ev.event === 'hello') setTerminal(ev.terminal);
      else if (ev.event === 'payment_claim') {
        if (ev.claim) state.claims.set(ev.order, ev.claim);
        else state.claims.delete(ev.order);
        render();
        onClaimEvent(ev.order, ev.claim);
      } else if (ev.event === 'rejected') toast(`A peer sent data that was refused: ${ev.reason}`, 'error');
      else if (ev.event === 'catalogue_changed') refreshCatalogue();
    },
  },
});

const user = () => currentUser()?.id ?? '';

// ---------------------------------------------------------------- API access

async function attempt(what, fn) {
  try {
    return await fn();
  } catch (e) {
    toast(`${what}: ${e.status === undefined ? 'the terminal does not answer' : e.message}`, 'error');
    // Fields that were not saved show the order's values again.
    render();
    return undefined;
  }
}

/** One edit of an order; its answer is shown unless the feed was newer. */
function edit(id, op) {
  pos.user = user();
  return pos.edit(id, op);
}

async function loadClaims() {
  const claims = await client.payments();
  state.claims = new Map(claims.map((c) => [c.order, c]));
  render();
}

async function refreshCatalogue() {
  let answer;
  try {
    answer = await client.catalogue();
  } catch (e) {
    // A terminal without a catalogue route (or not answering): as before.
    if (e.status !== 404) return;
    answer = { version: 0 };
  }
  if (!setCatalogue(answer)) return;
  document.body.dataset.catalogue = hasCatalogue() ? 'on' : 'off';
  renderLogin();
  renderMenu();
  renderPayMethods();
  render();
}

// ---------------------------------------------------------------- formatting

/** "being paid on T2 by ana" (another terminal) or "paying here (ana)". */
function claimText(c) {
  return c.mine ? `paying here (${c.user})` : `being paid on ${c.terminal} by ${c.user}`;
}

const isManager = () => currentUser()?.role === 'manager' || state.managers.includes(user());

const receiptUrl = (id) =>
  `/api/orders/${encodeURIComponent(id)}/receipt${token ? `?token=${encodeURIComponent(token)}` : ''}`;

// ---------------------------------------------------------------- state changes

function select(id) {
  if (state.selected !== id) {
    state.line = null;
    pad.buffer = '';
  }
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
  if (!reachable || !status) {
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
  state.sinks = status.sinks || [];
  renderBacklog();
}

/** Managers see how many closed orders a back office has not confirmed yet
 * (`/api/status` sinks): a back office down for hours only grows this. */
function renderBacklog() {
  const el = $('backlog');
  const sinks = state.sinks || [];
  const waiting = sinks.reduce((n, s) => n + (s.backlog || 0), 0);
  el.hidden = !isManager() || sinks.length === 0;
  el.dataset.backlog = String(waiting);
  el.dataset.state = waiting === 0 ? 'ok' : sinks.some((s) => s.failing > 0) ? 'failing' : 'waiting';
  el.textContent = waiting === 0
    ? 'back office up to date'
    : `${waiting} ${waiting === 1 ? 'order' : 'orders'} not yet in the back office`;
  el.title = sinks.map((s) => {
    const oldest = s.oldest_undelivered_s == null ? '' : `, oldest ${s.oldest_undelivered_s} s`;
    const error = s.last_error ? `; last error: ${s.last_error}` : '';
    return `${s.name}: ${s.backlog} waiting${oldest}${error}`;
  }).join('\n');
}

function setTerminal(code) {
  if (!code || code === state.terminal) return;
  state.terminal = code;
  $('terminal').textContent = code;
  document.title = `${code} · possync POS`;
}

async function pollStatus() {
  try {
    const s = await client.status();
    setTerminal(s.terminal);
    setConn(s.status);
    const managers = (s.policy && s.policy.managers) || [];
    if (managers.join() !== state.managers.join()) {
      state.managers = managers;
      const o = selectedOrder();
      if (o) renderWarnings(o);
      renderPad();
    }
  } catch {
    setConn(null, false);
  }
}

// ---------------------------------------------------------------- rendering

function render() {
  renderOrders();
  renderOrder();
  renderPay();
}

function sortedOrders() {
  return [...pos.orders.values()].sort(
    (a, b) =>
      tableLabel(a).localeCompare(tableLabel(b), undefined, { numeric: true }) ||
      a.created.at_ms - b.created.at_ms ||
      a.name.localeCompare(b.name),
  );
}

function renderOrders() {
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
  $('orders').replaceChildren(...nodes);
  $('orders-empty').hidden = pos.orders.size > 0;
}

/** Keeps what the user is typing in a field across a live re-render. */
function setField(el, value) {
  if (document.activeElement !== el) el.value = value;
}

function renderOrder() {
  const o = selectedOrder();
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
  renderTotals(o);
  const claim = state.claims.get(o.id);
  $('order-claim').hidden = !claim;
  $('order-claim').textContent = claim ? claimText(claim) : '';
  $('receipt').href = receiptUrl(o.id);
  setField($('order-customer'), o.customer ?? '');
  setField($('order-guests'), String(o.guests));
  setField($('order-note'), o.note ?? '');
  renderExt(o);
  renderWarnings(o);
  renderLines(o);
  renderPad();
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

/** Untaxed, one row per tax rate, total: shown when the order has taxes. */
function renderTotals(o) {
  const taxes = o.totals.taxes ?? [];
  const show = taxes.length > 0 || (o.totals.untaxed !== undefined && o.totals.untaxed !== o.totals.total);
  $('order-totals').hidden = !show;
  if (!show) return;
  $('order-untaxed').textContent = money(o.totals.untaxed ?? o.totals.total);
  $('order-tax-rows').replaceChildren(
    ...taxes.flatMap((t) => [
      h('dt', { dataset: { testid: 'order-tax-name', taxId: t.tax_id } }, t.name),
      h('dd', { dataset: { testid: 'order-tax', taxId: t.tax_id }, title: `on ${money(t.base)}` }, money(t.amount)),
    ]),
  );
  $('order-grand-total').textContent = money(o.totals.total);
}

/** An integrator's synced fields (`ext`), read-only. */
function renderExt(o) {
  const entries = Object.entries(o.ext ?? {});
  $('order-ext').hidden = entries.length === 0;
  $('order-ext-list').replaceChildren(
    ...entries.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { testid: 'order-ext', key: k } }, typeof v === 'string' ? v : JSON.stringify(v))]),
  );
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
  // Resolving takes a manager and a reason.
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
  const shown = o.lines.filter((l) => l.qty > 0);
  if (state.line && !shown.some((l) => l.id === state.line)) state.line = null;
  const rows = shown.map((l) => {
    const changedBy = l.changed && (l.changed.at_ms !== l.created.at_ms || who(l.changed) !== who(l.created))
      ? ` · changed by ${who(l.changed)}` : '';
    const taxes = (l.taxes ?? []).map((t) => t.name).join(', ');
    return h('li', {
      class: `line${flashing(l.id) ? ' flash' : ''}${l.id === state.line ? ' selected' : ''}`,
      dataset: { testid: 'line', lineId: l.id, product: l.product, flashId: l.id },
      'aria-selected': String(l.id === state.line),
      onclick: (e) => { if (!e.target.closest('button, input')) selectLine(l.id); },
    },
      h('div', { class: 'line-main' },
        h('span', { class: 'line-name', dataset: { testid: 'line-name' } }, l.display_name),
        h('span', { class: 'line-price', dataset: { testid: 'line-price' } }, `${money(l.unit_price)}${l.discount ? ` −${percent(l.discount)}` : ''}`),
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
      taxes ? h('div', { class: 'who line-taxes', dataset: { testid: 'line-taxes' } }, `${taxes} · untaxed ${money(l.untaxed ?? l.total)}`) : null,
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

// ---------------------------------------------------------------- order numpad

function selectLine(id) {
  state.line = state.line === id ? null : id;
  pad.buffer = '';
  // Another line starts from its quantity, as a cashier expects.
  pad.mode = 'qty';
  const o = selectedOrder();
  if (o) renderLines(o);
  renderPad();
}

function selectedLine() {
  const o = selectedOrder();
  return o && state.line ? o.lines.find((l) => l.id === state.line) : null;
}

function renderPad() {
  const o = selectedOrder();
  const l = selectedLine();
  const open = o?.state === 'open';
  if (pad.mode === 'price' && !isManager()) pad.mode = 'qty';
  for (const b of $('line-pad').querySelectorAll('[data-mode]')) {
    b.classList.toggle('selected', b.dataset.mode === pad.mode);
    b.setAttribute('aria-pressed', String(b.dataset.mode === pad.mode));
    b.disabled = !open || !l || (b.dataset.mode === 'price' && !isManager());
  }
  for (const b of $('line-pad').querySelectorAll('[data-key]')) b.disabled = !open || !l;
  const what = { qty: 'Quantity', discount: 'Discount', price: 'Unit price' }[pad.mode];
  const now = !l ? '' : pad.mode === 'qty' ? units(l.qty) : pad.mode === 'discount' ? percent(l.discount) : money(l.unit_price);
  $('pad-display').textContent = l ? `${l.display_name}: ${what} ${pad.buffer === '' ? now : pad.buffer}` : 'Tap a line to change its quantity, discount or price';
}

/** A numpad key: the first digit replaces the value, the next ones add to it. */
function padKey(key) {
  const o = selectedOrder();
  const l = selectedLine();
  if (!o || !l || o.state !== 'open') return;
  let b = pad.buffer;
  if (key === 'back') b = b.slice(0, -1);
  else if (key === '.') b = b.includes('.') ? b : `${b || '0'}.`;
  else if (/^\d$/.test(key)) b = (b + key).replace(/^0+(?=\d)/, '');
  if (b.length > 9) return;
  pad.buffer = b;
  renderPad();
  if (b === '' || b.endsWith('.')) return;
  const v = Number(b);
  let op;
  if (pad.mode === 'qty') op = { op: 'set_qty', line: l.id, qty: Math.round(v * 1000) };
  else if (pad.mode === 'discount') op = { op: 'set_discount', line: l.id, discount: Math.min(10000, Math.round(v * 100)) };
  else op = { op: 'set_unit_price', line: l.id, unit_price: Math.round(v * 10 ** decimals()) };
  if (op.qty === 0) return; // a line goes with Remove, not by typing 0
  // One after the other, in the order typed.
  pad.queue = pad.queue.then(() => attempt('Changing the line', () => edit(o.id, op)));
}

// ---------------------------------------------------------------- actions

function selectedOrder() {
  return state.selected ? pos.orders.get(state.selected) ?? null : null;
}

async function addProduct(p) {
  const o = selectedOrder();
  if (!o) {
    toast('Select an order or open a new one first', 'error');
    return;
  }
  if (o.state !== 'open') {
    toast(`${o.name} is ${o.state}`, 'error');
    return;
  }
  if (!hasCatalogue()) {
    await attempt(`Adding ${p.name}`, () =>
      edit(o.id, { op: 'add_line', product: p.id, display_name: p.name, qty: 1000, unit_price: p.price }));
    return;
  }
  // As a cashier expects: one more of a product already on the order (not
  // yet sent, not discounted, no note) adds to its line.
  const same = o.lines.find((l) => l.product === p.id && l.qty > 0 && l.kitchen_qty === 0 && !l.discount && !l.note);
  const res = same
    ? await attempt(`Adding ${p.name}`, () => edit(o.id, { op: 'change_qty', line: same.id, delta: 1000 }))
    : await attempt(`Adding ${p.name}`, () => edit(o.id, { op: 'add_line', product: p.id, qty: 1000 }));
  if (res) {
    const line = same ?? res.order.lines.filter((l) => l.product === p.id).at(-1);
    if (line && state.selected === o.id) {
      state.line = line.id;
      pad.buffer = '';
      pad.mode = 'qty';
      render();
    }
  }
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

async function openOrderAt(table, floor) {
  const guests = Math.max(0, parseInt($('new-guests').value, 10) || 0);
  pos.user = user();
  const order = await attempt('Opening the order', () => pos.open({ table, floor, guests }));
  if (order) {
    $('new-table').value = '';
    select(order.id);
  }
}

/** Open orders at a catalogue table (the floor plan shows them). */
const ordersAt = (tableId) => [...pos.orders.values()].filter((o) => o.table === tableId && o.state === 'open').length;

function newOrder(e) {
  e.preventDefault();
  if (hasCatalogue() && cat.floors.length > 0) {
    openFloorPlan({
      title: 'New order: pick a table',
      busy: ordersAt,
      onPick: (where) => openOrderAt(where?.table ?? null, where?.floor ?? null),
    });
    return;
  }
  openOrderAt($('new-table').value.trim() || null, null);
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
    if (hasCatalogue() && cat.floors.length > 0) {
      openFloorPlan({
        title: `Move ${o.name} to another table`,
        current: o.table,
        busy: ordersAt,
        onPick: (where) => attempt('Moving the order', () =>
          edit(o.id, { op: 'set_table', table: where?.table ?? null, floor: where?.floor ?? null })),
      });
      return;
    }
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
    // The source order's new view arrives on the feed.
    const view = await attempt('Splitting', () => pos.track(() => client.split(o.id, user(), lines)));
    if (view) {
      select(view.id);
      toast(`Split into ${view.name}`);
    }
  });

  $('pay').addEventListener('click', openPay);
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

  $('line-pad').addEventListener('click', (e) => {
    const mode = e.target.closest('[data-mode]')?.dataset.mode;
    if (mode) {
      pad.mode = mode;
      pad.buffer = '';
      renderPad();
      return;
    }
    const key = e.target.closest('[data-key]')?.dataset.key;
    if (key) padKey(key);
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

/** The catalogue's payment methods (cash and card without one). */
function renderPayMethods() {
  const methods = hasCatalogue() && cat.paymentMethods.length > 0
    ? cat.paymentMethods
    : [{ id: 'cash', name: 'Cash' }, { id: 'card', name: 'Card' }];
  $('pay-methods').replaceChildren(
    ...methods.map((m) =>
      h('button', { id: `pay-${m.id}`, type: 'button', class: 'primary', value: m.id, dataset: { testid: `pay-${m.id}` }, onclick: () => payWith(m.id) }, m.name)),
  );
}

function payOrder() {
  return pay.order ? pos.orders.get(pay.order) ?? null : null;
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
  $('pay-tip').value = amount(0);
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
    const claims = await client.payments();
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
    const res = await client.claimPayment(id, user());
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
    toast(`Paying: ${e.status === undefined ? 'the terminal does not answer' : e.message}`, 'error');
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
  // +10, +20, +50 in whole currency units (the keys say cents at two decimals).
  else if (key.startsWith('+')) pay.digits = String(Number(pay.digits || 0) + (Number(key.slice(1)) / 100) * 10 ** decimals());
  renderPay();
}

async function payWith(method) {
  const { o, tip, tendered, change } = payAmounts();
  if (!o) return;
  if (Number.isNaN(tip)) {
    toast(`Tip: type an amount like ${amount(150)}`, 'error');
    return;
  }
  if (tendered <= 0) {
    setPayClaim('paid', 'Already paid: nothing is due');
    return;
  }
  try {
    const res = await pos.track(() => client.pay(o.id, user(), [{ method, tendered, tip }]), (r) => r.order);
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
  if (mine && !pay.paid) client.releasePayment(id, user()).catch(() => {});
}

// ---------------------------------------------------------------- paid orders, refunds

/** The archive's paid orders, newest first, with their receipt and (for
 * managers) a refund order. Read when the section opens. */
async function loadPaid() {
  if (!$('paid-orders').open) return;
  const all = await client.orders({ archived: true });
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
  const view = await attempt('Opening the refund order', () => pos.track(() => client.refundOrder(o.id, user(), reason)));
  if (view) {
    $('refund-reason').value = '';
    select(view.id);
    toast(`${view.name}: refund of ${o.name}, ${money(-view.totals.due)} to give back`);
  }
}

/** A manager gives back what an open order owes the customer, and closes it. */
async function giveBack() {
  const o = selectedOrder();
  if (!o || o.totals.due >= 0) return;
  const reason = o.note || 'refund';
  const back = -o.totals.due;
  await attempt('Giving the money back', async () => {
    await client.refund(o.id, { user: user(), method: 'cash', amount: back, reason });
    await edit(o.id, { op: 'mark_paid' });
    toast(`${o.name}: ${money(back)} given back`);
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
  const view = await attempt('Resolving the review', () => pos.track(() => client.review(o.id, { user: user(), action, reason })));
  if (view) {
    $('review-reason').value = '';
    toast(action === 'refund' ? `${o.name}: the extra was given back` : `${o.name}: reviewed`);
  }
}

// ---------------------------------------------------------------- start

/** The user changed (signed in, out, or a new name): what depends on it. */
function onUserChange() {
  pos.user = user();
  // Only what depends on the user (manager actions): a whole re-render
  // here would replace the button whose click blurred the name field.
  const o = selectedOrder();
  if (o) renderWarnings(o);
  renderPad();
  renderBacklog();
}

async function start() {
  bindLogin(client, onUserChange);
  bindMenu(addProduct);
  bindFloorPlan();
  bindOrderFields();
  bindActions();
  $('new-order-form').addEventListener('submit', newOrder);
  renderPayMethods();
  renderMenu();
  renderLogin();
  render();
  await refreshCatalogue();
  pollStatus();
  setInterval(pollStatus, STATUS_POLL_MS);
  // The feed says when the catalogue changes; without it, look now and then.
  setInterval(() => { if (!pos.feed.connected) refreshCatalogue(); }, CATALOGUE_POLL_MS);
  pos.start();
}

start();
