// One run of a periodic task, by one replica at a time: a session advisory lock on a reserved
// connection is held for the run (released on finish, or by Postgres when the process dies), and
// a replica that finds it taken skips this round. The run is told where the last good run
// started (its watermark, by the database clock: the clock that stamps updated_at), so it can
// look at what changed since.
import type { Sql } from '../db/connect.ts';
import { finishTaskRun, getTaskRun } from '../store/tasks.ts';

export interface Task<R> {
  name: string;
  /** Advisory lock key: distinct per task (and from the migrators' keys). */
  lockKey: number;
  run(ctx: { since: Date; startedAt: Date }): Promise<R>;
}

export const TASK_LOCK_KEYS = { integrity: 7_260_101, stuck: 7_260_102, housekeeping: 7_260_103 } as const;

/** Runs the task unless another replica is running it; `undefined` = skipped (busy). */
export async function runTask<R>(sql: Sql, task: Task<R>): Promise<R | undefined> {
  const conn = await sql.reserve();
  try {
    const [row] = await conn<{ locked: boolean; now: Date }[]>`select pg_try_advisory_lock(${task.lockKey}) as locked, now() as now`;
    if (!row!.locked) return undefined;
    try {
      const last = await getTaskRun(sql, task.name);
      const startedAt = row!.now;
      try {
        const result = await task.run({ since: last?.watermark ?? new Date(0), startedAt });
        await finishTaskRun(sql, task.name, { startedAt, ok: true });
        return result;
      } catch (err) {
        await finishTaskRun(sql, task.name, { startedAt, ok: false, error: err instanceof Error ? err.message : String(err) }).catch(() => {});
        throw err;
      }
    } finally {
      await conn`select pg_advisory_unlock(${task.lockKey})`;
    }
  } finally {
    conn.release();
  }
}
