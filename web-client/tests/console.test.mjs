// The console's DOM-free rules under Node: who sees which page, the
// password policy as the server applies it, the server's refusals in the
// user's words, the organisation's parent picker, the audit log's queries,
// action names and chain report; and the meeting page's refused joins.
//   node --test web-client/tests/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStrings, setLang } from '../i18n.js';
import { STRINGS as CONSOLE } from '../console-i18n.js';
import { STRINGS as MEETING } from '../meeting-i18n.js';
import {
  ROLES, ADMIN_ROLES, ASSIGNABLE_ROLES, may, homeView, manageable, passwordKinds, passwordChecks,
  serverLead, unitPath, parentChoices,
} from '../console-rules.js';
import {
  dayStart, auditParams, auditUrl, exportUrl, rangeOk, actionLabel, verifyMessage, OUTCOMES, PAGE_SIZE,
} from '../console-audit.js';
import { unixLabel } from '../console-util.js';
import { refusalKey, REFUSAL_KEYS } from '../model.js';

useStrings(CONSOLE);
setLang('zh');

const NEEDS = ['all', 'meetings', 'schedule', 'org', 'accounts', 'createAccounts', 'manageAccounts', 'audit', 'administrators'];

test('each role sees only its pages', () => {
  const sees = (role) => NEEDS.filter((n) => may(role, n));
  assert.deepEqual(sees('admin'), ['all', 'meetings', 'schedule', 'org', 'accounts', 'createAccounts', 'administrators']);
  assert.deepEqual(sees('security'), ['all', 'accounts', 'manageAccounts', 'administrators']);
  assert.deepEqual(sees('auditor'), ['all', 'meetings', 'audit', 'administrators']);
  assert.deepEqual(sees('secretary'), ['all', 'meetings', 'schedule']);
  for (const role of ['chair', 'participant', 'venue']) assert.deepEqual(sees(role), ['all', 'meetings'], role);
  assert.equal(may('admin', 'no-such-need'), false);
  assert.equal(homeView('security'), 'accounts');
  assert.equal(homeView('auditor'), 'audit');
  for (const role of ['admin', 'secretary', 'chair', 'participant', 'venue']) assert.equal(homeView(role), 'week');
});

test('administrators are neither offered nor managed', () => {
  assert.deepEqual(ASSIGNABLE_ROLES, ['secretary', 'chair', 'participant', 'venue']);
  for (const role of ASSIGNABLE_ROLES) assert.ok(!ADMIN_ROLES.has(role));
  assert.deepEqual([...ADMIN_ROLES].sort(), ['admin', 'auditor', 'security']);
  assert.deepEqual(ROLES.filter((r) => manageable({ role: r })), ['secretary', 'chair', 'venue', 'participant']);
  for (const lang of ['zh', 'en']) assert.deepEqual(Object.keys(CONSOLE[lang].roles).sort(), [...ROLES].sort(), `${lang} names every role`);
  assert.equal(CONSOLE.zh.roles.admin, '系统管理员');
  assert.equal(CONSOLE.zh.roles.security, '安全管理员');
  assert.equal(CONSOLE.zh.roles.auditor, '审计管理员');
});

test('the password policy counts kinds as the server does', () => {
  const ok = (pw, user = 'zhang') => passwordChecks(pw, user).every((c) => c.ok);
  const failing = (pw, user = 'zhang') => passwordChecks(pw, user).filter((c) => !c.ok).map((c) => c.rule);
  // The server's own cases (signaling/src/services/passwords.rs).
  assert.deepEqual(failing('Short1!'), ['length']);
  assert.deepEqual(failing('alllowercaseletters'), ['kinds']);
  assert.deepEqual(failing('lowercase1234'), ['kinds'], 'two kinds only');
  assert.ok(ok('Lowercase1234'));
  assert.ok(ok('防汛会议2026abc'), 'Chinese counts as other');
  assert.deepEqual(failing('Zhang-2026-pw'), ['username']);
  assert.ok(ok('Zh-2026-pwxy', 'zh'), 'a username under 3 characters is not looked for');
  assert.deepEqual(failing(''), ['length', 'kinds', 'username'], 'an empty password meets nothing');
  assert.deepEqual(failing('!!!!!!!!!!!!'), ['kinds'], 'one character repeated');
  assert.equal(passwordKinds('abcDEF'), 2);
  assert.equal(passwordKinds('abcDEF12'), 3);
  assert.equal(passwordKinds('abcDEF12，'), 4);
  assert.equal(passwordKinds('ÄÖÜäöü'), 2, 'letters beyond ASCII have a case');
  assert.ok(passwordChecks('Ab1-', '', 4).every((c) => c.ok), 'the minimum is a parameter');
});

test("the server's refusals are said in the user's words", () => {
  // Messages as the server words them (passwords.rs, accounts.rs, org.rs, audit).
  const cases = [
    ['a password has at least 10 characters', '密码至少需要 10 个字符'],
    ['a password mixes three of: lower-case letters, upper-case letters, digits, other characters', '三种'],
    ['a password may not contain the username', '用户名'],
    ['a password is not one character repeated', '重复'],
    ['choose a password different from your last 5 ones', '最近 5 次'],
    ['the current password is wrong', '当前密码不正确'],
    ['too many failed attempts: the account is locked for now', '锁定'],
    ['a venue terminal account needs its venue (org_unit)', '会场'],
    ["a participant's org_unit must be a person", '人员'],
    ['unknown organisation unit "x"', '组织机构'],
    ['administrator accounts are made on the server (huiyi admin create)', '服务器'],
    ['org unit "t1" would be its own ancestor (a cycle in the parents)', '下级'],
    ['"t1" still has units under it: move or retire them first', '其下还有单位'],
    ['an account belongs to "v1": change the account first', '账号'],
    ['"v1" is invited to upcoming meetings (周例会、防汛会): take it off them first', '（周例会、防汛会）'],
    ['templates name "v1" (每周例会): change them first', '（每周例会）'],
    ['too many logins at once; try again in a moment', '繁忙'],
  ];
  for (const [message, expected] of cases) assert.ok(serverLead(message).includes(expected), `${message} → ${serverLead(message)}`);
  assert.equal(serverLead('something new'), '', 'an unknown message: the server words alone');
  assert.equal(serverLead(), '');
});

test('a unit moves only under a group, never under itself or below', () => {
  const units = [
    { id: 'c', parent: null, name: '某某县', kind: 'county' },
    { id: 't1', parent: 'c', name: '城关镇', kind: 'township' },
    { id: 'd1', parent: 't1', name: '党政办', kind: 'department' },
    { id: 'v1', parent: 't1', name: '城关镇会议室', kind: 'venue' },
    { id: 't2', parent: 'c', name: '河口乡', kind: 'township' },
  ];
  const byId = new Map(units.map((u) => [u.id, u]));
  assert.equal(unitPath(byId, 'v1'), '某某县 › 城关镇 › 城关镇会议室');
  assert.equal(unitPath(byId, 'gone'), 'gone');
  const ids = (id) => parentChoices(units, id).map((u) => u.id);
  assert.deepEqual(ids('t1'), ['c', 't2'], 'not itself, not its department below');
  assert.deepEqual(ids('v1'), ['c', 't1', 'd1', 't2']);
  assert.deepEqual(ids('c'), [], 'the top has nothing above');
  const loop = [{ id: 'a', parent: 'b', name: 'A', kind: 'county' }, { id: 'b', parent: 'a', name: 'B', kind: 'county' }];
  assert.doesNotThrow(() => unitPath(new Map(loop.map((u) => [u.id, u])), 'a'), 'a cycle in the data does not hang');
});

test('audit filters become the query: county days as Unix seconds, empty ones left out', () => {
  const midnight = Date.UTC(2026, 10, 29) / 1000 - 8 * 3600; // 2026-11-29 00:00 in the county
  assert.equal(dayStart('2026-11-29'), midnight);
  assert.equal(dayStart(''), null);
  assert.equal(dayStart('29/11/2026'), null);
  assert.equal(auditParams({}).toString(), '');
  const q = auditParams({ actor: ' mishu ', action: 'account.', outcome: 'denied', from: '2026-11-29', to: '2026-11-30' });
  assert.equal(q.get('actor'), 'mishu');
  assert.equal(q.get('action'), 'account.');
  assert.equal(q.get('outcome'), 'denied');
  assert.equal(q.get('from'), String(midnight));
  assert.equal(q.get('to'), String(midnight + 2 * 86400), 'the last day is included: up to its end');
  assert.equal(auditParams({ outcome: 'maybe' }).get('outcome'), null, 'only ok, failed, denied');
  assert.equal(auditUrl({ action: 'login' }), `/api/v1/audit?action=login&limit=${PAGE_SIZE}`);
  assert.equal(auditUrl({ action: 'login' }, 1234, 50), '/api/v1/audit?action=login&before=1234&limit=50');
  assert.equal(auditUrl({}, 0), `/api/v1/audit?before=0&limit=${PAGE_SIZE}`);
  assert.equal(exportUrl({ actor: '张 三', outcome: 'ok' }), '/api/v1/audit/export.csv?actor=%E5%BC%A0+%E4%B8%89&outcome=ok');
  assert.equal(exportUrl({}), '/api/v1/audit/export.csv?');
  assert.ok(rangeOk({ from: '2026-11-01', to: '2026-11-30' }));
  assert.ok(rangeOk({ from: '2026-11-30', to: '2026-11-30' }));
  assert.ok(rangeOk({ from: '2026-11-30' }));
  assert.ok(!rangeOk({ from: '2026-12-01', to: '2026-11-30' }));
});

test('audit actions have readable names; the chain report says intact or tampered', () => {
  const actions = ['login', 'account.create', 'account.role', 'account.unlock', 'account.password', 'account.password_reset',
    'account.sessions_end', 'org.import', 'org.move', 'org.retire', 'meeting.create', 'meeting.update', 'meeting.start',
    'meeting.end', 'meeting.cancel', 'invitation.reissue', 'invitations.read', 'attendance.export_csv',
    'attendance.export_xlsx', 'audit.export', 'config.change', 'denied'];
  for (const lang of ['zh', 'en']) {
    setLang(lang);
    for (const a of actions) assert.ok(actionLabel(a), `${lang}: ${a}`);
    for (const o of OUTCOMES) assert.ok(CONSOLE[lang].outcomes[o], `${lang}: outcome ${o}`);
  }
  setLang('zh');
  assert.equal(actionLabel('login'), '登录');
  assert.equal(actionLabel('account.sessions_end'), '强制下线');
  assert.equal(actionLabel('denied'), '拒绝访问');
  assert.equal(actionLabel('something.new'), '', 'unknown: the raw action alone');
  const intact = verifyMessage({ records: 42, broken_at: null, head_seq: 42, head_hash: 'ab12' });
  assert.deepEqual(intact, { ok: true, text: '日志完整：42 条记录，最新 #42 哈希 ab12' });
  const broken = verifyMessage({ records: 42, broken_at: 7, head_seq: 42, head_hash: 'ab12' });
  assert.deepEqual(broken, { ok: false, text: '日志被篡改：第 #7 条记录与链不符' });
  assert.ok(verifyMessage({ records: 0, broken_at: null, head_seq: null, head_hash: null }).ok);
});

test('Unix seconds read as county time', () => {
  const secs = Date.UTC(2026, 10, 29, 6, 5, 9) / 1000; // 14:05:09 in the county
  assert.equal(unixLabel(secs), '2026-11-29 14:05');
  assert.equal(unixLabel(secs, true), '2026-11-29 14:05:09');
});

test('a refused join says why; the messages exist in both languages', () => {
  assert.equal(refusalKey('link_in_use', 'this link is already in use in the meeting; if that is not you, ask the secretary for a new link'), 'linkInUse');
  assert.equal(refusalKey('forbidden', 'this link was replaced by a new one: ask the secretary for the new link'), 'linkReplaced');
  assert.equal(refusalKey('forbidden', "this invitation was withdrawn: you are no longer on the meeting's list"), 'linkRevoked');
  assert.equal(refusalKey('forbidden', 'the chair removed you from this meeting'), 'removedText');
  assert.equal(refusalKey('forbidden', 'something else'), 'joinForbidden');
  assert.equal(refusalKey('meeting_closed', 'the meeting was cancelled'), 'meetingCancelled');
  assert.equal(refusalKey('meeting_closed', 'the meeting has not opened yet'), 'meetingNotOpen');
  assert.equal(refusalKey('meeting_closed', 'the meeting is locked: no new participants'), 'meetingLockedJoin');
  assert.equal(refusalKey('meeting_closed', 'the meeting has ended'), 'meetingOver');
  assert.equal(refusalKey('unauthorized', 'token expired'), 'linkInvalid');
  assert.equal(refusalKey('bad_sdp', 'x'), null, 'not a refusal of the join');
  for (const lang of ['zh', 'en']) {
    for (const key of REFUSAL_KEYS) assert.ok(MEETING[lang][key], `${lang}: ${key}`);
    assert.ok(MEETING[lang].linkReused, `${lang}: linkReused`);
  }
  assert.equal(MEETING.zh.linkInUse, '此链接正在会议中使用。如非本人，请联系会务人员重新生成链接。');
  assert.equal(MEETING.zh.linkReused, '有人试图用您的链接加入会议，已被拒绝。如非本人操作，请告知会务人员。');
});
