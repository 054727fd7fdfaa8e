// The poll loop around a `runOnce`: a round that found work is followed at once by the next; an
// empty round sleeps `idleMs`; a failed round counts as empty and backs off exponentially, so a
// broken database or broker is not hammered. The sleep is abortable, so `stop()` is prompt, and
// `wake()` ends an idle sleep when another part of the process knows there is work.

/** A background worker: `runOnce()` does one round and says how much it did; tests drive it. */
export interface Worker {
  runOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export interface LoopOptions {
  idleMs: number;
  maxBackoffMs?: number;
  onError?: (err: unknown) => void;
}

export class PollLoop implements Worker {
  private abort: AbortController | undefined;
  private done: Promise<void> | undefined;
  /** Ends the current sleep; set while the loop sleeps. */
  private wakeUp: (() => void) | undefined;
  /** A wake-up that came while a round ran: the next round follows at once. */
  private woken = false;

  constructor(
    private readonly work: () => Promise<number>,
    private readonly opts: LoopOptions,
  ) {}

  runOnce(): Promise<number> {
    return this.work();
  }

  start(): void {
    if (this.abort) return;
    this.abort = new AbortController();
    this.done = this.loop(this.abort.signal);
  }

  /** There is work now: run a round at once instead of sleeping out the interval (not a backoff). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await this.done;
    this.abort = undefined;
    this.done = undefined;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let did = 0;
      this.woken = false;
      try {
        did = await this.work();
        failures = 0;
      } catch (err) {
        failures++;
        this.opts.onError?.(err);
      }
      if (did > 0 || (this.woken && failures === 0)) continue;
      const wait = Math.min(this.opts.idleMs * 2 ** Math.min(failures, 10), this.opts.maxBackoffMs ?? 30_000);
      // A failing round's backoff is not cut short: a wake-up per commit would hammer what is down.
      await sleep(wait, signal, (wake) => (this.wakeUp = failures === 0 ? wake : undefined));
      this.wakeUp = undefined;
    }
  }
}

/** Sleeps `ms`, or until `signal` aborts or the wake function handed to `onWake` is called. */
function sleep(ms: number, signal: AbortSignal, onWake: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    onWake(done);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** What one run of a gate did: how many items, and whether the batch was full (more may wait). */
export interface RunResult {
  count: number;
  full: boolean;
}
