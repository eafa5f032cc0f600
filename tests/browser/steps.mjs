// One line per step of a browser test, numbered, timed, `ok` or `not ok` (TAP's shape), shared by
// the dashboard's and the app's scripts; the handshakes by which a script and the Rust test that
// drives it take turns; and the accessibility scan of a page.

import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** WCAG 2.0 and 2.1, levels A and AA: labels, names, contrast, language, structure, ARIA. */
const WCAG = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/**
 * What axe-core finds wrong with the page as it now is, against WCAG 2.1 A and AA: a line per
 * element and rule, [] when nothing. The script is evaluated through the browser's debugging
 * protocol, which the pages' Content-Security-Policy does not govern, so the policy stays on.
 */
export async function accessibilityViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
  const found = await page.evaluate((tags) => window.axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']}), WCAG);
  return found.violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}) at ${n.target.join(' ')}: ${v.help}; ${n.failureSummary?.replace(/\s+/g, ' ')}`));
}

let stepNo = 0;

/** Runs `body`, prints how it went with what it answers, and answers it; rethrows a failure. */
export async function step(name, body) {
  stepNo += 1;
  const started = Date.now();
  try {
    const note = await body();
    console.log(`ok ${stepNo} - ${name} (${Date.now() - started} ms)${note ? `: ${note}` : ''}`);
    return note;
  } catch (error) {
    console.log(`not ok ${stepNo} - ${name}`);
    throw error;
  }
}

/**
 * Tells the Rust side what happened so far (`N.ready` in the folder `dir`, with `payload`) and
 * waits until it has done its part (`N.go`); answers what it wrote there.
 */
export async function handshake(dir, n, payload) {
  writeFileSync(path.join(dir, `${n}.ready`), JSON.stringify(payload));
  const go = path.join(dir, `${n}.go`);
  for (let i = 0; i < 600 && !existsSync(go); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(go)) throw new Error(`no go for handshake ${n}`);
  return readFileSync(go, 'utf8');
}

/** Syncs from the app's sync screen and waits for a sync started there to end. */
export async function syncNow(page, base) {
  await page.goto(`${base}/app/#/sync`);
  // A sync under way (an edit's, the interval's) disables the button, and a click on it is lost:
  // wait until it can be clicked, and count the syncs ended from there. The sync that ends in
  // between redraws the page, which Playwright's click waits out.
  const button = page.locator('#sync-now:not([disabled])');
  await button.waitFor();
  const before = Number(await page.evaluate(() => document.body.dataset.syncs ?? 0));
  await button.click();
  await page.waitForFunction((n) => Number(document.body.dataset.syncs ?? 0) > n, before, {timeout: 60_000});
  await page.waitForSelector('#waiting');
}

/**
 * Runs a script's steps (`run`, which may answer what to report) and ends the process: on success
 * with the JSON line `{ok: true, ...}`; on a failure, or a page problem collected in `problems`,
 * with `onFailure` (a screenshot), the error and the problems, and exit code 1.
 */
export async function finish(browser, problems, run, onFailure = async () => {}) {
  try {
    const done = await run();
    if (problems.length) throw new Error(problems.join('\n'));
    await browser.close();
    console.log(JSON.stringify({ok: true, ...done}));
  } catch (error) {
    await onFailure().catch(() => {});
    console.log(error.stack ?? String(error));
    console.log(problems.join('\n'));
    await browser.close();
    process.exit(1);
  }
}
