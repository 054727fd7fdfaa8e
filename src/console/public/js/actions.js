// The operator's actions, each confirmed first and each showing what the api answered (or its
// message when it refused): approve/decline a payout waiting for approval, retry a parked payout
// or request, replay oebs-errors messages.
import { confirmAction } from './dialog.js';

async function run(ctx, result, confirm, call, describe) {
  const answer = await confirmAction(confirm);
  if (!answer) return undefined;
  try {
    const body = await call(answer);
    result.ok(describe(body));
    return body;
  } catch (err) {
    if (ctx.isSignedOut(err)) throw err;
    result.bad(`Refused: ${err.message}`);
    return undefined;
  }
}

export const approve = (ctx, result, p) => run(ctx, result,
  { title: `Approve payout #${p.id}?`, text: `${p.amount} ${p.currency} for client ${p.client_id} (${p.namespace}) goes on to the sender and to OEBS.`, confirmLabel: 'Approve' },
  () => ctx.call('POST', `/payout/${p.id}/approve`),
  (b) => `Payout #${b.id} approved: status ${b.status}, on its way to the sender.`);

export const decline = (ctx, result, p) => run(ctx, result,
  { title: `Decline payout #${p.id}?`, text: `It is rejected and no money moves; ${p.amount} ${p.currency} stays on the client's account.`, confirmLabel: 'Decline', askReason: true, danger: true },
  ({ reason }) => ctx.call('POST', `/payout/${p.id}/decline`, { reason }),
  (b) => `Payout #${b.id} declined: status ${b.status} (${b.error}).`);

export const retryPayout = (ctx, result, p) => run(ctx, result,
  { title: `Retry payout #${p.id}?`, text: `It leaves ${p.status} and the gates try it again, under the same ids as before (nothing is sent twice).`, confirmLabel: 'Retry' },
  () => ctx.call('POST', `/payout/${p.id}/retry`),
  (b) => `Payout #${b.id} retried: status ${b.status}.`);

export const retryRequest = (ctx, result, r) => run(ctx, result,
  { title: `Retry request #${r.id}?`, text: `Request ${r.external_id} of client ${r.client_id} (${r.namespace}) goes back to req-gate.`, confirmLabel: 'Retry' },
  () => ctx.call('POST', `/request/${r.id}/retry`),
  (b) => `Request #${b.id} retried: status ${b.status}.`);

export const replay = (ctx, result, body) => run(ctx, result,
  { title: 'Replay oebs-errors messages?', text: `Messages on oebs-errors${body.topic ? ` (${body.topic})` : ''}${body.since ? ` since ${body.since}` : ''} go back to the receiver; a message already applied changes nothing.`, confirmLabel: 'Replay' },
  () => ctx.call('POST', '/oebs-errors/replay', body),
  (b) => `Replayed: ${describeCounts(b)}.`);

/** The replay's answer (`{topics: [{topic, replayed, applied, unchanged, failing}]}`), in words. */
function describeCounts(b) {
  const parts = (b.topics ?? []).filter((t) => t.replayed > 0).map((t) =>
    `${t.topic}: ${t.replayed} replayed, ${t.applied} applied, ${t.unchanged} unchanged, ${t.failing} still failing`);
  return parts.length ? parts.join('; ') : 'nothing to replay';
}
