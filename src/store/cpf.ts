// All SQL of t_cpf.
import type { Db } from '../db/connect.ts';
import type { Cpf } from '../domain/sender-decision.ts';

/** Stores the cash-payment facts of a payout; storing them again changes nothing. */
export async function insertCpfs(tx: Db, payoutId: string, cpfs: readonly Cpf[], dryRun: boolean): Promise<void> {
  if (!cpfs.length) return;
  await tx`
    insert into t_cpf (payout_id, operation_type, external_id, amount, dry_run)
    select ${payoutId}, op, ext, amount, ${dryRun}
    from unnest(${cpfs.map((c) => c.operation_type)}::text[], ${cpfs.map((c) => c.external_id)}::text[],
                ${cpfs.map((c) => c.amount)}::numeric[]) as u(op, ext, amount)
    on conflict (payout_id, operation_type, external_id) do nothing`;
}

export async function listCpfs(db: Db, payoutId: string) {
  return db<{ operation_type: string; external_id: string; amount: string; status: string; dry_run: boolean }[]>`
    select operation_type, external_id, amount, status, dry_run from t_cpf where payout_id = ${payoutId} order by id`;
}

/** ARD accepted the payout: its cash-payment facts are paid out. */
export async function markCpfsDone(tx: Db, payoutId: string): Promise<void> {
  await tx`update t_cpf set status = 'done', updated_at = now() where payout_id = ${payoutId} and status = 'new'`;
}
