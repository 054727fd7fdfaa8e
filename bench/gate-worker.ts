// One replica of a gate for the benchmarks: runs `runOnce()` until the work is gone, then exits.
// Usage: tsx bench/gate-worker.ts req-gate|sender   (configuration from PAYOUT_* variables)
import { createAccountsClient } from '../src/accounts/client.ts';
import { loadConfig } from '../src/config.ts';
import { connect } from '../src/db/connect.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { payoutAccountsSource } from '../src/req-gate/accounts-source.ts';
import { ReqGate } from '../src/req-gate/gate.ts';
import { createTopics } from '../src/topics/index.ts';
import { topicsFor } from '../src/topics/paths.ts';

const config = loadConfig();
const log = createLogger(`bench-${process.argv[2]}`, config.logLevel);
const sql = connect(config.db.url!, { max: config.db.poolSize });
const accounts = createAccountsClient({ url: config.accounts.url, timeoutMs: config.accounts.timeoutMs });
let gate: { runOnce(): Promise<{ count: number }> };
if (process.argv[2] === 'req-gate') {
  gate = new ReqGate({ config, sql, accounts: payoutAccountsSource(accounts), log });
} else {
  const topics = await createTopics(config, sql);
  gate = new Sender({ config, sql, ledger: senderLedger(accounts, config.accounts.lockTimeoutS), publisher: topics, newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout, log });
}
// Ready: the benchmark starts the clock when every replica is, so process start-up (loading the
// TypeScript, connecting) is not counted as gate time.
await sql`select 1`;
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
let idle = 0;
while (idle < 2) idle = (await gate.runOnce()).count === 0 ? idle + 1 : 0;
await sql.end();
process.exit(0);
