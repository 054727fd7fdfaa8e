// Named crash points, for tests only: PAYOUT_FAILPOINTS=req-gate.after-insert-payouts makes the
// process die abruptly (SIGKILL, no cleanup, no rollback message) when it reaches that line, so a
// test can prove that a restart repairs whatever was in flight. In-process tests use `throw` mode.
let active = new Set<string>();
let mode: 'kill' | 'throw' = 'kill';

export class FailpointError extends Error {}

export function setFailpoints(names: readonly string[], how: 'kill' | 'throw' = 'kill') {
  active = new Set(names);
  mode = how;
}

export function failpoint(name: string): void {
  if (!active.has(name)) return;
  if (mode === 'throw') throw new FailpointError(`failpoint ${name}`);
  process.kill(process.pid, 'SIGKILL');
}
