// Act: the approval queue (approve / decline with a reason), parked payouts and the requests that
// want a person (retry), and the replay of oebs-errors messages. Each action is confirmed and its
// result (or the api's refusal) is shown in the section's result line.
import { field, h, money, statusBadge, table, time } from '../dom.js';
import { query } from '../api.js';
import { resultLine } from '../dialog.js';
import * as act from '../actions.js';

export async function render(main, _match, ctx) {
  const meta = await ctx.meta();
  main.append(h('h1', null, 'Act'));
  const sections = [
    approvals(ctx),
    meta.payoutStatuses.includes('parked') ? parkedPayouts(ctx) : null,
    requests(ctx, meta.requestStatuses.filter((s) => s !== 'new' && s !== 'done')),
    replay(ctx),
  ].filter(Boolean);
  for (const s of sections) main.append(s.el);
  await Promise.all(sections.map((s) => s.load?.()));
}

/** A section whose list reloads after each action; `rows` fetches, `show` renders. */
function listSection({ ctx, id, title, intro, rows, show }) {
  const result = resultLine();
  const list = h('div', { 'data-testid': id });
  const el = h('section', { class: 'card', 'aria-labelledby': `h-${id}` }, h('h2', { id: `h-${id}` }, title), h('p', { class: 'muted' }, intro), result.el, list);
  const load = async () => {
    try {
      list.replaceChildren(show(await rows(), result, load));
    } catch (err) {
      if (ctx.isSignedOut(err)) throw err;
      list.replaceChildren(h('p', { class: 'error' }, `Could not list: ${err.message}`));
    }
  };
  return { el, load };
}

function approvals(ctx) {
  return listSection({
    ctx, id: 'approvals', title: 'Waiting for approval',
    intro: 'Payouts of PAYOUT_APPROVE_REQUIRED namespaces wait here for a person, oldest first.',
    rows: async () => (await ctx.call('GET', `/payout${query({ approve_req: 'true', status: 'new', limit: 100 })}`)).payouts,
    show: (rows, result, reload) => (rows.length
      ? table('Payouts waiting for approval', ['Payout', 'Namespace', 'Client', { label: 'Amount', num: true }, 'Created', 'Action'],
        rows.map((p) => ({ id: p.id, cells: [h('a', { href: `#/payout/${p.id}` }, `#${p.id}`), p.namespace, String(p.client_id), money(p.amount, p.currency), time(p.created_at),
          h('span', { class: 'buttons' },
            h('button', { type: 'button', class: 'primary', 'aria-label': `Approve payout ${p.id}`, onClick: async () => { if (await act.approve(ctx, result, p)) await reload(); } }, 'Approve'),
            h('button', { type: 'button', class: 'danger', 'aria-label': `Decline payout ${p.id}`, onClick: async () => { if (await act.decline(ctx, result, p)) await reload(); } }, 'Decline'))] })),
        { testid: 'approval-queue' })
      : h('p', null, 'No payout is waiting for approval.')),
  });
}

function parkedPayouts(ctx) {
  return listSection({
    ctx, id: 'parked', title: 'Parked payouts',
    intro: 'Payouts whose transient failures kept repeating; retry one once the cause is fixed.',
    rows: async () => (await ctx.call('GET', `/payout${query({ status: 'parked', limit: 100 })}`)).payouts,
    show: (rows, result, reload) => (rows.length
      ? table('Parked payouts', ['Payout', 'Namespace', 'Client', { label: 'Amount', num: true }, 'Error', 'Changed', 'Action'],
        rows.map((p) => ({ id: p.id, cells: [h('a', { href: `#/payout/${p.id}` }, `#${p.id}`), p.namespace, String(p.client_id), money(p.amount, p.currency), p.error ?? '', time(p.updated_at),
          h('button', { type: 'button', class: 'primary', 'aria-label': `Retry payout ${p.id}`, onClick: async () => { if (await act.retryPayout(ctx, result, p)) await reload(); } }, 'Retry')] })),
        { testid: 'parked-payouts' })
      : h('p', null, 'No payout is parked.')),
  });
}

function requests(ctx, statuses) {
  return listSection({
    ctx, id: 'requests', title: 'Requests that want a person',
    intro: `Requests in ${statuses.join(' or ')}; retry one to send it back to req-gate.`,
    rows: async () => (await Promise.all(statuses.map((status) => ctx.call('GET', `/request${query({ status, limit: 100 })}`))))
      .flatMap((page) => page.requests).sort((a, b) => b.id - a.id),
    show: (rows, result, reload) => (rows.length
      ? table('Requests', ['Request', 'External id', 'Namespace', 'Client', 'Status', 'Error', 'Action'],
        rows.map((r) => ({ id: r.id, cells: [h('a', { href: `#/find?request_id=${r.id}` }, `#${r.id}`), r.external_id, r.namespace, String(r.client_id), statusBadge(r.status), r.error ?? '',
          h('button', { type: 'button', class: 'primary', 'aria-label': `Retry request ${r.id}`, onClick: async () => { if (await act.retryRequest(ctx, result, r)) await reload(); } }, 'Retry')] })),
        { testid: 'request-list' })
      : h('p', null, 'No request wants a person.')),
  });
}

function replay(ctx) {
  const result = resultLine();
  const since = h('input', { type: 'datetime-local', step: 1 });
  const topic = h('input', { type: 'text', placeholder: 'every oebs-errors topic' });
  const form = h('form', {
    class: 'filters',
    onSubmit: async (e) => {
      e.preventDefault();
      const body = {};
      if (since.value) body.since = new Date(since.value).toISOString();
      if (topic.value.trim()) body.topic = topic.value.trim();
      await act.replay(ctx, result, body);
    },
  },
  field('replay-since', 'Messages since (your local time; empty: all)', since),
  field('replay-topic', 'Topic (empty: all)', topic),
  h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Replay oebs-errors')));
  const el = h('section', { class: 'card', 'aria-labelledby': 'h-replay', 'data-testid': 'replay' },
    h('h2', { id: 'h-replay' }, 'Replay oebs-errors'),
    h('p', { class: 'muted' }, 'Messages the receiver could not apply went to oebs-errors; once the cause is fixed, send them back to it.'),
    form, result.el);
  return { el };
}
