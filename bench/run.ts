// npm run bench — every benchmark in one run, one table (stdout and bench/results/bench.md).
// Ratios compare against ceilings measured in the same run: these machines are noisy.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchApi } from './api.ts';
import { benchE2e } from './e2e.ts';
import { benchGates } from './gates.ts';
import { benchHistory } from './history.ts';
import { benchIntegrity } from './integrity.ts';
import { benchJson } from './json.ts';
import { benchReceiver } from './receiver.ts';
import { ROOT } from './support.ts';

const rows = [...(await benchApi()), ...(await benchGates()), ...(await benchReceiver()), ...(await benchJson()), ...(await benchHistory()), ...(await benchIntegrity()), ...(await benchE2e())];
const table = [
  `payout benchmarks — ${new Date().toISOString()}, ${os.cpus().length} cores, durable Postgres (embedded), stand-ins on the same machine`,
  '',
  '| measure | value | vs its ceiling |',
  '|---|---|---|',
  ...rows.map((r) => `| ${r.measure} | ${r.value} | ${r.ratio} |`),
].join('\n');
console.log(`\n${table}`);
mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(path.join(ROOT, 'bench/results/bench.md'), `${table}\n`);
