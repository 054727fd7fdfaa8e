// The one entry program: `payout <command>`. Each command is a process of the system.
import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { setFailpoints } from './failpoints.ts';
import { chooseLogFormat, createLogger, type Logger } from './log.ts';

type Command = (config: Readonly<Config>, log: Logger, args: string[]) => Promise<void>;

const commands: Record<string, { about: string; run: () => Promise<Command> }> = {
  accounts: { about: 'stand-in accounts system (ledger); `accounts credit …` credits a payout account', run: async () => (await import('./standins/accounts/main.ts')).runAccounts },
  api: { about: 'HTTP api: accepts payout requests', run: async () => (await import('./api/main.ts')).runApi },
  'deployment-id': { about: "print this database's deployment id; --reset gives a restored copy a new one", run: async () => (await import('./db/commands.ts')).runDeploymentId },
  migrate: { about: 'apply the database migrations and exit', run: async () => (await import('./db/commands.ts')).runMigrate },
  openapi: { about: 'print the OpenAPI document of the api (JSON) and exit; no database needed', run: async () => (await import('./api/openapi.ts')).runOpenApi },
  start: {
    about: 'the whole system: embedded Postgres, stand-ins, api and gates as supervised processes',
    run: async () => {
      const { runSupervisor } = await import('./supervisor.ts');
      return (config, log, args) => runSupervisor(config, log, args, ['accounts', 'oebs-emulator', 'api', 'req-gate', 'oebs-gate', 'tasks']);
    },
  },
  'replay-errors': { about: 'apply oebs-errors messages again (--since <time>, --topic <errors topic>): what applies now applies', run: async () => (await import('./oebs-gate/replay-main.ts')).runReplayErrors },
  'req-gate': { about: 'turns payout requests into payouts', run: async () => (await import('./req-gate/main.ts')).runReqGate },
  'oebs-gate': { about: 'reserves payouts in the ledger, sends them to OEBS, follows the answers', run: async () => (await import('./oebs-gate/main.ts')).runOebsGate },
  'oebs-emulator': { about: 'stand-in OEBS/ARD: answers new-payout messages on the status topics', run: async () => (await import('./standins/oebs/main.ts')).runOebsEmulator },
  tasks: { about: 'periodic jobs: integrity and reconciliation, stuck payouts, housekeeping', run: async () => (await import('./tasks/main.ts')).runTasks },
  'start-db': { about: 'start the embedded Postgres, apply migrations, keep it running', run: async () => (await import('./db/commands.ts')).runStartDb },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(16)} ${c.about}`);
  return `usage: payout <command> [args]\n\ncommands:\n${lines.join('\n')}\n\nConfiguration comes from PAYOUT_* environment variables (and .env); see README.md.`;
}

async function main() {
  const [name, ...args] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  const command = commands[name];
  if (!command) {
    console.error(`payout: unknown command "${name}"\n\n${usage()}`);
    process.exit(2);
  }
  // Variables already set win over the file (Node's loader does not overwrite them).
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config: Readonly<Config>;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`payout: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  setFailpoints(config.failpoints, 'kill', config.failpointsOnceDir);
  const log = createLogger(name, config.logLevel, chooseLogFormat(config.logFormat, process.stdout.isTTY === true));
  try {
    await (await command.run())(config, log, args);
  } catch (err) {
    log.fatal({ err }, `${name} failed`);
    console.error(`payout ${name}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}

await main();
