// npm run bench:receiver — the receiver alone: N payouts made `pending` by the real sender, then
// ARD NEW, OEBS CREATED and OEBS RECONCILED of each on the Postgres topics (3N messages, keyed as
// ARD and OEBS key them); how fast the receiver (in this process) brings them all to `done`,
// message by message (PAYOUT_RECEIVER_BATCH=0, 8 at a time) and in batches of 200 (one
// transaction per round), with the ledger writer sending their events as oebs-gate runs it, against
// the accounts stand-in as its own process on a durable Postgres. Done means every payout `done`
// and the ledger outbox empty.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Row } from './api.ts';
import { createAccountsClient } from '../src/accounts/client.ts';
import { loadConfig } from '../src/config.ts';
import { connect, type Sql } from '../src/db/connect.ts';
import { migrate } from '../src/db/migrate.ts';
import { JsonNumber } from '../src/domain/json.ts';
import { oebsKey } from '../src/domain/status-messages.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { Receiver } from '../src/oebs-gate/receiver.ts';
import { LedgerWriter } from '../src/oebs-gate/ledger-writer.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { accountsMigrations } from '../src/standins/accounts/migrations.ts';
import { insertFixedPayout } from '../src/store/payouts.ts';
import { PostgresTopics } from '../src/topics/postgres.ts';
import { topicsFor } from '../src/topics/paths.ts';
import type { OutgoingMessage } from '../src/topics/types.ts';
import { mapLimit } from '../src/worker/concurrency.ts';
import { PollLoop } from '../src/worker/loop.ts';
import { benchPostgres, freePort, spawnNode, stopChild, waitForHttp } from './support.ts';

const N = Number(process.env.BENCH_RECEIVER_ITEMS ?? 2000);
const log = createLogger('bench', 'warn');
let round = 0;

async function pendingPayouts(sql: Sql, accountsUrl: string, sender: Sender): Promise<string[]> {
  const accounts = createAccountsClient({ url: accountsUrl, timeoutMs: 30_000 });
  const clients = Array.from({ length: N }, (_, i) => String(++round * 1_000_000 + i + 1));
  const acc = (c: string) => ({ namespace: 'taxi', client_id: c, contract_id: '7', service_id: '124', currency: 'RUB' });
  await mapLimit(clients, 32, (c) => accounts.writeBatch({ event_type: 'accrual', external_id: randomUUID(), events: [{ loc: { ...acc(c), type: 'payout' }, type: 'credit', amount: '10.5' }] }));
  const ids = await mapLimit(clients, 16, async (c) => (await insertFixedPayout(sql, { external_id: `bench-${c}`, ...acc(c), amount: '10.5', approve_req: false }))!);
  while ((await sender.runOnce()).full);
  const [left] = await sql`select count(*)::int as n from t_payout where id = any(${ids}::int8[]) and status <> 'pending'`;
  if (left!.n) throw new Error(`${left!.n} payouts not pending`);
  return ids;
}

function answers(config: ReturnType<typeof loadConfig>, ids: string[]): OutgoingMessage[] {
  const t = topicsFor(config, 'taxi', false);
  const J = (v: string) => new JsonNumber(v);
  const dt = '2025-03-01 10:00:00';
  return ids.flatMap((id) => {
    const oebs = (status: string) => {
      const payload = { status_dt: dt, status_system: 'oebs', status_type: status, ard_line_id: J(id), payment_batch_id: [J(id)], payment_id: J(`${id}1`), payment_amount: J('10.50'), payment_purpose: 'bench', total_batch_count: J('1') };
      return { topic: t.statusOebs, key: oebsKey(payload), msgId: `oebs-${id}-${status}`, payload };
    };
    return [
      { topic: t.statusArd, key: id, msgId: `ard-${id}`, payload: { status_id: J(id), status_dt: dt, status_system: 'oebs', message_id: J(id), status_type: 'NEW', status_info: '', ard_line_id: J(id), payment_batch_id: J(id), payment_check_id: J(id) } },
      oebs('CREATED'), oebs('RECONCILED'),
    ];
  });
}

export async function benchReceiver(): Promise<Row[]> {
  const pg = await benchPostgres();
  const sql = connect(pg.url, { max: 20 });
  await migrate(sql);
  await migrate(sql, accountsMigrations);
  const accountsPort = await freePort();
  const accountsUrl = `http://127.0.0.1:${accountsPort}`;
  const accountsProcess = spawnNode('src/cli.ts', ['accounts'], { PAYOUT_DB_URL: pg.url, PAYOUT_ACCOUNTS_PORT: String(accountsPort), PAYOUT_LOG_LEVEL: 'warn' });
  const rows: Row[] = [];
  try {
    await waitForHttp(`${accountsUrl}/ping`);
    const config = loadConfig({ PAYOUT_LOG_LEVEL: 'warn', PAYOUT_SENDER_LIMIT: '500' });
    const client = createAccountsClient({ url: accountsUrl, timeoutMs: 30_000 });
    const topics = new PostgresTopics(sql);
    const sender = new Sender({ config, sql, ledger: senderLedger(client), publisher: topics, newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout, log });
    for (const batch of [0, 200]) {
      const ids = await pendingPayouts(sql, accountsUrl, sender);
      const writer = new LedgerWriter({ sql, client, log });
      const writerLoop = new PollLoop(async () => ((await writer.runOnce()).full ? 1 : 0), { idleMs: 100 });
      const receiver = await Receiver.create({
        config, sql, topics, log, idleMs: 50, onCommitted: () => writerLoop.wake(),
        ...(batch ? { batchSize: batch } : { batches: false }),
      });
      const msgs = answers(config, ids);
      for (let i = 0; i < msgs.length; i += 3000) await sql.begin((tx) => topics.publishMany(tx, msgs.slice(i, i + 3000)));
      const started = performance.now();
      receiver.start();
      writerLoop.start();
      for (;;) {
        const [row] = await sql`select count(*)::int as n from t_payout where id = any(${ids}::int8[]) and status = 'done'`;
        const [outbox] = await sql`select count(*)::int as n from t_ledger_outbox`;
        if (row!.n === ids.length && outbox!.n === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const seconds = (performance.now() - started) / 1000;
      await receiver.stop();
      await writerLoop.stop();
      const name = batch ? `receiver, batches of ${batch}` : 'receiver, message by message (8 at a time)';
      rows.push({ measure: `${name}: payouts → done/s (3 answers each)`, value: String(Math.round(N / seconds)), ratio: '' });
      console.log(`${rows.at(-1)!.measure}: ${rows.at(-1)!.value} (${Math.round((3 * N) / seconds)} messages/s)`);
    }
    return rows;
  } finally {
    await stopChild(accountsProcess);
    await sql.end();
    await pg.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchReceiver();
