// A new campaign, on the campaign report's page: what it is, when it runs, what it costs and asks,
// and the segment of customers it targets. The server makes a member of each target customer,
// which the customers' agents receive with a task; the report then measures it.

import {h, replace} from '../dom.js';
import {post} from '../api.js';
import {t, columnLabel} from '../i18n.js';
import {errorMessage} from '../errors.js';

const TYPES = ['launch', 'promotion', 'reactivation', 'survey', 'event'];
const CHANNELS = ['visit', 'phone', 'email'];
const STATUSES = ['active', 'draft'];
const TIERS = ['A', 'B', 'C'];

/** Midnight UTC of a day typed in a date input, in milliseconds; null when empty. */
function dayMs(value) {
  return value ? Date.parse(`${value}T00:00:00Z`) : null;
}

function choice(id, label, values, {optional = false, text = (v) => v} = {}) {
  const select = h('select', {id, name: id},
    optional ? h('option', {value: ''}, '—') : null,
    values.map((v) => h('option', {value: v}, text(v))));
  return [h('label', {for: id}, label), select];
}

/** The form; `created(id)` runs once the server took a campaign. `territories` to target. */
export function campaignForm(territories, created) {
  const status = h('p', {role: 'status', class: 'muted'});
  const field = (id, attrs) => [h('label', {for: id}, columnLabel(id.replace('campaign-', ''))), h('input', {id, name: id, ...attrs})];
  const form = h('form', {class: 'campaign-form', 'aria-labelledby': 'h-new-campaign'},
    h('h2', {id: 'h-new-campaign'}, t('campaign.new')),
    h('div', {class: 'fields'},
      field('campaign-name', {type: 'text', required: true, maxlength: 200, autocomplete: 'off'}),
      choice('campaign-type', columnLabel('campaign_type'), TYPES),
      choice('campaign-channel', columnLabel('channel'), CHANNELS),
      choice('campaign-status', columnLabel('status'), STATUSES),
      field('campaign-starts_at', {type: 'date', required: true}),
      field('campaign-ends_at', {type: 'date', required: true}),
      field('campaign-budget', {type: 'number', min: 0, step: '0.01', inputmode: 'decimal'}),
      field('campaign-asks', {type: 'text', maxlength: 500}),
      choice('campaign-target_territory', columnLabel('target_territory'), territories, {optional: true}),
      choice('campaign-target_tier', columnLabel('target_tier'), TIERS, {optional: true})),
    h('button', {type: 'submit'}, t('campaign.create')),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = (name) => form.elements[`campaign-${name}`].value.trim();
    const fields = {
      name: value('name'),
      campaign_type: value('type'),
      channel: value('channel'),
      status: value('status'),
      starts_at: dayMs(value('starts_at')),
      ends_at: dayMs(value('ends_at')),
    };
    if (value('budget')) fields.budget = Math.round(Number(value('budget')) * 100);
    for (const name of ['asks', 'target_territory', 'target_tier']) if (value(name)) fields[name] = value(name);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const body = await post('/v1/records', {kind: 'campaign', fields});
      replace(status, t('campaign.created', {name: fields.name}));
      created(body.id);
    } catch (error) {
      replace(status, errorMessage(error));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
