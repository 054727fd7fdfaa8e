// Overview: the integrity state (green, or the open violations), what needs attention (stuck,
// parked, failed requests), payouts by status per namespace and currency, and the rate of the
// last minutes. Refreshes itself every few seconds while shown.
import { h, money, seconds, statusBadge, table, time } from '../dom.js';
import { query } from '../api.js';

const REFRESH_MS = 5000;

export async function render(main, _match, ctx) {
  const body = h('div', { 'data-testid': 'overview' });
  const updated = h('p', { class: 'muted', 'aria-live': 'off' });
  main.append(h('h1', null, 'Overview'), updated, body);
  let timer;
  const load = async () => {
    const o = await ctx.call('GET', '/overview');
    if (!ctx.alive()) return;
    body.replaceChildren(...view(o));
    updated.replaceChildren('Updated ', time(o.generated_at), `; refreshes every ${REFRESH_MS / 1000} s.`);
  };
  await load();
  const tick = async () => {
    try {
      await load();
    } catch (err) {
      if (ctx.isSignedOut(err)) return;
      updated.textContent = `Refresh failed (${err.message}); trying again.`;
    }
    if (ctx.alive()) timer = setTimeout(tick, REFRESH_MS);
  };
  timer = setTimeout(tick, REFRESH_MS);
  return () => clearTimeout(timer);
}

function view(o) {
  return [
    h('div', { class: 'grid' }, integrity(o.integrity), attention(o)),
    totals(o),
    rate(o.rate),
  ];
}

function integrity(i) {
  const ok = i.ok;
  return h('section', { class: `card ${ok ? 'state-ok' : 'state-bad'}`, 'aria-labelledby': 'h-integrity', 'data-testid': 'integrity', 'data-state': ok ? 'ok' : 'violations' },
    h('h2', { id: 'h-integrity' }, 'Integrity'),
    h('p', { class: 'state' }, ok ? 'All checks agree.' : `${i.violations.length || 'Some'} open violation${i.violations.length === 1 ? '' : 's'}: the ledger, OEBS and the payouts disagree.`),
    h('p', { class: 'muted' }, 'Last good integrity run: ', time(i.checked_at)),
    !ok && i.violations.length
      ? table('Open violations', ['Kind', 'Namespace', 'Client', 'Payouts', 'Expected', 'Actual', 'Detail', 'First seen'],
        i.violations.map((v) => [v.kind, v.namespace ?? '—', v.client_id ?? '—',
          v.payout_ids.length ? v.payout_ids.slice(0, 10).map((id, n) => [n ? ', ' : '', h('a', { href: `#/payout/${id}` }, String(id))]) : '—',
          v.expected ?? '—', v.actual ?? '—', v.detail ?? '', time(v.first_seen)]), { testid: 'violations' })
      : null,
    i.tasks.length
      ? table('Tasks', ['Task', 'Last run', 'Last good run', 'Last error'], i.tasks.map((t) => [t.task, time(t.last_run_at), time(t.last_ok_at), t.last_error ?? '']))
      : h('p', { class: 'muted' }, 'No task has run yet (payout tasks).'));
}

function attention(o) {
  const stuck = o.stuck.reduce((n, s) => n + s.count, 0);
  const requests = o.requests_needing_attention.reduce((n, r) => n + r.count, 0);
  const calm = stuck === 0 && o.parked_payouts === 0 && requests === 0;
  return h('section', { class: `card ${calm ? '' : 'state-warn'}`, 'aria-labelledby': 'h-attention', 'data-testid': 'attention' },
    h('h2', { id: 'h-attention' }, 'Needs attention'),
    table('Payouts waiting longer than PAYOUT_STUCK_AFTER allows', ['Status', { label: 'Stuck', num: true }, { label: 'Oldest wait', num: true }],
      o.stuck.map((s) => [statusBadge(s.status), s.count ? h('a', { href: `#/find${query({ status: s.status })}` }, String(s.count)) : '0', seconds(s.oldest_seconds)])),
    h('p', null, 'Parked payouts: ', o.parked_payouts ? h('a', { href: '#/act' }, String(o.parked_payouts)) : '0'),
    h('p', null, 'Requests that want a person: ', requests
      ? o.requests_needing_attention.map((r, n) => [n ? ', ' : '', h('a', { href: '#/act' }, `${r.count} ${r.status}`)])
      : '0'));
}

function totals(o) {
  return h('section', { class: 'card', 'aria-labelledby': 'h-totals' },
    h('h2', { id: 'h-totals' }, 'Payouts by status'),
    h('p', { class: 'muted' }, 'Every payout still under way; done and rejected ones changed since ', time(o.final_since), '.'),
    o.totals.length
      ? table('Count and amount per namespace, currency and status', ['Namespace', 'Currency', 'Status', { label: 'Count', num: true }, { label: 'Amount', num: true }],
        o.totals.map((t) => [t.namespace, t.currency, statusBadge(t.status),
          h('a', { href: `#/find${query({ namespace: t.namespace, status: t.status })}` }, String(t.count)), money(t.amount)]), { testid: 'totals' })
      : h('p', null, 'No payouts yet.'));
}

function rate(rows) {
  return h('section', { class: 'card', 'aria-labelledby': 'h-rate' },
    h('h2', { id: 'h-rate' }, `The last ${rows.length} minutes`),
    table('Payouts created and done per minute (the last minute is still under way)', ['Minute', { label: 'Created', num: true }, { label: 'Done', num: true }],
      rows.slice().reverse().map((r) => [time(r.minute), String(r.created), String(r.done)])));
}
