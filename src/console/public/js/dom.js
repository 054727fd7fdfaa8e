// The console's one helper: build DOM from plain calls. Text always goes in as text nodes (never
// innerHTML), so nothing the api returns can become markup.

/** h('a', {href: '#/x', onClick: fn}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  add(el, children);
  return el;
}

export function add(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** A table with a caption; cells are text or nodes; `num` columns are right-aligned. */
export function table(caption, columns, rows, opts = {}) {
  const isNum = (i) => columns[i]?.num === true;
  const label = (c) => (typeof c === 'string' ? c : c.label);
  return h('table', { 'data-testid': opts.testid },
    h('caption', null, caption),
    h('thead', null, h('tr', null, columns.map((c, i) => h('th', { scope: 'col', class: isNum(i) ? 'num' : undefined }, label(c))))),
    h('tbody', null, rows.map((r) => h('tr', { 'data-id': r.id }, (r.cells ?? r).map((cell, i) => h('td', { class: isNum(i) ? 'num' : undefined }, cell))))));
}

export const statusBadge = (s) => h('span', { class: `status status-${s}` }, s);

/** An ISO time as the operator's local date and time, with the exact value on hover. */
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }));
}

export function seconds(n) {
  if (!n) return '—';
  if (n < 120) return `${n} s`;
  if (n < 7200) return `${Math.round(n / 60)} min`;
  if (n < 172800) return `${Math.round(n / 3600)} h`;
  return `${Math.round(n / 86400)} d`;
}

/** A decimal string from the api as it is (money never becomes a JS number here), trailing zeros after two decimals trimmed. */
export function money(amount, currency) {
  if (amount === null || amount === undefined) return '—';
  const m = /^(-?\d+)(?:\.(\d*?))0*$/.exec(amount);
  const text = m ? `${m[1]}.${(m[2] ?? '').padEnd(2, '0')}` : amount;
  return currency ? `${text} ${currency}` : text;
}

/** Puts a live message where screen readers announce it. */
export function announce(text) {
  const el = document.getElementById('announce');
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 50);
}

export function field(id, label, input) {
  input.id = id;
  input.name ??= id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}
