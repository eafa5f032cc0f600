// The agents' app when its server is restored from an older backup: the app signs in and syncs;
// the Rust test (tests/tests/e2e/app.rs) backs the database up; the app edits a customer and
// syncs it; the Rust test restores the backup, which lacks the edit, and restarts the server at
// the same address; the app's next sync is answered `409 server_restored` and sends its changes
// again, so the server gets the edit back. One line per step; the last line is JSON.
//
// Environment: FIELDSYNC_URL, FIELDSYNC_AGENT, FIELDSYNC_PASSWORD, FIELDSYNC_SHARED (the customer
// to edit), FIELDSYNC_HANDSHAKE (the handshakes' folder), FIELDSYNC_SHOTS, CHROMIUM.

import {mkdirSync} from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

import {finish, handshake, step, syncNow} from './steps.mjs';

const BASE = process.env.FIELDSYNC_URL.replace(/\/+$/, '');
const SHARED = process.env.FIELDSYNC_SHARED;
const HANDSHAKE = process.env.FIELDSYNC_HANDSHAKE;
const SHOTS = process.env.FIELDSYNC_SHOTS;
mkdirSync(SHOTS, {recursive: true});

const browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox']});
const page = await (await browser.newContext({viewport: {width: 412, height: 915}})).newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
// The server is down while it is restored, and answers the restored device 409 once: expected.
const expected = ['status of 409', 'ERR_CONNECTION_REFUSED'];
page.on('console', (m) => m.type() === 'error' && !expected.some((e) => m.text().includes(e)) && problems.push(`console: ${m.text()}`));

await finish(browser, problems, async () => {
  await step('sign in and receive the territory', async () => {
    await page.goto(`${BASE}/app/`);
    await page.fill('input[name=email]', process.env.FIELDSYNC_AGENT);
    await page.fill('input[name=password]', process.env.FIELDSYNC_PASSWORD);
    await page.click('#signin button[type=submit]');
    await page.waitForSelector(`#customers li strong >> text=${SHARED}`, {timeout: 60_000});
  });

  await step('the server is backed up', () => handshake(HANDSHAKE, 1, {}));

  await step('edit the customer and sync: the server has the edit', async () => {
    await page.goto(`${BASE}/app/#/customers`);
    await page.click(`#customers li a >> text=${SHARED}`);
    await page.click('#edit');
    await page.fill('#f-phone', '+49 228 123');
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#customer');
    await syncNow(page, BASE);
    const waiting = await page.textContent('#waiting');
    if (waiting !== '0') throw new Error(`${waiting} wait after the sync`);
  });

  await step('the server is restored from the backup, without the edit', () => handshake(HANDSHAKE, 2, {}));

  await step('the next sync learns of the restore and sends the edit again', async () => {
    // The first try may meet the server still starting, and the interval's sync may be the one
    // that meets the restore: sync until the sync screen tells of it.
    for (let i = 0; i < 10; i++) {
      await syncNow(page, BASE);
      const met = await page.locator('#restored-at').count();
      if (met && (await page.textContent('#waiting')) === '0') return `restored at ${await page.textContent('#restored-at')}`;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`no sync met the restore and sent everything again: ${await page.textContent('#sync-message')}`);
  });

  await step('the server holds the edit again', () => handshake(HANDSHAKE, 3, {}));
  await page.screenshot({path: path.join(SHOTS, 'restored.png'), fullPage: true});
}, async () => {
  await page.screenshot({path: path.join(SHOTS, 'restore-failed.png'), fullPage: true});
});
