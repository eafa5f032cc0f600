// Errors as the user reads them: a known error code in the UI's language, else the server's own
// message (English), else the HTTP status.

import {h} from './dom.js';
import {t, has} from './i18n.js';

export function errorText(error) {
  if (error?.code && has(`error.${error.code}`)) return t(`error.${error.code}`, {seconds: error.retryAfter ?? '?'});
  if (error?.status) return error.message || t('error.http', {status: error.status});
  // fetch itself failed: the server is unreachable.
  return t('error.network');
}

/** An error paragraph, announced at once. */
export function errorMessage(error) {
  return h('p', {class: 'error', role: 'alert'}, errorText(error));
}
