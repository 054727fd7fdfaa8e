// The read side: POST /v1/batch/read, GET /v1/accounts, GET /v1/batch. Amounts leave in canonical
// decimal form ("100.5", not "100.500000").
import type { Sql, Tx } from '../../db/connect.ts';
import { canon } from '../../domain/money.ts';
import { LedgerError } from './errors.ts';
import { locKey, locOf, type Loc } from './loc.ts';
import { takeLock, takeLocks } from './locks.ts';
import type { ReadBody } from './schemas.ts';
import { findAccounts, listAccountsOfClients, listClientAccounts } from './store/accounts.ts';
import { findBatch, listBatchEvents, listEventsFromMany, listWindowEvents, sumsBefore, turnoverSums, type WindowEventRow } from './store/batches.ts';
import { inTx } from './tx.ts';

// The selects of one read are independent: each helper issues all of its statements at once
// (postgres.js pipelines them on the transaction's connection) and only then awaits the answers.

// Balances and histories cost O(1) statements however many locations are asked for: the items
// travel as arrays and come back in order (hundreds of locations stay one round trip's work).
async function readBalances(tx: Tx, items: NonNullable<ReadBody['balances']>) {
  const latestKeys = items.filter((b) => !b.dt).map((b) => locKey(b.loc));
  const asOfItems = items.filter((b) => b.dt);
  const [latestRows, asOfRows] = await Promise.all([
    latestKeys.length ? findAccounts(tx, latestKeys) : [],
    asOfItems.length ? sumsBefore(tx, asOfItems.map((b) => locKey(b.loc)), asOfItems.map((b) => b.dt!)) : [],
  ]);
  const latest = new Map(latestRows.map((r) => [r.loc_key, r]));
  let nextAsOf = 0;
  return items.map((b) => {
    // A location never written to reads as zero; reading does not create it.
    const sums = (b.dt ? asOfRows[nextAsOf++] : latest.get(locKey(b.loc))) ?? { debit: '0', credit: '0' };
    return { loc: b.loc, debit: canon(sums.debit), credit: canon(sums.credit) };
  });
}

async function readTurnovers(tx: Tx, items: NonNullable<ReadBody['detailed_turnovers']>) {
  const answers = await Promise.all(items.map((t) => {
    const key = locKey(t.loc);
    return Promise.all([turnoverSums(tx, key, t.dt_from, t.dt_to), listWindowEvents(tx, key, t.dt_from, t.dt_to)]);
  }));
  return items.map((t, i) => {
    const [sums, events] = answers[i]!;
    return {
      loc: t.loc, dt_from: t.dt_from, dt_to: t.dt_to,
      debit_init: canon(sums.debit_init), credit_init: canon(sums.credit_init),
      debit_turnover: canon(sums.debit_turnover), credit_turnover: canon(sums.credit_turnover),
      events: events.map((e) => ({ ...e, amount: canon(e.amount) })),
    };
  });
}

async function readHistories(tx: Tx, items: NonNullable<ReadBody['history']>) {
  const rows = await listEventsFromMany(tx, items.map((h) => locKey(h.loc)), items.map((h) => h.from_batch_id ?? null));
  const byItem = items.map(() => [] as WindowEventRow[]);
  for (const { ord, ...e } of rows) byItem[Number(ord) - 1]!.push(e);
  return items.map((h, i) => {
    const events = byItem[i]!;
    // Never empty when the batch has an event on the location: it holds that event.
    if (h.from_batch_id && events.length === 0) throw new LedgerError('not_found', `history.${i}: batch ${h.from_batch_id} has no event on ${locKey(h.loc)}`);
    return { loc: h.loc, ...(h.from_batch_id ? { from_batch_id: h.from_batch_id } : {}), events: events.map((e) => ({ ...e, amount: canon(e.amount) })) };
  });
}

/**
 * With a lock (`lock`, or any of `locks`): the locks are taken first, in the same read-committed
 * transaction, and their account rows stay row-locked until the answer is read, so nothing about
 * those accounts can change in between (writers row-lock them too). Taking a row lock under
 * repeatable read would instead fail with a serialization error whenever a writer committed to
 * the account after the snapshot.
 * Without a lock: plain selects under repeatable read, one snapshot for the whole answer.
 */
export async function read(sql: Sql, body: ReadBody) {
  for (const [i, t] of (body.detailed_turnovers ?? []).entries()) {
    if (Date.parse(t.dt_from) > Date.parse(t.dt_to)) throw new LedgerError('bad_request', `detailed_turnovers.${i}: dt_from is after dt_to`);
  }
  const { lock, locks } = body;
  const locking = lock !== undefined || (locks !== undefined && locks.length > 0);
  return inTx(sql, async (tx) => {
    // One round trip: the lock statements are issued first, so the selects run after the locks
    // are taken (one connection runs them in order); a busy `lock` rolls the whole read back.
    const [taken, balances, detailed_turnovers, history] = await Promise.all([
      locks?.length ? takeLocks(tx, lock, locks) : lock ? takeLock(tx, lock.loc, lock.timeout_s).then((uid) => ({ uid, locks: [] })) : undefined,
      readBalances(tx, body.balances ?? []),
      readTurnovers(tx, body.detailed_turnovers ?? []),
      body.history ? readHistories(tx, body.history) : undefined,
    ]);
    return {
      balances, detailed_turnovers, ...(history ? { history } : {}),
      ...(taken?.uid === undefined ? {} : { lock: { uid: taken.uid } }),
      ...(locks ? { locks: taken?.locks ?? [] } : {}),
    };
  }, locking ? undefined : 'repeatable read');
}

export async function listAccounts(sql: Sql, q: { namespace: string; type: string; client_id: string }) {
  const rows = await listClientAccounts(sql, q);
  return rows.map((r) => ({ loc: locOf(r), debit: canon(r.debit), credit: canon(r.credit), balance: canon(r.balance) }));
}

/** GET /v1/accounts for many clients at once (POST /v1/accounts/list): one statement. */
export async function listAccountsOf(sql: Sql, q: { namespace: string; type: string; client_ids: string[] }) {
  const rows = await listAccountsOfClients(sql, { ...q, client_ids: [...new Set(q.client_ids)] });
  return rows.map((r) => ({ loc: locOf(r), debit: canon(r.debit), credit: canon(r.credit), balance: canon(r.balance) }));
}

export async function getBatch(sql: Sql, externalId: string) {
  const batch = await findBatch(sql, externalId);
  if (!batch) throw new LedgerError('not_found', `no batch with external_id "${externalId}"`);
  const events = await listBatchEvents(sql, batch.id);
  return {
    batch_id: batch.id, external_id: batch.external_id, event_type: batch.event_type, dt: batch.dt, info: batch.info,
    events: events.map(({ loc_type, type, amount, ...loc }) => ({ loc: locOf({ ...loc, type: loc_type }) as Loc, type, amount: canon(amount) })),
  };
}
