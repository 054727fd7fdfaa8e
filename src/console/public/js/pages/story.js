// A payout's story: what it is and where it stands, every status change with who and why, the
// ledger batches behind it, its CPFs, the messages sent and received for it, the OEBS payments and
// the request it came from. Actions (approve/decline, retry) where the payout allows them. While
// the payout is under way, or its ledger events are still on their way (the ledger outbox), the
// page follows it (refreshes every few seconds).
import { h, money, statusBadge, table, time } from '../dom.js';
import { resultLine } from '../dialog.js';
import * as act from '../actions.js';

const FOLLOW_MS = 2000;
const FINAL = new Set(['done', 'rejected']);
/** Settled: a final status, and no ledger event of it still to be sent (a refused one waits for a person, not for the page). */
const settled = (s) => FINAL.has(s.payout.status) && !s.ledger.outbox.some((o) => !o.refused);

export async function render(main, match, ctx) {
  const id = match[1];
  const result = resultLine();
  const body = h('div', { 'data-testid': 'story' });
  main.append(h('h1', null, `Payout #${id}`), result.el, body);
  let timer;
  const load = async () => {
    const s = await ctx.call('GET', `/payout/${id}/story`);
    if (ctx.alive()) body.replaceChildren(...view(s, ctx, result, () => reload()));
    return s;
  };
  const follow = (s) => {
    clearTimeout(timer);
    if (ctx.alive() && !settled(s)) timer = setTimeout(async () => {
      try { follow(await load()); } catch (err) { if (!ctx.isSignedOut(err)) follow(s); }
    }, FOLLOW_MS);
  };
  const reload = async () => follow(await load());
  let s;
  try {
    s = await load();
  } catch (err) {
    if (err.status === 404) {
      body.append(h('p', { class: 'error', role: 'alert' }, `No payout #${id} in this token's namespaces.`));
      return undefined;
    }
    throw err;
  }
  follow(s);
  return () => clearTimeout(timer);
}

function view(s, ctx, result, reload) {
  const p = s.payout;
  const acting = (fn) => async () => {
    const done = await fn(ctx, result, p);
    if (done) await reload();
  };
  const actions = [];
  if (p.status === 'new' && p.approve_req) {
    actions.push(h('button', { type: 'button', class: 'primary', onClick: acting(act.approve) }, 'Approve'),
      h('button', { type: 'button', class: 'danger', onClick: acting(act.decline) }, 'Decline'));
  }
  if (p.status === 'parked') actions.push(h('button', { type: 'button', class: 'primary', onClick: acting(act.retryPayout) }, 'Retry'));

  return [
    h('section', { class: 'card', 'aria-labelledby': 'h-payout' },
      h('h2', { id: 'h-payout' }, 'Where it stands'),
      h('dl', { class: 'facts', 'data-testid': 'facts' },
        fact('Status', [statusBadge(p.status), p.status === 'new' && p.approve_req ? ' awaiting approval' : '', settled(s) ? '' : ' (following)'], 'status'),
        fact('Amount', money(p.amount, p.currency)),
        fact('Amount to OEBS', money(p.amount_oebs, p.currency)),
        fact('Namespace', p.namespace),
        fact('Client / contract / service', `${p.client_id} / ${p.contract_id} / ${p.service_id}`),
        fact('External id', p.external_id),
        fact('Dry run', p.dry_run === null ? '—' : p.dry_run ? 'yes' : 'no'),
        fact('Error', p.error ?? '—'),
        fact('OEBS batch / check / payment', `${p.oebs_batch_id ?? '—'} / ${p.oebs_check_id ?? '—'} / ${p.oebs_payment_id ?? '—'}`),
        fact('Last OEBS status', p.oebs_status ?? '—'),
        fact('Created / changed', [time(p.created_at), ' / ', time(p.updated_at)])),
      actions.length ? h('div', { class: 'buttons' }, actions) : null),
    h('section', { class: 'card', 'aria-labelledby': 'h-request' },
      h('h2', { id: 'h-request' }, 'Request'),
      s.request
        ? h('p', { 'data-testid': 'request' }, `Request #${s.request.id} (${s.request.external_id}) for client ${s.request.client_id}: `, statusBadge(s.request.status),
          s.request.error ? ` ${s.request.error}` : '', ' · ', h('a', { href: `#/find?request_id=${s.request.id}` }, 'all its payouts'))
        : h('p', null, 'A fixed-amount payout (POST /payout): no request.')),
    h('section', { class: 'card', 'aria-labelledby': 'h-timeline' },
      h('h2', { id: 'h-timeline' }, 'Timeline'),
      h('ol', { class: 'timeline', 'data-testid': 'timeline' }, s.history.map((e) => h('li', null,
        time(e.at), ' ', statusBadge(e.status),
        e.action ? ` ${e.action}${e.actor ? ` by ${e.actor}` : ''}` : '',
        e.reason ? `: ${e.reason}` : '', e.error && !e.reason ? ` — ${e.error}` : '')))),
    h('section', { class: 'card', 'aria-labelledby': 'h-ledger', 'data-testid': 'ledger', 'data-available': String(s.ledger.available) },
      h('h2', { id: 'h-ledger' }, 'Ledger events'),
      !s.ledger.available
        ? h('p', { class: 'error' }, `Unavailable: ${s.ledger.message}. The rest of this page is still true.`)
        : s.ledger.entries.length
          ? table('Batches payout wrote in the accounts system for this payout', ['Step', 'When', 'Batch', 'Events', 'External id'],
            s.ledger.entries.map((e) => ({ id: e.batch_id, cells: [e.step + (e.payment_id ? ` (payment ${e.payment_id})` : ''), e.dt, e.batch_id,
              e.events.length ? e.events.map((x, n) => [n ? h('br') : '', `${x.type} ${x.loc.type} ${money(x.amount, x.loc.currency)}`]) : 'no money moved',
              h('code', null, e.external_id)] })), { testid: 'ledger-entries' })
          : h('p', null, 'No ledger events yet (the sender has not reserved its money).'),
      s.ledger.outbox.length
        ? table('Decided, not in the ledger yet (the ledger outbox): the ledger writer sends them; a refused one waits for a person',
          ['Event', 'Since', 'State', 'External id'],
          s.ledger.outbox.map((o) => [o.event_type, time(o.since),
            o.refused ? h('span', { class: 'error' }, `refused ${o.refused.at}: ${o.refused.reason}`) : 'waiting',
            h('code', null, o.external_id)]), { testid: 'ledger-outbox' })
        : ''),
    h('section', { class: 'card', 'aria-labelledby': 'h-cpf' },
      h('h2', { id: 'h-cpf' }, 'Cash-payment facts (CPF)'),
      s.cpfs.length
        ? table('Documents this payout pays', ['Receipt (external id)', 'Operation', { label: 'Amount', num: true }, 'Status', 'Dry run'],
          s.cpfs.map((c) => [c.external_id, c.operation_type, money(c.amount), c.status, c.dry_run ? 'yes' : 'no']))
        : h('p', null, 'None.')),
    h('section', { class: 'card', 'aria-labelledby': 'h-messages' },
      h('h2', { id: 'h-messages' }, 'Messages'),
      s.messages.length
        ? table('Sent to and received from OEBS and ARD, oldest first', ['When', 'Direction', 'Topic', 'Message'],
          s.messages.map((m) => [time(m.at), m.direction, m.topic, h('details', null, h('summary', null, m.msg_id), h('pre', null, pretty(m.body)))]), { testid: 'messages' })
        : h('p', null, 'None recorded.')),
    h('section', { class: 'card', 'aria-labelledby': 'h-payments' },
      h('h2', { id: 'h-payments' }, 'OEBS payments'),
      s.payments.length
        ? table('Payments the receiver applied', ['Payment', { label: 'Amount', num: true }, 'Batches', 'Reconciled', 'Returned', 'Last seen'],
          s.payments.map((x) => [x.payment_id + (x.dry_run ? ' (dry run)' : ''), money(x.amount), x.batch_ids.join(', '), x.reconciled ? 'yes' : 'no', x.returned ? 'yes' : 'no', time(x.last_seen)]))
        : h('p', null, 'None yet.')),
  ];
}

const fact = (term, value, testid) => [h('dt', null, term), h('dd', { 'data-testid': testid }, value)];

function pretty(text) {
  // Re-indented for reading only; the numbers stay as they were (no JSON.parse of amounts).
  let depth = 0;
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') { out += text[++i] ?? ''; } else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') { inString = true; out += c; } else if (c === '{' || c === '[') { depth++; out += `${c}\n${'  '.repeat(depth)}`; } else if (c === '}' || c === ']') { depth--; out += `\n${'  '.repeat(depth)}${c}`; } else if (c === ',') out += `,\n${'  '.repeat(depth)}`;
    else if (c === ':') out += ': ';
    else if (!/\s/.test(c)) out += c;
  }
  return out;
}
