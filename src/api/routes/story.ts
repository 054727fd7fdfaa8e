// GET /payout/:id/story: everything about one payout on one page (the console's story page):
// the payout, the request it came from, its history (every status change, with who and why),
// the ledger batches behind it, its CPFs, the messages sent and received for it, and the OEBS
// payments recorded for it. If the accounts system is down, the story still answers with the
// rest and says the ledger part is unavailable.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listCpfs } from '../../store/cpf.ts';
import { paymentsByIds } from '../../store/oebs-payments.ts';
import { getPayout, payoutHistory, type PayoutRow } from '../../store/payouts.ts';
import { ledgerOutboxOf } from '../../store/ledger-outbox.ts';
import { getRequest } from '../../store/requests.ts';
import { payoutMessages } from '../../store/story.ts';
import { TOPIC_NAMES } from '../../topics/paths.ts';
import { HttpError, mayUse } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { ledgerStory } from '../ledger-story.ts';
import { IdParam, PayoutView, Problem, RequestView, commonErrors } from '../schemas.ts';
import { payoutView } from './payouts.ts';
import { requestView } from './requests.ts';

const Time = Type.String({ format: 'date-time' });
const Text = Type.Union([Type.String(), Type.Null()]);
const MESSAGE_LIMIT = 200;

const LedgerEntry = Type.Object({
  step: Type.String({ enum: ['reserve', 'register', 'confirm', 'cancel-reserve', 'cancel-payout'] }),
  payment_id: Text,
  external_id: Type.String(),
  batch_id: Type.String(),
  event_type: Type.String(),
  dt: Type.String(),
  info: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
  events: Type.Array(Type.Object({
    loc: Type.Object({}, { additionalProperties: true }),
    type: Type.String({ enum: ['debit', 'credit'] }),
    amount: Type.String(),
  })),
});

const Story = Type.Object({
  payout: PayoutView,
  request: Type.Union([RequestView, Type.Null()], { description: 'the request it came from; null for a fixed payout (POST /payout)' }),
  history: Type.Array(Type.Object({
    status: Type.String(), error: Text, actor: Text, action: Text, reason: Text, at: Time,
  }), { description: 'every status change (and approval), oldest first; actor/action/reason are set when a person acted' }),
  ledger: Type.Object({
    available: Type.Boolean({ description: 'false: the accounts system did not answer; the rest of the story is still true' }),
    message: Type.Optional(Type.String()),
    entries: Type.Array(LedgerEntry, { description: 'the ledger batches payout wrote for this payout, in ledger order' }),
    outbox: Type.Array(Type.Object({
      event_type: Type.String(), external_id: Type.String(), since: Time,
      refused: Type.Union([Type.Object({ at: Time, reason: Type.String() }), Type.Null()], { description: 'the ledger refused it for good: it waits for a person' }),
    }), { description: "the receiver's ledger events for this payout decided and committed but not in the ledger yet (the ledger outbox), oldest first" }),
  }),
  cpfs: Type.Array(Type.Object({ operation_type: Type.String(), external_id: Type.String(), amount: Type.String(), status: Type.String(), dry_run: Type.Boolean() })),
  messages: Type.Array(Type.Object({
    direction: Type.String({ enum: ['sent', 'received'] }),
    topic: Type.String(),
    key: Type.String(),
    msg_id: Type.String(),
    at: Time,
    body: Type.String({ description: 'the message exactly as it was published' }),
  }), { description: `topic messages keyed by the payout or its payments, oldest first (at most ${MESSAGE_LIMIT}); with NATS topics, what other systems sent is not kept here: see payments` }),
  payments: Type.Array(Type.Object({
    payment_id: Type.String(), dry_run: Type.Boolean(), amount: Type.String(), batch_ids: Type.Array(Type.String()),
    reconciled: Type.Boolean(), returned: Type.Boolean(), first_seen: Time, last_seen: Time,
  }), { description: 'the OEBS payments the receiver applied for this payout, as recorded' }),
}, { description: "the payout's story" });

/** Payout's own messages go out on new-payout, notices and oebs-errors; answers come in on the status topics. */
const directionOf = (topic: string): 'sent' | 'received' => {
  const name = topic.split('/').pop()!.replace(/-dry$/, '');
  return name === TOPIC_NAMES.statusArd || name === TOPIC_NAMES.statusOebs ? 'received' : 'sent';
};

type FullPayoutRow = PayoutRow & { deployment_id: string; oebs_returned_payments: string[] };

export const storyRoutes = (deps: ApiDeps): FastifyPluginAsyncTypebox => async (app) => {
  const { sql } = deps;
  app.get('/payout/:id/story', {
    schema: {
      operationId: 'getPayoutStory',
      summary: "A payout's story: history, ledger events, CPFs, messages, payments and its request",
      params: IdParam,
      response: { 200: Story, ...commonErrors, 404: Problem('no payout with this id in the token\'s namespaces') },
    },
  }, async (req) => {
    const p = (await getPayout(sql, req.params.id)) as FullPayoutRow | undefined;
    if (!p || !mayUse(req.caller, p.namespace)) throw new HttpError(404, `payout ${req.params.id} not found`);
    const paymentIds = [...new Set([...(p.oebs_payment_id ? [p.oebs_payment_id] : []), ...p.oebs_returned_payments])];
    const [request, history, cpfs, messages, payments, ledger, outbox] = await Promise.all([
      p.request_id === null ? undefined : getRequest(sql, p.request_id),
      payoutHistory(sql, p.id),
      listCpfs(sql, p.id),
      payoutMessages(sql, p.id, paymentIds, MESSAGE_LIMIT),
      paymentsByIds(sql, paymentIds),
      ledgerStory(deps.accounts, { id: p.id, deployment_id: p.deployment_id, paymentIds }),
      ledgerOutboxOf(sql, p.id),
    ]);
    const waiting = outbox.map((o) => ({
      event_type: o.event_type, external_id: o.external_id, since: o.created_at.toISOString(),
      refused: o.refused_at ? { at: o.refused_at.toISOString(), reason: o.refusal ?? '' } : null,
    }));
    return {
      payout: payoutView(p),
      request: request ? requestView(request) : null,
      history: history.map((h) => ({ status: h.status, error: h.error, actor: h.actor, action: h.action, reason: h.reason, at: h.created_at.toISOString() })),
      ledger: { ...(ledger.available ? { available: true, entries: ledger.entries } : { available: false, message: ledger.message, entries: [] }), outbox: waiting },
      cpfs,
      messages: messages.map((m) => ({ direction: directionOf(m.topic), topic: m.topic, key: m.key, msg_id: m.msg_id, at: m.created_at.toISOString(), body: m.body })),
      payments: payments.map((x) => ({
        payment_id: x.payment_id, dry_run: x.dry_run, amount: x.amount, batch_ids: x.batch_ids, reconciled: x.reconciled, returned: x.returned,
        first_seen: x.first_seen.toISOString(), last_seen: x.last_seen.toISOString(),
      })),
    };
  });
};
