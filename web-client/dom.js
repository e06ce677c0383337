// DOM helpers shared by the meeting page and the secretary console:
// finding and building elements, attribute selectors that are safe for any
// id, and downloads made in the page. No innerHTML anywhere: text is always
// set as text, so names and chat messages need no HTML escaping.

/// The element with this id.
export const $ = (id) => document.getElementById(id);

/// Keys `h` sets as properties, not attributes (`muted` as both: a video
/// made by script is muted only through the property, as the parser would
/// have it from the attribute).
const PROPS = new Set(['value', 'disabled', 'muted']);

/// Creates an element: `h('a', { class: 'x', href, dataset: {...}, onclick }, child, ...)`.
/// Attributes that are null, undefined or false are skipped, true is an
/// empty attribute; `on…` keys add listeners. Children are nodes or text
/// (arrays are flattened); null, undefined and false are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (PROPS.has(k)) {
      el[k] = v;
      if (k === 'muted') el.setAttribute('muted', '');
    } else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/// A CSS attribute selector `[data-NAME="VALUE"]`, VALUE escaped (ids may
/// hold any character).
export const dataSelector = (name, value) => `[data-${name}="${CSS.escape(String(value))}"]`;

/// The first element (of `tag`, if given) under `root` whose data-NAME is VALUE.
export const byData = (name, value, { tag = '', root = document } = {}) => root.querySelector(`${tag}${dataSelector(name, value)}`);

/// Offers `blob` as a download named `filename`.
export function download(filename, blob) {
  const a = h('a', { href: URL.createObjectURL(blob), download: filename });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/// One CSV cell, quoted (quotes doubled).
export const csvCell = (value) => `"${String(value ?? '').replace(/"/g, '""')}"`;

/// Downloads rows of cells as CSV for Excel: a BOM (so Chinese reads right)
/// and CRLF line ends.
export function downloadCsv(filename, rows) {
  const csv = '\ufeff' + rows.map((r) => r.map(csvCell).join(',')).join('\r\n');
  download(filename, new Blob([csv], { type: 'text/csv' }));
}
