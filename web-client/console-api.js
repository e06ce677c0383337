// The REST API (docs/api.md) as the console uses it: JSON in and out, the
// session in a cookie. Every failure becomes an ApiError whose message is
// ready for the user: what went wrong in their language, then the server's
// own words.

import { t } from './i18n.js';

/// A failed request: `status` (0 when the server could not be reached),
/// the server's `code` and own words (`detail`), and a message for the user.
export class ApiError extends Error {
  constructor(status, code, detail) {
    const what = status === 0 ? t('errNetwork') : (t('httpStatus')[status] ?? t('errStatus', { status }));
    const missing = status === 404 && !code ? t('errMissingApi') : '';
    super([what, detail, missing].filter(Boolean).join('：'));
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/// A message for `err` that leads with `lead` (what went wrong, in the
/// user's language) and keeps the server's own words; without a lead, the
/// error's usual message.
export function explain(err, lead) {
  if (!lead) return err.message;
  return err.detail ? t('withDetail', { lead, detail: err.detail }) : lead;
}

/// Calls the API. `json` or `csv` is the body; `ifMatch` an ETag.
/// Resolves `{ data, etag }`; rejects with an ApiError. A 401 outside the
/// login itself also fires `huiyi:logged-out` on window (session expired);
/// a 403 `password_change_required` fires `huiyi:password-change` (the
/// account must set a new password before anything else).
export async function request(path, { method = 'GET', json, csv, ifMatch } = {}) {
  const headers = {};
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (csv !== undefined) {
    headers['Content-Type'] = 'text/csv; charset=utf-8';
    body = csv;
  }
  if (ifMatch) headers['If-Match'] = ifMatch;
  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, null, '');
  }
  const isJson = (res.headers.get('Content-Type') || '').includes('json');
  const data = isJson ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const code = data?.error?.code ?? null;
    if (res.status === 401 && path !== '/api/v1/login') window.dispatchEvent(new Event('huiyi:logged-out'));
    if (res.status === 403 && code === 'password_change_required') window.dispatchEvent(new Event('huiyi:password-change'));
    throw new ApiError(res.status, code, data?.error?.message ?? '');
  }
  return { data, etag: res.headers.get('ETag') };
}

/// GET, resolving the body.
export const get = async (path) => (await request(path)).data;
/// POST a JSON body (or nothing), resolving the body.
export const post = async (path, json) => (await request(path, { method: 'POST', json })).data;

const cache = new Map();

/// GET once per page load (the organisation tree, the chairs): later calls
/// share the first answer. A failed answer is not kept.
export function cached(path) {
  if (!cache.has(path)) {
    const p = get(path);
    cache.set(path, p);
    p.catch(() => cache.delete(path));
  }
  return cache.get(path);
}

/// Forgets a cached answer (after the organisation is imported again).
export const forget = (path) => cache.delete(path);

/// The organisation tree, `[{id, parent, name, kind}]`.
export const orgUnits = () => cached('/api/v1/org');
/// Chair accounts, `[{id, username, display_name, role}]`.
export const chairs = () => cached('/api/v1/accounts?role=chair');
