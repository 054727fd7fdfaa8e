import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import { buildApp } from './app.ts';
import { onShutdown } from '../process.ts';

export async function runApi(config: Readonly<Config>, log: Logger) {
  if (config.api.tokens.size === 0) log.warn('PAYOUT_API_TOKENS is empty: every /api/v1 call will be refused with 401');
  const db = await openDatabase(config, log, 'payout-api');
  await migrate(db.sql); // safe with many replicas: migrators take turns on an advisory lock
  const app = await buildApp({ config, sql: db.sql, logger: log });
  const address = await app.listen({ host: config.api.host, port: config.api.port });
  log.info({ address, docs: `${address}/docs` }, 'api listening');
  onShutdown(log, async () => {
    await app.close();
    await db.close();
  });
}
