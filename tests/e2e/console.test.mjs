// The console's journeys in a real browser (issue 17): sign in; bucket list
// -> web-ubuntu -> v1 revoked with its message; assign and unassign; revoke
// v3 after a confirmation showing the channels that roll back, the channel
// view and the command line agreeing; restore; schedule; hostile strings
// shown as text and never run; a read token offered no revoke and refused
// one (403, code 7); audit filters; tokens; deletes; runs; a version's SBOM
// and packages, and its download; a narrow window.
// Each view's screenshot goes to build/console-screens/.
//
// The tests share one registry and daemon and run in order: each journey
// starts from the state the previous ones left, as a person's would.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FIXTURES, HOSTILE, HOSTILE_LABEL, Registry, browser, screenshot, signIn } from './harness.mjs';

const reg = new Registry();
let chrome;
let who; // what /v1/whoami says of the admin token

before(async () => {
  reg.setUp();
  await reg.serve();
  chrome = await browser();
  const res = await fetch(`${reg.base}/v1/whoami`, { headers: { Authorization: `Bearer ${reg.tokens.admin}` } });
  who = await res.json();
});

after(async () => {
  if (chrome) await chrome.close();
  await reg.stop();
});

// What must hold on every page: no dialog (no injected script ran), no
// uncaught error, no Content-Security-Policy violation.
async function clean(page) {
  assert.deepEqual(page.dialogs, [], 'a JavaScript dialog opened');
  assert.deepEqual(page.errors, [], 'the page threw');
  assert.deepEqual(await page.evaluate(() => window.__violations), [], 'the CSP was violated');
}

async function admin() {
  const page = await chrome.page();
  await signIn(page, reg.base, reg.tokens.admin);
  return page;
}

function version(bucket, ref) {
  return reg.cliJson('version', 'show', bucket, ref);
}

function channels(bucket) {
  return Object.fromEntries(reg.cliJson('channel', 'list', bucket).map((c) => [c.name, c.version ? c.version.name : null]));
}

test('sign in with an API token, kept for the tab only', async () => {
  const page = await chrome.page();
  const res = await page.goto(`${reg.base}/`);
  assert.equal(new URL(page.url()).pathname, '/ui/', 'GET / redirects to /ui/');
  const headers = res.headers();
  assert.match(headers['content-security-policy'], /^default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'$/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
  const field = page.getByLabel('API token');
  await field.waitFor();
  await screenshot(page, 'signin');
  await field.fill('igt_not-a-token');
  await field.press('Enter');
  await page.getByText(/The token was not accepted: 401/).waitFor();
  await field.fill(reg.tokens.admin);
  await field.press('Enter');
  await page.getByRole('heading', { name: 'Buckets' }).waitFor();
  assert.match(await page.locator('.whoami').textContent(), /e2e-admin\s*admin/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('imagegate.token')), reg.tokens.admin);
  assert.ok(!page.url().includes(reg.tokens.admin), 'the token is never in a URL');
  await page.reload();
  await page.getByRole('heading', { name: 'Buckets' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('imagegate.token')), null);
  assert.ok(!fs.readFileSync(reg.log, 'utf8').includes(reg.tokens.admin), 'the token is never logged');
  await clean(page);
  await page.close();
});

test('bucket list -> web-ubuntu -> v1 shows revoked with its message', async () => {
  const page = await admin();
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'web-ubuntu', exact: true }) });
  await row.waitFor();
  assert.match(await row.textContent(), /v3\s*active.*aws, docker.*3.*1 revoked/);
  await screenshot(page, 'buckets');
  await page.getByRole('link', { name: 'web-ubuntu', exact: true }).click();
  await page.getByRole('heading', { name: 'web-ubuntu', exact: true }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/ui/buckets/web-ubuntu');
  await screenshot(page, 'bucket');
  await page.getByRole('link', { name: 'v1', exact: true }).click();
  const banner = page.locator('.banner');
  await banner.waitFor();
  assert.match(await banner.textContent(), /Revoked/);
  assert.match(await banner.textContent(), /CVE-2024-6387 \(regreSSHion\) in openssh/);
  assert.match(await page.locator('h1').textContent(), /web-ubuntu v1\s*revoked/);
  // the viewer's zone on the page, UTC on hover
  const t = banner.locator('time');
  assert.match(await t.getAttribute('title'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  assert.match(await t.textContent(), /E[SD]T/);
  await screenshot(page, 'version-revoked');
  await page.reload(); // reload keeps the place
  await page.locator('.banner').waitFor();
  assert.equal(new URL(page.url()).pathname, '/ui/buckets/web-ubuntu/versions/web-1');
  await page.goBack(); // and so does the back button
  await page.getByRole('heading', { name: 'web-ubuntu', exact: true }).waitFor();
  await clean(page);
  await page.close();
});

test('a version shows its SBOM and packages; the SBOM downloads as stored', async () => {
  const page = await admin();
  await page.goto(`${reg.base}/ui/buckets/web-ubuntu/versions/v2`);
  const sec = page.getByRole('region', { name: 'SBOMs and packages' });
  await sec.waitFor();
  assert.match(await sec.getByRole('listitem').first().textContent(), /os-packages\s*CYCLONEDX/);
  const openssl = sec.getByRole('row').filter({ hasText: 'pkg:deb/ubuntu/openssl@' });
  assert.match(await openssl.textContent(), /openssl\s*3\.0\.2-0ubuntu1\.18\s*pkg:deb\/ubuntu\/openssl@3\.0\.2-0ubuntu1\.18/);
  // every package of the document is listed (nested components included)
  const doc = fs.readFileSync(path.join(FIXTURES, 'sboms', 'web-ubuntu-v2.cdx.json'));
  const stored = reg.cliJson('sbom', 'list', 'web-ubuntu', 'v2');
  assert.equal(await sec.locator('tbody tr').count(), stored[0].package_count);
  await screenshot(page, 'version-sbom');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    sec.getByRole('button', { name: 'Download os-packages' }).click(),
  ]);
  assert.deepEqual(fs.readFileSync(await download.path()), doc, 'the download is the uploaded document');
  // a version without SBOMs has no such section
  await page.goto(`${reg.base}/ui/buckets/azure-win/versions/v1`);
  await page.getByRole('region', { name: 'Builds' }).waitFor();
  assert.equal(await page.getByRole('region', { name: 'SBOMs and packages' }).count(), 0);
  await clean(page);
  await page.close();
});

test('a hostile description and label are shown as text and run nothing', async () => {
  const page = await admin();
  await page.getByRole('link', { name: 'xss-demo' }).waitFor();
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'xss-demo' }) });
  assert.ok((await row.textContent()).includes(HOSTILE));
  assert.ok((await row.textContent()).includes(HOSTILE_LABEL));
  await page.getByRole('link', { name: 'xss-demo' }).click();
  await page.getByRole('heading', { name: 'xss-demo' }).waitFor();
  assert.ok((await page.locator('main').textContent()).includes(HOSTILE));
  assert.equal(await page.locator('main img, main script').count(), 0);
  await page.goto(`${reg.base}/ui/buckets?filter=${encodeURIComponent('<img')}`);
  await page.getByRole('link', { name: 'xss-demo' }).waitFor();
  assert.equal(await page.locator('tbody tr').count(), 1, 'the filter box finds it by its description');
  await screenshot(page, 'buckets-filtered');
  await clean(page);
  await page.close();
});

test('assign and unassign a channel', async () => {
  const page = await admin();
  await page.goto(`${reg.base}/ui/buckets/web-ubuntu`);
  for (const [channel, ver] of [['staging', 'web-2'], ['staging', 'web-3'], ['qa', 'web-3']]) {
    await page.getByLabel('Channel', { exact: true }).fill(channel);
    await page.getByLabel('Version', { exact: true }).selectOption(ver);
    await page.getByRole('button', { name: 'Assign', exact: true }).click();
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: channel, exact: true }) }).last();
    await row.filter({ hasText: ver === 'web-2' ? 'v2' : 'v3' }).waitFor();
  }
  assert.equal(channels('web-ubuntu').qa, 'v3');
  const qa = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'qa', exact: true }) }).last();
  await qa.getByRole('button', { name: 'Unassign' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Unassign' }).click();
  await qa.filter({ hasText: 'empty' }).waitFor();
  assert.equal(channels('web-ubuntu').qa, null, 'the command line agrees');
  await clean(page);
  await page.close();
});

test('revoke v3 after a confirmation showing the channels that roll back', async () => {
  const page = await admin();
  await page.goto(`${reg.base}/ui/buckets/web-ubuntu/versions/v3`);
  await page.getByLabel('Message').fill('e2e: CVE-2026-0001 in openssl');
  // Escape cancels: nothing changes
  await page.getByRole('button', { name: 'Revoke…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  // the server's dry run: exactly what the revocation will do
  assert.ok(who.features.includes('revocation_dry_run'), 'the server has the dry run');
  await dialog.getByText('web-ubuntu / staging: v3 → v2').waitFor();
  await dialog.getByText('web-ubuntu / development: v3 → emptied').waitFor();
  assert.match(await dialog.textContent(), /Versions that inherit the revocation\s*None\./);
  await screenshot(page, 'revoke-confirm', { fullPage: false });
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(version('web-ubuntu', 'v3').status, 'VERSION_ACTIVE');
  // the keyboard alone: Enter on the button, Enter on the confirmation
  // (the dialog's focus starts on its confirm button)
  await page.getByRole('button', { name: 'Revoke…' }).focus();
  await page.keyboard.press('Enter');
  await dialog.getByRole('button', { name: 'Revoke', exact: true }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Revoke');
  await page.keyboard.press('Enter');
  await page.locator('.banner').filter({ hasText: 'e2e: CVE-2026-0001 in openssl' }).waitFor();
  assert.match(await page.locator('.banner').textContent(), /Revoked.*By: e2e-admin/s);
  const v = version('web-ubuntu', 'v3');
  assert.equal(v.status, 'VERSION_REVOKED');
  assert.equal(v.revocation_author, 'e2e-admin');
  assert.deepEqual(channels('web-ubuntu'), { latest: 'v2', development: null, production: 'v2', staging: 'v2', qa: null });
  await page.goto(`${reg.base}/ui/buckets/web-ubuntu/channels/staging`);
  const first = page.locator('tbody tr').first();
  await first.filter({ hasText: 'rolled back (revocation)' }).waitFor();
  assert.match(await first.textContent(), /v2\s*active.*e2e-admin/);
  assert.match(await page.locator('.facts').textContent(), /Holds\s*v2/);
  await screenshot(page, 'channel-history');
  await clean(page);
  await page.close();
});

test('restore v3, then schedule and cancel a revocation', async () => {
  const page = await admin();
  await page.goto(`${reg.base}/ui/buckets/web-ubuntu/versions/v3`);
  await page.getByRole('button', { name: 'Restore…' }).click();
  await page.getByRole('dialog').getByText(/Channels are not re-assigned/).waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Restore' }).click();
  await page.locator('h1').filter({ hasText: 'active' }).waitFor();
  assert.equal(await page.locator('.banner').count(), 0);
  assert.equal(version('web-ubuntu', 'v3').status, 'VERSION_ACTIVE');
  assert.equal(channels('web-ubuntu').staging, 'v2', 'a restore does not re-assign channels');

  await page.getByLabel('In', { exact: true }).check();
  await page.getByLabel('Delay').fill('30d');
  await page.getByRole('button', { name: 'Revoke…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText(/Schedule the revocation of web-ubuntu v3 in 30d/).waitFor();
  await dialog.getByRole('button', { name: 'Schedule' }).click();
  await page.locator('.banner').filter({ hasText: 'Revocation scheduled' }).waitFor();
  assert.equal(version('web-ubuntu', 'v3').status, 'VERSION_REVOCATION_SCHEDULED');
  await screenshot(page, 'version-scheduled');
  await page.getByRole('button', { name: 'Cancel the scheduled revocation…' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Restore' }).click();
  await page.locator('h1').filter({ hasText: 'active' }).waitFor();
  assert.equal(version('web-ubuntu', 'v3').status, 'VERSION_ACTIVE');
  await clean(page);
  await page.close();
});

test('a read token is offered no revoke, and a revoke sent with it gets 403 code 7', async () => {
  const page = await chrome.page();
  await signIn(page, reg.base, reg.tokens.read);
  await page.goto(`${reg.base}/ui/buckets/web-ubuntu/versions/v2`);
  await page.getByRole('heading', { name: /web-ubuntu v2/ }).waitFor();
  await page.getByRole('heading', { name: 'Builds' }).waitFor();
  assert.equal(await page.getByRole('button', { name: /Revoke|Restore|Delete/ }).count(), 0);
  assert.equal(await page.getByRole('link', { name: 'Audit' }).count(), 0);
  assert.equal(await page.getByRole('link', { name: 'Tokens' }).count(), 0);
  await page.goto(`${reg.base}/ui/buckets/web-ubuntu`);
  await page.getByRole('heading', { name: 'Channels' }).waitFor();
  assert.equal(await page.getByRole('button', { name: /Assign|Unassign|Delete/ }).count(), 0);
  await screenshot(page, 'bucket-read-only');
  const answer = await page.evaluate(async (org) => {
    const res = await fetch(`/packer/2023-01-01/organizations/${org}/projects/p/buckets/web-ubuntu/versions/v2`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${sessionStorage.getItem('imagegate.token')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ revoke_in: '0s', revocation_message: 'from a read token' }),
    });
    return { status: res.status, body: await res.json() };
  }, who.organization_id);
  assert.equal(answer.status, 403);
  assert.equal(answer.body.code, 7);
  assert.match(answer.body.message, /needs an admin token/);
  assert.equal(version('web-ubuntu', 'v2').status, 'VERSION_ACTIVE');
  await clean(page);
  await page.close();
});

test('runs and usage: the evaluations with their verdicts, who used a version', async () => {
  const plan = fs.readFileSync(path.join(FIXTURES, 'plans', 'hardcoded-literal.plan.json'));
  const res = await fetch(`${reg.base}/v1/scan?format=json&organization=acme&workspace=web-prod`, {
    method: 'POST', body: plan, headers: { Authorization: `Bearer ${reg.tokens.read}` },
  });
  assert.equal(res.status, 200);
  const page = await admin();
  await page.goto(`${reg.base}/ui/runs`);
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
  const row = page.getByRole('row').filter({ hasText: 'web-prod' });
  await row.waitFor();
  assert.match(await row.textContent(), /acme.*web-prod.*scan.*warn/s);
  await screenshot(page, 'runs');
  await page.getByLabel('Workspace').fill('nobody');
  await page.getByLabel('Workspace').press('Enter');
  await page.getByText('No runs recorded.').waitFor();
  assert.match(page.url(), /workspace=nobody/);
  await page.goBack();
  await row.waitFor();
  // the plan's aws_instance.app runs web-ubuntu v2: its page says who used it
  await page.goto(`${reg.base}/ui/buckets/web-ubuntu/versions/v2`);
  const used = page.getByRole('row').filter({ hasText: 'web-prod' });
  await used.waitFor();
  assert.match(await used.textContent(), /acme.*web-prod.*aws_instance\.app.*web-ubuntu v2.*ami-0a1b2c3d4e5f60718/s);
  await screenshot(page, 'version-usage');
  await clean(page);
  await page.close();
});

test('audit trail filtered by author and bucket, newest first', async () => {
  const page = await admin();
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
  await page.getByLabel('Author').fill('e2e-admin');
  await page.getByLabel('Bucket').fill('web-ubuntu');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/author=e2e-admin/);
  const rows = page.locator('tbody tr');
  await rows.filter({ hasText: 'version.revoke' }).first().waitFor();
  const texts = await rows.allTextContents();
  assert.ok(texts.length >= 6, `expected the e2e changes, got ${texts.length}`);
  for (const t of texts) assert.match(t, /e2e-admin.*web-ubuntu/s);
  assert.match(texts[0], /version\.(restore|revoke)/, 'newest first');
  await screenshot(page, 'audit');
  await clean(page);
  await page.close();
});

test('tokens: a new secret is shown once; revoke after typing the name', async () => {
  const page = await admin();
  await page.getByRole('link', { name: 'Tokens' }).click();
  await page.getByRole('heading', { name: 'API tokens' }).waitFor();
  await page.getByLabel('Name').fill('e2e-temp');
  await page.getByLabel('Role').selectOption('read');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = page.getByRole('dialog').getByLabel('the new secret');
  await secret.waitFor();
  assert.match(await secret.inputValue(), /^igt_[A-Za-z0-9_-]{43}$/);
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
  const row = page.getByRole('row').filter({ hasText: 'e2e-temp' });
  await row.waitFor();
  assert.ok(!(await page.locator('main').textContent()).includes('igt_'), 'the secret is not shown again');
  await screenshot(page, 'tokens');
  await row.getByRole('button', { name: 'Revoke' }).click();
  const confirm = page.getByRole('dialog').getByRole('button', { name: 'Revoke token' });
  assert.ok(await confirm.isDisabled(), 'disabled until the name is typed');
  await page.getByRole('dialog').getByLabel(/Type/).fill('e2e-temp');
  await confirm.click();
  await row.waitFor({ state: 'detached' });
  assert.ok(!reg.cliJson('token', 'list').some((t) => t.name === 'e2e-temp'));
  await clean(page);
  await page.close();
});

test('delete a version and a bucket after typing their names', async () => {
  const page = await admin();
  await page.goto(`${reg.base}/ui/buckets/web-ubuntu/versions/v1`);
  await page.getByRole('button', { name: 'Delete version…' }).click();
  await page.getByRole('dialog').getByLabel(/Type/).fill('v1');
  await page.getByRole('dialog').getByRole('button', { name: 'Delete version' }).click();
  await page.waitForURL(/\/ui\/buckets\/web-ubuntu$/);
  await page.getByRole('heading', { name: 'Versions' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'v1', exact: true }).count(), 0);
  assert.deepEqual(reg.cliJson('version', 'list', 'web-ubuntu').map((v) => v.name), ['v3', 'v2']);
  await page.goto(`${reg.base}/ui/buckets/xss-demo`);
  await page.getByRole('button', { name: 'Delete bucket…' }).click();
  await page.getByRole('dialog').getByLabel(/Type/).fill('xss-demo');
  await page.getByRole('dialog').getByRole('button', { name: 'Delete bucket' }).click();
  await page.waitForURL(/\/ui\/buckets$/);
  await page.getByRole('link', { name: 'web-ubuntu', exact: true }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'xss-demo' }).count(), 0);
  await clean(page);
  await page.close();
});

test('a narrow window: no sideways scrolling, tables become cards', async () => {
  const page = await admin();
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [url, name] of [['/ui/buckets', 'narrow-buckets'], ['/ui/buckets/web-ubuntu/versions/v3', 'narrow-version']]) {
    await page.goto(reg.base + url);
    await page.locator('h1').waitFor();
    await page.locator('table').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${url} scrolls sideways by ${overflow}px`);
    await screenshot(page, name);
  }
  await clean(page);
  await page.close();
});
