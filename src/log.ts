import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type { prettyFactory as PrettyFactory } from 'pino-pretty';
import type { LogFormatSetting } from './config.ts';

export type { Logger };
export type LogFormat = 'json' | 'pretty';

/** What a process writes: what the setting says, or, left to `auto`, pretty only for a person at a terminal. */
export function chooseLogFormat(setting: LogFormatSetting | undefined, stdoutIsTty: boolean): LogFormat {
  if (setting === 'json' || setting === 'pretty') return setting;
  return stdoutIsTty ? 'pretty' : 'json';
}

/**
 * One logger per process, named after the component. JSON lines (for collectors) or, for a person,
 * pino-pretty's one line per entry with the component and pid in it. Both write synchronously, so
 * a fatal line logged just before `process.exit` is never lost.
 */
export function createLogger(component: string, level: string, format: LogFormat = chooseLogFormat(undefined, process.stdout.isTTY === true)): Logger {
  const options = { name: component, level, base: { component, pid: process.pid } };
  if (format === 'json') return pino(options);
  // Loaded only for a person at a terminal: JSON processes (production) do not pay for it.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as { prettyFactory: typeof PrettyFactory };
  const prettify = prettyFactory({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname,component', singleLine: true });
  const out = pino.destination({ dest: 1, sync: true });
  return pino(options, { write: (line: string) => void out.write(prettify(line)) });
}
