// Signing in with e-mail and password (POST /v1/auth/session, which sets the session cookie), and
// the page agents get instead: the dashboard is for managers and admins.

import {h, replace} from '../dom.js';
import {post} from '../api.js';
import {t} from '../i18n.js';
import {errorText} from '../errors.js';

/**
 * The sign-in form. `notice`: why the user is here (signed out, session expired).
 * `signedIn(session)` is called with the session body; `agent()` when an agent signs in.
 */
export function renderSignIn(root, {notice, signedIn, agent}) {
  const email = h('input', {id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true});
  const password = h('input', {id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true});
  const submit = h('button', {type: 'submit'}, t('signIn.submit'));
  const error = h('p', {id: 'sign-in-error', class: 'error', role: 'alert'});
  const form = h('form', {class: 'sign-in', 'aria-describedby': 'sign-in-error'},
    h('div', {class: 'field'}, h('label', {for: 'email'}, t('signIn.email')), email),
    h('div', {class: 'field'}, h('label', {for: 'password'}, t('signIn.password')), password),
    submit, error);
  replace(root,
    h('div', {class: 'sign-in-page'},
      h('h1', {tabindex: '-1'}, t('signIn.title')),
      notice ? h('p', {class: 'notice'}, notice) : null,
      form,
      about()));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const session = await post('/v1/auth/session', {email: email.value.trim(), password: password.value}, {quiet401: true});
      signedIn(session);
    } catch (e) {
      if (e.code === 'use_the_app') {
        agent();
        return;
      }
      error.textContent = errorText(e);
      password.value = '';
      password.focus();
      if (e.retryAfter) {
        // Locked out for a while: the button waits with the user.
        setTimeout(() => { submit.disabled = false; }, e.retryAfter * 1000);
        return;
      }
    }
    submit.disabled = false;
  });
  email.focus();
}

/**
 * What this server is, for someone who opened its address without an account here: how devices
 * connect, where the API is described, what operators probe.
 */
function about() {
  const code = (text) => h('code', null, text);
  return h('section', {class: 'about', 'aria-labelledby': 'about-title'},
    h('h2', {id: 'about-title'}, t('about.title')),
    h('p', null, t('about.what')),
    h('p', null, t('about.app'), ' ', h('a', {href: '/app/', id: 'about-app'}, location.origin + '/app/')),
    h('p', null, t('about.devices'), ' ', code('fieldsync login --server ' + location.origin + ' --email you@example.com')),
    h('p', null, t('about.api'), ' ', h('a', {href: '/openapi.json'}, '/openapi.json'), ' · ',
      t('about.probes'), ' ', h('a', {href: '/livez'}, '/livez'), ', ', h('a', {href: '/readyz'}, '/readyz')));
}

/** What an agent sees: the dashboard is not for them; their phone's app is. */
export function renderUseTheApp(root, {back}) {
  replace(root, h('div', {class: 'sign-in-page', id: 'use-the-app'},
    h('h1', {tabindex: '-1'}, t('agent.title')),
    h('p', null, t('agent.body')),
    h('p', null, h('a', {href: '/app/', id: 'open-the-app', class: 'button'}, t('agent.open'))),
    h('button', {type: 'button', id: 'back-to-sign-in', on: {click: back}}, t('agent.back'))));
  root.querySelector('h1').focus();
}
