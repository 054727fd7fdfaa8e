// Manual approval (PAYOUT_APPROVE_REQUIRED): a person approves a waiting payout, which then goes
// on to the sender, or declines it, which rejects it before any money moved. Each call decides
// under the payout's row lock, so two concurrent calls cannot both apply; the history trigger
// records who and why in the same transaction.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError, mayUse } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { DeclineBody, ErrorResponse, IdParam, PayoutView } from '../schemas.ts';
import { declineError, decideApproval, type ApprovalAction } from '../../domain/approval.ts';
import { getPayout, lastApprovalDecision, lockPayout, markPayoutApproved, markPayoutDeclined, setHistoryActor } from '../../store/payouts.ts';
import { payoutView } from './payouts.ts';

const NotFound = ErrorResponse('no such payout in the caller\'s namespaces');
const NotWaiting = ErrorResponse('the payout is not waiting for approval (the message names its status), or was decided the other way');

export const approvalRoutes = (deps: ApiDeps): FastifyPluginAsyncTypebox => async (app) => {
  const { sql } = deps;

  async function decide(id: string, caller: { name: string; namespaces: string[] }, action: ApprovalAction, reason?: string) {
    await sql.begin(async (tx) => {
      const p = await lockPayout(tx, id);
      // Another namespace's payout is as absent as a missing one (no id leaks across tenants).
      if (!p || !mayUse(caller, p.namespace)) throw new HttpError(404, `payout ${id} not found`);
      const decision = decideApproval(id, p, await lastApprovalDecision(tx, id), action);
      if (decision.kind === 'conflict') throw new HttpError(409, decision.message);
      if (decision.kind === 'repeat') return;
      await setHistoryActor(tx, { actor: caller.name, action, reason });
      const ok = action === 'approve' ? await markPayoutApproved(tx, id) : await markPayoutDeclined(tx, id, declineError(caller.name, reason!));
      if (!ok) throw new Error(`approval: the guarded update of payout ${id} changed nothing under its row lock`);
    });
    return payoutView((await getPayout(sql, id))!);
  }

  app.post('/payout/:id/approve', {
    schema: {
      operationId: 'approvePayout',
      summary: 'Approve a payout waiting for approval: it goes on to the sender',
      description: 'Idempotent: approving an approved payout again answers 200. A payout not waiting for approval is a 409 naming its status.',
      params: IdParam,
      response: { 200: PayoutView, 404: NotFound, 409: NotWaiting },
    },
  }, async (req) => decide(req.params.id, req.caller, 'approve'));

  app.post('/payout/:id/decline', {
    schema: {
      operationId: 'declinePayout',
      summary: 'Decline a payout waiting for approval: rejected with the reason, no money moved',
      description: 'Idempotent: declining a declined payout again answers 200 (the first reason stays). A payout not waiting for approval is a 409 naming its status.',
      params: IdParam,
      body: DeclineBody,
      response: { 200: PayoutView, 404: NotFound, 409: NotWaiting },
    },
  }, async (req) => decide(req.params.id, req.caller, 'decline', req.body.reason.trim()));
};
