// Administration, for admins: users with their roles and territories (territories given and taken),
// devices (revoked), the products (name and active edited) and the price lists.

import {h, replace, announce} from '../dom.js';
import {get, put, del, patch, all, seg, upload} from '../api.js';
import {t, columnLabel} from '../i18n.js';
import {dateTime, money, number, shortId} from '../format.js';
import {territoriesOf} from '../lookups.js';
import {errorMessage, errorText} from '../errors.js';

/** A section that loads its content and can load it again after a change. */
function section(key, load) {
  const heading = h('h2', {id: `h-${key}`}, t(`admin.${key}`));
  const body = h('div', null, h('p', {class: 'loading'}, t('loading')));
  // Not a named region itself: the table inside is one, under the same name.
  const el = h('section', {id: `admin-${key}`}, heading, body);
  const refresh = async () => {
    el.setAttribute('aria-busy', 'true');
    try {
      replace(body, await load(refresh));
    } catch (error) {
      replace(body, errorMessage(error));
    } finally {
      el.removeAttribute('aria-busy');
    }
  };
  return {el, refresh};
}

/** Runs a change, announces its outcome and reloads the section. */
async function change(button, request, done, refresh) {
  button.disabled = true;
  try {
    await request();
    announce(done);
    await refresh();
  } catch (error) {
    button.disabled = false;
    announce(errorText(error), 'error');
  }
}

function table(caption, columns, rows) {
  return h('div', {class: 'table-wrap', role: 'region', tabindex: '0', 'aria-label': caption},
    h('table', {class: 'report'},
      h('caption', {class: 'visually-hidden'}, caption),
      h('thead', null, h('tr', null, columns.map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', null, rows.length ? rows : h('tr', null, h('td', {colspan: columns.length, class: 'empty'}, t('noRows'))))));
}

/** A user's role, changed by picking another and saving it (PUT /v1/users/{id}/role). */
function roleForm(user, refresh) {
  const select = h('select', {id: `role-${user.id}`},
    ['agent', 'manager', 'admin'].map((r) => h('option', {value: r, selected: r === user.role}, t(`role.${r}`))));
  const save = h('button', {type: 'submit', dataset: {action: 'set-role'}}, t('admin.setRole'));
  const form = h('form', {class: 'inline-form'},
    h('label', {for: select.id, class: 'visually-hidden'}, t('admin.roleFor', {email: user.email})), select, save);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const role = select.value;
    if (role === user.role) return;
    change(save, () => put(`/v1/users/${seg(user.id)}/role`, {role}), t('admin.roleSet', {email: user.email, role: t(`role.${role}`)}), refresh);
  });
  return form;
}

async function users(refresh) {
  const list = await get('/v1/users');
  const known = territoriesOf(list);
  const datalist = h('datalist', {id: 'territory-names'}, known.map((name) => h('option', {value: name})));
  const rows = list.map((user) => {
    const input = h('input', {id: `territory-${user.id}`, type: 'text', list: 'territory-names', maxlength: 100, autocomplete: 'off'});
    const add = h('button', {type: 'submit', dataset: {action: 'add-territory'}}, t('admin.addTerritory'));
    const form = h('form', {class: 'inline-form'},
      h('label', {for: input.id, class: 'visually-hidden'}, t('admin.territoryFor', {email: user.email})), input, add);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name) return;
      change(add, () => put(`/v1/users/${seg(user.id)}/territories/${seg(name)}`), t('admin.territoryAdded', {territory: name, email: user.email}), refresh);
    });
    return h('tr', {dataset: {id: user.id}},
      h('td', null, user.email),
      h('td', null, roleForm(user, refresh)),
      h('td', null, h('ul', {class: 'chips'}, user.territories.map((name) => h('li', null, name, ' ',
        h('button', {
          type: 'button',
          class: 'chip-remove',
          dataset: {action: 'remove-territory', territory: name},
          'aria-label': t('admin.removeTerritory', {territory: name, email: user.email}),
          on: {click: (e) => change(e.currentTarget, () => del(`/v1/users/${seg(user.id)}/territories/${seg(name)}`), t('admin.territoryRemoved', {territory: name, email: user.email}), refresh)},
        }, '×'))))),
      h('td', null, form));
  });
  return [
    datalist,
    table(t('admin.users'), [t('admin.email'), t('admin.role'), t('admin.territories'), t('admin.give')], rows),
  ];
}

async function devices(refresh) {
  // The sync-health report lists every device in the caller's scope (GET /v1/devices lists only
  // the caller's own).
  const body = await get('/v1/reports/sync-health');
  const rows = (body.sections.devices || []).map((d) => h('tr', {dataset: {id: d.device_id}},
    h('td', null, d.device || shortId(d.device_id)),
    h('td', null, d.user),
    h('td', null, d.role ? t(`role.${d.role}`) : ''),
    h('td', null, d.last_sync ? dateTime(d.last_sync) : t('admin.never')),
    h('td', null, d.app_version || ''),
    h('td', null, d.revoked_at ? t('admin.revokedAt', {when: dateTime(d.revoked_at)}) : h('button', {
      type: 'button',
      class: 'danger',
      dataset: {action: 'revoke'},
      'aria-label': t('admin.revokeDevice', {device: d.device || shortId(d.device_id), user: d.user}),
      on: {click: (e) => {
        // A revoked device wipes its local data at its next request: worth a second thought.
        if (!window.confirm(t('admin.confirmRevoke', {device: d.device || shortId(d.device_id), user: d.user}))) return;
        change(e.currentTarget, () => del(`/v1/devices/${seg(d.device_id)}`), t('admin.revoked'), refresh);
      }},
    }, t('admin.revoke')))));
  return table(t('admin.devices'), [t('admin.device'), t('admin.user'), t('admin.role'), columnLabel('last_sync'), columnLabel('app_version'), t('admin.status')], rows);
}

async function products(refresh) {
  const list = (await all('/v1/records?kind=product')).filter((p) => !p.deleted);
  const rows = list.map((p) => {
    const f = p.fields;
    const name = h('input', {id: `product-name-${p.id}`, type: 'text', value: f.name || '', maxlength: 200, required: true});
    const active = h('input', {id: `product-active-${p.id}`, type: 'checkbox', checked: f.active !== false});
    const save = h('button', {type: 'submit', dataset: {action: 'save-product'}}, t('admin.save'));
    const form = h('form', {class: 'inline-form', id: `product-${p.id}`},
      h('label', {for: name.id, class: 'visually-hidden'}, t('admin.productName', {sku: f.sku})), name,
      h('span', {class: 'check'}, active, h('label', {for: active.id}, t('admin.active'))),
      save);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const fields = {};
      if (name.value.trim() !== (f.name || '')) fields.name = name.value.trim();
      if (active.checked !== (f.active !== false)) fields.active = active.checked;
      if (Object.keys(fields).length === 0) {
        announce(t('admin.unchanged'));
        return;
      }
      change(save, () => patch(`/v1/records/${seg(p.id)}`, {fields}), t('admin.productSaved', {sku: f.sku}), refresh);
    });
    return h('tr', {dataset: {id: p.id}},
      h('td', null, f.sku),
      h('td', null, form),
      h('td', null, f.category || ''),
      h('td', null, f.unit || ''),
      h('td', {class: 'num'}, money(f.list_price)),
      h('td', {class: 'num'}, f.tax_bp == null ? '' : `${number(f.tax_bp / 100)} %`));
  });
  return table(t('admin.products'), [columnLabel('sku'), `${columnLabel('name')} / ${t('admin.active')}`, columnLabel('category'), t('admin.unit'), t('admin.listPrice'), t('admin.tax')], rows);
}

async function priceLists() {
  const [lists, productList] = await Promise.all([all('/v1/records?kind=price_list'), all('/v1/records?kind=product')]);
  const productName = new Map(productList.map((p) => [p.id, `${p.fields.sku} ${p.fields.name}`]));
  const live = lists.filter((l) => !l.deleted);
  if (live.length === 0) return h('p', {class: 'muted'}, t('noRows'));
  return h('ul', {class: 'cards'}, live.map((l) => {
    const f = l.fields;
    const prices = Array.isArray(f.prices) ? f.prices : [];
    return h('li', {class: 'card', dataset: {id: l.id}},
      h('h3', null, f.name, ' ', h('span', {class: 'muted'}, f.currency)),
      h('p', null, [
        f.active === false ? t('admin.inactive') : t('admin.active'),
        f.valid_from ? `${t('admin.validFrom')} ${dateTime(f.valid_from)}` : null,
        f.valid_to ? `${t('admin.validTo')} ${dateTime(f.valid_to)}` : null,
      ].filter(Boolean).join(' · ')),
      h('details', null,
        h('summary', null, t('admin.prices', {n: prices.length})),
        table(f.name, [t('admin.product'), t('admin.minQuantity'), t('admin.unitPrice')], prices.map((p) => h('tr', null,
          h('td', null, productName.get(p.product_id) || shortId(p.product_id)),
          // Quantities are thousandths of a unit.
          h('td', {class: 'num'}, p.min_quantity == null ? '' : number(p.min_quantity / 1000, 3)),
          h('td', {class: 'num'}, money(p.unit_price)))))));
  }));
}

/** Importing a CSV file of customers, contacts, products, payments, price lists, orders or leads: checked first, then imported. */
async function importer() {
  const kind = h('select', {id: 'import-kind'},
    ['customers', 'contacts', 'products', 'payments', 'price-lists', 'orders', 'leads'].map((k) => h('option', {value: k}, t(`admin.import.${k}`))));
  const file = h('input', {id: 'import-file', type: 'file', accept: '.csv,text/csv', required: true});
  const check = h('button', {type: 'submit', dataset: {action: 'import-check'}}, t('admin.import.check'));
  const run = h('button', {type: 'button', class: 'secondary', dataset: {action: 'import-run'}}, t('admin.import.run'));
  const result = h('div', {id: 'import-result', 'aria-live': 'polite'});
  const form = h('form', {class: 'inline-form import-form'},
    h('label', {for: 'import-kind'}, t('admin.import.kind')), kind,
    h('label', {for: 'import-file'}, t('admin.import.file')), file, check, run);
  const send = async (dryRun) => {
    if (!file.files.length) {
      file.reportValidity();
      return;
    }
    check.disabled = run.disabled = true;
    try {
      const answer = await upload(`/v1/imports/${seg(kind.value)}?dry_run=${dryRun}`, file.files[0]);
      replace(result, outcome(answer));
      announce(answer.imported ? t('admin.import.done', {created: answer.written.created, updated: answer.written.updated}) : t('admin.import.checked', {errors: answer.error_count}));
    } catch (error) {
      replace(result, errorMessage(error));
    } finally {
      check.disabled = run.disabled = false;
    }
  };
  form.addEventListener('submit', (event) => { event.preventDefault(); send(true); });
  run.addEventListener('click', () => send(false));
  return h('div', null, h('p', {class: 'muted'}, t('admin.import.help')), form, result);
}

/** What an import did or would do, and its rows in error. */
function outcome(answer) {
  const summary = h('p', {dataset: {imported: String(answer.imported)}},
    t('admin.import.summary', {rows: answer.rows, create: answer.to_create, update: answer.to_update, unchanged: answer.unchanged, errors: answer.error_count}));
  const ignored = answer.ignored_columns.length
    ? h('p', {class: 'muted'}, t('admin.import.ignored', {columns: answer.ignored_columns.join(', ')})) : null;
  const errors = answer.errors.length
    ? table(t('admin.import.errors'), [t('admin.import.line'), t('admin.import.column'), t('admin.import.reason')],
      answer.errors.map((e) => h('tr', null, h('td', {class: 'num'}, e.line), h('td', null, e.column), h('td', null, e.reason))))
    : null;
  return h('div', null, summary, ignored, errors);
}

/** Links that download every record of a kind the user sees. */
function exports() {
  const kinds = ['customers', 'contacts', 'products', 'price_lists', 'orders', 'payments', 'visits', 'opportunities', 'tickets', 'tasks', 'leads'];
  return h('ul', {class: 'inline-list'}, kinds.map((k) => h('li', null,
    h('a', {href: `/v1/exports/${k}`, download: `${k}.csv`}, `${k}.csv`))));
}

export async function render(root, {session}) {
  if (session.role !== 'admin') {
    replace(root, h('h1', {tabindex: '-1'}, t('nav.admin')), h('p', {class: 'error', role: 'alert'}, t('admin.only')));
    return;
  }
  const parts = [section('users', users), section('devices', devices), section('products', products), section('priceLists', priceLists),
    section('import', importer), section('export', async () => exports())];
  replace(root, h('h1', {tabindex: '-1'}, t('nav.admin')), parts.map((p) => p.el));
  await Promise.all(parts.map((p) => p.refresh()));
}
