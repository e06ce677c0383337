// The organisation and the accounts (admins): import the organisation from
// a CSV file and see the tree; list the accounts, create one (a venue
// terminal or a person tied to its node of the tree), change a role.

import { $, h } from './dom.js';
import { ask } from './console-util.js';
import { request, get, orgUnits, forget, explain } from './console-api.js';
import { OrgTree } from './console-tree.js';
import { t, label } from './i18n.js';

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

// ---------- accounts ----------

/// Roles in the order offered.
const ROLES = ['secretary', 'chair', 'venue', 'participant', 'auditor', 'admin'];
/// Roles tied to a node of the organisation, and the kind of that node.
const UNIT_KIND = { venue: 'venue', participant: 'person' };
/// Characters of generated passwords (no 0/O, 1/l/I to misread on the phone).
const PASSWORD_CHARS = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const CHAIRS = '/api/v1/accounts?role=chair';

const roleName = (role) => label('roles', role);

let accCtx = null;
let accounts = [];
let units = new Map(); // id → org unit
let autoName = ''; // the display name last filled in from the chosen unit

/// Wires the accounts view's form and search once.
export function initAccounts(ctx) {
  accCtx = ctx;
  $('acc-role').replaceChildren(h('option', { value: '' }, t('accChooseRole')),
    ...ROLES.map((r) => h('option', { value: r }, roleName(r))));
  $('acc-role').addEventListener('change', showUnitPicker);
  $('acc-unit-search').addEventListener('input', fillUnits);
  $('acc-unit').addEventListener('change', unitChosen);
  $('acc-generate').addEventListener('click', () => { $('acc-password').value = randomPassword(); });
  $('acc-form').addEventListener('submit', createAccount);
  $('acc-form').addEventListener('input', () => { $('acc-result').hidden = true; });
  $('acc-search').addEventListener('input', filterAccounts);
}

/// The accounts and an empty form.
export async function showAccounts() {
  $('acc-form').reset();
  $('acc-result').hidden = true;
  $('acc-search').value = '';
  autoName = '';
  showUnitPicker();
  await loadAccounts();
}

async function loadAccounts(fresh = null) {
  $('acc-error').hidden = true;
  try {
    const [list, tree] = await Promise.all([get('/api/v1/accounts'), orgUnits().catch(() => [])]);
    units = new Map(tree.map((u) => [u.id, u]));
    const order = (a) => ROLES.indexOf(a.role);
    accounts = list.sort((a, b) => order(a) - order(b) || a.username.localeCompare(b.username));
  } catch (e) {
    accounts = [];
    $('acc-error').textContent = e.message;
    $('acc-error').hidden = false;
  }
  $('acc-table').tBodies[0].replaceChildren(...accounts.map((a) => accountRow(a, a.id === fresh)));
  filterAccounts();
  fillUnits();
}

/// "城关镇会议室（城关镇）": a unit's name with its parent's, or the id when unknown.
function unitLabel(id) {
  const u = units.get(id);
  if (!u) return id;
  const parent = units.get(u.parent);
  return parent ? `${u.name}（${parent.name}）` : u.name;
}

function accountRow(a, fresh) {
  const self = a.id === accCtx.me.id;
  const status = h('span', { class: 'row-status', role: 'status' });
  const select = h('select', {
    class: 'role', 'aria-label': t('accRoleOf', { name: a.display_name }), disabled: self,
    title: self ? t('accSelfRole') : null, dataset: { testid: `role-${a.username}` },
  }, ROLES.map((r) => h('option', { value: r }, roleName(r))));
  select.value = a.role;
  select.addEventListener('change', () => changeRole(a, select, status));
  return h('tr', { class: fresh ? 'fresh' : null, dataset: { account: a.id, username: a.username } },
    h('td', {}, a.display_name, self ? h('span', { class: 'badge you' }, t('accYou')) : null),
    h('td', { class: 'mono' }, a.username),
    h('td', { class: a.org_unit ? null : 'muted no-unit' }, a.org_unit ? unitLabel(a.org_unit) : '—'),
    h('td', { class: 'role-cell' }, h('div', { class: 'cell-actions' }, select, status)));
}

/// Shows only the accounts whose name, username, unit or role contains the search text.
function filterAccounts() {
  const q = $('acc-search').value.trim().toLowerCase();
  const rows = $('acc-table').tBodies[0].rows;
  let n = 0;
  accounts.forEach((a, i) => {
    const text = [a.display_name, a.username, a.org_unit ? unitLabel(a.org_unit) : '', roleName(a.role)].join(' ');
    const show = !q || text.toLowerCase().includes(q);
    rows[i].hidden = !show;
    if (show) n++;
  });
  $('acc-count').textContent = t('accCount', { n: accounts.length });
  $('acc-table').hidden = !n;
  $('acc-empty').hidden = !!n || !$('acc-error').hidden;
}

/// A permission change, confirmed first; the row says how it went.
async function changeRole(a, select, status) {
  const role = select.value;
  const to = roleName(role);
  let question = t('confirmRole', { name: a.display_name, from: roleName(a.role), to });
  if (UNIT_KIND[role] && !a.org_unit) question += t('confirmRoleNoUnit', { to });
  status.textContent = '';
  if (!await ask(question, { ok: t('accChangeRole') })) {
    select.value = a.role;
    return;
  }
  select.disabled = true;
  try {
    await request(`/api/v1/accounts/${encodeURIComponent(a.id)}/role`, { method: 'POST', json: { role } });
    if (a.role === 'chair' || role === 'chair') forget(CHAIRS); // the meeting form's chairs
    a.role = role;
    status.textContent = t('roleChanged', { role: to });
    status.className = 'row-status ok';
  } catch (e) {
    select.value = a.role;
    status.textContent = explain(e, e.status === 422 ? t('accRoleRefused') : '');
    status.className = 'row-status error';
  } finally {
    select.disabled = a.id === accCtx.me.id;
  }
}

// ---------- a new account ----------

/// The organisation unit picker, for the roles tied to a unit.
function showUnitPicker() {
  const kind = UNIT_KIND[$('acc-role').value];
  $('acc-unit-row').hidden = !kind;
  $('acc-unit').required = !!kind;
  if (!kind) return;
  $('acc-unit-label').textContent = t(kind === 'venue' ? 'accUnitVenue' : 'accUnitPerson');
  $('acc-unit-search').value = '';
  fillUnits();
}

/// The venues (or persons) matching the search; one match is chosen at once.
function fillUnits() {
  const kind = UNIT_KIND[$('acc-role').value];
  if (!kind) return;
  const select = $('acc-unit');
  const before = select.value;
  const q = $('acc-unit-search').value.trim().toLowerCase();
  const taken = new Map(accounts.filter((a) => a.org_unit).map((a) => [a.org_unit, a.username]));
  const all = [...units.values()].filter((u) => u.kind === kind);
  const found = all.filter((u) => !q || unitLabel(u.id).toLowerCase().includes(q) || u.id.toLowerCase() === q);
  select.replaceChildren(h('option', { value: '' }, t('accChooseUnit')), ...found.map((u) => h('option', { value: u.id },
    `${unitLabel(u.id)}${taken.has(u.id) ? t('accHasAccount', { username: taken.get(u.id) }) : ''}`)));
  select.value = found.some((u) => u.id === before) ? before : found.length === 1 && q ? found[0].id : '';
  const what = t('kinds')[kind];
  $('acc-unit-note').textContent = !all.length ? t('accNoUnits', { kind: what })
    : q ? t('accUnitFound', { n: found.length }) : t('accUnitCount', { n: all.length, kind: what });
  if (select.value !== before) unitChosen();
}

/// Fills the display name from the chosen unit unless the admin typed one.
function unitChosen() {
  const name = units.get($('acc-unit').value)?.name ?? '';
  if (!$('acc-name').value.trim() || $('acc-name').value === autoName) {
    $('acc-name').value = name;
    autoName = name;
  }
}

function randomPassword(length = 12) {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return [...bytes].map((b) => PASSWORD_CHARS[b % PASSWORD_CHARS.length]).join('');
}

function accountResult(text, kind) {
  const el = $('acc-result');
  el.textContent = text;
  el.className = `alert ${kind}`;
  el.hidden = false;
  el.scrollIntoView({ block: 'nearest' });
}

async function createAccount(e) {
  e.preventDefault();
  const role = $('acc-role').value;
  const body = {
    username: $('acc-username').value.trim(),
    display_name: $('acc-name').value.trim(),
    role,
    password: $('acc-password').value,
  };
  if (UNIT_KIND[role]) {
    body.org_unit = $('acc-unit').value;
    if (!body.org_unit) return accountResult(t('accPickUnit', { what: t('kinds')[UNIT_KIND[role]] }), 'error');
  }
  $('acc-submit').disabled = true;
  try {
    const { data } = await request('/api/v1/accounts', { method: 'POST', json: body });
    if (role === 'chair') forget(CHAIRS);
    $('acc-form').reset();
    autoName = '';
    showUnitPicker();
    await loadAccounts(data.id);
    // The unit when the name does not already say it: "李四 · 王五（县政府办公室）".
    const unit = units.get(data.org_unit);
    const where = unit && unit.name !== data.display_name ? ` · ${unitLabel(unit.id)}` : '';
    accountResult(t('accCreated', { username: data.username, name: `${data.display_name}${where}`, role: roleName(data.role) }), 'ok');
  } catch (err) {
    let lead = '';
    if (err.status === 409) lead = t('accTaken', { username: body.username });
    else if (err.status === 422) {
      lead = body.password.length < 10 ? t('accPasswordShort')
        : /unit/i.test(err.detail) ? t('accUnknownUnit') : t('accInvalid');
    }
    accountResult(explain(err, lead), 'error');
    if (err.status === 409) $('acc-username').focus();
  } finally {
    $('acc-submit').disabled = false;
  }
}
