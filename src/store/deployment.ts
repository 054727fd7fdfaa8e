// All SQL of t_deployment: the id that makes this deployment's ledger keys and message ids unique
// across databases (see migrations/005_deployment.sql).
import type { Db } from '../db/connect.ts';

export async function getDeploymentId(db: Db): Promise<string> {
  const [row] = await db<{ id: string }[]>`select id from t_deployment`;
  if (!row) throw new Error('t_deployment is empty: the migrations have not run');
  return row.id;
}

/**
 * A new random id, for a database restored or copied into a new deployment. Payouts keep the id
 * they were created under (t_payout.deployment_id), so their retries still find their first
 * attempts; only payouts created from now on use the new one.
 */
export async function resetDeploymentId(db: Db): Promise<string> {
  const [row] = await db<{ id: string }[]>`
    update t_deployment set id = replace(gen_random_uuid()::text, '-', ''), created_at = now() returning id`;
  return row!.id;
}
