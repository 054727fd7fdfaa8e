// Where a process gets its database: PAYOUT_DB_URL when set, otherwise the embedded Postgres
// (started here, or reused when another process of this checkout already runs it).
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { connect, type Sql } from './connect.ts';
import { startEmbedded, type EmbeddedServer } from './embedded.ts';

export interface Database {
  url: string;
  sql: Sql;
  /** Set when this process started the embedded server. */
  embedded?: EmbeddedServer;
  close(): Promise<void>;
}

export async function resolveDbUrl(
  config: Readonly<Config>, log: Logger, leftover: 'reuse' | 'restart' = 'reuse',
): Promise<{ url: string; embedded?: EmbeddedServer }> {
  if (config.db.url) return { url: config.db.url };
  const embedded = await startEmbedded({
    dataDir: config.db.dataDir,
    port: config.db.embeddedPort,
    leftover,
    log: (line) => log.debug({ postgres: line }),
    notice: (line) => log.warn(line),
  });
  log.info({ port: config.db.embeddedPort, cluster: embedded.clusterDir, owned: embedded.owned }, embedded.owned ? 'embedded Postgres started' : 'embedded Postgres reused');
  return { url: embedded.url, embedded: embedded.owned ? embedded : undefined };
}

export async function openDatabase(config: Readonly<Config>, log: Logger, app: string): Promise<Database> {
  const { url, embedded } = await resolveDbUrl(config, log);
  const sql = connect(url, { max: config.db.poolSize, app });
  return {
    url,
    sql,
    embedded,
    async close() {
      await sql.end({ timeout: 5 });
      await embedded?.stop();
    },
  };
}
