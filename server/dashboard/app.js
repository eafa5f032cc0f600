// The dashboard's start: who is signed in (GET /v1/auth/session), the header and navigation, and
// which page the address shows. Pages are modules loaded when first opened.

import {h, replace} from './dom.js';
import {get, del, setCsrfToken, whenUnauthenticated} from './api.js';
import {t, initLanguage, setLanguage, language, onLanguageChange} from './i18n.js';
import {current, href} from './router.js';
import {loadSettings, loadUsers, reset as resetLookups} from './lookups.js';
import {renderSignIn, renderUseTheApp} from './pages/signin.js';
import {errorMessage} from './errors.js';

const REPORT_PAGES = ['sales', 'visits', 'pipeline', 'customer-value', 'retention', 'receivables', 'service', 'leads', 'campaign', 'scorecard', 'sync-health'];
const NAV = ['overview', ...REPORT_PAGES, 'inbox', 'customers', 'admin'];

const main = document.getElementById('main');
let session = null;
let shownPath = null;
// Each render gets a number; a slower earlier one must not draw over a later one.
let renderCount = 0;
// Draws the current screen again (in another language).
let redraw = () => {};

function pageModule(name) {
  if (name === 'overview') return import('./pages/overview.js');
  if (REPORT_PAGES.includes(name)) return import('./pages/report.js');
  if (name === 'inbox') return import('./pages/inbox.js');
  if (name === 'customers') return import('./pages/customers.js');
  return import('./pages/admin.js');
}

function drawHeader() {
  const nav = document.getElementById('nav');
  const {parts} = current();
  const items = NAV.filter((name) => name !== 'admin' || session.role === 'admin');
  replace(nav, h('ul', null, items.map((name) => h('li', null,
    h('a', {href: href([name]), 'aria-current': parts[0] === name ? 'page' : null}, t(`nav.${name}`))))));
  document.getElementById('who-email').textContent = t('header.signedInAs', {email: session.email, role: t(`role.${session.role}`)});
  document.getElementById('sign-out').textContent = t('header.signOut');
  showSession(true);
}

/** The header's strings, and its navigation and user only while someone is signed in. */
function showSession(signedIn) {
  document.getElementById('lang-label').textContent = t('header.language');
  document.getElementById('skip-link').textContent = t('header.skip');
  document.getElementById('lang-select').value = language();
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('session-controls').hidden = !signedIn;
}

async function route() {
  if (!session) return;
  const {parts, params} = current();
  const name = parts[0];
  if (!NAV.includes(name) || (name === 'admin' && session.role !== 'admin')) {
    location.replace(href(['overview']));
    return;
  }
  const path = parts.join('/');
  const samePage = path === shownPath;
  // Where focus was (a filter control) before the page draws again for new filters.
  const focusedId = samePage ? document.activeElement?.id : null;
  shownPath = path;
  const mine = ++renderCount;
  drawHeader();
  document.title = `${t(`nav.${name}`)} · fieldsync`;
  const root = h('div', {class: `page page-${name}`, dataset: {page: name}, 'aria-busy': 'true'});
  replace(main, root);
  try {
    const [module, users] = await Promise.all([pageModule(name), loadUsers(), loadSettings()]);
    if (mine !== renderCount) return;
    const rendering = module.render(root, {route: name, parts, params, users, session});
    const target = (focusedId && document.getElementById(focusedId)) || root.querySelector('h1');
    target?.focus();
    await rendering;
  } catch (error) {
    if (mine === renderCount && session) replace(root, h('h1', {tabindex: '-1'}, t(`nav.${name}`)), errorMessage(error));
  } finally {
    root.removeAttribute('aria-busy');
  }
}

function signedIn(body) {
  session = body;
  setCsrfToken(body.csrf_token);
  shownPath = null;
  redraw = route;
  // Without a page in the address, the overview's address is set, and its hashchange draws it.
  if (!current().parts[0]) location.replace(href(['overview']));
  else route();
}

function signInScreen(notice) {
  session = null;
  shownPath = null;
  setCsrfToken(null);
  resetLookups();
  showSession(false);
  document.title = `${t('signIn.title')} · fieldsync`;
  redraw = () => signInScreen();
  renderSignIn(main, {notice, signedIn, agent: () => useTheApp()});
}

/** The agents' page; a session they still hold (made an agent since) is signed out on the way back. */
function useTheApp(held = session) {
  session = null;
  showSession(false);
  document.title = `${t('agent.title')} · fieldsync`;
  redraw = () => useTheApp(held);
  renderUseTheApp(main, {back: () => (held ? signOut() : signInScreen())});
}

async function signOut() {
  try {
    await del('/v1/auth/session', {quiet401: true});
  } catch {
    // Signed out already (expired) or unreachable: the screen returns to sign-in all the same.
  }
  signInScreen(t('signIn.signedOut'));
}

async function start() {
  initLanguage();
  whenUnauthenticated((error) => {
    if (!session) return;
    if (error.code === 'use_the_app') useTheApp();
    else signInScreen(t('signIn.expired'));
  });
  onLanguageChange(() => redraw());
  document.getElementById('lang-select').addEventListener('change', (e) => setLanguage(e.target.value));
  document.getElementById('sign-out').addEventListener('click', signOut);
  // The skip link would otherwise change the route: it moves focus instead.
  document.getElementById('skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
  window.addEventListener('hashchange', route);
  try {
    signedIn(await get('/v1/auth/session', {quiet401: true}));
  } catch (error) {
    if (error.status === 401) signInScreen();
    // A session whose user has since become an agent.
    else if (error.code === 'use_the_app') useTheApp();
    else replace(main, errorMessage(error));
  }
}

start();
