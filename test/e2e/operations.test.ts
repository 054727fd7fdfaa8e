// "Nothing stuck" as an operator meets it, with every component an OS process (`payout start`):
// an approval namespace's payouts wait; one is approved and paid, one declined and its money stays
// on `payout`; a payout OEBS never answers shows in payout_stuck{status="pending"}; and a ledger
// edited behind payout's back turns /api/v1/reconciliation and its gauge red, found by the tasks
// component on its own schedule.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sub } from '../../src/domain/money.ts';
import { eventually } from '../gates-support.ts';
import { startSystem } from './system.ts';

const SILENT_CLIENT = 9301;
const sys = await startSystem({
  PAYOUT_APPROVE_REQUIRED: '["bnpl"]',
  PAYOUT_TASKS_INTERVAL: '300ms',
  PAYOUT_STUCK_AFTER: 'pending=1s',
  PAYOUT_OEBS_EMULATOR: JSON.stringify({ [String(SILENT_CLIENT)]: 'silent' }),
});

const account = (namespace: string, client: number) => ({ namespace, client_id: String(client), contract_id: '1', service_id: '124', currency: 'RUB' });
const write = (a: ReturnType<typeof account>, type: 'payout' | 'payout_sent', side: 'credit' | 'debit', amount: string) =>
  sys.accounts.writeBatch({ event_type: 'manual', external_id: randomUUID(), events: [{ loc: { ...a, type }, type: side, amount }] });
const balance = async (a: ReturnType<typeof account>, type: 'payout' | 'payout_sent') => {
  const res = await sys.accounts.read({ balances: [{ loc: { ...a, type } }] });
  return sub(res.balances[0]!.credit, res.balances[0]!.debit);
};
/** The one payout of a client's request, once req-gate has made it. */
async function payoutOf(namespace: string, client: number) {
  const r = await sys.post('/api/v1/payout-by-client', { external_id: `ops-${namespace}-${client}`, client_id: client, namespace });
  expect(r.status).toBe(201);
  let payout: { id: number; status: string; approve_req: boolean } | undefined;
  await eventually(async () => {
    [payout] = (await sys.get(`/api/v1/payout?client_id=${client}`)).body.payouts ?? [];
    return payout !== undefined;
  }, 60_000, 100);
  return payout!;
}
const statusOf = async (id: number) => (await sys.get(`/api/v1/payout/${id}`)).body.status as string;
async function metric(name: string): Promise<number | undefined> {
  const text = await (await fetch(`${sys.apiUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('operations, end to end', () => {
  it('an approval namespace\'s payout waits; approved, it is paid; declined, its money stays on payout', async () => {
    const [paid, kept] = [account('bnpl', 9101), account('bnpl', 9102)];
    await write(paid, 'payout', 'credit', '100.00');
    await write(kept, 'payout', 'credit', '50.00');
    const toApprove = await payoutOf('bnpl', 9101);
    const toDecline = await payoutOf('bnpl', 9102);
    expect(toApprove).toMatchObject({ status: 'new', approve_req: true });
    const queue = (await sys.get('/api/v1/payout?approve_req=true&status=new')).body.payouts.map((p: { id: number }) => p.id);
    expect(queue).toEqual(expect.arrayContaining([toApprove.id, toDecline.id]));

    expect((await sys.post(`/api/v1/payout/${toApprove.id}/approve`, {})).status).toBe(200);
    expect((await sys.post(`/api/v1/payout/${toDecline.id}/decline`, { reason: 'contract under review' })).status).toBe(200);
    await eventually(async () => (await statusOf(toApprove.id)) === 'done', 60_000, 200);
    expect(await statusOf(toDecline.id)).toBe('rejected');
    expect(await balance(paid, 'payout')).toBe('0');
    expect(await balance(kept, 'payout')).toBe('50');
    expect(await balance(kept, 'payout_sent')).toBe('0');
  }, 180_000);

  it('a payout OEBS never answers shows in payout_stuck{status="pending"}; a ledger edited behind payout\'s back turns reconciliation red', async () => {
    const a = account('taxi', SILENT_CLIENT);
    await write(a, 'payout', 'credit', '30.00');
    const p = await payoutOf('taxi', SILENT_CLIENT);
    await eventually(async () => (await statusOf(p.id)) === 'pending', 60_000, 100);
    await eventually(async () => ((await metric('payout_stuck{status="pending"}')) ?? 0) >= 1, 60_000, 200);

    const clean = (await sys.get('/api/v1/reconciliation')).body;
    expect(clean.violations.filter((v: { client_id: number }) => v.client_id === SILENT_CLIENT)).toEqual([]);
    await write(a, 'payout_sent', 'debit', '10');
    let report: { ok: boolean; violations: { kind: string; client_id: number; payout_ids: number[]; expected: string; actual: string }[] } | undefined;
    await eventually(async () => {
      report = (await sys.get('/api/v1/reconciliation')).body;
      return report!.violations.some((v) => v.client_id === SILENT_CLIENT);
    }, 60_000, 200);
    expect(report!.ok).toBe(false);
    expect(report!.violations.find((v) => v.client_id === SILENT_CLIENT)).toMatchObject({
      kind: 'payout_sent', payout_ids: [p.id], expected: '30.000000', actual: '20.000000',
    });
    expect(await metric('payout_integrity_violations')).toBeGreaterThanOrEqual(1);
  }, 180_000);
});
