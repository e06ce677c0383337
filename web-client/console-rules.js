// The console's rules as plain data and functions, DOM-free (they run
// under Node: web-client/tests/console.test.mjs): the account roles and
// who sees which page, the password policy as the server applies it, and
// the server's refusals (English) turned into the user's language.
//
// The server decides (docs/api.md, "Who may do what"); the console only
// leaves out what a role could not use.

import { t } from './i18n.js';

/// Account roles, in the order lists show them.
export const ROLES = ['admin', 'security', 'auditor', 'secretary', 'chair', 'venue', 'participant'];
/// The three separated administrators (等保 2.0: 系统 / 安全 / 审计管理员):
/// their accounts are made and managed on the server only.
export const ADMIN_ROLES = new Set(['admin', 'security', 'auditor']);
/// Roles the console offers when creating an account or changing a role.
export const ASSIGNABLE_ROLES = ['secretary', 'chair', 'participant', 'venue'];
/// Roles tied to a node of the organisation, and the kind of that node.
export const UNIT_KIND = { venue: 'venue', participant: 'person' };

/// Who sees what (`data-need` in console.html, the routes of console.js).
const NEEDS = {
  all: () => true,
  // The calendar, a meeting, the calendar feed: the security administrator reads no meeting.
  meetings: (role) => role !== 'security',
  schedule: (role) => role === 'admin' || role === 'secretary',
  org: (role) => role === 'admin',
  // The system administrator creates accounts, the security administrator manages them.
  accounts: (role) => role === 'admin' || role === 'security',
  createAccounts: (role) => role === 'admin',
  manageAccounts: (role) => role === 'security',
  audit: (role) => role === 'auditor',
  administrators: (role) => ADMIN_ROLES.has(role),
};

/// Whether `role` sees what needs `need` (an unknown need: nobody).
export const may = (role, need) => !!NEEDS[need]?.(role);

/// The page an account starts on.
export function homeView(role) {
  if (role === 'security') return 'accounts';
  if (role === 'auditor') return 'audit';
  return 'week';
}

/// Whether the console may offer changes to this account (not an administrator's).
export const manageable = (account) => !ADMIN_ROLES.has(account.role);

// ---------- the organisation ----------

/// Kinds that group others (a unit's parent is one of them).
export const GROUP_KINDS = new Set(['county', 'township', 'department']);

/// "某某县 › 城关镇 › 城关镇会议室": a unit and its ancestors (`byId`: id → unit).
export function unitPath(byId, id, sep = ' › ') {
  const names = [];
  const seen = new Set();
  for (let u = byId.get(id); u && !seen.has(u.id); u = byId.get(u.parent)) {
    seen.add(u.id);
    names.unshift(u.name);
  }
  return names.length ? names.join(sep) : id;
}

/// The units `id` may be moved under: those that group others, and its
/// current parent, never itself or a unit below it (a cycle).
export function parentChoices(units, id) {
  const byId = new Map(units.map((u) => [u.id, u]));
  const below = (u) => {
    for (const seen = new Set(); u && !seen.has(u.id); u = byId.get(u.parent)) {
      if (u.id === id) return true;
      seen.add(u.id);
    }
    return false;
  };
  const current = byId.get(id)?.parent;
  return units.filter((u) => (GROUP_KINDS.has(u.kind) || u.id === current) && !below(u));
}

// ---------- passwords ----------

/// The policy's defaults (config/huiyi.toml, [security]); the server's own
/// settings decide, and its refusal says what is missing.
export const PASSWORD_MIN = 10;
export const PASSWORD_HISTORY = 5;

/// The character kinds of `password` as the server counts them: lower
/// case, upper case, ASCII digits, and everything else (punctuation,
/// Chinese). Returns how many of the four it mixes.
export function passwordKinds(password) {
  const chars = [...password];
  const lower = (c) => /\p{Lowercase}/u.test(c);
  const upper = (c) => /\p{Uppercase}/u.test(c);
  const digit = (c) => c >= '0' && c <= '9';
  return [
    chars.some(lower),
    chars.some(upper),
    chars.some(digit),
    chars.some((c) => !lower(c) && !upper(c) && !digit(c)),
  ].filter(Boolean).length;
}

/// The rules a new password can be checked against here, each
/// `{rule, ok}`: `length`, `kinds`, `username`. (The last passwords are
/// known to the server only.) An empty password meets none.
export function passwordChecks(password, username = '', min = PASSWORD_MIN) {
  const name = username.trim().toLowerCase();
  const chars = [...password];
  return [
    { rule: 'length', ok: chars.length >= min },
    { rule: 'kinds', ok: passwordKinds(password) >= 3 && !chars.every((c) => c === chars[0]) },
    { rule: 'username', ok: !!password && !(name.length >= 3 && password.toLowerCase().includes(name)) },
  ];
}

// ---------- the server's refusals ----------

/// The server's messages (English, from its refusals) that the console
/// says in the user's language: a pattern, the dictionary key, and the
/// placeholders taken from the pattern's groups.
const MESSAGES = [
  // passwords (signaling/src/services/passwords.rs, http/accounts.rs)
  [/at least (\d+) characters/, 'msgPwLength', ['n']],
  [/at most (\d+) characters/, 'msgPwLong', ['n']],
  [/mixes three of/, 'msgPwKinds', []],
  [/may not contain the username/, 'msgPwUsername', []],
  [/one character repeated/, 'msgPwRepeated', []],
  [/control characters/, 'msgControl', []],
  [/different from your last (\d+)/, 'msgPwHistory', ['n']],
  [/current password is wrong/, 'pwWrongOld', []],
  [/locked/, 'pwLocked', []],
  [/set your own password first/, 'msgMustChange', []],
  [/password has expired/, 'msgExpired', []],
  // accounts
  [/username is 1 to 64 characters/, 'msgUsername', []],
  [/display name is 1 to 64/, 'msgDisplayName', []],
  [/needs its venue/, 'msgNeedsVenue', []],
  [/org_unit must be a person/, 'msgNeedsPerson', []],
  [/unknown organisation unit/, 'accUnknownUnit', []],
  [/administrator accounts|becomes an administrator/, 'msgAdministrators', []],
  // organisation (signaling/src/store/sqlite/org.rs)
  [/would be its own ancestor/, 'msgOrgCycle', []],
  [/still has units under it/, 'msgOrgChildren', []],
  [/an account belongs to/, 'msgOrgAccount', []],
  [/invited to upcoming meetings \((.*)\)/, 'msgOrgMeetings', ['list']],
  [/templates name .* \((.*)\)/, 'msgOrgTemplates', ['list']],
  [/unit's name is 1 to 100/, 'msgOrgName', []],
  [/busy|too many (logins|password checks)/, 'msgBusy', []],
];

/// What the server's message `detail` means, in the user's language, or
/// '' where the console does not know the message (then it shows the
/// server's own words alone).
export function serverLead(detail = '') {
  for (const [pattern, key, names] of MESSAGES) {
    const m = pattern.exec(detail);
    if (m) return t(key, Object.fromEntries(names.map((name, i) => [name, m[i + 1]])));
  }
  return '';
}
