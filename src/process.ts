import type { Logger } from './log.ts';

/** On SIGTERM/SIGINT: run `stop` once (finish or roll back in-flight work), then exit. */
export function onShutdown(log: Logger, stop: () => Promise<void>) {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    stop()
      .then(() => process.exit(0))
      .catch((err) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  // Started by the supervisor (`payout start`): stop when it goes away, however it went.
  if (process.send) process.on('disconnect', () => handler('supervisor gone'));
}

/**
 * A connection the process cannot live without closed for good: exit non-zero at once, so the
 * supervisor (`payout start`, systemd, Kubernetes) starts a fresh process. Staying up would leave
 * a process that looks alive but neither relays nor consumes.
 */
export function exitOnLost(log: Logger, what: string) {
  return (err: unknown) => {
    log.fatal({ err }, `${what} closed for good; exiting so the supervisor restarts this process`);
    process.exit(1);
  };
}
