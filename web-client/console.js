// The secretary's console (会务管理): login, who is logged in, and the views
// reached by the address's #fragment:
//   #/week[/YYYY-MM-DD]  the week calendar (console-calendar.js)
//   #/new[/start]        a new meeting      (console-form.js)
//   #/edit/ID            edit a meeting     (console-form.js)
//   #/meeting/ID         one meeting        (console-detail.js)
//   #/templates          templates          (console-templates.js)
//   #/feed               my calendar feed   (here)
//   #/org                organisation       (console-org.js, admins)
//   #/accounts           accounts           (console-org.js, admins)
//   #/password           my password        (here)

import { flash, copyButton } from './console-util.js';
import { request, get, explain } from './console-api.js';
import { initCalendar, showWeek } from './console-calendar.js';
import { initForm, showNew, showEdit } from './console-form.js';
import { showDetail } from './console-detail.js';
import { showTemplates } from './console-templates.js';
import { initOrg, showOrg, initAccounts, showAccounts } from './console-org.js';
import { $ } from './dom.js';
import { t, label, applyStrings, toggleLang, useStrings } from './i18n.js';
import { STRINGS } from './console-i18n.js';

useStrings(STRINGS);

const SCHEDULERS = new Set(['admin', 'secretary']);

/// Route name → [section shown, view function, who may see it].
const ROUTES = {
  week: ['view-week', showWeek, 'all'],
  new: ['view-form', showNew, 'schedule'],
  edit: ['view-form', showEdit, 'schedule'],
  meeting: ['view-meeting', showDetail, 'all'],
  templates: ['view-templates', showTemplates, 'schedule'],
  feed: ['view-feed', showFeed, 'all'],
  org: ['view-org', showOrg, 'admin'],
  accounts: ['view-accounts', showAccounts, 'admin'],
  password: ['view-password', showPassword, 'all'],
};

/// What every view gets: the account, its rights, and navigation.
const ctx = { me: null, canSchedule: false, isAdmin: false, go };
let carry = null; // handed to the next view by go()
let stopView = null; // cleanup of the current view (polling)
let routed = 0; // navigations so far, to tell whether a view is still current

/// Navigates to `hash`, handing `state` to the view (e.g. a save's warnings).
function go(hash, state = null) {
  carry = state;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function allowed(need) {
  return need === 'all' || (need === 'schedule' && ctx.canSchedule) || (need === 'admin' && ctx.isAdmin);
}

async function route() {
  stopView?.();
  stopView = null;
  const state = carry ?? {};
  carry = null;
  flash('');
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const [section, view] = ROUTES[name] && allowed(ROUTES[name][2]) ? ROUTES[name] : ROUTES.week;
  for (const el of document.querySelectorAll('.view')) el.hidden = el.id !== section;
  for (const a of document.querySelectorAll('.topbar a[data-view]')) a.classList.toggle('active', a.dataset.view === (ROUTES[name] ? name : 'week'));
  window.scrollTo(0, 0);
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
  const current = ++routed;
  // A view that keeps working (polling) hands back how to stop it.
  const stop = await view(arg, ctx, state);
  if (typeof stop !== 'function') return;
  if (current === routed) stopView = stop;
  else stop();
}

// ---------- session ----------

function showLogin(message = '') {
  $('shell').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('login-error').hidden = !message;
  $('login-password').value = '';
  ($('login-username').value ? $('login-password') : $('login-username')).focus();
}

function enter(me) {
  ctx.me = me;
  ctx.canSchedule = SCHEDULERS.has(me.role);
  ctx.isAdmin = me.role === 'admin';
  $('who').textContent = t('who', { name: me.display_name, role: label('roles', me.role) });
  for (const el of document.querySelectorAll('[data-need]')) el.hidden = !allowed(el.dataset.need);
  $('login').hidden = true;
  $('shell').hidden = false;
  route();
}

async function login(e) {
  e.preventDefault();
  $('login-submit').disabled = true;
  try {
    enter(await request('/api/v1/login', {
      method: 'POST',
      json: { username: $('login-username').value.trim(), password: $('login-password').value },
    }).then((r) => r.data));
  } catch (err) {
    showLogin(err.status === 401 ? `${t('loginFailed')}${err.detail}` : err.message);
  } finally {
    $('login-submit').disabled = false;
  }
}

async function logout() {
  await request('/api/v1/logout', { method: 'POST' }).catch(() => {});
  location.assign('/console');
}

// ---------- my calendar feed ----------

/// The personal subscribable calendar (ICS) address.
async function showFeed() {
  $('feed-error').hidden = true;
  $('feed-url').value = '';
  try {
    $('feed-url').value = (await get('/api/v1/me/feed')).url;
  } catch (e) {
    $('feed-error').textContent = e.message;
    $('feed-error').hidden = false;
  }
}

// ---------- my password ----------

/// The form changing the logged-in account's own password.
function showPassword() {
  $('pw-form').reset();
  $('pw-username').value = ctx.me.username; // for password managers
  $('pw-result').hidden = true;
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
    passwordResult(t('pwChanged'), 'ok');
  } catch (err) {
    // 403: the current password is wrong (or, after too many tries, the account is locked).
    const lead = err.status === 403 ? t(/lock/i.test(err.detail) ? 'pwLocked' : 'pwWrongOld')
      : err.status === 422 ? t('pwTooShort') : '';
    passwordResult(explain(err, lead), 'error');
    (err.status === 422 ? $('pw-new') : $('pw-old')).focus();
  } finally {
    $('pw-submit').disabled = false;
  }
}

// ---------- start ----------

async function main() {
  applyStrings();
  document.title = `${t('appTitle')} · ${t('brand')}`;
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('pw-form').addEventListener('submit', changePassword);
  $('pw-form').addEventListener('input', () => { $('pw-result').hidden = true; });
  $('feed-row').append(copyButton(() => $('feed-url').value, t('copy'), ''));
  for (const el of document.querySelectorAll('.lang')) {
    el.addEventListener('click', () => {
      toggleLang();
      location.reload();
    });
  }
  window.addEventListener('hashchange', route);
  window.addEventListener('huiyi:logged-out', () => showLogin(t('sessionExpired')));
  initCalendar(ctx);
  initForm(ctx);
  initOrg();
  initAccounts(ctx);
  try {
    enter(await get('/api/v1/me'));
  } catch (e) {
    showLogin(e.status === 401 ? '' : e.message);
  }
}

main();
