// The read side: POST /v1/batch/read, GET /v1/accounts, GET /v1/batch. Amounts leave in canonical
// decimal form ("100.5", not "100.500000").
import type { Sql, Tx } from '../../db/connect.ts';
import { canon } from '../../domain/money.ts';
import { LedgerError } from './errors.ts';
import { locKey, locOf, type Loc } from './loc.ts';
import { takeLock } from './locks.ts';
import type { ReadBody } from './schemas.ts';
import { findAccounts, listClientAccounts } from './store/accounts.ts';
import { findBatch, listBatchEvents, listWindowEvents, sumBefore, turnoverSums } from './store/batches.ts';
import { inTx } from './tx.ts';

async function readBalances(tx: Tx, items: NonNullable<ReadBody['balances']>) {
  const latest = new Map((await findAccounts(tx, items.map((b) => locKey(b.loc)))).map((r) => [r.loc_key, r]));
  const out = [];
  for (const b of items) {
    // A location never written to reads as zero; reading does not create it.
    const sums = b.dt ? await sumBefore(tx, locKey(b.loc), b.dt) : (latest.get(locKey(b.loc)) ?? { debit: '0', credit: '0' });
    out.push({ loc: b.loc, debit: canon(sums.debit), credit: canon(sums.credit) });
  }
  return out;
}

async function readTurnovers(tx: Tx, items: NonNullable<ReadBody['detailed_turnovers']>) {
  const out = [];
  for (const t of items) {
    const key = locKey(t.loc);
    const sums = await turnoverSums(tx, key, t.dt_from, t.dt_to);
    const events = await listWindowEvents(tx, key, t.dt_from, t.dt_to);
    out.push({
      loc: t.loc, dt_from: t.dt_from, dt_to: t.dt_to,
      debit_init: canon(sums.debit_init), credit_init: canon(sums.credit_init),
      debit_turnover: canon(sums.debit_turnover), credit_turnover: canon(sums.credit_turnover),
      events: events.map((e) => ({ ...e, amount: canon(e.amount) })),
    });
  }
  return out;
}

/**
 * With a lock: it is taken first, in the same read-committed transaction, and its account row
 * stays row-locked until the answer is read, so nothing about that account can change in between
 * (writers row-lock it too). Taking a row lock under repeatable read would instead fail with a
 * serialization error whenever a writer committed to the account after the snapshot.
 * Without a lock: plain selects under repeatable read, one snapshot for the whole answer.
 */
export async function read(sql: Sql, body: ReadBody) {
  for (const [i, t] of (body.detailed_turnovers ?? []).entries()) {
    if (Date.parse(t.dt_from) > Date.parse(t.dt_to)) throw new LedgerError('bad_request', `detailed_turnovers.${i}: dt_from is after dt_to`);
  }
  const lock = body.lock;
  return inTx(sql, async (tx) => {
    const uid = lock ? await takeLock(tx, lock.loc, lock.timeout_s) : undefined;
    return {
      balances: await readBalances(tx, body.balances ?? []),
      detailed_turnovers: await readTurnovers(tx, body.detailed_turnovers ?? []),
      ...(uid === undefined ? {} : { lock: { uid } }),
    };
  }, lock ? undefined : 'repeatable read');
}

export async function listAccounts(sql: Sql, q: { namespace: string; type: string; client_id: string }) {
  const rows = await listClientAccounts(sql, q);
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
