// Hash routes (`#/sales?territory=North&from=2025-01-01`): the page and its filters live in the
// address, so a page's URL can be shared and the back button undoes a filter.

/** The current route: its path segments and its query. */
export function current() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = hash.split('?');
  return {
    parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(query),
  };
}

/** `#/a/b?k=v`, leaving out empty parameters. */
export function href(parts, params) {
  const path = [].concat(parts).map(encodeURIComponent).join('/');
  const query = new URLSearchParams();
  for (const [key, value] of params instanceof URLSearchParams ? params : Object.entries(params || {})) {
    if (value != null && value !== '') query.set(key, value);
  }
  const q = query.toString();
  return `#/${path}${q ? `?${q}` : ''}`;
}

export function navigate(parts, params) {
  location.hash = href(parts, params);
}
