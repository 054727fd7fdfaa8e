// npm run bench:json — the exact JSON reader (numbers kept as their literal text) on the ARD and
// OEBS messages of test/fixtures/oebs, against JSON.parse on the same texts in the same run,
// alternated. Every status message payout consumes, and every body the stand-ins read, goes
// through it.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './api.ts';
import { parseJsonExact } from '../src/domain/json.ts';
import { ROOT } from './support.ts';

const ROUNDS = Number(process.env.BENCH_RUNS ?? 5);
const MESSAGES = 100_000;

/** µs per message of `parse` over the fixtures, cycling through them. */
function time(texts: string[], parse: (text: string) => unknown): number {
  const t0 = performance.now();
  for (let i = 0; i < MESSAGES; i++) parse(texts[i % texts.length]!);
  return ((performance.now() - t0) * 1000) / MESSAGES;
}

export async function benchJson(): Promise<Row[]> {
  const dir = path.join(ROOT, 'test/fixtures/oebs');
  const texts = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => readFileSync(path.join(dir, f), 'utf8'));
  time(texts, parseJsonExact); // warm-up: both compiled before anything counts
  time(texts, JSON.parse);
  const exact: number[] = [];
  const native: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    exact.push(time(texts, parseJsonExact));
    native.push(time(texts, JSON.parse));
  }
  const best = (xs: number[]) => Math.min(...xs);
  const chars = Math.round(texts.reduce((a, t) => a + t.length, 0) / texts.length);
  console.log(`exact JSON reader: ${exact.map((x) => x.toFixed(2)).join(', ')} µs a message; JSON.parse: ${native.map((x) => x.toFixed(2)).join(', ')} ` +
    `(${texts.length} fixtures, ${chars} characters on average, ${ROUNDS} alternated rounds of ${MESSAGES})`);
  return [
    { measure: 'ceiling: JSON.parse of an ARD/OEBS message, µs', value: best(native).toFixed(2), ratio: '100%' },
    { measure: 'exact JSON reader (numbers as their text), µs a message', value: best(exact).toFixed(2), ratio: `${((100 * best(exact)) / best(native)).toFixed(0)}%` },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchJson();
