// The agents' app's startup and interaction budgets in Chromium with its CPU throttled four times
// (a mid-range phone): the first sync of an agent's scope, the first screen after the browser
// starts again (a cold start, the app from its service worker and the records from IndexedDB), and
// searches over the agent's customers. Prints one JSON line. Run by scripts/app-budgets, which
// makes the scope; BENCHMARKS.md ("The agents' app") has the figures.
//
// Environment: FIELDSYNC_URL, FIELDSYNC_AGENT, FIELDSYNC_PASSWORD, CHROMIUM (default
// /usr/bin/chromium), FIELDSYNC_THROTTLE (default 4), FIELDSYNC_CPU_PROFILE (a file: the page's
// CPU profile of the first sync, for Chromium's DevTools).

import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const BASE = process.env.FIELDSYNC_URL.replace(/\/+$/, '');
const THROTTLE = Number(process.env.FIELDSYNC_THROTTLE || 4);
const profile = mkdtempSync(path.join(os.tmpdir(), 'fieldsync-app-profile-'));

async function open() {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
    viewport: {width: 412, height: 915},
    isMobile: true,
    hasTouch: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const cdp = await context.newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', {rate: THROTTLE});
  return {context, page};
}

const result = {throttle: THROTTLE};
try {
  // First visit: sign in, and the first sync of the whole scope.
  let {context, page} = await open();
  await page.goto(`${BASE}/app/`);
  await page.fill('input[name=email]', process.env.FIELDSYNC_AGENT);
  await page.fill('input[name=password]', process.env.FIELDSYNC_PASSWORD);
  const cdp = await context.newCDPSession(page);
  if (process.env.FIELDSYNC_CPU_PROFILE) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.start');
  }
  let started = Date.now();
  await page.click('#signin button[type=submit]');
  await page.waitForFunction(() => Number(document.body.dataset.syncs ?? 0) >= 1, null, {timeout: 900_000});
  result.first_sync_ms = Date.now() - started;
  if (process.env.FIELDSYNC_CPU_PROFILE) {
    const {profile} = await cdp.send('Profiler.stop');
    writeFileSync(process.env.FIELDSYNC_CPU_PROFILE, JSON.stringify(profile));
  }
  result.first_sync_message = await page.evaluate(() => document.querySelector('#sync-message')?.textContent ?? null);
  await page.waitForSelector('#customers li');
  result.customers = await page.textContent('#count');
  await page.waitForFunction(() => navigator.serviceWorker?.controller, null, {timeout: 30_000});
  await context.close();

  // A cold start: the browser again, the app from its service worker, the records from IndexedDB.
  ({context, page} = await open());
  started = Date.now();
  await page.goto(`${BASE}/app/`);
  await page.waitForSelector('#customers li', {timeout: 60_000});
  result.cold_start_first_screen_ms = Date.now() - started;

  // Searches, from the keystroke to the list drawn.
  result.search_ms = await page.evaluate(async () => {
    const box = document.querySelector('#search');
    const times = [];
    for (const q of ['kunde 4', 'berlin', '+49 30 00012', 'k0019', 'gmbh', 'zzz']) {
      const t = performance.now();
      box.value = q;
      box.dispatchEvent(new Event('input'));
      document.querySelector('#customers').getBoundingClientRect();
      times.push(Math.round((performance.now() - t) * 10) / 10);
    }
    return times;
  });
  await context.close();
} finally {
  rmSync(profile, {recursive: true, force: true});
}
console.log(JSON.stringify(result));
