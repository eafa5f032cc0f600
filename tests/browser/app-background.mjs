// The agents' app syncing by itself: an open page on its interval (the page's clock run forward),
// then with no page open. A colleague edits a customer while the app is closed, and the browser
// wakes the service worker for a periodic sync (as it does an installed app's, now and then; here
// through the DevTools protocol); opened offline, the app shows what that sync pulled. Then the app
// edits the customer offline (the page asks for a background sync) and is closed; back online, the
// browser wakes the worker for its sync, which pushes the edit. The Rust test
// (tests/tests/e2e/app.rs) makes the colleague's edits and checks the server's side of each sync.
// One line per step; the last line is JSON.
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
    // The pages' timers run as usual, until the test runs them forward.
    await context.clock.install();
    await page.goto(`${BASE}/app/`);
    await page.fill('input[name=email]', process.env.FIELDSYNC_AGENT);
    await page.fill('input[name=password]', process.env.FIELDSYNC_PASSWORD);
    await page.click('#signin button[type=submit]');
    await page.waitForSelector(`#customers li strong >> text=${SHARED}`, {timeout: 60_000});
    await page.waitForFunction(() => navigator.serviceWorker?.controller, null, {timeout: 30_000});
  });

  await step('the open page syncs on its interval and shows a colleague\'s edit', async () => {
    await handshake(process.env.FIELDSYNC_HANDSHAKE, 1, {});
    const before = await page.evaluate(() => Number(document.body.dataset.syncs ?? 0));
    // A minute on the page's clock; far less on the test's, so no other sync is due meanwhile.
    await page.clock.fastForward('01:00');
    await page.waitForSelector('#customers li >> text=Bonn', {timeout: 20_000});
    const after = await page.evaluate(() => Number(document.body.dataset.syncs ?? 0));
    if (after !== before + 1) throw new Error(`syncs ended: ${before} before, ${after} after`);
  });

  await step('the app is closed; with no page open, a periodic sync pulls another edit', async () => {
    await page.close();
    await handshake(process.env.FIELDSYNC_HANDSHAKE, 2, {});
    // Periodic syncs come at the browser's pace, so the test fires one through the DevTools protocol.
    await wake('ServiceWorker.dispatchPeriodicSyncEvent', {});
    await handshake(process.env.FIELDSYNC_HANDSHAKE, 3, {});
  });

  await step('offline, the app opens from its cache with what that sync pulled', async () => {
    await context.setOffline(true);
    page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(`${BASE}/app/`);
    await page.waitForSelector('#customers li >> text=Kiel', {timeout: 20_000});
  });

  await step('offline: edit the customer, and close the app', async () => {
    const tags = await editOffline(page, '#f-phone', '+49 228 999');
    await page.close();
    return `asked for ${tags}`;
  });

  // Chromium keeps a background sync asked for while the page was offline (the DevTools
  // protocol's offline mode included) until the network is back, and then wakes the worker.
  await step('online, no page open: the browser wakes the service worker to sync', () => context.setOffline(false));

  await step('the server has the edit', () => handshake(process.env.FIELDSYNC_HANDSHAKE, 4, {}));
});

/** Edits `field` of the shared customer with the page offline; answers the background syncs asked for. */
async function editOffline(page, field, value) {
  await page.click(`#customers li a >> text=${SHARED}`);
  await page.click('#edit');
  await page.fill(field, value);
  await page.click('#record-form button[type=submit]');
  await page.waitForSelector('#customer .badge.pending');
  const tags = await page.evaluate(async () => (await navigator.serviceWorker.ready).sync.getTags());
  if (!tags.includes('fieldsync-sync')) throw new Error(`background syncs asked for: ${tags}`);
  return tags;
}

/** Has the browser fire `method` (a DevTools protocol event of the service worker) at the app's worker. */
async function wake(method, params) {
  // A page of another origin, only to speak to the browser.
  const blank = await context.newPage();
  const cdp = await context.newCDPSession(blank);
  const registrations = new Promise((resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', ({registrations}) => {
    const app = registrations.find((r) => r.scopeURL.startsWith(`${BASE}/app/`) && !r.isDeleted);
    if (app) resolve(app);
  }));
  await cdp.send('ServiceWorker.enable');
  const app = await registrations;
  await cdp.send(method, {origin: BASE, registrationId: app.registrationId, tag: 'fieldsync-sync', ...params});
  await blank.close();
}
