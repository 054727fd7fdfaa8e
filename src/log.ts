import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout, one logger per process, named after the component. */
export function createLogger(component: string, level: string): Logger {
  return pino({ name: component, level, base: { component, pid: process.pid } });
}
