// My password: the form changing the logged-in account's own password, the
// password policy as a checklist, and the forced change — after a given
// password (one-time, or reset by the security administrator) or when the
// password has expired, the server refuses everything else until it is
// changed, and the console shows only this form (console.js).

import { $, h } from './dom.js';
import { request, explain } from './console-api.js';
import { passwordChecks, serverLead, PASSWORD_MIN, PASSWORD_HISTORY } from './console-rules.js';
import { t } from './i18n.js';

let ctx = null;
let changed = () => {};

/// Wires the form once. `onForcedDone` runs after a forced change succeeded.
export function initPassword(context, onForcedDone) {
  ctx = context;
  changed = onForcedDone;
  $('pw-form').addEventListener('submit', changePassword);
  $('pw-form').addEventListener('input', () => {
    $('pw-result').hidden = true;
    fillRules($('pw-rules'), $('pw-new').value, ctx.me?.username);
  });
}

/// The policy as a list: each rule met (✓) or not yet, once something is typed.
export function fillRules(list, password, username = '') {
  const checks = passwordChecks(password, username);
  const typed = password.length > 0;
  const item = (text, ok) => h('li', { class: typed && ok !== null ? (ok ? 'ok' : 'no') : null }, text);
  const rule = (name) => checks.find((c) => c.rule === name).ok;
  list.replaceChildren(
    item(t('ruleLength', { n: PASSWORD_MIN }), rule('length')),
    item(t('ruleKinds'), rule('kinds')),
    item(t('ruleUsername'), rule('username')),
    item(t('ruleHistory', { n: PASSWORD_HISTORY }), null),
  );
}

/// The form, empty; when forced (`ctx.forced`: first_login or expired), why.
export function showPassword() {
  $('pw-form').reset();
  $('pw-username').value = ctx.me.username; // for password managers
  $('pw-result').hidden = true;
  const forced = ctx.forced;
  $('pw-forced').hidden = !forced;
  $('pw-forced').textContent = forced ? t(forced === 'expired' ? 'pwForcedExpired' : 'pwForcedFirst') : '';
  fillRules($('pw-rules'), '', ctx.me.username);
  $('pw-old').focus();
}

function passwordResult(text, kind) {
  const el = $('pw-result');
  el.textContent = text;
  el.className = `alert ${kind}`;
  el.hidden = false;
}

/// POST /me/password: 204 ends every other session of the account, this one stays.
async function changePassword(e) {
  e.preventDefault();
  if ($('pw-new').value !== $('pw-repeat').value) {
    passwordResult(t('pwMismatch'), 'error');
    $('pw-repeat').focus();
    return;
  }
  $('pw-submit').disabled = true;
  try {
    await request('/api/v1/me/password', { method: 'POST', json: { old: $('pw-old').value, new: $('pw-new').value } });
    $('pw-form').reset();
    $('pw-username').value = ctx.me.username;
    fillRules($('pw-rules'), '', ctx.me.username);
    if (ctx.forced) await changed();
    else passwordResult(t('pwChanged'), 'ok');
  } catch (err) {
    // 422: the new password breaks the policy (the message says how);
    // 403: the current password is wrong, or the account is locked after too many tries.
    let lead = '';
    if (err.status === 422) lead = serverLead(err.detail) || t('accInvalid');
    else if (err.status === 403) lead = serverLead(err.detail) || t('pwWrongOld');
    else if (err.status === 503) lead = t('msgBusy');
    passwordResult(explain(err, lead), 'error');
    (err.status === 422 ? $('pw-new') : $('pw-old')).focus();
  } finally {
    $('pw-submit').disabled = false;
  }
}
