// Meeting templates (the same title, chair and venue list every week): the
// list, "new meeting from this template" and deleting one. Templates are
// saved from the meeting form ("另存为模板").

import { $, h } from './dom.js';
import { ask, flash } from './console-util.js';
import { request, get, orgUnits } from './console-api.js';
import { t } from './i18n.js';

/// Shows the templates.
export async function showTemplates(_arg, ctx) {
  $('tpl-error').hidden = true;
  $('tpl-list').replaceChildren();
  let list;
  try {
    list = await get('/api/v1/templates');
  } catch (e) {
    $('tpl-error').textContent = e.message;
    $('tpl-error').hidden = false;
    return;
  }
  if (!list.length) {
    $('tpl-list').replaceChildren(h('p', { class: 'empty' }, t('noTemplates')));
    return;
  }
  const units = await orgUnits().catch(() => []);
  const names = (ids) => ids.map((id) => units.find((u) => u.id === id)?.name ?? id);
  $('tpl-list').replaceChildren(...list.map((tpl) => h('article', { class: 'panel tpl', dataset: { template: tpl.id } },
    h('div', { class: 'tpl-main' },
      h('h3', {}, tpl.name),
      h('p', {}, tpl.title, h('span', { class: 'muted' }, ` · ${t('minutes', { n: tpl.duration_min })} · ${t('participantCount', { n: tpl.participants.length })}`)),
      tpl.participants.length ? h('p', { class: 'muted small' }, names(tpl.participants).join('、')) : null),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: () => ctx.go('#/new', { template: tpl }) }, t('newFromTemplate')),
      h('button', { type: 'button', class: 'danger-outline', onclick: () => remove(tpl, ctx) }, t('delete'))))));
}

async function remove(tpl, ctx) {
  if (!await ask(t('confirmDeleteTemplate', { name: tpl.name }), { ok: t('delete'), danger: true })) return;
  try {
    await request(`/api/v1/templates/${encodeURIComponent(tpl.id)}`, { method: 'DELETE' });
    flash(t('templateDeleted', { name: tpl.name }));
    await showTemplates(null, ctx);
  } catch (e) {
    flash(e.message, 'error');
  }
}
