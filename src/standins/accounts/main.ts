// `payout accounts [serve]` runs the stand-in ledger; `payout accounts credit …` feeds it.
import type { Config } from '../../config.ts';
import { openDatabase } from '../../db/database.ts';
import { migrate } from '../../db/migrate.ts';
import type { Logger } from '../../log.ts';
import { onShutdown } from '../../process.ts';
import { buildAccountsApp } from './app.ts';
import { runCredit } from './credit.ts';
import { accountsMigrations } from './migrations.ts';

export async function runAccounts(config: Readonly<Config>, log: Logger, args: string[]) {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'serve') return serve(config, log);
  if (sub === 'credit') return runCredit(config.accounts.url.replace(/\/+$/, ''), rest, (line) => console.log(line));
  throw new Error(`unknown subcommand "${sub}": use \`payout accounts [serve]\` or \`payout accounts credit …\``);
}

async function serve(config: Readonly<Config>, log: Logger) {
  const db = await openDatabase(config, log, 'payout-accounts');
  const applied = await migrate(db.sql, accountsMigrations);
  if (applied.length) log.info({ applied }, 'accounts migrations applied');
  const app = await buildAccountsApp({ sql: db.sql, logger: log });
  const address = await app.listen({ host: config.accounts.host, port: config.accounts.port });
  log.info({ address }, 'accounts stand-in listening');
  onShutdown(log, async () => {
    await app.close();
    await db.close();
  });
}
