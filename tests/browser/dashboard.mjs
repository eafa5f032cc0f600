// The managers' dashboard in a real browser (Debian's Chromium through playwright-core) against a
// server with the demo data: sign-in and its refusals, every page with no console error or failed
// request, with figures equal to the API's and no WCAG 2.1 A or AA violation that axe-core finds, a
// filter, decisions in the inbox, CSRF, sign-out and the administration page. One line per step;
// exit code 0 when every step passed.
//
// Environment: FIELDSYNC_URL (required), FIELDSYNC_SHOTS (screenshots; default a temporary folder),
// FIELDSYNC_MANAGER, FIELDSYNC_ADMIN, FIELDSYNC_AGENT, FIELDSYNC_PASSWORD (default the demo's),
// FIELDSYNC_ORDER (a held order to approve) and FIELDSYNC_CONFLICT (an open conflict to resolve):
// when left out, the first the manager sees is taken. CHROMIUM: the browser (default /usr/bin/chromium).

import assert from 'node:assert/strict';
import {mkdir} from 'node:fs/promises';
import {randomUUID} from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

import {accessibilityViolations, step} from './steps.mjs';

const BASE = (process.env.FIELDSYNC_URL || '').replace(/\/+$/, '');
if (!BASE) {
  console.error('FIELDSYNC_URL is not set: the address of a fieldsync server with demo data');
  process.exit(2);
}
const SHOTS = process.env.FIELDSYNC_SHOTS || path.join(os.tmpdir(), 'fieldsync-dashboard-shots');
const PASSWORD = process.env.FIELDSYNC_PASSWORD || 'fieldsync-demo';
const MANAGER = process.env.FIELDSYNC_MANAGER || 'maria.manager@demo.fieldsync.dev';
const ADMIN = process.env.FIELDSYNC_ADMIN || 'admin@demo.fieldsync.dev';
const AGENT = process.env.FIELDSYNC_AGENT || 'anna.agent@demo.fieldsync.dev';

const REPORT_PAGES = ['sales', 'visits', 'pipeline', 'customer-value', 'retention', 'receivables', 'service', 'leads', 'campaign', 'scorecard', 'sync-health'];
/**
 * Sections whose figures move with the clock rather than with the data (hours since a device's
 * last sync, and the warnings that quote them): not compared with a second read of the API.
 */
const MOVING = new Set(['sync-health/devices', 'warnings/warnings']);

let shot = 0;

/** Keeps a picture of the page as `name`, and checks it is accessible as it is drawn. */
async function screenshot(page, name) {
  shot += 1;
  const file = path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({path: file, fullPage: true});
  assert.deepEqual(await accessibilityViolations(page), [], `accessibility of ${name}`);
  return file;
}

/** Console errors, uncaught exceptions and failed or refused requests of a page, since `clear`. */
function watch(page) {
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
  });
  return {
    clear: () => problems.splice(0),
    assertNone: (where) => assert.deepEqual(problems.splice(0), [], `problems on ${where}`),
  };
}

async function api(page, method, url, options) {
  const response = await page.request.fetch(`${BASE}${url}`, {method, ...options});
  let body = null;
  try {
    body = await response.json();
  } catch {
    // 204, or not JSON.
  }
  return {status: response.status(), body};
}

/** Waits until the page `name` has drawn: nothing busy or loading, every chart drawn. */
async function settled(page, name) {
  await page.waitForFunction((want) => {
    const root = document.querySelector('#main .page');
    if (!root || root.dataset.page !== want) return false;
    if (root.matches('[aria-busy]') || root.querySelector('[aria-busy], .loading')) return false;
    return [...root.querySelectorAll('.chart')].every((c) => c.querySelector('canvas, p'));
  }, name, {timeout: 30000});
}

async function open(page, hash, name) {
  await page.goto(`${BASE}/#/${hash}`);
  await settled(page, name);
}

async function signIn(page, email) {
  await page.goto(`${BASE}/`);
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('form.sign-in button[type="submit"]').click();
}

/**
 * Every report table (and overview figure) on the page, compared cell by cell with the JSON the
 * API gives for the same URL. Returns how many cells were compared.
 */
async function compareWithApi(page, where) {
  const shown = await page.$$eval('[data-source][data-report][data-section]', (els) => els.map((el) => ({
    report: el.dataset.report,
    section: el.dataset.section,
    source: el.dataset.source,
    cells: (el.matches('[data-value]') ? [el] : [...el.querySelectorAll('[data-column][data-value]')])
      .map((c) => ({row: Number(c.dataset.row), column: c.dataset.column, value: c.dataset.value})),
  })));
  const answers = new Map();
  let compared = 0;
  for (const table of shown) {
    if (MOVING.has(`${table.report}/${table.section}`)) continue;
    if (!answers.has(table.source)) {
      const {status, body} = await api(page, 'GET', table.source);
      assert.equal(status, 200, `${where}: GET ${table.source}`);
      answers.set(table.source, body);
    }
    const rows = answers.get(table.source).sections[table.section];
    assert.ok(rows, `${where}: the API has no section ${table.section} in ${table.source}`);
    for (const cell of table.cells) {
      assert.ok(cell.row < rows.length, `${where}: ${table.report}/${table.section} shows row ${cell.row}, the API has ${rows.length}`);
      assert.deepEqual(JSON.parse(cell.value), rows[cell.row][cell.column] ?? null,
        `${where}: ${table.report}/${table.section} row ${cell.row} column ${cell.column}`);
      compared += 1;
    }
  }
  assert.ok(compared > 0, `${where}: no figure was compared with the API`);
  return compared;
}

async function main() {
  await mkdir(SHOTS, {recursive: true});
  const browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox']});
  const context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-GB'});
  const page = await context.newPage();
  const problems = watch(page);
  let order = process.env.FIELDSYNC_ORDER;
  let conflict = process.env.FIELDSYNC_CONFLICT;

  try {
    await step('a wrong password shows an error and makes no session', async () => {
      await page.goto(`${BASE}/`);
      await page.locator('#email').fill(MANAGER);
      await page.locator('#password').fill('not-the-password');
      await page.locator('form.sign-in button[type="submit"]').click();
      await page.locator('#sign-in-error').filter({hasText: /\S/}).waitFor();
      const text = await page.locator('#sign-in-error').innerText();
      await screenshot(page, 'sign-in-error');
      assert.equal((await api(page, 'GET', '/v1/auth/session')).status, 401);
      return `"${text}"`;
    });

    await step('an agent signing in gets the "use the app" page', async () => {
      await signIn(page, AGENT);
      await page.locator('#use-the-app').waitFor();
      const text = await page.locator('#use-the-app h1').innerText();
      assert.match(text, /app/i);
      await screenshot(page, 'use-the-app');
      assert.equal((await api(page, 'GET', '/v1/auth/session')).status, 401, 'an agent has no dashboard session');
      await page.locator('#back-to-sign-in').click();
      await page.locator('#email').waitFor();
      return `"${text}"`;
    });

    await step('a manager signs in; every page opens, error-free, with the API\'s figures', async () => {
      await signIn(page, MANAGER);
      await page.locator('#session-controls:not([hidden])').waitFor();
      const session = await api(page, 'GET', '/v1/auth/session');
      assert.equal(session.status, 200);
      assert.equal(session.body.role, 'manager');
      assert.equal(await page.locator('#nav a[href="#/admin"]').count(), 0, 'a manager has no administration link');
      problems.clear();

      // The overview, timed from the address to its first figures, once what signing in started
      // (the overview itself) has finished.
      await settled(page, 'overview');
      await page.goto(`${BASE}/#/customers`);
      await settled(page, 'customers');
      const started = Date.now();
      await page.goto(`${BASE}/#/overview`);
      await page.locator('.figure-value[data-column="revenue"]').waitFor();
      const firstFigures = Date.now() - started;
      await settled(page, 'overview');
      const own = await page.locator('#main .page-overview').getAttribute('data-rendered-ms');
      console.log(`# overview: first figures after ${firstFigures} ms (the page's own measure: ${own} ms)`);
      const notes = [`overview ${await compareWithApi(page, 'overview')} cells`];
      // Revenue, completed visits and money collected each show their trend over the periods.
      for (const column of ['revenue', 'completed', 'collected']) {
        const trend = page.locator(`li.figure:has(.figure-value[data-column="${column}"]) svg.spark polyline`);
        assert.equal(await trend.count(), 1, `overview: no trend drawn for ${column}`);
      }
      await screenshot(page, 'overview');
      problems.assertNone('overview');

      for (const name of REPORT_PAGES) {
        await open(page, name, name);
        assert.ok(await page.locator('table[data-report]').count() > 0, `${name}: no table`);
        assert.ok(await page.locator('a[download][href*="format=csv"]').count() > 0, `${name}: no CSV link`);
        notes.push(`${name} ${await compareWithApi(page, name)} cells`);
        await screenshot(page, name);
        problems.assertNone(name);
      }

      // The scorecard's league table sorts by a column, by keyboard too.
      await open(page, 'scorecard', 'scorecard');
      const header = page.locator('table[data-section="agents"] th[data-column="revenue"]');
      await header.locator('button').focus();
      await page.keyboard.press('Enter');
      assert.equal(await header.getAttribute('aria-sort'), 'descending');
      const revenues = await page.$$eval('table[data-section="agents"] td[data-column="revenue"]', (tds) => tds.map((td) => JSON.parse(td.dataset.value)));
      assert.deepEqual(revenues, [...revenues].sort((a, b) => b - a), 'sorted by revenue, descending');

      await open(page, 'inbox', 'inbox');
      await screenshot(page, 'inbox');
      problems.assertNone('inbox');

      await open(page, 'customers', 'customers');
      await screenshot(page, 'customers');
      await page.locator('#main table tbody a').first().click();
      await page.waitForURL(/#\/customers\/[0-9a-f-]+$/);
      await settled(page, 'customers');
      await page.locator('#h-fields').waitFor();
      await screenshot(page, 'customer');
      problems.assertNone('a customer');
      return notes.join(', ');
    });

    await step('a manager erases a contact on request, and the customer page shows her gone', async () => {
      const list = await (await page.request.get(`${BASE}/v1/records?kind=contact&limit=1`)).json();
      const contact = list.records[0];
      await page.goto(`${BASE}/#/customers/${contact.fields.customer_id}`);
      await settled(page, 'customers');
      const cell = (column) => page.locator(`table[data-section="contacts"] tr[data-id="${contact.id}"] td[data-column="${column}"]`);
      assert.equal(await cell('name').textContent(), contact.fields.name);
      await page.locator('#erase-contact').selectOption(contact.id);
      await page.locator('#erase-reason').fill('asked by phone on 1 December');
      page.once('dialog', (dialog) => dialog.accept());
      await page.locator('form.erase button[type="submit"]').click();
      await cell('name').filter({hasText: '(erased)'}).waitFor();
      assert.equal(await cell('phone').textContent(), '');
      const trail = await (await page.request.get(`${BASE}/v1/audit/personal-data?record_id=${contact.id}`)).json();
      assert.ok(trail.accesses.some((a) => a.action === 'erase' && a.detail === 'asked by phone on 1 December'), JSON.stringify(trail));
      problems.assertNone('an erasure');
    });

    await step('a manager creates a campaign on its report\'s page, and the report lists it', async () => {
      await open(page, 'campaign', 'campaign');
      const day = (ms) => new Date(ms).toISOString().slice(0, 10);
      await page.locator('#campaign-name').fill('Browser tasting');
      await page.locator('#campaign-type').selectOption('promotion');
      await page.locator('#campaign-starts_at').fill(day(Date.now()));
      await page.locator('#campaign-ends_at').fill(day(Date.now() + 14 * 86_400_000));
      await page.locator('#campaign-budget').fill('250.00');
      await page.locator('#campaign-asks').fill('Offer a tasting');
      await page.locator('#campaign-target_tier').selectOption('A');
      await page.locator('form.campaign-form button[type="submit"]').click();
      await page.locator('table[data-report="campaign"][data-section="by_campaign"] td', {hasText: 'Browser tasting'}).first().waitFor();
      const list = await api(page, 'GET', '/v1/records?kind=campaign');
      const made = list.body.records.find((r) => r.fields.name === 'Browser tasting');
      assert.ok(made, JSON.stringify(list.body));
      assert.deepEqual([made.fields.budget, made.fields.target_tier, made.fields.status, made.fields.channel], [25000, 'A', 'active', 'visit']);
      await screenshot(page, 'campaign-created');
      problems.assertNone('a new campaign');
    });

    await step('a filter (territory North) changes the address and the figures follow the API', async () => {
      await open(page, 'sales', 'sales');
      await page.locator('#f-territory').selectOption('North');
      await page.locator('form.filters button[type="submit"]').click();
      await page.waitForURL(/territory=North/);
      // The address changes before the page draws again: wait for the new tables, not the old.
      await page.locator('table[data-report="sales"][data-section="summary"][data-source*="territory=North"]').waitFor();
      await settled(page, 'sales');
      const source = await page.locator('table[data-report="sales"][data-section="summary"]').getAttribute('data-source');
      assert.match(source, /territory=North/);
      const cells = await compareWithApi(page, 'sales, North');
      await screenshot(page, 'sales-north');
      problems.assertNone('sales, North');
      return `${page.url().replace(BASE, '')}, ${cells} cells`;
    });

    await step('in the inbox, an order is approved and a conflict resolved by picking a value', async () => {
      if (!order) {
        const held = await api(page, 'GET', '/v1/records?kind=order&status=submitted&limit=1');
        order = held.body.records[0]?.id;
        assert.ok(order, 'FIELDSYNC_ORDER is not set and the manager sees no submitted order');
      }
      if (!conflict) {
        const listed = await api(page, 'GET', '/v1/conflicts?status=open&limit=1');
        conflict = listed.body.records[0]?.id;
        assert.ok(conflict, 'FIELDSYNC_CONFLICT is not set and the manager sees no open conflict');
      }
      await open(page, 'inbox', 'inbox');
      const orderCard = page.locator(`[data-kind="order"][data-id="${order}"]`);
      assert.equal(await orderCard.count(), 1, `the held order ${order} is not in the inbox`);
      await orderCard.locator('[data-action="approve"]').click();
      await orderCard.waitFor({state: 'detached'});
      await page.locator('#status').filter({hasText: /\S/}).waitFor();
      const approved = await api(page, 'GET', `/v1/records/${order}`);
      assert.equal(approved.status, 200);
      assert.equal(approved.body.fields.status, 'approved');

      const conflictCard = page.locator(`[data-kind="conflict"][data-id="${conflict}"]`);
      assert.equal(await conflictCard.count(), 1, `the conflict ${conflict} is not in the inbox`);
      const values = await conflictCard.locator('.candidate').count();
      assert.ok(values >= 2, `the conflict shows ${values} values side by side`);
      const picked = await conflictCard.locator('.candidate-value').nth(1).innerText();
      await conflictCard.locator('[data-action="keep"]').nth(1).click();
      await conflictCard.waitFor({state: 'detached'});
      const resolved = await api(page, 'GET', `/v1/records/${conflict}`);
      assert.equal(resolved.status, 200);
      assert.equal(resolved.body.fields.status, 'resolved');
      // The conflicts' download holds the one just resolved, decided as it now stands.
      const href = await page.locator('[data-download="conflicts"]').getAttribute('href');
      const download = await page.request.get(`${BASE}${href}`);
      assert.equal(download.status(), 200);
      const csv = await download.text();
      assert.ok(csv.startsWith('id,'), 'a CSV with a header');
      assert.ok(csv.includes(conflict) && csv.includes('resolved'), 'the resolved conflict is in the download');
      await screenshot(page, 'inbox-after');
      problems.assertNone('inbox decisions');
      return `order ${order} approved, conflict ${conflict} resolved with "${picked}"`;
    });

    await step('a change without the CSRF header is refused (403 csrf_required)', async () => {
      const alerts = await api(page, 'GET', '/v1/alerts?status=open&limit=1');
      const alert = alerts.body?.records?.[0]?.id ?? randomUUID();
      const resolve = await api(page, 'POST', `/v1/alerts/${alert}/resolve`, {data: {outcome: 'csrf test'}});
      assert.equal(resolve.status, 403);
      assert.equal(resolve.body?.error?.code, 'csrf_required');
      const logout = await api(page, 'DELETE', '/v1/auth/session');
      assert.equal(logout.status, 403);
      assert.equal(logout.body?.error?.code, 'csrf_required');
      assert.equal((await api(page, 'GET', '/v1/auth/session')).status, 200, 'the refused logout left the session');
      return `POST /v1/alerts/${alert}/resolve and DELETE /v1/auth/session refused`;
    });

    await step('signing out ends the session', async () => {
      await page.locator('#sign-out').click();
      await page.locator('#email').waitFor();
      assert.equal((await api(page, 'GET', '/v1/auth/session')).status, 401);
      await screenshot(page, 'signed-out');
    });

    await step('an admin signs in and opens the administration page', async () => {
      await signIn(page, ADMIN);
      await page.locator('#session-controls:not([hidden])').waitFor();
      await page.locator('#nav a[href="#/admin"]').waitFor();
      problems.clear();
      await open(page, 'admin', 'admin');
      const users = await page.locator('#admin-users tbody tr[data-id]').count();
      const devices = await page.locator('#admin-devices tbody tr[data-id]').count();
      const products = await page.locator('#admin-products tbody tr[data-id]').count();
      assert.ok(users > 0, 'the users are listed');
      assert.equal(await page.locator('#admin-devices table').count(), 1, 'the devices are listed');
      assert.ok(products > 0, 'the products are listed');
      await screenshot(page, 'admin');
      problems.assertNone('admin');

      // A role given and taken back: Ben made a manager, then an agent again; the API agrees.
      const ben = await page.locator('#admin-users tbody tr[data-id]', {hasText: 'ben.agent@'}).getAttribute('data-id');
      for (const role of ['manager', 'agent']) {
        const row = page.locator(`#admin-users tbody tr[data-id="${ben}"]`);
        await row.locator('select').selectOption(role);
        await row.locator('[data-action="set-role"]').click();
        // Saving disables the button until the section is drawn again with a new one.
        await row.locator('[data-action="set-role"]:not([disabled])').waitFor();
        await settled(page, 'admin');
        const {body} = await api(page, 'GET', '/v1/users');
        assert.equal(body.find((u) => u.id === ben)?.role, role, `Ben's role after saving ${role}`);
        assert.equal(await row.locator('select').inputValue(), role);
      }
      problems.assertNone('admin, roles');

      // An import: checked first (a row in error names its line and column, nothing is written),
      // then a good file imported; the customers' download holds the new customer.
      const bad = 'code;name;territory;credit_limit\nB-1;Bad Limit;North;ten\n';
      await page.locator('#import-kind').selectOption('customers');
      await page.locator('#import-file').setInputFiles({name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from(bad)});
      await page.locator('[data-action="import-check"]').click();
      await page.locator('#import-result p[data-imported="false"]').waitFor();
      const errorRow = await page.locator('#import-result tbody tr').first().innerText();
      assert.match(errorRow, /2\s+credit_limit\s+`ten` is not an amount/, errorRow);
      const good = '\ufeffKundennummer;Firma;Gebiet;Kreditlimit\nB-2;Browser Imports GmbH;North;1.500,00\n';
      await page.locator('#import-file').setInputFiles({name: 'good.csv', mimeType: 'text/csv', buffer: Buffer.from(good)});
      await page.locator('[data-action="import-run"]').click();
      await page.locator('#import-result p[data-imported="true"]').waitFor();
      const exported = await page.request.get(`${BASE}/v1/exports/customers`);
      assert.equal(exported.status(), 200);
      assert.match(await exported.text(), /B-2,Browser Imports GmbH,North,.*1500\.00/, 'the export holds the imported customer');
      await screenshot(page, 'admin-import');
      problems.assertNone('admin, import');

      // The language switch: Chinese strings and <html lang>, then back.
      await page.locator('#lang-select').selectOption('zh');
      await settled(page, 'admin');
      assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-Hans');
      assert.equal(await page.locator('#main h1').innerText(), '系统管理');
      await screenshot(page, 'admin-zh');
      await page.locator('#lang-select').selectOption('en');
      await settled(page, 'admin');
      problems.assertNone('admin, languages');
      return `${users} users, ${devices} devices, ${products} products`;
    });
  } finally {
    await browser.close();
  }
  console.log(`# screenshots in ${SHOTS}`);
  console.log(JSON.stringify({approved: order, resolved: conflict}));
}

main().catch((error) => {
  console.error(error?.stack || String(error));
  process.exit(1);
});
