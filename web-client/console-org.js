// The organisation (admins): import it from a CSV file, and see the tree.

import { $, h } from './console-util.js';
import { request, orgUnits, forget } from './console-api.js';
import { OrgTree } from './console-tree.js';
import { t } from './console-i18n.js';

let tree = null;

/// Wires the import form and the search once.
export function initOrg() {
  $('org-form').addEventListener('submit', importCsv);
  $('org-search').addEventListener('input', (e) => tree?.filter(e.target.value));
}

/// Shows the tree as the server has it now.
export async function showOrg() {
  $('org-search').value = '';
  tree = null;
  try {
    const units = await orgUnits();
    tree = new OrgTree($('org-tree'), units);
    $('org-count').textContent = t('unitCount', { n: units.length });
  } catch (e) {
    $('org-tree').replaceChildren(h('p', { class: 'alert error' }, e.message));
  }
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
    forget('/api/v1/org');
    await showOrg();
  } catch (err) {
    result.textContent = `${t('importFailed')}${err.message}`;
    result.className = 'alert error';
  } finally {
    result.hidden = false;
    $('org-submit').disabled = false;
  }
}
