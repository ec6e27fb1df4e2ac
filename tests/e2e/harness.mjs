// The e2e harness: a fixtures registry (tests/fixtures/setup-registry.sh),
// the real daemon on 127.0.0.1 (plain HTTP, port 0), and Debian's Chromium
// driven by playwright-core with a fresh --user-data-dir. No network, no
// downloaded browser. ctest passes IMAGEGATE_BIN, IMAGEGATE_FIXTURES and
// IMAGEGATE_BUILD_DIR (tests/CMakeLists.txt).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const BIN = process.env.IMAGEGATE_BIN || 'imagegate';
export const FIXTURES = process.env.IMAGEGATE_FIXTURES || path.resolve(HERE, '../fixtures');
const BUILD = process.env.IMAGEGATE_BUILD_DIR || path.resolve(HERE, '../../build');
export const SCREENS = path.join(BUILD, 'console-screens');
export const CHROMIUM = process.env.IMAGEGATE_CHROMIUM || '/usr/bin/chromium';

// The description and label a hostile publisher could give a bucket.
export const HOSTILE = '<img src=x onerror=alert(1)>';
export const HOSTILE_LABEL = '<script>alert(2)</script>';

export class Registry {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-e2e-'));
    this.db = `sqlite:${path.join(this.dir, 'registry.db')}`;
  }

  cli(...args) {
    return execFileSync(BIN, ['--db', this.db, ...args], { encoding: 'utf8', env: cleanEnv() });
  }

  cliJson(...args) {
    return JSON.parse(this.cli('--json', ...args));
  }

  // The fixtures registry, a bucket with hostile strings, and one token per role.
  setUp() {
    execFileSync('sh', [path.join(FIXTURES, 'setup-registry.sh'), BIN, this.db], { stdio: 'ignore', env: cleanEnv() });
    this.cli('bucket', 'create', 'xss-demo', '--description', HOSTILE, '--label', `owner=${HOSTILE_LABEL}`);
    this.tokens = {};
    for (const role of ['read', 'write', 'admin'])
      this.tokens[role] = this.cliJson('token', 'create', '--name', `e2e-${role}`, '--role', role).secret;
  }

  async serve() {
    const portFile = path.join(this.dir, 'port');
    this.log = path.join(this.dir, 'serve.log');
    const out = fs.openSync(this.log, 'w');
    this.proc = spawn(BIN, ['serve', '--db', this.db, '--insecure-http', '--listen', '127.0.0.1:0', '--port-file', portFile],
      { stdio: ['ignore', out, out], env: cleanEnv() });
    this.exited = new Promise((resolve) => this.proc.once('exit', resolve));
    const port = await waitFor(() => {
      if (this.proc.exitCode !== null) throw new Error(`imagegate serve exited: ${fs.readFileSync(this.log, 'utf8')}`);
      const text = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8') : '';
      return text.endsWith('\n') ? text.trim() : null;
    }, 'the daemon to write its port file');
    this.base = `http://127.0.0.1:${port}`;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await this.exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function cleanEnv() {
  const env = { ...process.env };
  delete env.IMAGEGATE_DB;
  delete env.IMAGEGATE_NOW;
  return env;
}

// Polls fn until it returns a value (a state, never a fixed sleep), up to 20 s.
export async function waitFor(fn, what, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// Chromium with the flags this machine needs (no network of its own), a
// fresh profile, the viewer's time zone away from UTC so that local times
// and their UTC titles differ.
export async function browser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
    viewport: { width: 1280, height: 900 },
    timezoneId: 'America/New_York',
    locale: 'en-US',
  });
  context.setDefaultTimeout(15000);
  // Every page records what must never happen: a JavaScript dialog (the
  // hostile description's alert), an uncaught error, a CSP violation.
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return {
    context,
    async page() {
      const page = await context.newPage();
      page.dialogs = [];
      page.errors = [];
      page.on('dialog', (d) => {
        page.dialogs.push(d.message());
        d.dismiss().catch(() => {});
      });
      page.on('pageerror', (e) => page.errors.push(e.message));
      return page;
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// A view's screenshot (the whole page; only the window with a dialog open,
// where the backdrop covers the window).
export async function screenshot(page, name, { fullPage = true } = {}) {
  fs.mkdirSync(SCREENS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENS, `${name}.png`), fullPage });
}

export async function signIn(page, base, token) {
  await page.goto(`${base}/`);
  const field = page.getByLabel('API token');
  await field.fill(token);
  await field.press('Enter');
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}
