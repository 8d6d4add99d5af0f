// End-to-end test of the web POS page in a real browser: `possync demo
// --no-catalogue` with two terminals, both pages open in Debian's Chromium, driven by Playwright.
//
//   POSSYNC_BIN=../../../../target/debug/possync node --test pos.test.mjs
//
// Run by ../browser.rs (`POSSYNC_BROWSER_TEST=1 cargo test -p possync-daemon
// --test browser`). With UPDATE_SCREENSHOTS=1 it also writes the page
// screenshots under docs/screenshots/. Everything talks to 127.0.0.1 only.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Demo, SCREENSHOTS, VIEWPORT, WAIT, launchBrowser, openPage } from './harness.mjs';

const demo = new Demo();
let browser;
let context;
const pages = [];
const pageErrors = [];

const url = (i, path) => demo.url(i, path);
const api = (i, method, path, body) => demo.api(i, method, path, body);
const waitFor = (what, fn, timeout) => demo.waitFor(what, fn, timeout);

const lineRow = (page, product) => page.locator(`[data-testid=line][data-product=${product}]`);

/** The visible line rows of the selected order, as {product, qty, who}. */
function linesOf(page) {
  return page.$$eval('[data-testid=line]', (rows) =>
    rows.map((r) => ({
      product: r.dataset.product,
      qty: r.querySelector('[data-testid=line-qty]').textContent,
      note: r.querySelector('[data-testid=line-note]').value,
      who: r.querySelector('[data-testid=line-who]').textContent,
      kitchen: r.querySelector('[data-testid=line-kitchen]').dataset.kitchen,
    })),
  );
}

async function connState(page) {
  return page.getAttribute('#conn', 'data-state');
}

before(async () => {
  // No catalogue: free-text users and the page's built-in menu.
  await demo.start(['--no-catalogue']);
  browser = await launchBrowser();
  context = browser.context;
  for (const i of [0, 1]) pages.push(await openPage(context, demo, i, pageErrors));
});

after(async () => {
  await browser?.close();
  demo.stop();
});

test('both pages show their terminal and come online with one peer', async () => {
  const [p1, p2] = pages;
  await p1.waitForSelector('#terminal:text-is("T1")', { timeout: WAIT });
  await p2.waitForSelector('#terminal:text-is("T2")', { timeout: WAIT });
  for (const p of pages) {
    await p.waitForSelector('#conn[data-state="online"][data-peers="1"]', { timeout: WAIT });
  }
  assert.equal(await p1.inputValue('#user'), 'waiter1');
});

let orderName;

test('an order opened on T1 appears on T2 with the same line; edits flow both ways', async () => {
  const [p1, p2] = pages;
  await p1.fill('#new-table', 'T4');
  await p1.fill('#new-guests', '3');
  await p1.click('#new-order');
  await p1.waitForSelector('#order:not([hidden])', { timeout: WAIT });
  orderName = await p1.textContent('#order-name');
  assert.match(orderName, /^T1-\d+$/);
  assert.equal(await p1.textContent('#order-table'), 'Table T4');

  await p1.click('[data-testid=product-burger]');
  await lineRow(p1, 'burger').waitFor({ timeout: WAIT });
  assert.deepEqual(await linesOf(p1), [
    { product: 'burger', qty: '1', note: '', who: 'added by waiter1@T1', kitchen: 'pending' },
  ]);
  assert.equal(await p1.textContent('#order-total'), '12.90');

  // T2 lists it under its table, live, and shows the same line.
  const item = p2.locator(`[data-testid=order-item][data-order-name="${orderName}"]`);
  await item.waitFor({ timeout: WAIT });
  assert.match(await p2.textContent('[data-testid=table-group][data-table="T4"] .table-label'), /Table T4/);
  assert.match(await item.textContent(), /12\.90/);
  await item.click();
  await lineRow(p2, 'burger').waitFor({ timeout: WAIT });
  assert.deepEqual(await linesOf(p2), await linesOf(p1));
  assert.equal(await p2.inputValue('#order-guests'), '3');

  // Another waiter on T2 bumps the quantity; T1 sees it and who did it.
  await p2.fill('#user', 'ana');
  await p2.dispatchEvent('#user', 'change');
  await lineRow(p2, 'burger').locator('[data-testid=line-inc]').click();
  await waitFor('T1 to show 2 burgers', async () => (await linesOf(p1))[0]?.qty === '2');
  assert.match((await linesOf(p1))[0].who, /added by waiter1@T1 · changed by ana@T2/);
  assert.equal(await p1.textContent('#order-total'), '25.80');
  // The user name is remembered by the page.
  await p2.reload();
  assert.equal(await p2.inputValue('#user'), 'ana');
  await p2.locator(`[data-testid=order-item][data-order-name="${orderName}"]`).click();

  // Kitchen state reaches the other terminal too.
  await p1.click('#send-kitchen');
  await waitFor('T2 to show the burger sent', async () => (await linesOf(p2))[0]?.kitchen === 'sent');
});

test('S12: T2 shows offline when its network drops and returns to online by itself; offline edits merge', async () => {
  const [p1, p2] = pages;
  await api(1, 'POST', '/api/network', { isolated: true });
  await p2.waitForSelector('#conn[data-state="offline"]', { timeout: WAIT });
  assert.match(await p2.textContent('#conn'), /offline · 0 peers/);

  // Both sides keep working while apart, and write the same field.
  await p1.click('[data-testid=product-fries]');
  await lineRow(p1, 'fries').waitFor({ timeout: WAIT });
  await p1.fill('#order-customer', 'Alice');
  await p1.press('#order-customer', 'Enter');
  await p2.click('[data-testid=product-wine]');
  await lineRow(p2, 'wine').waitFor({ timeout: WAIT });
  await lineRow(p2, 'wine').locator('[data-testid=line-note]').fill('no ice');
  await lineRow(p2, 'wine').locator('[data-testid=line-note]').press('Enter');
  await p2.fill('#order-customer', 'Bob');
  await p2.press('#order-customer', 'Enter');
  await waitFor('T2 to save its customer', async () => (await api(1, 'GET', '/api/orders')).some((o) => o.customer === 'Bob'));
  await waitFor('T1 to save its customer', async () => (await api(0, 'GET', '/api/orders')).some((o) => o.customer === 'Alice'));
  assert.equal(await connState(p2), 'offline');

  await api(1, 'POST', '/api/network', { isolated: false });
  await p2.waitForSelector('#conn[data-state="online"][data-peers="1"]', { timeout: WAIT });

  // Everything merged with no user action, and the clash is shown on both.
  for (const p of pages) {
    await waitFor('both offline edits on both pages', async () => {
      const products = (await linesOf(p)).map((l) => l.product).sort();
      return products.join() === 'burger,fries,wine';
    });
    await p.waitForSelector('#order-warnings:not([hidden]) [data-testid=conflict][data-path=customer]', { timeout: WAIT });
    assert.match(await p.textContent('[data-testid=conflict][data-path=customer]'), /Competing values for customer: “(Alice|Bob)” kept, “(Alice|Bob)” overwritten/);
  }
  const wine = (await linesOf(p1)).find((l) => l.product === 'wine');
  assert.equal(wine.note, 'no ice');
  assert.equal(wine.who, 'added by ana@T2 · changed by ana@T2');
  assert.equal(await p1.inputValue('#order-customer'), await p2.inputValue('#order-customer'));
  assert.equal(await p1.textContent('#order-total'), '36.80');
});

test('an API error is shown in a toast with its message', async () => {
  const [p1] = pages;
  await p1.fill('#order-guests', '20000');
  await p1.press('#order-guests', 'Enter');
  const toast = p1.locator('[data-testid=toast][data-kind=error]');
  await toast.first().waitFor({ timeout: WAIT });
  assert.match(await toast.first().textContent(), /Saving: .*20000 guests is above 10000/);
  await toast.first().click(); // a tap dismisses it
  // The field shows the order's real value again.
  assert.equal(await p1.inputValue('#order-guests'), '3');
});

let secondName;

test('an order paid on T1 while T2 added to it is flagged for review on both pages', async () => {
  const [p1, p2] = pages;
  // A second table, opened on T2.
  await p2.fill('#new-table', '12');
  await p2.fill('#new-guests', '2');
  await p2.click('#new-order');
  await p2.waitForSelector(`#order-name:not(:text-is("${orderName}"))`, { timeout: WAIT });
  secondName = await p2.textContent('#order-name');
  assert.match(secondName, /^T2-\d+$/);
  await p2.click('[data-testid=product-espresso]');
  await lineRow(p2, 'espresso').waitFor({ timeout: WAIT });
  await lineRow(p2, 'espresso').locator('[data-testid=line-inc]').click();
  await p2.click('[data-testid=product-cake]');
  await lineRow(p2, 'cake').waitFor({ timeout: WAIT });
  await p2.waitForSelector('#order-total:text-is("10.90")');

  const onT1 = p1.locator(`[data-testid=order-item][data-order-name="${secondName}"]`);
  await onT1.waitFor({ timeout: WAIT });
  await waitFor('T1 to hold all three lines', async () => (await onT1.textContent()).includes('10.90'));
  await api(1, 'POST', '/api/network', { isolated: true });
  await p2.waitForSelector('#conn[data-state="offline"]', { timeout: WAIT });

  // T1 takes the payment (by card) while T2, cut off, adds fries.
  await onT1.click();
  await p1.waitForSelector(`#order-name:text-is("${secondName}")`);
  await p1.click('#pay');
  await p1.waitForSelector('#pay-dialog[open]');
  assert.equal(await p1.textContent('#pay-due'), `${secondName}: 10.90`);
  await p1.click('#pay-card');
  await onT1.waitFor({ state: 'detached', timeout: WAIT });
  await p1.waitForSelector('#order', { state: 'hidden' });
  const archived = await api(0, 'GET', '/api/orders?archived=true');
  const paid = archived.find((o) => o.name === secondName);
  assert.equal(paid.state, 'paid');
  assert.deepEqual(paid.payments.map((x) => [x.method, x.amount]), [['card', 1090]]);
  await p2.click('[data-testid=product-fries]');
  await lineRow(p2, 'fries').waitFor({ timeout: WAIT });

  await api(1, 'POST', '/api/network', { isolated: false });
  await p2.waitForSelector('#conn[data-state="online"]', { timeout: WAIT });
  // Back on T1's open list, flagged; the same banner on both pages.
  await onT1.waitFor({ timeout: WAIT });
  await onT1.click();
  for (const p of pages) {
    await p.waitForSelector('[data-testid=review][data-kind=edited_after_close]', { timeout: WAIT });
    assert.match(await p.textContent('[data-testid=review][data-kind=edited_after_close]'), /Changed after it was paid: total 10\.90 when closed, 15\.40 now/);
    assert.match(await p.textContent('[data-testid=review][data-kind=underpaid]'), /Underpaid: total 15\.40, paid 10\.90/);
    assert.equal(await p.textContent('#order-state'), 'paid');
    // Resolving takes a manager: a waiter is told so.
    assert.ok(await p.isVisible('#review-manager-only'));
    assert.ok(await p.isHidden('#review-actions'));
    // Paid but short: the missing payment can still be taken.
    assert.ok(await p.isEnabled('#pay'));
  }
  // T1 takes the 4.50 still due; the underpaid flag clears everywhere, the
  // edited-after-close flag stays for a manager.
  await p1.click('#pay');
  await p1.waitForSelector('#pay-dialog[open]');
  assert.equal(await p1.textContent('#pay-due'), `${secondName}: 4.50`);
  await p1.click('#pay-cash');
  for (const p of pages) {
    await p.waitForSelector('[data-testid=review][data-kind=underpaid]', { state: 'detached', timeout: WAIT });
    assert.ok(await p.isVisible('[data-testid=review][data-kind=edited_after_close]'));
    assert.ok(await p.isDisabled('#pay'));
  }
});

test('screenshots (UPDATE_SCREENSHOTS=1)', { skip: !SCREENSHOTS && 'set UPDATE_SCREENSHOTS=1' }, async () => {
  const [p1, p2] = pages;
  // T1 on the shared order with the competing customers, T2 on the flagged one.
  await p1.locator(`[data-testid=order-item][data-order-name="${orderName}"]`).click();
  await p1.waitForSelector('[data-testid=conflict]');
  await p2.locator(`[data-testid=order-item][data-order-name="${secondName}"]`).click();
  await p2.waitForSelector('[data-testid=review]');
  // Let highlight animations finish; no hover, no focus ring.
  await new Promise((r) => setTimeout(r, 1800));
  mkdirSync(SCREENSHOTS, { recursive: true });
  const shots = [];
  for (const [i, p] of pages.entries()) {
    await p.mouse.move(0, VIEWPORT.height - 1);
    await p.evaluate(() => {
      document.activeElement?.blur();
      document.getElementById('toasts').replaceChildren();
    });
    const png = await p.screenshot({ path: join(SCREENSHOTS, `terminal-t${i + 1}.png`), fullPage: true });
    shots.push(png.toString('base64'));
  }
  // Side by side: both pages' pictures on one canvas.
  const sheet = await context.newPage();
  await sheet.setViewportSize({ width: VIEWPORT.width * 2 + 60, height: 400 });
  await sheet.setContent(`<!doctype html><body style="margin:0;background:#d1d5db;font:16px system-ui,sans-serif">
    <div style="display:flex;gap:20px;padding:20px;align-items:flex-start">
    ${shots.map((s, i) => `<figure style="margin:0"><figcaption style="margin-bottom:8px;font-weight:700">Terminal T${i + 1}</figcaption>
      <img style="display:block;width:${VIEWPORT.width}px;box-shadow:0 4px 16px rgb(0 0 0 / .2)" src="data:image/png;base64,${s}"></figure>`).join('')}
    </div></body>`);
  await sheet.screenshot({ path: join(SCREENSHOTS, 'two-terminals.png'), fullPage: true });
  await sheet.close();
});

test('moving the order to another table and splitting it show on both pages', async () => {
  const [p1, p2] = pages;
  await p1.locator(`[data-testid=order-item][data-order-name="${orderName}"]`).click();
  await p2.locator(`[data-testid=order-item][data-order-name="${orderName}"]`).click();
  await p1.click('#move-table');
  await p1.fill('#move-table-input', 'T7');
  await p1.fill('#move-floor-input', 'terrace');
  await p1.click('#move-confirm');
  await p2.waitForSelector('#order-table:text-is("Table T7 · terrace")', { timeout: WAIT });
  await p2.waitForSelector('[data-testid=table-group][data-table="T7"]');

  // Fries to a bill of their own.
  await p1.click('#split');
  const row = p1.locator('[data-testid=split-line]', { has: p1.locator('text=Fries') });
  await row.locator('[data-testid=split-check]').check();
  await p1.click('#split-confirm');
  await p1.waitForSelector(`#order-name:not(:text-is("${orderName}"))`, { timeout: WAIT });
  const splitName = await p1.textContent('#order-name');
  assert.deepEqual((await linesOf(p1)).map((l) => l.product), ['fries']);
  const onT2 = p2.locator(`[data-testid=order-item][data-order-name="${splitName}"]`);
  await onT2.waitFor({ timeout: WAIT });
  assert.match(await onT2.textContent(), /4\.50/);
  await waitFor('T2 to drop the fries from the first order', async () =>
    (await linesOf(p2)).map((l) => l.product).sort().join() === 'burger,wine');
  assert.equal(await p2.textContent('#order-total'), '32.30');
});

/** An order of one salad (8.90) opened on T1 through its API, shown and selected on both pages. */
async function salad(table) {
  const o = await api(0, 'POST', '/api/orders', { user: 'ana', table });
  await api(0, 'POST', `/api/orders/${o.id}/edit`, {
    user: 'ana',
    edit: { op: 'add_line', product: 'salad', display_name: 'Salad', qty: 1000, unit_price: 890 },
  });
  for (const p of pages) {
    const item = p.locator(`[data-testid=order-item][data-order-id="${o.id}"]`);
    await item.waitFor({ timeout: WAIT });
    await waitFor(`${o.name} to show 8.90`, async () => (await item.textContent()).includes('8.90'));
    await item.evaluate((el) => el.click());
    await p.waitForSelector(`#order-name:text-is("${o.name}")`, { timeout: WAIT });
  }
  return o;
}

async function setUser(page, name) {
  await page.fill('#user', name);
  await page.press('#user', 'Tab');
}

const claimState = (p) => p.getAttribute('#pay-claim', 'data-state');

/** Both pages are tabs of one window, and the one behind draws no frames:
 * Playwright's wait for a stable element then takes ~1 s per click (and
 * a click without it may land on a toast). The rounds below wait for what
 * they press to be there, then press it as `element.click()` does. */
const press = (p, selector) => p.$eval(selector, (el) => el.click());

test('S22: both pages press Pay then Card at once, 20 rounds: one payment every time, the other page says who is paying', async () => {
  const [p1, p2] = pages;
  await setUser(p1, 'ana');
  await setUser(p2, 'bob');
  let shown = 0;
  for (let round = 0; round < 20; round++) {
    const o = await salad(`R${round}`);
    await Promise.all(pages.map((p) => press(p, '#pay')));
    await Promise.all(pages.map((p) => p.waitForSelector('#pay-dialog[open]', { timeout: WAIT })));
    // One screen holds the payment, the other says who does.
    await waitFor(`round ${round}: both screens to know who pays`, async () =>
      (await Promise.all(pages.map(claimState))).sort().join() === 'busy,mine');
    const busy = (await claimState(p1)) === 'busy' ? p1 : p2;
    const payer = busy === p1 ? { terminal: 'T2', user: 'bob' } : { terminal: 'T1', user: 'ana' };
    assert.match(await busy.textContent('#pay-claim'), new RegExp(`^Being paid on ${payer.terminal} by ${payer.user}`));
    // ... and so does the order, and its line in the list.
    const item = busy.locator(`[data-testid=order-item][data-order-id="${o.id}"] [data-testid=order-claim-badge]`);
    assert.equal(await item.textContent(), `being paid on ${payer.terminal} by ${payer.user}`);
    shown += 1;
    await Promise.all(pages.map((p) => press(p, '#pay-card')));
    await waitFor(`round ${round}: the order paid on both terminals`, async () => {
      const views = await Promise.all([0, 1].map((i) => api(i, 'GET', `/api/orders/${o.id}`)));
      return views.every((v) => v.state === 'paid');
    });
    for (const i of [0, 1]) {
      const v = await api(i, 'GET', `/api/orders/${o.id}`);
      assert.equal(v.payments.length, 1, `round ${round} on T${i + 1}: ${JSON.stringify(v.payments)}`);
      assert.deepEqual(v.review, []);
    }
    // Once the payment is there, the other cashier's screen says so, without
    // a red error (and only then: its release waits for the payment); back
    // to the list.
    await waitFor(`round ${round}: the other screen to say it is paid`, async () => (await claimState(busy)) === 'paid');
    assert.equal(await busy.textContent('#pay-claim'), 'Already paid: nothing is due');
    await press(busy, '#pay-back');
    for (const p of pages) await p.waitForSelector('#pay-dialog[open]', { state: 'detached', timeout: WAIT });
  }
  assert.equal(shown, 20);
  assert.equal(await p1.locator('[data-testid=toast][data-kind=error]').count(), 0, 'no red error on T1');
  assert.equal(await p2.locator('[data-testid=toast][data-kind=error]').count(), 0, 'no red error on T2');
});

test('S23: a double payment while partitioned ends flagged on both pages, and a manager gives the extra back', async () => {
  const [p1, p2] = pages;
  const o = await salad('P1');
  await api(1, 'POST', '/api/network', { isolated: true });
  await p2.waitForSelector('#conn[data-state="offline"]', { timeout: WAIT });
  // Alone, each terminal may take the payment.
  await Promise.all(pages.map((p) => p.click('#pay')));
  for (const p of pages) await waitFor('the claim granted alone', async () => (await claimState(p)) === 'mine');
  await Promise.all(pages.map((p) => p.click('#pay-card')));
  for (const p of pages) await p.waitForSelector('#pay-dialog[open]', { state: 'detached', timeout: WAIT });
  await api(1, 'POST', '/api/network', { isolated: false });
  await p2.waitForSelector('#conn[data-state="online"]', { timeout: WAIT });
  for (const p of pages) {
    const item = p.locator(`[data-testid=order-item][data-order-id="${o.id}"]`);
    await item.waitFor({ timeout: WAIT });
    await item.click();
    await p.waitForSelector('[data-testid=review][data-kind=overpaid]', { timeout: WAIT });
    assert.match(await p.textContent('[data-testid=review][data-kind=overpaid]'), /Paid too much: total 8\.90, paid 17\.80: 8\.90 to give back/);
    assert.ok(await p.isVisible('#review-manager-only'), 'a cashier cannot resolve it');
  }
  await setUser(p1, 'manager');
  await p1.waitForSelector('#review-actions:not([hidden])');
  assert.equal(await p1.textContent('#review-refund'), 'Give back 8.90');
  await p1.fill('#review-reason', 'charged twice while offline');
  await p1.click('#review-refund');
  for (const p of pages) {
    await p.locator(`[data-testid=order-item][data-order-id="${o.id}"]`).waitFor({ state: 'detached', timeout: WAIT });
  }
  const v = await api(1, 'GET', `/api/orders/${o.id}`);
  assert.deepEqual(v.review, []);
  assert.equal(v.totals.paid, 890);
  const refund = v.payments.find((p) => p.amount === -890);
  assert.equal(refund.by.user, 'manager');
  assert.equal(refund.reason, 'charged twice while offline');
  await setUser(p1, 'ana');
});

test('split tender on the payment screen: 5.00 by card, the rest in cash with change, and a tip', async () => {
  const [p1] = pages;
  const o = await salad('ST');
  await p1.click('#pay');
  await waitFor('the claim', async () => (await claimState(p1)) === 'mine');
  assert.equal(await p1.textContent('#pay-amount'), '8.90 (exact)');
  for (const k of ['5', '0', '0']) await press(p1, `#numpad [data-key="${k}"]`);
  assert.equal(await p1.textContent('#pay-amount'), '5.00');
  await press(p1, '#pay-card');
  await waitFor('the rest due', async () => (await p1.textContent('#pay-left')) === '3.90');
  assert.ok(await p1.isVisible('#pay-dialog[open]'), 'a partial payment keeps the screen open');
  assert.match(await p1.textContent('#pay-claim'), /3\.90 still due/);
  await press(p1, '#numpad [data-key="+1000"]');
  await p1.fill('#pay-tip', '0.50');
  await p1.dispatchEvent('#pay-tip', 'input');
  assert.equal(await p1.textContent('#pay-change'), '5.60');
  await press(p1, '#pay-cash');
  await p1.waitForSelector('#pay-dialog[open]', { state: 'detached', timeout: WAIT });
  const v = await api(0, 'GET', `/api/orders/${o.id}`);
  assert.equal(v.state, 'paid');
  // No catalogue: no taxes, untaxed is the total.
  assert.deepEqual(v.totals, { untaxed: 890, tax: 0, taxes: [], total: 890, paid: 890, due: 0, change: 560, tip: 50 });
  assert.deepEqual(v.payments.map((p) => [p.method, p.amount, p.tendered, p.change, p.tip]), [
    ['card', 500, 500, 0, 0],
    ['cash', 390, 1000, 560, 50],
  ]);
});

test('a manager opens a refund order for a paid order, linked to it, and gives the money back', async () => {
  const [p1] = pages;
  const o = await salad('RF');
  await api(0, 'POST', `/api/orders/${o.id}/pay`, { user: 'ana', tenders: [{ method: 'card', tendered: 890 }] });
  await p1.locator(`[data-testid=order-item][data-order-id="${o.id}"]`).waitFor({ state: 'detached', timeout: WAIT });
  await setUser(p1, 'manager');
  await p1.click('#paid-orders summary');
  const item = p1.locator(`[data-testid=paid-item][data-order-id="${o.id}"]`);
  await item.waitFor({ timeout: WAIT });
  await p1.fill('#refund-reason', 'salad was cold');
  await item.locator('[data-testid=paid-refund]').click();
  await p1.waitForSelector('#give-back:not([hidden])', { timeout: WAIT });
  assert.equal(await p1.textContent('#give-back'), 'Give back 8.90');
  assert.ok(await p1.isDisabled('#pay'), 'nothing to pay on a refund order');
  const refundId = await p1.getAttribute('#order', 'data-order-id');
  await p1.click('#give-back');
  await p1.waitForSelector('#order', { state: 'hidden', timeout: WAIT });
  const refund = await waitFor('the refund order paid on T2', async () => {
    const v = await api(1, 'GET', `/api/orders/${refundId}`);
    return v.state === 'paid' ? v : null;
  });
  assert.equal(refund.refund_of, o.id);
  assert.deepEqual(refund.totals, { untaxed: -890, tax: 0, taxes: [], total: -890, paid: -890, due: 0, change: 0, tip: 0 });
  assert.deepEqual(refund.payments.map((p) => [p.amount, p.reason, p.by.user]), [[-890, 'Refund: salad was cold', 'manager']]);
  assert.deepEqual(refund.review, []);
  await p1.click('#paid-orders summary');
  await setUser(p1, 'ana');
});

test('payment screen and receipt screenshots (UPDATE_SCREENSHOTS=1)', { skip: !SCREENSHOTS && 'set UPDATE_SCREENSHOTS=1' }, async () => {
  const [p1, p2] = pages;
  const o = await api(0, 'POST', '/api/orders', { user: 'ana', table: '5', guests: 2 });
  for (const [product, name, price] of [['burger', 'Burger', 1290], ['fries', 'Fries', 450], ['wine', 'House wine', 650]]) {
    await api(0, 'POST', `/api/orders/${o.id}/edit`, { user: 'ana', edit: { op: 'add_line', product, display_name: name, qty: 1000, unit_price: price } });
  }
  for (const p of pages) {
    const item = p.locator(`[data-testid=order-item][data-order-id="${o.id}"]`);
    await item.waitFor({ timeout: WAIT });
    await waitFor('the total', async () => (await item.textContent()).includes('23.90'));
    await item.click();
  }
  await p1.click('#pay');
  await waitFor('the claim', async () => (await claimState(p1)) === 'mine');
  await p2.waitForSelector('#order-claim:not([hidden])', { timeout: WAIT });
  for (const k of ['3', '0', '0', '0']) await p1.click(`#numpad [data-key="${k}"]`);
  await p1.fill('#pay-tip', '2.00');
  await p1.dispatchEvent('#pay-tip', 'input');
  assert.equal(await p1.textContent('#pay-change'), '4.10');
  await new Promise((r) => setTimeout(r, 600));
  for (const p of pages) await p.evaluate(() => document.getElementById('toasts').replaceChildren());
  await p1.screenshot({ path: join(SCREENSHOTS, 'payment-screen.png') });
  await p2.mouse.move(0, VIEWPORT.height - 1);
  await p2.screenshot({ path: join(SCREENSHOTS, 'being-paid-elsewhere.png') });
  await p1.click('#pay-cash');
  await p1.waitForSelector('#pay-dialog[open]', { state: 'detached', timeout: WAIT });
  const receipt = await context.newPage();
  await receipt.setViewportSize({ width: 420, height: 700 });
  await receipt.goto(url(0, `/api/orders/${o.id}/receipt`));
  assert.match(await receipt.textContent('main'), /Change\s*4\.10/);
  await receipt.screenshot({ path: join(SCREENSHOTS, 'receipt.png'), fullPage: true });
  await receipt.close();
});

test('an edit answer older than what the feed already showed does not overwrite it', async () => {
  const [p1] = pages;
  const o = await salad('T9');
  // Hold T1's answer to its own edit until the feed has shown a newer state.
  let release;
  const released = new Promise((r) => { release = r; });
  let held = false;
  let fulfilled;
  const answered = new Promise((r) => { fulfilled = r; });
  await p1.route('**/api/orders/*/edit', async (route) => {
    const response = await route.fetch();
    held = true;
    await released;
    await route.fulfill({ response });
    fulfilled();
  });
  await lineRow(p1, 'salad').locator('[data-testid=line-inc]').click();
  await waitFor('the answer to be held', async () => held);
  // T2 adds one more: T1's feed shows 3 salads before its own answer (2) lands.
  const line = (await api(1, 'GET', `/api/orders/${o.id}`)).lines[0].id;
  await api(1, 'POST', `/api/orders/${o.id}/edit`, { user: 'bo', edit: { op: 'change_qty', line, delta: 1000 } });
  await waitFor('T1 to show 3 salads from the feed', async () => (await linesOf(p1))[0]?.qty === '3');
  release();
  await answered;
  // (Unrouting a held request would send it again.)
  await p1.unroute('**/api/orders/*/edit');
  // The stale answer (2 salads) arrived after the feed's 3: the page keeps 3.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await linesOf(p1))[0]?.qty, '3');
  assert.equal((await api(0, 'GET', `/api/orders/${o.id}`)).lines[0].qty, 3000);
  const item = p1.locator(`[data-testid=order-item][data-order-id="${o.id}"]`);
  assert.match(await item.textContent(), /26\.70/);
});

test('the page raised no script errors', () => {
  assert.deepEqual(pageErrors, []);
});

test('the demo stops on SIGTERM and exits 0', async () => {
  await browser.close();
  browser = null;
  demo.proc.kill('SIGTERM');
  let timer;
  const exit = await Promise.race([
    demo.exit,
    new Promise((r) => {
      timer = setTimeout(() => r({ code: 'timeout' }), WAIT);
    }),
  ]);
  clearTimeout(timer);
  assert.deepEqual(exit, { code: 0, signal: null }, `demo exit; output:\n${demo.log}`);
});
