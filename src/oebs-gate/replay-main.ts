// `payout replay-errors [--since <time>] [--topic <oebs-errors topic>]`: replays the oebs-errors
// reports (see replay.ts) and prints what it did, per topic, as JSON.
import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import { chooseTopics, createReplayer, parseSince } from './replay.ts';

export interface ReplayArgs {
  since?: Date;
  topic?: string;
}

const USAGE = 'usage: payout replay-errors [--since <ISO time | YYYY-MM-DD | 24h>] [--topic <oebs-errors topic>]';

/** The command line, or why it is wrong (thrown, with the usage). */
export function parseReplayArgs(args: readonly string[], now = new Date()): ReplayArgs {
  const out: ReplayArgs = {};
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i]!, args[i + 1]];
    if ((flag !== '--since' && flag !== '--topic') || value === undefined || value.startsWith('--')) {
      throw new Error(`replay-errors: ${flag === '--since' || flag === '--topic' ? `${flag} needs a value` : `unknown argument ${flag}`}\n${USAGE}`);
    }
    i++;
    if (flag === '--topic') out.topic = value;
    else {
      const since = parseSince(value, now);
      if (!since) throw new Error(`replay-errors: --since "${value}" is not an ISO date-time, a YYYY-MM-DD day or a duration like 24h\n${USAGE}`);
      out.since = since;
    }
  }
  return out;
}

export async function runReplayErrors(config: Readonly<Config>, log: Logger, args: string[]) {
  const { since, topic } = parseReplayArgs(args);
  const choice = chooseTopics(config, ['*'], topic);
  if (!choice.ok) throw new Error(`replay-errors: ${choice.message}`);
  const db = await openDatabase(config, log, 'payout-replay-errors');
  try {
    await migrate(db.sql);
    const counts = await createReplayer(config, db.sql, log)(choice.topics, since);
    console.log(JSON.stringify({ topics: counts }, null, 2));
  } finally {
    await db.close();
  }
}
