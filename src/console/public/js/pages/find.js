// Find payouts by client, payout, request, external id or OEBS batch/check/payment id; filter by
// status, namespace and creation date; newest first, a page at a time (the api's cursor). The
// search lives in the address (#/find?client_id=42), so a result can be linked and reloaded.
import { field, h, money, statusBadge, table, time } from '../dom.js';
import { query } from '../api.js';

const FILTERS = [
  ['client_id', 'Client id', 'numeric'],
  ['request_id', 'Request id', 'numeric'],
  ['external_id', 'External id (payout or request)', 'text'],
  ['oebs_batch_id', 'OEBS batch id', 'text'],
  ['oebs_check_id', 'OEBS check id', 'text'],
  ['oebs_payment_id', 'OEBS payment id', 'text'],
];
const PAGE = 50;

export async function render(main, match, ctx) {
  const params = new URLSearchParams(match[1] ?? '');
  const meta = await ctx.meta();
  const inputs = {};
  const text = (name, mode) => (inputs[name] = h('input', { type: 'text', inputmode: mode === 'numeric' ? 'numeric' : undefined, value: params.get(name) ?? '' }));
  const select = (name, options) => (inputs[name] = h('select', null, h('option', { value: '' }, 'any'),
    options.map((o) => h('option', { value: o, selected: params.get(name) === o }, o))));
  const date = (name) => (inputs[name] = h('input', { type: 'date', value: params.get(name) ?? '' }));
  const payoutId = h('input', { type: 'text', inputmode: 'numeric' });
  const error = h('p', { class: 'error', role: 'alert' });

  const form = h('form', {
    class: 'filters', role: 'search', 'aria-label': 'Find payouts',
    onSubmit: (e) => {
      e.preventDefault();
      const id = payoutId.value.trim();
      if (id) {
        if (!/^[1-9][0-9]*$/.test(id)) { error.textContent = 'Payout id: a positive whole number.'; payoutId.focus(); return; }
        ctx.go(`#/payout/${id}`);
        return;
      }
      const q = {};
      for (const [name, input] of Object.entries(inputs)) q[name] = input.value.trim();
      const next = `#/find${query(q)}`;
      // The same search again (e.g. to refresh) re-renders too.
      if (location.hash === next) ctx.go(`${next}&`); else ctx.go(next);
    },
  },
  field('payout_id', 'Payout id (opens its story)', payoutId),
  FILTERS.map(([name, label, mode]) => field(name, label, text(name, mode))),
  field('status', 'Status', select('status', meta.payoutStatuses)),
  field('namespace', 'Namespace', select('namespace', meta.namespaces)),
  field('from', 'Created from (UTC day)', date('from')),
  field('to', 'Created to (UTC day, inclusive)', date('to')),
  h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Find')));

  const results = h('div', { 'data-testid': 'results' });
  main.append(h('h1', null, 'Find payouts'), form, error, results);

  const filters = {};
  for (const [k, v] of params) if (k in inputs && v) filters[k] = v;
  if (!Object.keys(filters).length && !params.has('all')) {
    results.append(h('p', { class: 'muted' }, 'Give one or more filters, or ', h('a', { href: '#/find?all=1' }, 'list every payout'), ' (newest first).'));
    return;
  }
  const rows = [];
  const loadPage = async (cursor) => {
    const page = await ctx.call('GET', `/payout${query({ ...filters, limit: PAGE, cursor })}`);
    rows.push(...page.payouts);
    if (!ctx.alive()) return;
    const more = page.next_cursor
      ? h('button', { type: 'button', onClick: async (e) => {
        e.target.disabled = true;
        try { await loadPage(page.next_cursor); } catch (err) { if (!ctx.isSignedOut(err)) error.textContent = err.message; }
      } }, 'More payouts')
      : null;
    results.replaceChildren(
      h('p', { role: 'status' }, rows.length ? `${rows.length} payout${rows.length === 1 ? '' : 's'}${page.next_cursor ? ' so far' : ''}, newest first.` : 'No payouts match.'),
      rows.length ? table('Payouts found', ['Payout', 'Namespace', 'Client', 'Contract', { label: 'Amount', num: true }, 'Status', 'Request', 'Created'],
        rows.map((p) => ({ id: p.id, cells: [h('a', { href: `#/payout/${p.id}` }, `#${p.id}`), p.namespace, String(p.client_id), String(p.contract_id),
          money(p.amount_oebs ?? p.amount, p.currency), [statusBadge(p.status), p.approve_req && p.status === 'new' ? ' awaiting approval' : ''],
          p.request_id ? String(p.request_id) : '—', time(p.created_at)] })), { testid: 'payouts' }) : null,
      more);
  };
  try {
    await loadPage(undefined);
  } catch (err) {
    if (ctx.isSignedOut(err)) throw err;
    error.textContent = `The api refused this search: ${err.message}`;
  }
}
