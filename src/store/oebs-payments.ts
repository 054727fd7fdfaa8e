// All SQL of t_oebs_payment: the OEBS payments the receiver applied (migration 009).
import type { PaymentFacts } from '../domain/integrity.ts';
import type { Db } from '../db/connect.ts';

export interface AppliedPayment {
  paymentId: string;
  dryRun: boolean;
  namespaces: string[];
  amount: string;
  batchIds: string[];
  statusType: string;
}

/**
 * The receiver records the payments it applied, in the transaction that applied them: a message
 * that waits or fails leaves no row. RECONCILED and RETURNED are remembered as flags (their
 * messages may come in any order), the amount and batches are the latest message's. One row per
 * (payment, dry_run) in `ps` (see mergeAppliedPayments).
 */
export async function recordAppliedPayments(tx: Db, ps: readonly AppliedPaymentRow[]): Promise<void> {
  if (!ps.length) return;
  await tx`
    insert into t_oebs_payment (payment_id, dry_run, namespaces, amount, batch_ids, reconciled, returned)
    select u.payment_id, u.dry_run::boolean, array(select x from jsonb_array_elements_text(u.namespaces::jsonb) with ordinality as e(x, i) order by i), u.amount,
           array(select x from jsonb_array_elements_text(u.batch_ids::jsonb) with ordinality as e(x, i) order by i), u.reconciled::boolean, u.returned::boolean
    from unnest(${ps.map((x) => x.paymentId)}::text[], ${ps.map((x) => (x.dryRun ? 't' : 'f'))}::text[], ${ps.map((x) => JSON.stringify(x.namespaces))}::text[],
                ${ps.map((x) => x.amount)}::numeric[], ${ps.map((x) => JSON.stringify(x.batchIds))}::text[],
                ${ps.map((x) => (x.reconciled ? 't' : 'f'))}::text[], ${ps.map((x) => (x.returned ? 't' : 'f'))}::text[])
         as u(payment_id, dry_run, namespaces, amount, batch_ids, reconciled, returned)
    on conflict (payment_id, dry_run) do update set
      namespaces = excluded.namespaces, amount = excluded.amount, batch_ids = excluded.batch_ids,
      reconciled = t_oebs_payment.reconciled or excluded.reconciled,
      returned = t_oebs_payment.returned or excluded.returned, last_seen = now()`;
}

/** A payment as recorded: its latest message's facts and the flags of all its messages so far. */
export type AppliedPaymentRow = Omit<AppliedPayment, 'statusType'> & { reconciled: boolean; returned: boolean };

/** The messages of one transaction, one row per (payment, dry_run): one statement cannot upsert a row twice. */
export function mergeAppliedPayments(ps: readonly AppliedPayment[]): AppliedPaymentRow[] {
  const rows = new Map<string, AppliedPaymentRow>();
  for (const p of ps) {
    const key = `${p.paymentId}\u0000${p.dryRun}`;
    const had = rows.get(key);
    rows.set(key, {
      paymentId: p.paymentId, dryRun: p.dryRun, namespaces: p.namespaces, amount: p.amount, batchIds: p.batchIds,
      reconciled: (had?.reconciled ?? false) || p.statusType === 'RECONCILED', returned: (had?.returned ?? false) || p.statusType === 'RETURNED',
    });
  }
  return [...rows.values()];
}

/** A payment's facts (see domain/integrity.ts) and the payout accounts of its payouts. */
export interface PaymentToReconcile extends PaymentFacts {
  /** The payout accounts of those payouts (`namespace/client/contract/service/currency`). */
  accounts: string[];
}

/**
 * Payments applied since `since`, and those named (open violations, re-checked until they
 * clear), each with the payouts of its batches (the receiver's own rule for "its payouts").
 */
export async function paymentsToReconcile(db: Db, since: Date, named: readonly string[]): Promise<PaymentToReconcile[]> {
  return db<PaymentToReconcile[]>`
    select m.payment_id, m.dry_run, m.amount::text, m.reconciled, m.returned,
           coalesce(sum(p.amount_oebs), 0)::text as payouts_amount,
           coalesce(array_agg(p.id::text order by p.id) filter (where p.id is not null), '{}') as payout_ids,
           coalesce(array_agg(distinct p.namespace || '/' || p.client_id || '/' || p.contract_id || '/' || p.service_id || '/' || p.currency)
                    filter (where p.id is not null), '{}') as accounts
    from t_oebs_payment m
    left join t_payout p on p.oebs_batch_id = any(m.batch_ids) and p.namespace = any(m.namespaces) and p.dry_run = m.dry_run
    where m.last_seen >= ${since} or (m.payment_id || '/' || m.dry_run::text) = any(${named as string[]}::text[])
    group by m.payment_id, m.dry_run`;
}

export interface PaymentRow {
  payment_id: string;
  dry_run: boolean;
  namespaces: string[];
  amount: string;
  batch_ids: string[];
  reconciled: boolean;
  returned: boolean;
  first_seen: Date;
  last_seen: Date;
}

/** The recorded payments with these ids (real and dry-run). */
export async function paymentsByIds(db: Db, ids: readonly string[]): Promise<PaymentRow[]> {
  if (!ids.length) return [];
  return db<PaymentRow[]>`
    select payment_id, dry_run, namespaces, amount::text, batch_ids, reconciled, returned, first_seen, last_seen
    from t_oebs_payment where payment_id = any(${ids as string[]}::text[]) order by first_seen, payment_id`;
}

/** The OEBS batches a recorded payment covers (what it paid), real and dry-run together. */
export async function batchesOfPayment(db: Db, paymentId: string): Promise<string[]> {
  const rows = await db<{ batch: string }[]>`
    select distinct unnest(batch_ids) as batch from t_oebs_payment where payment_id = ${paymentId}`;
  return rows.map((r) => r.batch);
}
