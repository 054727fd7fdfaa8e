// Manual approval of payouts (PAYOUT_APPROVE_REQUIRED), as a pure decision: given the payout's
// state and the decision already taken on it (if any), what an approve or decline call does.
// Both calls are idempotent: the same decision again is answered with the payout as it is now.
import type { PayoutStatus } from '../store/payouts.ts';

export type ApprovalAction = 'approve' | 'decline';

export interface ApprovalState {
  status: PayoutStatus;
  approve_req: boolean;
}

export type ApprovalDecision =
  | { kind: 'apply' } //   waiting for approval: approve clears approve_req, decline rejects it
  | { kind: 'repeat' } //  this very decision was taken before: nothing changes, 200
  | { kind: 'conflict'; message: string }; // not waiting for approval: 409 naming the status

export function decideApproval(
  id: string, p: ApprovalState, earlier: { action: ApprovalAction; actor: string | null } | undefined, asked: ApprovalAction,
): ApprovalDecision {
  if (p.status === 'new' && p.approve_req) return { kind: 'apply' };
  if (earlier?.action === asked) return { kind: 'repeat' };
  const by = earlier ? `, ${earlier.action === 'approve' ? 'approved' : 'declined'}${earlier.actor ? ` by ${earlier.actor}` : ''}` : '';
  return { kind: 'conflict', message: `payout ${id} is not waiting for approval (status ${p.status}${by})` };
}

/** The error a declined payout carries (t_payout.error; rejected payouts must have one). */
export const declineError = (actor: string, reason: string) => `declined by ${actor}: ${reason}`;
