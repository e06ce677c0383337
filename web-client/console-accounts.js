// Accounts. Everyone who may see the page sees the list, with each
// account's state (locked until when, password still to be changed). The
// system administrator creates accounts of the roles that use meetings (a
// venue terminal or a person tied to its node of the organisation); the
// security administrator changes their roles, unlocks them, resets their
// passwords and ends their sessions. Administrators' accounts are managed
// on the server only: no button touches them.

import { $, h } from './dom.js';
import { ask, copyButton, unixLabel } from './console-util.js';
import { request, get, orgUnits, forget, explain } from './console-api.js';
import { ROLES, ASSIGNABLE_ROLES, UNIT_KIND, manageable, serverLead } from './console-rules.js';
import { fillRules } from './console-password.js';
import { t, label } from './i18n.js';

const CHAIRS = '/api/v1/accounts?role=chair';

const roleName = (role) => label('roles', role);
const accountPath = (a, what) => `/api/v1/accounts/${encodeURIComponent(a.id)}/${what}`;

let ctx = null;
let accounts = [];
let units = new Map(); // id → org unit
let autoName = ''; // the display name last filled in from the chosen unit

/// Wires the form, the search and the one-time password dialog once.
export function initAccounts(context) {
  ctx = context;
  $('acc-role').replaceChildren(h('option', { value: '' }, t('accChooseRole')),
    ...ASSIGNABLE_ROLES.map((r) => h('option', { value: r }, roleName(r))));
  $('acc-role').addEventListener('change', showUnitPicker);
  $('acc-unit-search').addEventListener('input', fillUnits);
  $('acc-unit').addEventListener('change', unitChosen);
  $('acc-form').addEventListener('submit', createAccount);
  $('acc-form').addEventListener('input', () => {
    $('acc-result').hidden = true;
    fillRules($('acc-pw-rules'), $('acc-password').value, $('acc-username').value);
  });
  $('acc-search').addEventListener('input', filterAccounts);
  $('otp-row').append(copyButton(() => $('otp-value').value, t('copy'), ''));
  // Shown once: gone from the page when the dialog closes.
  $('otp-dialog').addEventListener('close', () => { $('otp-value').value = ''; });
}

/// The accounts and an empty form.
export async function showAccounts() {
  $('acc-form').reset();
  $('acc-result').hidden = true;
  $('acc-search').value = '';
  autoName = '';
  fillRules($('acc-pw-rules'), '');
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
  $('acc-table').tBodies[0].replaceChildren(...accounts.map((a) => accountRow(a, { fresh: a.id === fresh })));
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

const lockedNow = (a) => !!a.locked_until && a.locked_until * 1000 > Date.now();

/// The account's state: locked (until when, county time), password to be changed.
function stateBadges(a) {
  const out = [];
  if (lockedNow(a)) out.push(h('span', { class: 'badge locked', dataset: { testid: `locked-${a.username}` } }, t('accLockedUntil', { time: unixLabel(a.locked_until) })));
  if (a.must_change_password) out.push(h('span', { class: 'badge must-change' }, t('accMustChange')));
  return out.length ? out : [h('span', { class: 'muted' }, t('accNormal'))];
}

/// One account's row; `status` ({text, kind}) is the last action's result.
function accountRow(a, { fresh = false, status = null } = {}) {
  const self = a.id === ctx.me.id;
  const manage = ctx.may('manageAccounts');
  const note = h('span', { class: `row-status ${status?.kind ?? ''}`, role: 'status' }, status?.text ?? '');
  const row = { a, note };
  return h('tr', { class: fresh ? 'fresh' : null, dataset: { account: a.id, username: a.username } },
    h('td', {}, a.display_name, self ? h('span', { class: 'badge you' }, t('accYou')) : null),
    h('td', { class: 'mono' }, a.username),
    h('td', { class: a.org_unit ? null : 'muted no-unit' }, a.org_unit ? unitLabel(a.org_unit) : '—'),
    h('td', { class: 'role-cell' }, manage && manageable(a) ? roleEditor(row) : roleName(a.role)),
    h('td', { class: 'state-cell' }, h('div', { class: 'cell-actions' }, stateBadges(a))),
    manage ? h('td', { class: 'acc-actions' }, h('div', { class: 'cell-actions' }, actions(row), note)) : null);
}

/// Redraws an account's row after a change, with the change's result.
function redraw(row, text, kind) {
  const tr = $('acc-table').querySelector(`tr[data-account="${CSS.escape(row.a.id)}"]`);
  if (!tr) return;
  const next = accountRow(row.a, { status: { text, kind } });
  next.hidden = tr.hidden;
  tr.replaceWith(next);
}

/// The security administrator's role picker and its save button.
function roleEditor(row) {
  const { a } = row;
  const select = h('select', { class: 'role', 'aria-label': t('accRoleOf', { name: a.display_name }), dataset: { testid: `role-${a.username}` } },
    ASSIGNABLE_ROLES.map((r) => h('option', { value: r }, roleName(r))));
  select.value = a.role;
  const save = h('button', { type: 'button', class: 'small', disabled: true, dataset: { testid: `role-save-${a.username}` } }, t('save'));
  select.addEventListener('change', () => { save.disabled = select.value === a.role; });
  save.addEventListener('click', () => changeRole(row, select, save));
  return h('div', { class: 'cell-actions' }, select, save);
}

/// The security administrator's buttons for an account (none for an administrator's).
function actions(row) {
  const { a } = row;
  if (!manageable(a)) return [h('span', { class: 'muted small' }, t('accOnServer'))];
  const button = (key, onclick, cls = 'small') => h('button', { type: 'button', class: cls, dataset: { testid: `${key}-${a.username}` }, onclick }, t(key));
  return [
    lockedNow(a) ? button('accUnlock', () => unlock(row)) : null,
    button('accResetPassword', () => resetPassword(row)),
    button('accEndSessions', () => endSessions(row), 'small danger-outline'),
  ];
}

/// Shows all the accounts whose name, username, unit or role contains the search text.
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

// ---------- the security administrator's actions ----------

/// A permission change, confirmed first.
async function changeRole({ a, note }, select, save) {
  const role = select.value;
  const to = roleName(role);
  let question = t('confirmRole', { name: a.display_name, from: roleName(a.role), to });
  if (UNIT_KIND[role] && !a.org_unit) question += t('confirmRoleNoUnit', { to });
  if (!await ask(question, { ok: t('accChangeRole') })) return;
  select.disabled = true;
  save.disabled = true;
  try {
    await request(accountPath(a, 'role'), { method: 'POST', json: { role } });
    if (a.role === 'chair' || role === 'chair') forget(CHAIRS); // the meeting form's chairs
    a.role = role;
    redraw({ a }, t('roleChanged', { role: to }), 'ok');
  } catch (e) {
    select.disabled = false;
    select.value = a.role;
    note.textContent = explain(e, e.status === 422 ? serverLead(e.detail) || t('accRoleRefused') : '');
    note.className = 'row-status error';
  }
}

async function unlock(row) {
  try {
    await request(accountPath(row.a, 'unlock'), { method: 'POST' });
    row.a.locked_until = null;
    redraw(row, t('accUnlocked'), 'ok');
  } catch (e) {
    failed(row, e);
  }
}

/// A new one-time password, shown once; the account's sessions end.
async function resetPassword(row) {
  const { a } = row;
  if (!await ask(t('confirmReset', { name: a.display_name, username: a.username }), { ok: t('accResetPassword'), danger: true })) return;
  try {
    const { data } = await request(accountPath(a, 'reset-password'), { method: 'POST' });
    a.must_change_password = true;
    redraw(row, t('accPasswordReset'), 'ok');
    showOneTime(a, data.one_time_password);
  } catch (e) {
    failed(row, e);
  }
}

/// Logs the account out everywhere (a lost laptop or phone).
async function endSessions(row) {
  const { a } = row;
  if (!await ask(t('confirmEndSessions', { name: a.display_name, username: a.username }), { ok: t('accEndSessions'), danger: true })) return;
  try {
    const { data } = await request(accountPath(a, 'end-sessions'), { method: 'POST' });
    redraw(row, t('accSessionsEnded', { n: data?.ended ?? 0 }), 'ok');
  } catch (e) {
    failed(row, e);
  }
}

function failed({ note }, e) {
  note.textContent = explain(e, e.status === 503 ? t('msgBusy') : serverLead(e.detail));
  note.className = 'row-status error';
}

/// The one-time password dialog: shown once, with a copy button.
function showOneTime(a, password) {
  $('otp-who').textContent = t('otpFor', { name: a.display_name, username: a.username });
  $('otp-value').value = password;
  $('otp-dialog').showModal();
  $('otp-value').select();
}

// ---------- a new account (system administrator) ----------

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

function accountResult(text, kind) {
  const el = $('acc-result');
  el.textContent = text;
  el.className = `alert ${kind}`;
  el.hidden = false;
  el.scrollIntoView({ block: 'nearest' });
}

/// POST /accounts: without a password the server makes a one-time one,
/// returned once (shown in the dialog); either way it changes at the first login.
async function createAccount(e) {
  e.preventDefault();
  const role = $('acc-role').value;
  const body = {
    username: $('acc-username').value.trim(),
    display_name: $('acc-name').value.trim(),
    role,
  };
  if ($('acc-password').value) body.password = $('acc-password').value;
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
    fillRules($('acc-pw-rules'), '');
    showUnitPicker();
    await loadAccounts(data.id);
    // The unit when the name does not already say it: "李四 · 王五（县政府办公室）".
    const unit = units.get(data.org_unit);
    const where = unit && unit.name !== data.display_name ? ` · ${unitLabel(unit.id)}` : '';
    accountResult(t('accCreated', { username: data.username, name: `${data.display_name}${where}`, role: roleName(data.role) }), 'ok');
    if (data.one_time_password) showOneTime(data, data.one_time_password);
  } catch (err) {
    let lead = '';
    if (err.status === 409) lead = t('accTaken', { username: body.username });
    else if (err.status === 422) lead = serverLead(err.detail) || t('accInvalid');
    else if (err.status === 503) lead = t('msgBusy');
    accountResult(explain(err, lead), 'error');
    if (err.status === 409) $('acc-username').focus();
    else if (err.status === 422 && body.password && /password/.test(err.detail)) $('acc-password').focus();
  } finally {
    $('acc-submit').disabled = false;
  }
}
