// The back office's backlog on the page (issue 16, operations): with a
// PostgreSQL back office that cannot be reached, a paid order waits for it;
// the manager's page says how many orders are not in the back office yet,
// a cashier's page does not show it.
//
//   POSSYNC_BIN=../../../../target/debug/possync node --test backlog.test.mjs
//
// Everything talks to 127.0.0.1 only; nothing listens on the back office's
// port, so every delivery attempt fails.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { Demo, WAIT, launchBrowser, openPage } from './harness.mjs';

const demo = new Demo();
let browser;
let configDir;
const pages = [];
const errors = [];

/** A loopback port nothing listens on (taken, then closed). */
function closedPort() {
  return new Promise((ok) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

before(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'possync-backlog-'));
  const config = join(configDir, 'sinks.toml');
  writeFileSync(config, [
    '[[sink]]',
    'name = "pg"',
    'kind = "postgres"',
    'host = "127.0.0.1"',
    `port = ${await closedPort()}`,
    'user = "possync"',
    'dbname = "backoffice"',
    'connect_timeout_s = 1',
    '',
  ].join('\n'));
  await demo.start(['--sink-config', config]);
  await demo.waitFor('T1 to hold the catalogue', async () => (await demo.api(0, 'GET', '/api/catalogue')).version > 0);
  browser = await launchBrowser();
  for (const i of [0, 1]) pages.push(await openPage(browser.context, demo, i, errors));
});

after(async () => {
  await browser?.close();
  demo.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

async function signIn(page, user, pin) {
  await page.bringToFront();
  await page.waitForSelector('#login:not([hidden])', { timeout: WAIT });
  await page.click(`[data-testid=login-user][data-user-id=${user}]`);
  for (const k of pin) await page.click(`#pin-pad [data-key="${k}"]`);
  await page.click('#login-ok');
  await page.waitForSelector('#login', { state: 'hidden', timeout: WAIT });
}

test('a manager sees the orders the back office has not confirmed; a cashier does not', async () => {
  const [manager, cashier] = pages;
  await signIn(manager, 'chloe', '9999');
  await signIn(cashier, 'ana', '1111');
  // Nothing closed yet: the manager sees an empty backlog.
  await manager.bringToFront();
  await manager.waitForSelector('#backlog[data-backlog="0"]:not([hidden])', { timeout: WAIT });

  // An espresso (2.80 € at 10 % included), paid in cash on T2 and closed.
  const order = await demo.api(1, 'POST', '/api/orders', { user: 'ana' });
  await demo.api(1, 'POST', `/api/orders/${order.id}/edit`, { user: 'ana', edit: { op: 'add_line', product: 'p25', qty: 1000 } });
  const { order: paid } = await demo.api(1, 'POST', `/api/orders/${order.id}/pay`, { user: 'ana', tenders: [{ method: 'cash', tendered: 500 }] });
  assert.equal(paid.state, 'paid');
  assert.equal(paid.totals.change, 220);

  // The back office is unreachable: the order waits, and T1's manager sees it.
  await demo.waitFor('T1 to count the order as undelivered', async () => {
    const s = await demo.api(0, 'GET', '/api/status');
    return s.status.sinks.find((x) => x.name === 'pg')?.backlog === 1;
  });
  await manager.bringToFront();
  const shown = await manager.waitForSelector('#backlog[data-backlog="1"]', { timeout: WAIT });
  assert.equal((await shown.textContent()).trim(), '1 order not yet in the back office');
  assert.match(await shown.getAttribute('title'), /^pg: 1 waiting/);
  assert.ok(await cashier.isHidden('#backlog'), "a cashier's page does not show the backlog");
  assert.deepEqual(errors, []);
});
