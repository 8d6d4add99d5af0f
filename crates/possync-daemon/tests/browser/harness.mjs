// What the browser tests share: `possync demo` on two free loopback ports,
// Debian's Chromium driven by playwright-core, and a patient wait.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '../../../..');
export const BIN = process.env.POSSYNC_BIN || join(ROOT, 'target/debug/possync');
export const CHROMIUM = process.env.POSSYNC_CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? join(ROOT, 'docs/screenshots') : null;
/** Generous: two shared cores, a debug build and a browser. */
export const WAIT = 20_000;
export const VIEWPORT = { width: 1180, height: 820 };

/** A port where this one and the next are free (the demo uses base and base+1). */
export async function freePortPair() {
  const free = (port) =>
    new Promise((ok) => {
      const s = net.createServer();
      s.once('error', () => ok(false));
      s.listen(port, '127.0.0.1', () => s.close(() => ok(true)));
    });
  // Below Linux's ephemeral range, where libp2p's own listeners land.
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if ((await free(port)) && (await free(port + 1))) return port;
  }
  throw new Error('no two free consecutive ports');
}

/** `possync demo --terminals 2` in a data directory of its own. */
export class Demo {
  async start(args = []) {
    assert.ok(existsSync(BIN), `no possync binary at ${BIN} (set POSSYNC_BIN)`);
    this.base = await freePortPair();
    this.dataDir = mkdtempSync(join(tmpdir(), 'possync-browser-data-'));
    this.log = '';
    this.proc = spawn(BIN, ['demo', '--terminals', '2', '--port', String(this.base), '--data-dir', this.dataDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
    });
    // The demo redraws a status line with \r: keep the log short.
    const keep = (chunk) => { this.log = (this.log + chunk.toString()).slice(-20_000); };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    this.exit = new Promise((ok) => this.proc.once('exit', (code, signal) => ok({ code, signal })));
    await this.waitFor('the demo to print both pages', () => this.log.includes(`terminal T2: http://127.0.0.1:${this.base + 1}/`));
    return this;
  }

  url(i, path = '/') {
    return `http://127.0.0.1:${this.base + i}${path}`;
  }

  /** One API call to terminal `i` (0 or 1) that must succeed. */
  async api(i, method, path, body) {
    const res = await fetch(this.url(i, path), {
      method,
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await res.json();
    assert.ok(res.ok, `${method} ${path} on terminal ${i + 1}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  }

  waitFor(what, fn, timeout = WAIT) {
    return waitFor(what, fn, timeout, () => this.log);
  }

  stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function waitFor(what, fn, timeout = WAIT, log = () => '') {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})\n--- daemon output ---\n${log()}`);
}

/** A headless Chromium with a profile of its own (removed by `close`). */
export async function launchBrowser() {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}`);
  const profileDir = mkdtempSync(join(tmpdir(), 'possync-browser-profile-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: VIEWPORT,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-features=Translate,MediaRouter,OptimizationHints',
    ],
  });
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profileDir, { recursive: true, force: true });
  };
  return { context, close };
}

/** Opens terminal i's page in a tab; script errors go to `errors`. */
export async function openPage(context, demo, i, errors) {
  const page = i === 0 ? context.pages()[0] || (await context.newPage()) : await context.newPage();
  page.on('pageerror', (e) => errors.push(`T${i + 1}: ${e.message}`));
  page.on('console', (m) => {
    // A 4xx answer is logged by the browser itself; some tests want one.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`T${i + 1} console: ${m.text()}`);
  });
  await page.goto(demo.url(i));
  return page;
}
