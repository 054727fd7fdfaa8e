// `npm run build`: compile src/ to dist/ (tsconfig.build.json), then copy every file under src/ that
// is not TypeScript (SQL migrations, the console's static files, READMEs) to the same place in
// dist/, so code that reads files next to itself (import.meta.url) finds them in both trees.
// Plain JavaScript: it runs with node alone. `node scripts/build.mjs <folder>` builds into another
// folder (the tests do, inside the project so that node_modules is found), leaving dist/ alone.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'));

rmSync(dist, { recursive: true, force: true }); // no file of a deleted module lingers
// typescript's package exports do not include its bin: find it next to its package.json.
const tsc = path.join(path.dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit', cwd: root });
cpSync(src, dist, {
  recursive: true,
  filter: (from) => statSync(from).isDirectory() || !from.endsWith('.ts'),
});
console.log(`built ${path.relative(process.cwd(), dist) || '.'}/ (run it: node dist/cli.js --help, or bin/payout)`);
