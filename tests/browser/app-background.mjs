// The agents' app syncing with no page open: the app signs in, goes offline, edits a customer (the
// page asks for a background sync), and is closed; back online, the browser wakes the service
// worker for its sync (here, through the DevTools protocol, as the browser would when the network
// returns), which pushes the edit. The Rust test (tests/tests/e2e/app.rs) checks the server got
// it. One line per step; the last line is JSON.
//
// Environment: FIELDSYNC_URL, FIELDSYNC_AGENT, FIELDSYNC_PASSWORD, FIELDSYNC_SHARED (the customer
// to edit), FIELDSYNC_HANDSHAKE (the handshakes' folder), FIELDSYNC_SHOTS, CHROMIUM.

import {mkdirSync} from 'node:fs';
import {chromium} from 'playwright-core';

import {finish, handshake, step} from './steps.mjs';

const BASE = process.env.FIELDSYNC_URL.replace(/\/+$/, '');
const SHARED = process.env.FIELDSYNC_SHARED;
mkdirSync(process.env.FIELDSYNC_SHOTS, {recursive: true});

const browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox']});
const context = await browser.newContext({viewport: {width: 412, height: 915}});
const problems = [];

await finish(browser, problems, async () => {
  let page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

  await step('sign in; the service worker takes the page', async () => {
    await page.goto(`${BASE}/app/`);
    await page.fill('input[name=email]', process.env.FIELDSYNC_AGENT);
    await page.fill('input[name=password]', process.env.FIELDSYNC_PASSWORD);
    await page.click('#signin button[type=submit]');
    await page.waitForSelector(`#customers li strong >> text=${SHARED}`, {timeout: 60_000});
    await page.waitForFunction(() => navigator.serviceWorker?.controller, null, {timeout: 30_000});
  });

  await step('offline: edit the customer, and close the app', async () => {
    await context.setOffline(true);
    await page.click(`#customers li a >> text=${SHARED}`);
    await page.click('#edit');
    await page.fill('#f-phone', '+49 228 999');
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#customer .badge.pending');
    const tags = await page.evaluate(async () => (await navigator.serviceWorker.ready).sync.getTags());
    if (!tags.includes('fieldsync-sync')) throw new Error(`background syncs asked for: ${tags}`);
    await page.close();
    return `asked for ${tags}`;
  });

  await step('online, no page open: the browser wakes the service worker to sync', async () => {
    await context.setOffline(false);
    // A page of another origin, only to speak to the browser.
    page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    const registrations = new Promise((resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', ({registrations}) => {
      const app = registrations.find((r) => r.scopeURL.startsWith(`${BASE}/app/`) && !r.isDeleted);
      if (app) resolve(app);
    }));
    await cdp.send('ServiceWorker.enable');
    const app = await registrations;
    await cdp.send('ServiceWorker.dispatchSyncEvent', {origin: BASE, registrationId: app.registrationId, tag: 'fieldsync-sync', lastChance: false});
    return app.scopeURL;
  });

  await step('the server has the edit', () => handshake(process.env.FIELDSYNC_HANDSHAKE, 1, {}));
});
