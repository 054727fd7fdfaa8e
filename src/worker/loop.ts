// The poll loop every gate runs: call runOnce(), and when it did a full batch go again at once,
// otherwise sleep for the interval. An error counts as "nothing done" and backs off (doubling up
// to the interval) so a database or accounts outage is not hammered. stop() aborts the sleep
// and waits for the batch in progress, so SIGTERM never cuts a batch in half.
import type { Logger } from '../log.ts';

export interface RunResult {
  /** How many items this run handled. */
  count: number;
  /** Whether the batch was full, i.e. there is probably more waiting. */
  full: boolean;
}

export class PollLoop {
  private stopped = false;
  private wake = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly opts: { name: string; intervalMs: number; runOnce: () => Promise<RunResult>; log: Logger; minBackoffMs?: number },
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.abort();
    await this.running;
  }

  private async loop() {
    let failures = 0;
    while (!this.stopped) {
      let again = false;
      try {
        again = (await this.opts.runOnce()).full;
        failures = 0;
      } catch (err) {
        failures++;
        this.opts.log.error({ err, failures }, `${this.opts.name}: run failed`);
      }
      if (again || this.stopped) continue;
      const backoff = failures ? Math.min(this.opts.intervalMs, (this.opts.minBackoffMs ?? 100) * 2 ** (failures - 1)) : this.opts.intervalMs;
      await this.sleep(backoff);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}
