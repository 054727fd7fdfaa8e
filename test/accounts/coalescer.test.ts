// The coalescing writer the receiver uses: concurrent single writes travel as one batches/write
// call, and each caller gets exactly what writeBatch alone would have given it.
import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { AccountsError, createAccountsClient } from '../../src/accounts/client.ts';
import { coalescingWriter } from '../../src/accounts/coalescer.ts';
import { faultyAccounts } from '../gates-support.ts';
import { payoutLoc, startStandin, type Standin } from './support.ts';

let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

it('sends concurrent writes as one call, answers each with its own result or error, and a repeated key in the next call', async () => {
  const calls: number[] = [];
  const url = await faultyAccounts(s.url, ({ path, body }) => {
    if (path === '/v1/batches/write') calls.push((JSON.parse(body) as { batches: unknown[] }).batches.length);
    return undefined;
  });
  const write = coalescingWriter(createAccountsClient({ url, timeoutMs: 10_000 }));
  const loc = payoutLoc();
  const batch = (external_id: string, amount = '1') => ({ event_type: 'accrual', external_id, events: [{ loc, type: 'credit' as const, amount }] });
  await s.client.writeBatch(batch('taken', '5'));
  const keys = Array.from({ length: 10 }, () => randomUUID());
  const results = await Promise.allSettled([
    ...keys.map((k) => write(batch(k))),
    write(batch('taken', '5')), // the same content again: existing
    write(batch('taken', '6')), // other content under a used key: conflict
    write(batch(keys[0]!)), // a repeat within the same turn: answered by the next call
  ]);
  expect(calls).toEqual([11, 2]);
  expect(results.slice(0, 10).map((r) => r.status === 'fulfilled' && r.value.created)).toEqual(Array(10).fill(true));
  expect(results[10]).toMatchObject({ status: 'fulfilled', value: { created: false } });
  const conflict = results[11] as PromiseRejectedResult;
  expect(conflict.reason).toBeInstanceOf(AccountsError);
  expect(conflict.reason).toMatchObject({ kind: 'permanent', reason: 'idempotency-conflict' });
  expect(results[12]).toMatchObject({ status: 'fulfilled', value: { created: false } });
  const [balance] = (await s.client.read({ balances: [{ loc }] })).balances;
  expect(balance!.credit).toBe('15');
});

it('fails every write of a call that failed as a whole, as transient', async () => {
  const write = coalescingWriter(createAccountsClient({ url: 'http://127.0.0.1:9', timeoutMs: 2_000 }));
  const results = await Promise.allSettled([1, 2, 3].map(() => write({ event_type: 'accrual', external_id: randomUUID(), events: [{ loc: payoutLoc(), type: 'credit', amount: '1' }] })));
  expect(results.map((r) => r.status === 'rejected' && (r.reason as AccountsError).kind)).toEqual(['retry', 'retry', 'retry']);
});
