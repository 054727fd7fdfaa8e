// One postgres.js pool per process. `numeric` and `int8` stay strings (postgres.js default), so
// money never passes through a JS number.
import postgres from 'postgres';

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;
/** A pool or an open transaction: store functions accept either, so callers choose the boundary. */
export type Db = Sql | Tx;

export function connect(url: string, opts: { max?: number; app?: string } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connection: { application_name: opts.app ?? 'payout' },
  });
}
