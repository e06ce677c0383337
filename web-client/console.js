// The console (会务管理): login, who is logged in, and the views reached by
// the address's #fragment, each shown only to the roles that use it
// (console-rules.js):
//   #/week[/YYYY-MM-DD]  the week calendar (console-calendar.js)
//   #/new[/start]        a new meeting      (console-form.js)
//   #/edit/ID            edit a meeting     (console-form.js)
//   #/meeting/ID         one meeting        (console-detail.js)
//   #/templates          templates          (console-templates.js)
//   #/feed               my calendar feed   (here)
//   #/org                organisation       (console-org.js, system administrator)
//   #/accounts           accounts           (console-accounts.js, system and security administrators)
//   #/audit              audit log          (console-audit.js, audit administrator)
//   #/password           my password        (console-password.js)
// An account whose password must change first (a given password, an
// expired one) sees only #/password until it has.

import { flash, copyButton } from './console-util.js';
import { request, get } from './console-api.js';
import { initCalendar, showWeek } from './console-calendar.js';
import { initForm, showNew, showEdit } from './console-form.js';
import { showDetail } from './console-detail.js';
import { showTemplates } from './console-templates.js';
import { initOrg, showOrg } from './console-org.js';
import { initAccounts, showAccounts } from './console-accounts.js';
import { initAudit, showAudit } from './console-audit.js';
import { initPassword, showPassword } from './console-password.js';
import { may, homeView } from './console-rules.js';
import { $ } from './dom.js';
import { t, label, applyStrings, toggleLang, useStrings } from './i18n.js';
import { STRINGS } from './console-i18n.js';

useStrings(STRINGS);

/// Route name → [section shown, view function, who may see it (console-rules.js)].
const ROUTES = {
  week: ['view-week', showWeek, 'meetings'],
  new: ['view-form', showNew, 'schedule'],
  edit: ['view-form', showEdit, 'schedule'],
  meeting: ['view-meeting', showDetail, 'meetings'],
  templates: ['view-templates', showTemplates, 'schedule'],
  feed: ['view-feed', showFeed, 'meetings'],
  org: ['view-org', showOrg, 'org'],
  accounts: ['view-accounts', showAccounts, 'accounts'],
  audit: ['view-audit', showAudit, 'audit'],
  password: ['view-password', showPassword, 'all'],
};

/// What every view gets: the account, its rights, and navigation.
/// `forced`: why the password must change first (first_login, expired), or null.
const ctx = { me: null, canSchedule: false, forced: null, may: () => false, go };
let carry = null; // handed to the next view by go()
let stopView = null; // cleanup of the current view (polling)
let routed = 0; // navigations so far, to tell whether a view is still current

/// Navigates to `hash`, handing `state` to the view (e.g. a save's warnings).
function go(hash, state = null) {
  carry = state;
  if (location.hash === hash) route();
  else location.hash = hash;
}

const allowed = (need) => !!ctx.me && may(ctx.me.role, need);

async function route() {
  if (!ctx.me) return; // not logged in yet
  stopView?.();
  stopView = null;
  const state = carry ?? {};
  carry = null;
  flash('');
  const [asked, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const home = homeView(ctx.me.role);
  const name = ctx.forced ? 'password' : ROUTES[asked] && allowed(ROUTES[asked][2]) ? asked : home;
  const [section, view] = ROUTES[name];
  for (const el of document.querySelectorAll('.view')) el.hidden = el.id !== section;
  for (const a of document.querySelectorAll('.topbar a[data-view]')) a.classList.toggle('active', a.dataset.view === name);
  window.scrollTo(0, 0);
  const arg = name === asked && rest.length ? decodeURIComponent(rest.join('/')) : undefined;
  const current = ++routed;
  // A view that keeps working (polling) hands back how to stop it.
  const stop = await view(arg, ctx, state);
  if (typeof stop !== 'function') return;
  if (current === routed) stopView = stop;
  else stop();
}

// ---------- session ----------

function showLogin(message = '') {
  stopView?.();
  stopView = null;
  $('shell').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('login-error').hidden = !message;
  $('login-password').value = '';
  ($('login-username').value ? $('login-password') : $('login-username')).focus();
}

/// Shows the console for `me` (`{id, username, display_name, role, password_change}`).
function enter(me) {
  ctx.me = me;
  ctx.canSchedule = may(me.role, 'schedule');
  ctx.forced = me.password_change ?? null;
  ctx.may = allowed;
  $('who').textContent = t('who', { name: me.display_name, role: label('roles', me.role) });
  for (const el of document.querySelectorAll('[data-need]')) el.hidden = !allowed(el.dataset.need);
  // Until the password is changed, nothing else is offered.
  $('nav').hidden = !!ctx.forced;
  $('nav-password').hidden = !!ctx.forced;
  $('login').hidden = true;
  $('shell').hidden = false;
  route();
}

/// The server refused a call until the password changes (403
/// password_change_required): ask who we are again, which says why.
let rechecking = false;
async function passwordChangeRequired() {
  if (rechecking || ctx.forced) return;
  rechecking = true;
  try {
    enter(await get('/api/v1/me'));
  } catch { /* a 401 shows the login already */ } finally {
    rechecking = false;
  }
}

/// After the forced change: who we are now, then the console as usual.
async function forcedChangeDone() {
  try {
    enter(await get('/api/v1/me'));
    flash(t('pwSet'));
  } catch (e) {
    showLogin(e.status === 401 ? '' : e.message);
  }
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

// ---------- start ----------

async function main() {
  applyStrings();
  document.title = `${t('appTitle')} · ${t('brand')}`;
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('feed-row').append(copyButton(() => $('feed-url').value, t('copy'), ''));
  for (const el of document.querySelectorAll('.lang')) {
    el.addEventListener('click', () => {
      toggleLang();
      location.reload();
    });
  }
  window.addEventListener('hashchange', route);
  window.addEventListener('huiyi:logged-out', () => showLogin(t('sessionExpired')));
  window.addEventListener('huiyi:password-change', passwordChangeRequired);
  initCalendar(ctx);
  initForm(ctx);
  initOrg(ctx);
  initAccounts(ctx);
  initAudit(ctx);
  initPassword(ctx, forcedChangeDone);
  try {
    enter(await get('/api/v1/me'));
  } catch (e) {
    showLogin(e.status === 401 ? '' : e.message);
  }
}

main();
