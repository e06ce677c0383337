// The organisation tree (county → townships and departments → venues and
// persons): collapsible, searchable, and optionally with checkboxes for
// picking a meeting's participants. Checking a township or a department
// selects every venue and person below it.

import { h } from './dom.js';
import { t, label } from './i18n.js';

/// Kinds that can be invited (the others only group them).
const INVITABLE = new Set(['venue', 'person']);

export class OrgTree {
  /// `units`: `[{id, parent, name, kind}]`; `onChange` runs after every
  /// change of the selection (only with `selectable`); `actions(unit)`, if
  /// given, makes the buttons shown on each unit's line (editing the
  /// organisation).
  constructor(container, units, { selectable = false, onChange = () => {}, actions = null } = {}) {
    this.selectable = selectable;
    this.onChange = onChange;
    this.actions = actions;
    this.chosen = new Set();
    this.nodes = new Map(units.map((u) => [u.id, { unit: u, children: [], parent: null }]));
    const roots = [];
    for (const node of this.nodes.values()) {
      const parent = this.nodes.get(node.unit.parent);
      if (parent) {
        node.parent = parent;
        parent.children.push(node);
      } else roots.push(node);
    }
    for (const node of this.nodes.values()) node.targets = this.targetsOf(node);
    this.list = h('ul', { class: 'tree' }, roots.map((n) => this.render(n, 0)));
    container.replaceChildren(units.length ? this.list : h('p', { class: 'muted' }, t('orgEmpty')));
    this.refresh();
  }

  /// Invitable ids at or below `node`.
  targetsOf(node) {
    const out = INVITABLE.has(node.unit.kind) ? [node.unit.id] : [];
    for (const c of node.children) out.push(...this.targetsOf(c));
    return out;
  }

  render(node, depth) {
    const { id, name, kind } = node.unit;
    node.expanded = depth === 0;
    node.toggle = node.children.length
      ? h('button', { type: 'button', class: 'twisty', 'aria-label': t('expand'), onclick: () => this.expand(node, !node.expanded) })
      : h('span', { class: 'twisty' });
    node.box = this.selectable
      ? h('input', { type: 'checkbox', dataset: { org: id }, disabled: !node.targets.length, onchange: (e) => this.check(node, e.target.checked) })
      : null;
    node.tally = node.children.length ? h('span', { class: 'tally' }) : null;
    node.sub = node.children.length ? h('ul', {}, node.children.map((c) => this.render(c, depth + 1))) : null;
    node.li = h('li', { dataset: { id, kind } },
      h('div', { class: 'node' }, node.toggle,
        h('label', {}, node.box, h('span', { class: 'name' }, name), h('span', { class: `kind kind-${kind}` }, label('kinds', kind))),
        node.tally,
        this.actions ? h('span', { class: 'node-actions' }, this.actions(node.unit)) : null),
      node.sub);
    this.expand(node, node.expanded);
    return node.li;
  }

  expand(node, open) {
    node.expanded = open;
    if (!node.sub) return;
    node.sub.hidden = !open;
    node.toggle.textContent = open ? '▾' : '▸';
    node.toggle.setAttribute('aria-expanded', String(open));
  }

  check(node, on) {
    for (const id of node.targets) {
      if (on) this.chosen.add(id);
      else this.chosen.delete(id);
    }
    this.refresh();
    this.onChange();
  }

  /// Brings checkboxes and per-group tallies in line with the selection.
  refresh() {
    for (const node of this.nodes.values()) {
      const n = node.targets.filter((id) => this.chosen.has(id)).length;
      if (node.box) {
        node.box.checked = n > 0 && n === node.targets.length;
        node.box.indeterminate = n > 0 && n < node.targets.length;
      }
      if (node.tally) node.tally.textContent = this.selectable ? `${n}/${node.targets.length}` : String(node.targets.length);
    }
  }

  /// The selected venue and person ids, in tree order.
  get selected() {
    return [...this.nodes.keys()].filter((id) => this.chosen.has(id));
  }

  /// Selects exactly these ids (unknown ids are kept, so an edit keeps them).
  set selected(ids) {
    this.chosen = new Set(ids);
    this.refresh();
    this.onChange();
  }

  /// Names of the selected units (the id where the tree does not know it).
  selectedNames() {
    return [...this.chosen].map((id) => this.nodes.get(id)?.unit.name ?? id);
  }

  /// Counts of the selection by kind: `{venue, person}`.
  counts() {
    const out = { venue: 0, person: 0 };
    for (const id of this.chosen) {
      const kind = this.nodes.get(id)?.unit.kind;
      if (kind in out) out[kind]++;
    }
    return out;
  }

  /// Shows only units whose name or id contains `text` (and their
  /// ancestors, opened); an empty text shows the whole tree again, folded.
  filter(text) {
    const q = text.trim().toLowerCase();
    const visible = new Set();
    for (const node of this.nodes.values()) {
      const { id, name } = node.unit;
      if (!q || name.toLowerCase().includes(q) || id.toLowerCase() === q) {
        for (let n = node; n && !visible.has(n); n = n.parent) visible.add(n);
      }
    }
    for (const node of this.nodes.values()) {
      node.li.hidden = !visible.has(node);
      this.expand(node, q ? node.children.some((c) => visible.has(c)) : !node.parent);
    }
  }
}
