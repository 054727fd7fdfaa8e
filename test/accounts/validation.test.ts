// Every malformed request is a 400 that names the field, and writes nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import { startStandin, type Standin } from './support.ts';

let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

const loc = { namespace: 'taxi', type: 'payout', client_id: '42', contract_id: '7', service_id: '124', currency: 'RUB' };
const event = { loc, type: 'credit', amount: '10.00' };
const write = (patch: Record<string, unknown>) => ({ event_type: 'accrual', external_id: 'bad-1', events: [event], ...patch });
const withEvent = (patch: Record<string, unknown>) => write({ events: [{ ...event, ...patch }] });
const withLoc = (patch: Record<string, unknown>) => withEvent({ loc: { ...loc, ...patch } });
const { client_id: _c, ...locWithoutClient } = loc;
const UID = '00000000-0000-4000-8000-000000000000';

type Case = [name: string, method: 'POST' | 'GET', path: string, body: unknown, field: string];
const cases: Case[] = [
  ['empty batch', 'POST', '/v1/batch/write', write({ events: [] }), 'events'],
  ['no events', 'POST', '/v1/batch/write', { event_type: 'accrual', external_id: 'bad-1' }, '"events"'],
  ['negative amount', 'POST', '/v1/batch/write', withEvent({ amount: '-10.00' }), 'events.0.amount'],
  ['amount as a JSON number', 'POST', '/v1/batch/write', withEvent({ amount: 10 }), 'events.0.amount'],
  ['amount with an exponent', 'POST', '/v1/batch/write', withEvent({ amount: '1e3' }), 'events.0.amount'],
  ['amount with 7 decimals', 'POST', '/v1/batch/write', withEvent({ amount: '0.0000001' }), 'events.0.amount'],
  ['empty amount', 'POST', '/v1/batch/write', withEvent({ amount: '' }), 'events.0.amount'],
  ['side neither debit nor credit', 'POST', '/v1/batch/write', withEvent({ type: 'refund' }), 'events.0.type'],
  ['loc missing client_id', 'POST', '/v1/batch/write', withEvent({ loc: locWithoutClient }), 'events.0.loc: missing field "client_id"'],
  ['loc attribute not a string', 'POST', '/v1/batch/write', withLoc({ client_id: 42 }), 'events.0.loc.client_id'],
  ['loc empty namespace', 'POST', '/v1/batch/write', withLoc({ namespace: '' }), 'events.0.loc.namespace'],
  ['loc unknown attribute', 'POST', '/v1/batch/write', withLoc({ region: 'eu' }), 'events.0.loc: unknown field "region"'],
  ['loc attribute null', 'POST', '/v1/batch/write', withLoc({ currency: null }), 'events.0.loc.currency'],
  ['loc not an object', 'POST', '/v1/batch/write', withEvent({ loc: 'taxi/42' }), 'events.0.loc'],
  ['empty event_type', 'POST', '/v1/batch/write', write({ event_type: '' }), 'event_type'],
  ['no external_id', 'POST', '/v1/batch/write', { event_type: 'accrual', events: [event] }, '"external_id"'],
  ['dt not a time', 'POST', '/v1/batch/write', write({ dt: 'yesterday' }), 'dt'],
  ['dt without a zone', 'POST', '/v1/batch/write', write({ dt: '2025-01-01T10:00:00' }), 'dt'],
  ['info not an object', 'POST', '/v1/batch/write', write({ info: 'dry' }), 'info'],
  ['unknown field', 'POST', '/v1/batch/write', write({ extra: 1 }), '"extra"'],
  ['lock mode unknown', 'POST', '/v1/batch/write', write({ locks: [{ loc, uid: UID, mode: 'take' }] }), 'locks.0.mode'],
  ['lock uid not a uuid', 'POST', '/v1/batch/write', write({ locks: [{ loc, uid: 'abc', mode: 'validate' }] }), 'locks.0.uid'],
  ['malformed JSON', 'POST', '/v1/batch/write', '{"event_type":', 'body: malformed JSON'],
  ['read: malformed loc', 'POST', '/v1/batch/read', { balances: [{ loc: { ...loc, type: 7 } }] }, 'balances.0.loc.type'],
  ['read: window backwards', 'POST', '/v1/batch/read', { detailed_turnovers: [{ loc, dt_from: '2025-02-01T00:00:00Z', dt_to: '2025-01-01T00:00:00Z' }] }, 'detailed_turnovers.0'],
  ['read: window without dt_to', 'POST', '/v1/batch/read', { detailed_turnovers: [{ loc, dt_from: '2025-02-01T00:00:00Z' }] }, '"dt_to"'],
  ['read: lock timeout zero', 'POST', '/v1/batch/read', { lock: { loc, timeout_s: 0 } }, 'lock.timeout_s'],
  ['lock init: no loc', 'POST', '/v1/locks/init', { timeout_s: 5 }, '"loc"'],
  ['lock init: timeout as text', 'POST', '/v1/locks/init', { loc, timeout_s: '5' }, 'timeout_s'],
  ['lock ping: bad uid', 'POST', '/v1/locks/ping', { loc, uid: 'x', timeout_s: 5 }, 'uid'],
  ['lock remove: malformed loc', 'POST', '/v1/locks/remove', { loc: { namespace: 'taxi' }, uid: UID }, 'loc: missing field'],
  ['accounts: no client_id', 'GET', '/v1/accounts?namespace=taxi&type=payout', undefined, '"client_id"'],
  ['batch: no external_id', 'GET', '/v1/batch', undefined, '"external_id"'],
  // Text Postgres cannot store: a 400 naming the field, not a 500 from the first statement it is in
  ['NUL in a loc', 'POST', '/v1/batch/write', withLoc({ client_id: '4\u00002' }), 'events.0.loc.client_id: must not contain the NUL character'],
  ['lone surrogate in a loc', 'POST', '/v1/batch/write', withLoc({ currency: 'R\ud800B' }), 'events.0.loc.currency: must not contain a lone UTF-16 surrogate'],
  ['NUL in info', 'POST', '/v1/batch/write', write({ info: { note: 'a\u0000b' } }), 'info.note: must not contain the NUL character'],
  ['NUL in external_id', 'POST', '/v1/batch/write', write({ external_id: 'x\u0000' }), 'external_id: must not contain the NUL character'],
  ['batches: NUL in a loc of the third batch', 'POST', '/v1/batches/write', { batches: [write({ external_id: 'm-1' }), write({ external_id: 'm-2' }), withLoc({ namespace: 't\u0000' })] }, 'batches.2.events.0.loc.namespace: must not contain the NUL character'],
  ['batches: lone surrogate in a lock loc', 'POST', '/v1/batches/write', { batches: [write({ locks: [{ loc: { ...loc, client_id: '\udc00' }, uid: UID, mode: 'validate' }] })] }, 'batches.0.locks.0.loc.client_id: must not contain a lone UTF-16 surrogate'],
  ['read: NUL in a lock loc', 'POST', '/v1/batch/read', { locks: [{ loc: { ...loc, client_id: '\u0000' }, timeout_s: 5 }] }, 'locks.0.loc.client_id'],
  ['NUL in a key of info', 'POST', '/v1/batch/write', write({ info: { 'k\u0000': 1 } }), 'info: has a key Postgres cannot store ("k\\u0000"'],
  ['lone surrogate in external_id', 'POST', '/v1/batch/write', write({ external_id: 'x\ud800' }), 'external_id: must not contain a lone UTF-16 surrogate'],
  ['batches: NUL in the external_id of the second batch', 'POST', '/v1/batches/write', { batches: [write({ external_id: 'm-3' }), write({ external_id: 'm-4\u0000' })] }, 'batches.1.external_id: must not contain the NUL character'],
  ['batches: lone surrogate in an event_type', 'POST', '/v1/batches/write', { batches: [write({ external_id: 'm-5', event_type: '\udfff' })] }, 'batches.0.event_type: must not contain a lone UTF-16 surrogate'],
  ['accounts list: NUL in a client id', 'POST', '/v1/accounts/list', { namespace: 'taxi', type: 'payout', client_ids: ['1', '2\u0000'] }, 'client_ids.1: must not contain the NUL character'],
  ['batch: NUL in the external_id query', 'GET', '/v1/batch?external_id=a%00b', undefined, 'external_id: must not contain the NUL character'],
];

describe('400 on malformed requests', () => {
  it.each(cases)('%s', async (_name, method, path, body, field) => {
    const before = await s.counts();
    const res = method === 'GET' ? await s.get(path) : await s.post(path, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'Bad Request', code: 'bad_request' });
    expect(res.body.message).toContain(field);
    expect(await s.counts()).toEqual(before);
  });

  it('wrote nothing at all across the table', async () => {
    expect(await s.counts()).toEqual({ accounts: 0, batches: 0, events: 0 });
  });

  it('the client reports a 400 as permanent with the server message', async () => {
    const err = await s.client.writeBatch({ event_type: 'accrual', external_id: 'bad-2', events: [{ loc, type: 'credit', amount: '-1' }] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'permanent', reason: 'rejected', status: 400 });
    expect((err as Error).message).toContain('events.0.amount');
  });
});
