// The order screen from the catalogue, in a real browser on two terminals:
// `possync demo` with the restaurant catalogue (examples/catalogue/
// restaurant.json), a PIN login on each page, an order built from the menu
// (category, search, barcode, floor plan, numpad for quantity, discount and
// a manager's price), and the totals and taxes on both pages to the minor
// unit, worked out by hand below from the catalogue.
//
//   POSSYNC_BIN=../../../../target/debug/possync node --test catalogue.test.mjs
//
// With UPDATE_SCREENSHOTS=1 it writes docs/screenshots/login.png,
// floor-plan.png and order-screen.png. Everything talks to 127.0.0.1 only.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Demo, ROOT, SCREENSHOTS, VIEWPORT, WAIT, launchBrowser, openPage } from './harness.mjs';

const FILE = JSON.parse(readFileSync(join(ROOT, 'examples/catalogue/restaurant.json'), 'utf8'));

const demo = new Demo();
let browser;
const pages = [];
const errors = [];

/** The demo's T1 brings the restaurant catalogue; T2 gets it from T1. */
async function catalogueEverywhere() {
  for (const i of [0, 1]) {
    const held = await demo.waitFor(`T${i + 1} to hold the catalogue`, async () => {
      const c = await demo.api(i, 'GET', '/api/catalogue');
      return c.version > 0 ? c.catalogue : null;
    });
    assert.equal(held.products.length, FILE.catalogue.products.length);
    assert.ok(held.users.every((u) => !('pin' in u)), 'no PIN leaves a terminal');
  }
}

before(async () => {
  await demo.start();
  await catalogueEverywhere();
  browser = await launchBrowser();
  for (const i of [0, 1]) pages.push(await openPage(browser.context, demo, i, errors));
});

after(async () => {
  await browser?.close();
  demo.stop();
});

const lineOf = (page, product) => page.locator(`[data-testid=line][data-product=${product}]`);
const text = (page, selector) => page.textContent(selector).then((t) => t.trim());

async function signIn(page, user, pin) {
  // A tab behind draws no frames, and each click would wait for one.
  await page.bringToFront();
  await page.click(`[data-testid=login-user][data-user-id=${user}]`);
  for (const k of pin) await page.click(`#pin-pad [data-key="${k}"]`);
  await page.click('#login-ok');
}

/** The selected order's totals block, as the cashier reads it. */
async function totalsOf(page) {
  return {
    untaxed: await text(page, '#order-untaxed'),
    taxes: await page.$$eval('[data-testid=order-tax]', (els) => els.map((e) => [e.dataset.taxId, e.textContent.trim()])),
    total: await text(page, '#order-grand-total'),
    head: await text(page, '#order-total'),
  };
}

/** Types keys on the line numpad in one mode. */
async function pad(page, mode, keys) {
  await page.click(`#line-pad [data-mode=${mode}]`);
  for (const k of keys) await page.click(`#line-pad [data-key="${k}"]`);
}

test('both pages ask who works: user tiles from the catalogue, a PIN on a keypad', async () => {
  for (const p of pages) {
    await p.waitForSelector('#login:not([hidden])', { timeout: WAIT });
    const users = await p.$$eval('[data-testid=login-user]', (els) => els.map((e) => e.dataset.userId));
    assert.deepEqual(users, ['ana', 'ben', 'chloe']);
  }
  if (SCREENSHOTS) await pages[0].screenshot({ path: join(SCREENSHOTS, 'login.png') });
  const [p1, p2] = pages;
  // A wrong PIN is refused by the terminal, and said so.
  await signIn(p1, 'ana', '1234');
  await p1.waitForSelector('#login-error:text("Wrong PIN")', { timeout: WAIT });
  assert.ok(await p1.isVisible('#login'));
  for (const k of '1111') await p1.click(`#pin-pad [data-key="${k}"]`);
  await p1.click('#login-ok');
  await p1.waitForSelector('#login', { state: 'hidden', timeout: WAIT });
  assert.equal(await text(p1, '#user-badge'), 'Ana');
  await signIn(p2, 'chloe', '9999');
  await p2.waitForSelector('#login', { state: 'hidden', timeout: WAIT });
  assert.equal(await text(p2, '#user-badge'), 'Chloé (manager)');
});

let orderId;

test('a cashier opens an order at a table of the floor plan and builds it from the menu', async () => {
  const [p1] = pages;
  await p1.bringToFront();
  await p1.fill('#new-guests', '4');
  await p1.click('#new-order');
  await p1.waitForSelector('#floor-dialog[open]', { timeout: WAIT });
  const tables = await p1.$$eval('[data-testid=table]', (els) => els.map((e) => e.dataset.tableId));
  assert.deepEqual(tables, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8']);
  await p1.click('[data-testid=floor][data-floor-id=terrace]');
  assert.equal(await p1.locator('[data-testid=table]').count(), 6);
  await p1.click('[data-testid=floor][data-floor-id=main]');
  if (SCREENSHOTS) await p1.screenshot({ path: join(SCREENSHOTS, 'floor-plan.png') });
  await p1.click('[data-testid=table][data-table-id=m3]');
  await p1.waitForSelector('#order:not([hidden])', { timeout: WAIT });
  orderId = await p1.getAttribute('#order', 'data-order-id');
  assert.equal(await text(p1, '#order-table'), 'Table 3 · Main room');
  const opened = await demo.api(0, 'GET', `/api/orders/${orderId}`);
  assert.deepEqual([opened.table, opened.floor, opened.guests, opened.created.user], ['m3', 'main', 4, 'ana']);

  // A category, then a product: Steak frites, 24.50 € (VAT 10 % included).
  await p1.click('[data-testid=category][data-category=mains]');
  assert.ok(await p1.isHidden('[data-testid=product-p25]'), 'drinks are not under mains');
  await p1.click('[data-testid=product-p09]');
  await lineOf(p1, 'p09').waitFor({ timeout: WAIT });
  // Two of them, on the numpad (the added line is the selected one).
  await pad(p1, 'qty', '2');
  await p1.waitForSelector('[data-testid=line][data-product=p09] [data-testid=line-qty]:text-is("2")', { timeout: WAIT });
  // A barcode typed and Enter: a bottle of house wine, 15.00 € + VAT 20 %.
  await p1.fill('#barcode', '5400000000033');
  await p1.press('#barcode', 'Enter');
  await lineOf(p1, 'p33').waitFor({ timeout: WAIT });
  // 10 % off it on the numpad.
  await pad(p1, 'discount', '10');
  await p1.waitForSelector('[data-testid=line][data-product=p33] [data-testid=line-price]:has-text("−10%")', { timeout: WAIT });
  // A search leaving one product, and Enter; the same product again adds to its line.
  await p1.fill('#menu-search', 'draught');
  await p1.press('#menu-search', 'Enter');
  await lineOf(p1, 'p31').waitFor({ timeout: WAIT });
  await p1.click('[data-testid=category][data-category=drinks]');
  await p1.click('[data-testid=product-p31]');
  await p1.waitForSelector('[data-testid=line][data-product=p31] [data-testid=line-qty]:text-is("2")', { timeout: WAIT });
  // A cashier cannot change a price.
  assert.ok(await p1.isDisabled('#line-pad [data-mode=price]'));
});

test('a manager on the other terminal overrides a price; both pages show the same taxes and totals to the cent', async () => {
  const [p1, p2] = pages;
  await p2.bringToFront();
  const item = p2.locator(`[data-testid=order-item][data-order-id="${orderId}"]`);
  await item.waitFor({ timeout: WAIT });
  await item.click();
  await lineOf(p2, 'p31').waitFor({ timeout: WAIT });
  await lineOf(p2, 'p31').locator('[data-testid=line-name]').click();
  await pad(p2, 'price', '4');
  await p2.waitForSelector('[data-testid=line][data-product=p31] [data-testid=line-price]:text-is("4.00 €")', { timeout: WAIT });

  // By hand, from the catalogue (round per line, Odoo's compute_all):
  //   Steak frites, 2 × 24.50, VAT 10 % included: 49.00 incl.;
  //     tax 49.00 − 49.00 / 1.1 = 4.4545… → 4.45; untaxed 44.55
  //   Draught beer, 2 × 4.00 (the manager's price), VAT 10 % included: 8.00;
  //     tax 8.00 − 8.00 / 1.1 = 0.7272… → 0.73; untaxed 7.27
  //   Bottle of house wine, 15.00 − 10 % = 13.50 untaxed, VAT 20 % on top 2.70: 16.20
  //   untaxed 44.55 + 7.27 + 13.50 = 65.32; VAT 10 % 4.45 + 0.73 = 5.18 on 51.82;
  //   VAT 20 % 2.70 on 13.50; total 65.32 + 5.18 + 2.70 = 73.20 (= 49.00 + 8.00 + 16.20)
  const want = {
    untaxed: '65.32 €',
    taxes: [['vat10i', '5.18 €'], ['vat20', '2.70 €']],
    total: '73.20 €',
    head: '73.20 €',
  };
  for (const p of pages) {
    await p.waitForSelector('#order-grand-total:text-is("73.20 €")', { timeout: WAIT });
    assert.deepEqual(await totalsOf(p), want);
    const lines = await p.$$eval('[data-testid=line]', (rows) => rows.map((r) => [
      r.dataset.product,
      r.querySelector('[data-testid=line-qty]').textContent,
      r.querySelector('[data-testid=line-total]').textContent,
    ]));
    assert.deepEqual(lines, [['p09', '2', '49.00 €'], ['p33', '1', '16.20 €'], ['p31', '2', '8.00 €']]);
  }
  // The terminals agree with the pages, in minor units.
  for (const i of [0, 1]) {
    const v = await demo.api(i, 'GET', `/api/orders/${orderId}`);
    assert.deepEqual([v.totals.untaxed, v.totals.tax, v.totals.total], [6532, 788, 7320]);
    assert.deepEqual(v.totals.taxes.map((t) => [t.tax_id, t.base, t.amount]), [['vat10i', 5182, 518], ['vat20', 1350, 270]]);
  }
  if (SCREENSHOTS) {
    await p1.evaluate(() => document.getElementById('toasts').replaceChildren());
    await p1.mouse.move(0, VIEWPORT.height - 1);
    await p1.screenshot({ path: join(SCREENSHOTS, 'order-screen.png') });
  }
});

test('the payment screen takes the total with taxes, in the catalogue currency', async () => {
  const [p1] = pages;
  await p1.bringToFront();
  await p1.click('#pay');
  await p1.waitForSelector('#pay-dialog[open]', { timeout: WAIT });
  assert.equal(await text(p1, '#pay-due'), `${await text(p1, '#order-name')}: 73.20 €`);
  await p1.waitForSelector('#pay-claim[data-state=mine]', { timeout: WAIT });
  for (const k of ['+5000', '+5000']) await p1.click(`#numpad [data-key="${k}"]`);
  assert.equal(await text(p1, '#pay-change'), '26.80 €');
  await p1.click('#pay-cash');
  await p1.waitForSelector('#pay-dialog[open]', { state: 'detached', timeout: WAIT });
  const paid = await demo.waitFor('T2 to hold it paid', async () => {
    const v = await demo.api(1, 'GET', `/api/orders/${orderId}`);
    return v.state === 'paid' ? v : null;
  });
  assert.deepEqual(paid.payments.map((x) => [x.method, x.amount, x.tendered, x.change]), [['cash', 7320, 10000, 2680]]);
});

test('a barcode scanned anywhere on the page adds its product to the selected order', async () => {
  const [p1, p2] = pages;
  await p1.bringToFront();
  await p1.click('#new-order');
  await p1.waitForSelector('#floor-dialog[open]', { timeout: WAIT });
  await p1.click('#floor-no-table');
  await p1.waitForSelector('#order-table:text-is("No table")', { timeout: WAIT });
  const id = await p1.getAttribute('#order', 'data-order-id');
  // A scanner types the digits fast and presses Enter, outside any field.
  await p1.evaluate(() => document.activeElement?.blur());
  await p1.keyboard.type('5400000000025');
  await p1.keyboard.press('Enter');
  await lineOf(p1, 'p25').waitFor({ timeout: WAIT });
  // Espresso 2.80 €, VAT 10 % included: 2.80 − 2.80 / 1.1 = 0.2545… → 0.25; untaxed 2.55.
  const want = { untaxed: '2.55 €', taxes: [['vat10i', '0.25 €']], total: '2.80 €', head: '2.80 €' };
  assert.deepEqual(await totalsOf(p1), want);
  await p2.bringToFront();
  await p2.locator(`[data-testid=order-item][data-order-id="${id}"]`).click();
  await p2.waitForSelector('#order-grand-total:text-is("2.80 €")', { timeout: WAIT });
  assert.deepEqual(await totalsOf(p2), want);
});

test('locking the terminal asks for a PIN again', async () => {
  const [p1] = pages;
  await p1.click('#lock');
  await p1.waitForSelector('#login:not([hidden])', { timeout: WAIT });
  await signIn(p1, 'ben', '2222');
  await p1.waitForSelector('#login', { state: 'hidden', timeout: WAIT });
  assert.equal(await text(p1, '#user-badge'), 'Ben');
});

test('the pages raised no script errors', () => {
  assert.deepEqual(errors, []);
});
