// The agents' app in a real browser (Debian's Chromium through playwright-core) against a real
// server: sign in, see today's plan, go offline, add a customer and edit another, check in at a
// customer with a mocked position, take photos (one not a picture), take an order from the
// catalogue at the customer's price list, record a payment, open a ticket and an opportunity, add
// a task and do it, check out, reload while offline (nothing lost), go online and sync, see a
// colleague's concurrent edit as a conflict and the server's hold on the order, and wipe when the
// device is revoked; every screen photographed is scanned for WCAG 2.1 A and AA violations
// (axe-core). A Rust test drives it (tests/tests/e2e/app.rs) and, at two handshakes, acts
// as a CLI device of the same territory. One line per step; the last line is JSON.
//
// Environment: FIELDSYNC_URL, FIELDSYNC_AGENT, FIELDSYNC_PASSWORD, FIELDSYNC_SHARED (the name of a
// customer both devices edit), FIELDSYNC_HANDSHAKE (a folder: the script writes N.ready, with
// what it did, and waits for N.go), FIELDSYNC_SHOTS (screenshots), CHROMIUM (default
// /usr/bin/chromium).

import {mkdirSync} from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

import {accessibilityViolations, finish, handshake as shake, step, syncNow} from './steps.mjs';

const BASE = process.env.FIELDSYNC_URL.replace(/\/+$/, '');
const AGENT = process.env.FIELDSYNC_AGENT;
const PASSWORD = process.env.FIELDSYNC_PASSWORD;
const SHARED = process.env.FIELDSYNC_SHARED;
const HANDSHAKE = process.env.FIELDSYNC_HANDSHAKE;
const SHOTS = process.env.FIELDSYNC_SHOTS;
mkdirSync(SHOTS, {recursive: true});

const handshake = (n, payload) => shake(HANDSHAKE, n, payload);

/** The app's stored records of `kind`, read from its IndexedDB as the app keeps them. */
function stored(page, kind) {
  return page.evaluate((kind) => new Promise((resolve, reject) => {
    const open = indexedDB.open('fieldsync');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains('records')) return resolve([]);
      const get = db.transaction('records').objectStore('records').getAll();
      get.onsuccess = () => {
        resolve(get.result.filter((r) => r.kind === kind).map((r) => ({
          id: r.id, fields: r.fields, conflicts: r.conflicts, pending: r.pending, refused: r.refused,
        })));
        db.close();
      };
    };
  }), kind);
}

const storedCustomers = (page) => stored(page, 'customer');

/** What the app holds of the shared customer's visit, order, payment, ticket and task. */
async function fieldRecords(page) {
  const kinds = {visits: 'visit', orders: 'order', payments: 'payment', tickets: 'ticket', tasks: 'task', opportunities: 'opportunity'};
  return Object.fromEntries(await Promise.all(Object.entries(kinds).map(async ([key, kind]) => [key, await stored(page, kind)])));
}


const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
// The phone stands in Bonn, a few hundred metres from the shared customer.
const context = await browser.newContext({
  viewport: {width: 412, height: 915},
  isMobile: true,
  hasTouch: true,
  permissions: ['geolocation'],
  geolocation: {latitude: 50.7353, longitude: 7.1022},
});
const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
// The revoked device's last sync is answered 401 and the file that is no picture 415, as they must
// be; any other console error is a fault.
const expected = ['status of 401', 'status of 415'];
page.on('console', (m) => m.type() === 'error' && !expected.some((e) => m.text().includes(e)) && problems.push(`console: ${m.text()}`));

/** Keeps a picture of the screen as `name`, and checks it is accessible as it is drawn. */
async function shot(name) {
  await page.screenshot({path: path.join(SHOTS, `${name}.png`), fullPage: true});
  const found = await accessibilityViolations(page);
  if (found.length) throw new Error(`accessibility of ${name}:\n${found.join('\n')}`);
}

await finish(browser, problems, async () => {
  await step('sign in and receive the territory', async () => {
    await page.goto(`${BASE}/app/`);
    await page.fill('input[name=email]', AGENT);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('#signin button[type=submit]');
    await page.waitForFunction((name) => [...document.querySelectorAll('#customers li strong')].some((s) => s.textContent === name), SHARED, {timeout: 60_000});
    await page.waitForFunction(() => navigator.serviceWorker?.controller, null, {timeout: 30_000}).catch(() => {});
    await shot('01-customers');
    return await page.textContent('#count');
  });

  await step('today: the planned visits in the route\'s order, and the customers overdue', async () => {
    await page.click('#today-link');
    await page.waitForSelector('#plan li');
    const plan = await page.$$eval('#plan li strong', (s) => s.map((x) => x.textContent));
    // The route puts the far shop first, though the shared one is planned a moment earlier.
    if (plan.join() !== ['Far Shop', SHARED].join()) throw new Error(`plan: ${plan}`);
    const overdue = await page.textContent('#overdue');
    if (!overdue.includes('Far Shop') || !overdue.includes('never visited')) throw new Error(`overdue: ${overdue}`);
    await shot('01-today');
    // The same screen in Chinese, then back.
    await page.click('#language');
    await page.waitForSelector('#today h2 >> text=今日');
    const zh = await page.textContent('#overdue');
    if (!zh.includes('从未拜访')) throw new Error(`overdue in Chinese: ${zh}`);
    await page.click('#language');
    await page.waitForSelector('#today h2 >> text=Today');
    await page.click('#customers-link');
    return plan.join(', ');
  });

  await step('search finds the shared customer', async () => {
    await page.fill('#search', SHARED.slice(0, 5).toLowerCase());
    const names = await page.$$eval('#customers li strong', (s) => s.map((x) => x.textContent));
    if (!names.includes(SHARED)) throw new Error(`search missed ${SHARED}: ${names}`);
  });

  await step('nearby puts the closest customer first, with its distance', async () => {
    await page.fill('#search', '');
    await page.click('#nearby');
    await page.waitForFunction(() => /\d+ m|km/.test(document.querySelector('#customers li span')?.textContent ?? ''));
    const first = await page.textContent('#customers li strong');
    if (first !== SHARED) throw new Error(`${first} comes first, not ${SHARED}`);
    return await page.textContent('#customers li span');
  });

  await step('offline: add a customer and a contact of it, and edit the shared one', async () => {
    await context.setOffline(true);
    await page.goto(`${BASE}/app/#/new`);
    await page.fill('#f-name', 'Offline Bakery');
    await page.fill('#f-city', 'Köln');
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#customer .badge.pending');
    await page.click('#new-contact');
    await page.fill('#f-name', 'Clara Contact');
    await page.fill('#f-phone', '+49 221 555');
    await page.check('#f-decision_maker');
    await page.check('#f-consent_phone');
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#contacts li >> text=Clara Contact');
    const clara = await page.textContent('#contacts li');
    if (!clara.includes('May be called')) throw new Error(`the contact's consent is not shown: ${clara}`);
    // A customer number a colleague is about to take: the server will refuse this one.
    await page.goto(`${BASE}/app/#/new`);
    await page.fill('#f-name', 'Second Shop');
    await page.fill('#f-code', 'C-77');
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#customer .badge.pending');
    await page.goto(`${BASE}/app/#/customers`);
    await page.fill('#search', SHARED);
    await page.click(`#customers li a >> text=${SHARED}`);
    await page.click('#edit');
    await page.fill('#f-phone', '+49 30 7777777');
    await page.fill('#f-city', 'App City');
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#customer .badge.pending');
    // The customer's history, read from its document on the phone.
    const history = await page.textContent('#history li');
    if (!history.includes('this phone') || !history.includes('+49 30 7777777')) throw new Error(`history: ${history}`);
    return history;
  });

  await step('offline: capture a lead met at a market, and convert her into a customer', async () => {
    await page.click('#leads-link');
    await page.click('#new-lead');
    await page.fill('#f-name', 'Marta Markt');
    await page.fill('#f-company', 'Marktstand Marta');
    await page.fill('#f-phone', '+49 170 4440001');
    await page.selectOption('#f-source', 'event');
    await page.check('#f-consent_visit');
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#leads li:has-text("Marta Markt") .badge.pending');
    await shot('02-lead');
    // Converted at once, offline: a new customer with the person as its contact, and the deal
    // she brought as its opportunity.
    await page.fill('#leads li:has-text("Marta Markt") input.deal', 'Stall coffee supply');
    await page.click('#leads li:has-text("Marta Markt") .convert');
    await page.waitForSelector('#customer h2 >> text=Marktstand Marta');
    await page.waitForSelector('#contacts li >> text=Marta Markt');
    // Back at the shared customer, where the visit begins.
    await page.goto(`${BASE}/app/#/customers`);
    await page.fill('#search', SHARED);
    await page.click(`#customers li a >> text=${SHARED}`);
    await page.waitForSelector('#customer');
  });

  await step('offline at the shared customer: check in, graded at once against its position', async () => {
    await page.click('#check-in');
    await page.waitForSelector('#checked-in');
    const graded = await page.textContent('#checked-in');
    if (!graded.includes("at the customer's")) throw new Error(`check-in graded: ${graded}`);
    return graded;
  });

  await step('offline at the shared customer: the campaign asks for a tasting, and the answer is recorded', async () => {
    await page.waitForSelector('#campaigns >> text=Spring tasting');
    const asks = await page.textContent('#campaigns');
    if (!asks.includes('Offer a tasting of the new blend')) throw new Error(`campaign: ${asks}`);
    await page.selectOption('#campaigns select', 'interested');
    await page.click('#campaigns .record-response');
    await page.waitForSelector('#campaigns .response >> text=interested');
    await shot('02-campaign');
  });

  await step('offline: two photos of the visit, one of them not a picture at all', async () => {
    // A 2600 x 1800 PNG, wider than the app keeps a photo: it goes up as a 2048-pixel JPEG.
    const png = Buffer.from(await page.evaluate(async () => {
      const canvas = new OffscreenCanvas(2600, 1800);
      const context = canvas.getContext('2d');
      const gradient = context.createLinearGradient(0, 0, 2600, 1800);
      gradient.addColorStop(0, '#1d4ed8');
      gradient.addColorStop(1, '#f59e0b');
      context.fillStyle = gradient;
      context.fillRect(0, 0, 2600, 1800);
      const bytes = new Uint8Array(await (await canvas.convertToBlob({type: 'image/png'})).arrayBuffer());
      let text = '';
      for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(text);
    }), 'base64');
    await page.fill('#photo-caption', 'Shop front');
    await page.setInputFiles('#photo', {name: 'front.png', mimeType: 'image/png', buffer: png});
    await page.waitForSelector('#photos li >> text=Shop front');
    await page.setInputFiles('#photo', {name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a picture at all')});
    await page.waitForFunction(() => document.querySelectorAll('#photos li').length === 2);
    return await page.textContent('#photos');
  });

  let total;
  await step('offline: take an order from the catalogue at the customer\'s price list', async () => {
    await page.click('#new-order');
    await page.waitForSelector('#order-form');
    const list = await page.textContent('#price-list');
    if (!list.includes('Key accounts')) throw new Error(`priced from: ${list}`);
    // Twelve bags of beans reach the price list's break of ten.
    await page.fill('#o-quantity', '12');
    await page.fill('#o-product', 'beans');
    await page.click('#picks .pick');
    // Cups at the catalogue's price, with a discount above the agent's limit.
    await page.fill('#o-quantity', '2');
    await page.fill('#o-discount', '15');
    await page.fill('#o-product', 'CUPS');
    await page.click('#picks .pick');
    const note = await page.textContent('#order-note');
    if (!note.includes('approval')) throw new Error(`no word of the approval the discount needs: ${note}`);
    total = await page.textContent('#total-total');
    await shot('02-order');
    await page.click('#submit-order');
    await page.waitForSelector('#order #order-status');
    const status = await page.textContent('#order-status');
    if (status !== 'submitted') throw new Error(`order ${status}`);
    const shown = await page.textContent('#total-total');
    if (shown !== total) throw new Error(`the form showed ${total}, the order ${shown}`);
    return total;
  });

  await step('offline: record a payment that settles the order', async () => {
    await page.click('#order a.button.secondary');
    await page.click('#new-payment');
    await page.fill('#p-amount', '50.5');
    await page.selectOption('#p-method', 'cash');
    await page.fill('#p-reference', 'R-1');
    await page.selectOption('#p-order', {index: 1});
    // A photo of the receipt (a JPEG's first bytes are what the server checks).
    await page.setInputFiles('#p-receipt', {name: 'receipt.jpg', mimeType: 'image/jpeg', buffer: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('receipt R-1')])});
    await page.click('#payment-form button[type=submit]');
    await page.waitForSelector('#payments li');
    return await page.textContent('#payments li');
  });

  await step('offline: open a ticket with satisfaction scores, an opportunity and a task about the customer', async () => {
    await page.click('#new-ticket');
    await page.fill('#f-subject', 'Grinder broken');
    await page.selectOption('#f-category', 'complaint');
    await page.selectOption('#f-severity', 'high');
    await page.fill('#f-satisfaction', '2');
    await page.fill('#f-expectation', '4');
    await page.setInputFiles('#f-photo', {name: 'grinder.jpg', mimeType: 'image/jpeg', buffer: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('broken grinder')])});
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#tickets li >> text=Grinder broken');
    await page.click('#new-opportunity');
    await page.fill('#f-title', 'Second grinder');
    await page.selectOption('#f-stage', 'proposal');
    await page.fill('#f-amount', '1200.50');
    await page.fill('#f-probability', '40');
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#opportunities li >> text=Second grinder');
    await page.click('#new-customer-task');
    const tomorrow = new Date(Date.now() + 86_400_000);
    const day = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, '0')}-${String(tomorrow.getDate()).padStart(2, '0')}`;
    await page.fill('#f-title', 'Bring a spare grinder');
    await page.fill('#f-due_at', day);
    await page.selectOption('#f-priority', 'high');
    await page.click('#record-form button[type=submit]');
    await page.waitForSelector('#customer-tasks li >> text=Bring a spare grinder');
  });

  await step('offline: the day lists the open task, and it is done', async () => {
    await page.click('#today-link');
    await page.waitForSelector('#tasks li >> text=Bring a spare grinder');
    await shot('03-today-tasks');
    await page.click('#tasks li button');
    await page.waitForSelector('#today >> text=No open task.');
  });

  await step('offline: check out of the visit with its outcome', async () => {
    await page.goto(`${BASE}/app/#/customers`);
    await page.fill('#search', SHARED);
    await page.click(`#customers li a >> text=${SHARED}`);
    await page.fill('#outcome', 'Ordered');
    await page.click('#check-out');
    await page.waitForSelector('#check-in');
    return await page.textContent('#visits li');
  });

  await step('reload while offline: the app opens and nothing is lost', async () => {
    await page.reload();
    await page.waitForSelector('body[data-ready=true]');
    await page.goto(`${BASE}/app/#/sync`);
    const waiting = await page.textContent('#waiting');
    // Two customers, a contact, the lead converted with its customer, contact and deal, the
    // shared customer's edit, the campaign's answer and its task, the visit, the order, the
    // payment, the ticket, the opportunity and the task.
    if (waiting !== '16') throw new Error(`${waiting} records wait, not 16`);
    const photos = await page.textContent('#photos-waiting');
    if (photos !== '4') throw new Error(`${photos} photos wait, not 4`);
    await shot('04-offline-sync');
    return `${waiting} waiting`;
  });

  await step('a colleague edits the shared customer meanwhile', async () => {
    await handshake(1, {customers: await storedCustomers(page)});
  });

  await step('online: sync, then the colleague\'s edit arrives as a conflict', async () => {
    await context.setOffline(false);
    await syncNow(page, BASE);
    // Everything went but the customer whose number the colleague took first: refused, it stays
    // on the phone with the server's reason.
    const waiting = await page.textContent('#waiting');
    if (waiting !== '1') throw new Error(`${waiting} wait, not 1: ${await page.textContent('#sync-message')}`);
    const refused = await page.textContent('#refused li');
    if (!refused.includes('Second Shop') || !refused.includes('duplicate_code')) throw new Error(`refused: ${refused}`);
    // The photo went up; the file that is no picture was refused and stays, with the reason.
    const photos = await page.textContent('#photos-waiting');
    if (photos !== '0') throw new Error(`${photos} photos still wait`);
    const refusals = await page.textContent('#refused');
    if (!refusals.includes('media_type_not_allowed')) throw new Error(`refused: ${refusals}`);
    await page.waitForSelector('#conflicted li');
    await shot('05-synced');
    return await page.textContent('#sync-message');
  });

  await step('the server held the order for its discount, and the app shows why', async () => {
    const [order] = await stored(page, 'order');
    await page.goto(`${BASE}/app/#/order/${order.id}`);
    await page.waitForSelector('#hold-reason');
    const shown = await page.textContent('#total-total');
    if (shown !== total) throw new Error(`the order's total went from ${total} to ${shown}`);
    await shot('06-order-held');
    return await page.textContent('#hold-reason');
  });

  const session = await page.evaluate(() => new Promise((resolve) => {
    const open = indexedDB.open('fieldsync');
    open.onsuccess = () => {
      const get = open.result.transaction('meta').objectStore('meta').get('session');
      get.onsuccess = () => { resolve(get.result); open.result.close(); };
    };
  }));
  const go = await step('the colleague syncs too and revokes this device', async () => {
    return handshake(2, {device_id: session.device_id, customers: await storedCustomers(page), ...await fieldRecords(page)});
  });

  await step('the next sync wipes the revoked device', async () => {
    // The sync ends on the sign-in page, not the sync screen: wait for that, not for syncNow's end.
    await page.goto(`${BASE}/app/#/sync`);
    await page.locator('#sync-now:not([disabled])').click();
    await page.waitForSelector('#signin', {timeout: 30_000});
    const left = await storedCustomers(page);
    if (left.length) throw new Error(`${left.length} customers left after the wipe`);
    return await page.textContent('#signin .error');
  });

  return {go};
}, async () => {
  await page.screenshot({path: path.join(SHOTS, 'failed.png'), fullPage: true});
});
