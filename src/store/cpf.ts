// All SQL of t_cpf.
import type { Db } from '../db/connect.ts';
import type { Cpf } from '../domain/sender-decision.ts';

/** Stores the cash-payment facts of payouts in one statement; storing them again changes nothing. */
export async function insertCpfs(tx: Db, payouts: readonly { payoutId: string; cpfs: readonly Cpf[]; dryRun: boolean }[]): Promise<void> {
  const rows = payouts.flatMap((p) => p.cpfs.map((c) => ({ ...c, payoutId: p.payoutId, dry: p.dryRun ? 't' : 'f' })));
  if (!rows.length) return;
  await tx`
    insert into t_cpf (payout_id, operation_type, external_id, amount, dry_run)
    select payout, op, ext, amount, dry::boolean
    from unnest(${rows.map((r) => r.payoutId)}::int8[], ${rows.map((r) => r.operation_type)}::text[],
                ${rows.map((r) => r.external_id)}::text[], ${rows.map((r) => r.amount)}::numeric[], ${rows.map((r) => r.dry)}::text[])
         as u(payout, op, ext, amount, dry)
    on conflict (payout_id, operation_type, external_id) do nothing`;
}

export async function listCpfs(db: Db, payoutId: string) {
  return db<{ operation_type: string; external_id: string; amount: string; status: string; dry_run: boolean }[]>`
    select operation_type, external_id, amount, status, dry_run from t_cpf where payout_id = ${payoutId} order by id`;
}

/** ARD accepted these payouts: their cash-payment facts are paid out. */
export async function markCpfsDone(tx: Db, payoutIds: readonly string[]): Promise<void> {
  if (!payoutIds.length) return;
  await tx`update t_cpf set status = 'done', updated_at = now() where payout_id = any(${payoutIds as string[]}::int8[]) and status = 'new'`;
}
