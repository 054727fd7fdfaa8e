// Named crash points, for tests only: PAYOUT_FAILPOINTS=sender.after-reserve makes the process
// die abruptly (SIGKILL: no cleanup, no rollback message) when it reaches that line, so a test
// can prove that a restart repairs whatever was in flight. With PAYOUT_FAILPOINTS_ONCE_DIR set,
// each point fires once across restarts (a marker file records it), so a supervised process
// that is restarted goes on instead of dying at the same line forever. In-process tests use
// `throw` mode instead of killing the test runner.
import { writeFileSync } from 'node:fs';
import path from 'node:path';

let active = new Set<string>();
let mode: 'kill' | 'throw' = 'kill';
let onceDir: string | undefined;

export class FailpointError extends Error {}

export function setFailpoints(names: readonly string[], how: 'kill' | 'throw' = 'kill', once?: string) {
  active = new Set(names);
  mode = how;
  onceDir = once;
}

/** True the first time only, across processes sharing the once-folder. */
function firstTime(name: string): boolean {
  if (!onceDir) return true;
  try {
    writeFileSync(path.join(onceDir, name), String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

export function failpoint(name: string): void {
  if (!active.has(name) || !firstTime(name)) return;
  if (mode === 'throw') throw new FailpointError(`failpoint ${name}`);
  process.kill(process.pid, 'SIGKILL');
}
