// dom.js: building the page without innerHTML. Every name, header and body shown
// comes from the broker's clients, so text always goes in as text nodes.

// h makes an element. attrs: "on<event>" adds a listener, "testid" sets data-testid,
// value/checked/selected/disabled are set as properties, true adds a bare attribute,
// null/undefined/false leaves the attribute out. Children may be nested arrays,
// strings, numbers or nodes; null and false are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// replace swaps the children of el.
export function replace(el, ...children) {
  el.replaceChildren();
  add(el, children);
}

let ids = 0;
// uid gives a fresh element id, for labels.
export const uid = (p) => `${p}-${++ids}`;

const numFmt = new Intl.NumberFormat('en');
export function num(n) {
  return typeof n === 'number' ? numFmt.format(n) : n === undefined || n === null ? '' : String(n);
}

// rate formats a "<x>_details" object's rate as RabbitMQ's UI does ("1.2/s").
export function rate(details) {
  if (!details || typeof details.rate !== 'number') return '';
  const r = details.rate;
  return `${Math.abs(r) >= 100 ? numFmt.format(Math.round(r)) : r.toFixed(1)}/s`;
}

export function bytes(n) {
  if (typeof n !== 'number') return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${u[i]}`;
}

export function since(ms) {
  if (typeof ms !== 'number') return '';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${s % 60}s`;
  return `${s}s`;
}

export function time(ms) {
  if (typeof ms !== 'number') return '';
  return new Date(ms).toLocaleString('en-GB', { hour12: false });
}

// value shows an argument, header or property value: strings as they are, the rest as
// JSON.
export function value(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// sorts remembers each table's sort column (by label) and direction, across redraws.
const sorts = new Map();

function compare(a, b) {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), 'en', { numeric: true });
}

// table renders rows under headed columns. cols: [{label, cell(row), num, sort(row)}];
// a column with sort has a header button that sorts by it (again: the other way).
// key(row) names a row for tests (data-key). empty: the text for no rows.
export function table(opts) {
  const { testid, caption, cols, key, empty = 'Nothing to show.', limit = 500 } = opts;
  let rows = opts.rows;
  if (!rows.length) return h('p', { class: 'empty', testid: testid && `${testid}-empty` }, empty);
  const st = sorts.get(testid);
  const sortCol = st && cols.find((c) => c.label === st.label && c.sort);
  if (sortCol) rows = [...rows].sort((a, b) => st.dir * compare(sortCol.sort(a), sortCol.sort(b)));
  const shown = rows.slice(0, limit);
  let wrap = null;
  const header = (c) => {
    if (!c.sort) return h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label);
    const on = sortCol === c;
    return h('th', { scope: 'col', class: c.num ? 'num' : null, 'aria-sort': on ? (st.dir > 0 ? 'ascending' : 'descending') : null },
      h('button', { type: 'button', class: 'sort', testid: testid && `${testid}-sort`, onclick: () => {
        // Numbers sort largest first on the first click, names A to Z.
        const dir = on ? -st.dir : c.num ? -1 : 1;
        sorts.set(testid, { label: c.label, dir });
        const again = table(opts);
        wrap.replaceWith(again);
        again.querySelector('th[aria-sort] button')?.focus();
      } }, c.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, on ? (st.dir > 0 ? ' ▲' : ' ▼') : '')));
  };
  wrap = h('div', { class: 'table-wrap' },
    h('table', { testid },
      caption && h('caption', {}, caption),
      h('thead', {}, h('tr', {}, cols.map(header))),
      h('tbody', {}, shown.map((r) => h('tr', { 'data-key': key ? key(r) : null },
        cols.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(r))))))),
    rows.length > shown.length && h('p', { class: 'note' }, `Showing ${shown.length} of ${num(rows.length)}; narrow the filter to see the rest.`));
  return wrap;
}

// kv renders a definition list of [label, value] pairs, skipping empty values.
export function kv(pairs, testid) {
  return h('dl', { class: 'kv', testid },
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// args renders an arguments or headers table (object) as a definition list.
export function args(obj, testid) {
  const keys = Object.keys(obj || {});
  if (!keys.length) return h('span', { class: 'muted', testid }, 'none');
  return h('dl', { class: 'kv args', testid }, keys.sort().map((k) => [h('dt', {}, k), h('dd', {}, value(obj[k]))]));
}

// field is a labelled form control. control: an element made with h (input, select,
// textarea); it gets an id and the label points at it.
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  const hintEl = hint && h('small', { class: 'hint', id: `${control.id}-hint` }, hint);
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  const isCheck = control.type === 'checkbox';
  return h('div', { class: isCheck ? 'field check' : 'field' },
    isCheck ? [control, h('label', { for: control.id }, label)] : [h('label', { for: control.id }, label), control],
    hintEl);
}

export function select(attrs, options, selected) {
  return h('select', attrs, options.map((o) => {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: v === selected }, label);
  }));
}

// status shows the result of an action next to its form: an error (role=alert) or a
// note (role=status).
export function status(el, what, isError) {
  el.className = isError ? 'status error' : 'status ok';
  el.setAttribute('role', isError ? 'alert' : 'status');
  el.textContent = what;
}

export function errorText(err) {
  if (err && err.status !== undefined) {
    return err.reason ? `${err.error}: ${err.reason}` : err.error;
  }
  return String((err && err.message) || err);
}

// busy disables a form's buttons while fn runs, then reports to its status element.
export async function submitting(form, statusEl, fn) {
  const buttons = form.querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  statusEl.textContent = '';
  statusEl.className = 'status';
  try {
    const msg = await fn();
    if (msg) status(statusEl, msg, false);
  } catch (e) {
    status(statusEl, errorText(e), true);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// confirmButton is a button that asks for a second click on an inline "Yes" button
// before it runs fn (no window.confirm: it blocks the page and skips screen readers'
// flow).
export function confirmButton({ label, confirm, testid, danger = true, run }) {
  const wrap = h('span', { class: 'confirm' });
  const first = h('button', { type: 'button', class: danger ? 'danger' : null, testid, onclick: () => {
    replace(wrap,
      h('span', { class: 'confirm-q', role: 'alert' }, confirm, ' '),
      h('button', { type: 'button', class: 'danger', testid: `${testid}-confirm`, onclick: async () => {
        replace(wrap, first);
        await run();
      } }, 'Yes'),
      ' ',
      h('button', { type: 'button', testid: `${testid}-cancel`, onclick: () => { replace(wrap, first); first.focus(); } }, 'Cancel'));
    wrap.querySelector('button').focus();
  } }, label);
  wrap.append(first);
  return wrap;
}

// parseArgs reads "key = value" lines into an object. A value that parses as JSON
// (numbers, true, false, "quoted strings", objects, lists) is that JSON; anything else
// is a string. Blank lines and lines starting with # are skipped.
export function parseArgs(text) {
  const out = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`line ${i + 1}: expected key = value`);
    const k = line.slice(0, eq).trim();
    const v = line.slice(eq + 1).trim();
    try {
      out[k] = JSON.parse(v);
    } catch {
      out[k] = v;
    }
  }
  return out;
}

// filterBox is a "Filter" input that redraws the list as the user types.
export function filterBox(testid, redraw) {
  const input = h('input', { type: 'search', id: `${testid}-input`, testid, placeholder: 'name contains…', oninput: redraw });
  return { el: h('div', { class: 'field inline' }, h('label', { for: input.id }, 'Filter'), input), match: (s) => String(s).toLowerCase().includes(input.value.trim().toLowerCase()) };
}

// features abbreviates a queue's or exchange's flags as RabbitMQ's UI does.
export function features(o) {
  const f = [];
  if (o.durable) f.push(['D', 'durable']);
  if (o.auto_delete) f.push(['AD', 'auto-delete']);
  if (o.exclusive) f.push(['Excl', 'exclusive']);
  if (o.internal) f.push(['I', 'internal']);
  const a = o.arguments || {};
  const short = {
    'x-message-ttl': 'TTL', 'x-expires': 'Exp', 'x-max-length': 'Lim', 'x-max-length-bytes': 'Lim B',
    'x-dead-letter-exchange': 'DLX', 'x-dead-letter-routing-key': 'DLK', 'x-max-priority': 'Pri',
    'x-overflow': 'Ovfl', 'x-queue-type': null, 'x-single-active-consumer': 'SAC',
    'alternate-exchange': 'AE', 'x-delivery-limit': 'DL', 'x-queue-mode': 'Mode',
  };
  for (const k of Object.keys(a).sort()) {
    if (short[k] === null) continue;
    f.push([short[k] || 'Args', `${k}: ${value(a[k])}`]);
  }
  return h('span', { class: 'features' }, f.map(([s, t]) => h('abbr', { title: t }, s)));
}
