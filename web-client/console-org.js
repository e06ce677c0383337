// The organisation (system administrator): import it from a CSV file, see
// the tree, and per unit edit it (rename, move under another parent) or
// retire it (撤销: gone from the tree and from new invitations; refused
// while something still refers to it — the server says what).

import { $, h } from './dom.js';
import { ask } from './console-util.js';
import { request, orgUnits, forget, explain } from './console-api.js';
import { OrgTree } from './console-tree.js';
import { unitPath, parentChoices, serverLead } from './console-rules.js';
import { t } from './i18n.js';

const ORG = '/api/v1/org';

let tree = null;
let units = []; // as the server last said
let editing = null; // the unit in the edit dialog

/// Wires the import form, the search and the edit dialog once.
export function initOrg() {
  $('org-form').addEventListener('submit', importCsv);
  $('org-search').addEventListener('input', (e) => tree?.filter(e.target.value));
  $('org-edit-form').addEventListener('submit', saveUnit);
  $('org-edit-cancel').addEventListener('click', () => $('org-dialog').close());
  $('org-edit-search').addEventListener('input', fillParents);
  $('org-edit-form').addEventListener('input', (e) => {
    if (e.target.id !== 'org-edit-search') $('org-edit-error').hidden = true;
  });
}

/// Shows the tree as the server has it now.
export async function showOrg() {
  $('org-search').value = '';
  $('org-tree-result').hidden = true;
  await loadTree();
}

async function loadTree() {
  tree = null;
  try {
    units = await orgUnits();
    tree = new OrgTree($('org-tree'), units, { actions: unitActions });
    if ($('org-search').value) tree.filter($('org-search').value);
    $('org-count').textContent = t('unitCount', { n: units.length });
  } catch (e) {
    $('org-tree').replaceChildren(h('p', { class: 'alert error' }, e.message));
  }
}

/// A unit's buttons on its line of the tree.
function unitActions(unit) {
  return [
    h('button', { type: 'button', class: 'small', dataset: { testid: `org-edit-${unit.id}` }, onclick: () => editUnit(unit) }, t('edit')),
    h('button', { type: 'button', class: 'small danger-outline', dataset: { testid: `org-retire-${unit.id}` }, onclick: () => retireUnit(unit) }, t('orgRetire')),
  ];
}

function treeResult(text, kind) {
  const el = $('org-tree-result');
  el.textContent = text;
  el.className = `alert ${kind}`;
  el.hidden = false;
}

async function importCsv(e) {
  e.preventDefault();
  const file = $('org-file').files[0];
  const result = $('org-result');
  if (!file) return;
  $('org-submit').disabled = true;
  try {
    const { data } = await request('/api/v1/org/import', { method: 'POST', csv: await file.text() });
    result.textContent = t('imported', { n: data.imported, file: file.name });
    result.className = 'alert ok';
    forget(ORG);
    await showOrg();
  } catch (err) {
    result.textContent = `${t('importFailed')}${err.message}`;
    result.className = 'alert error';
  } finally {
    result.hidden = false;
    $('org-submit').disabled = false;
  }
}

// ---------- edit (rename, move) ----------

function editUnit(unit) {
  editing = unit;
  $('org-edit-title').textContent = t('orgEditTitle', { name: unit.name });
  $('org-edit-name').value = unit.name;
  $('org-edit-search').value = '';
  $('org-edit-error').hidden = true;
  $('org-edit-parent').replaceChildren(); // chosen below: the current parent
  fillParents();
  $('org-dialog').showModal();
  $('org-edit-name').select();
}

/// The parents offered (matching the search), the current one chosen.
function fillParents() {
  if (!editing) return;
  const select = $('org-edit-parent');
  const before = select.options.length ? select.value : editing.parent ?? '';
  const byId = new Map(units.map((u) => [u.id, u]));
  const q = $('org-edit-search').value.trim().toLowerCase();
  const choices = parentChoices(units, editing.id)
    .map((u) => ({ id: u.id, path: unitPath(byId, u.id) }))
    .filter((c) => !q || c.path.toLowerCase().includes(q) || c.id.toLowerCase() === q || c.id === before)
    .sort((a, b) => a.path.localeCompare(b.path, 'zh'));
  select.replaceChildren(h('option', { value: '' }, t('orgNoParent')),
    ...choices.map((c) => h('option', { value: c.id }, c.path)));
  select.value = choices.some((c) => c.id === before) ? before : '';
  $('org-edit-note').textContent = t('orgParentCount', { n: choices.length });
}

/// PUT /org/{id} {parent, name}: 204, or 422 (a cycle, an unknown parent).
async function saveUnit(e) {
  e.preventDefault();
  const unit = editing;
  const body = { parent: $('org-edit-parent').value || null, name: $('org-edit-name').value.trim() };
  $('org-edit-save').disabled = true;
  try {
    await request(`${ORG}/${encodeURIComponent(unit.id)}`, { method: 'PUT', json: body });
    $('org-dialog').close();
    forget(ORG);
    await loadTree();
    treeResult(t('orgSaved', { name: body.name }), 'ok');
  } catch (err) {
    const el = $('org-edit-error');
    el.textContent = explain(err, err.status === 422 ? serverLead(err.detail) || t('accInvalid') : '');
    el.hidden = false;
  } finally {
    $('org-edit-save').disabled = false;
  }
}

// ---------- retire ----------

/// DELETE /org/{id}, confirmed first: 204, or 422 naming what still refers to it.
async function retireUnit(unit) {
  $('org-tree-result').hidden = true;
  if (!await ask(t('confirmRetire', { name: unit.name }), { ok: t('orgRetire'), danger: true })) return;
  try {
    await request(`${ORG}/${encodeURIComponent(unit.id)}`, { method: 'DELETE' });
    forget(ORG);
    await loadTree();
    treeResult(t('orgRetired', { name: unit.name }), 'ok');
  } catch (err) {
    const lead = t('orgRetireRefused', { name: unit.name });
    const why = err.status === 422 ? serverLead(err.detail) : '';
    treeResult(explain(err, why ? `${lead}${why}` : lead), 'error');
  }
  $('org-tree-result').scrollIntoView({ block: 'nearest' });
}
