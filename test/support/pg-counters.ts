// How much a piece of code reads, from the server's own counters: index tuples read on a table
// (pg_stat_user_indexes), for plan tests that run the real statement rather than EXPLAIN a copy.
import type { Sql } from '../../src/db/connect.ts';

/**
 * Index tuples of `table` read while `fn` ran its statements on `actor` (a pool of its own:
 * `connections` is its size, so each backend can be asked to report). `observer`: another pool
 * on the same database. Counters are per database, so other test files do not count.
 */
export async function indexTuplesRead(observer: Sql, actor: Sql, connections: number, table: string, fn: () => Promise<unknown>): Promise<number> {
  const read = async () => {
    const [row] = await observer.begin(async (tx) => {
      await tx`select pg_stat_clear_snapshot()`;
      return tx<{ scans: number; tuples: number }[]>`
        select coalesce(sum(idx_scan), 0)::int as scans, coalesce(sum(idx_tup_read), 0)::int as tuples
        from pg_stat_user_indexes where relname = ${table}`;
    });
    return row!;
  };
  await observer`select pg_stat_reset()`;
  await fn();
  // Each backend reports when it next goes idle after being asked to.
  const all = Array.from({ length: connections }, () => actor`select pg_stat_force_next_flush()`);
  await Promise.all(all);
  await Promise.all(Array.from({ length: connections }, () => actor`select 1`));
  let counters = await read();
  for (let i = 0; i < 100 && counters.scans === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    counters = await read();
  }
  if (counters.scans === 0) throw new Error(`no index scan of ${table} was reported`);
  return counters.tuples;
}
