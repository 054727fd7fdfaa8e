// insertMessages passes a batch's payloads as one JSON array text, split again by
// json_array_elements and joined to topic/key/msg_id by ordinality. Each stored payload must be
// the exact text encodePayload wrote, beside its own topic, key and msg id, for awkward payloads
// (escapes, \u0000, U+2028, astral characters, exponent and int64 literals, strings that look like
// array punctuation) and with a repeated msg id in the batch (on conflict do nothing).
import { beforeAll, describe, expect, it } from 'vitest';
import { JsonNumber } from '../../src/domain/json.ts';
import { encodePayload } from '../../src/topics/codec.ts';
import { insertMessages } from '../../src/topics/store.ts';
import type { OutgoingMessage } from '../../src/topics/types.ts';
import { createTestDb, type TestDb } from '../support/db.ts';

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb({ poolSize: 2 });
});

const awkward: Record<string, unknown>[] = [
  { amount: new JsonNumber('100.50'), id: new JsonNumber('9223372036854775807') },
  { s: '],[{"x":1}', q: '"\\"', nul: '\u0000', ls: 'a\u2028b\u2029c', astral: '😀', ctl: '\b\f\n\r\t\u001f' },
  { e: new JsonNumber('1E+400'), z: new JsonNumber('-0'), small: new JsonNumber('1e-7'), list: [new JsonNumber('0.10'), [], {}] },
  { '': '', 'ключ': 'значение', nested: { a: [{ b: [null, true, false] }] } },
  { amount: '12.34', note: '\\u0041 stays six characters' },
];

describe('insertMessages keeps every payload byte-exact and beside its own message', () => {
  it('stores each payload as encodePayload wrote it, in order, with its topic, key and msg id', async () => {
    const run = `${Date.now()}`;
    const ms: OutgoingMessage[] = awkward.map((payload, i) => ({ topic: `attack/${run}/${i % 2}`, key: `k${i}`, msgId: `m${i}`, payload }));
    // a repeat of message 1 (same topic and msg id, other payload) in the middle of the batch
    ms.splice(2, 0, { topic: ms[1]!.topic, key: 'repeat', msgId: ms[1]!.msgId, payload: { repeat: true } });
    const ids = await db.sql.begin((tx) => insertMessages(tx, ms, 'outbox'));
    expect(ids).toHaveLength(awkward.length);
    const rows = await db.sql<{ topic: string; key: string; msg_id: string; payload: string; dep: string }[]>`
      select topic, key, msg_id, payload::text as payload, deployment_id = payout_deployment_id() as dep
      from topic_message where id = any(${ids}::int8[]) order by id`;
    const expected = ms.filter((_, i) => i !== 2);
    expect(rows.map((r) => [r.topic, r.key, r.msg_id, r.payload, r.dep])).toEqual(
      expected.map((m) => [m.topic, m.key, m.msgId, encodePayload(m.payload), true]),
    );
  });
});
