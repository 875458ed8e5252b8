// Checks that the committed declarations in assets/types/ are exactly what tsc generates
// now from the JSDoc of assets/*.js (tsconfig.types.json), so they cannot drift: it
// generates them into a temporary directory and compares them file by file.
//
//   node scripts/check-types.mjs           check (`npm run typecheck` runs it)
//   node scripts/check-types.mjs --write   regenerate assets/types/ (`npm run types`)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const committed = join(root, 'assets', 'types');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const write = process.argv.includes('--write');

/** The .d.ts files under `dir`, relative and sorted. @param {string} dir @returns {string[]} */
function declarations(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.d.ts'))
    .map((f) => f.split('\\').join('/'))
    .sort();
}

/** A file's text with its line endings normalized (a checkout may use CRLF). @param {string} path */
function text(path) {
  return readFileSync(path, 'utf8').replace(/\r\n/g, '\n');
}

const out = mkdtempSync(join(tmpdir(), 'tickcast-types-'));
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.types.json'), '--outDir', out], { stdio: 'inherit' });
  if (write) {
    rmSync(committed, { recursive: true, force: true });
    cpSync(out, committed, { recursive: true });
    console.log(`wrote ${declarations(committed).length} declarations to assets/types/`);
  } else {
    const want = declarations(out);
    const have = declarations(committed);
    const problems = [];
    for (const f of want) {
      if (!have.includes(f)) {
        problems.push(`${f}: missing (generated, not committed)`);
        continue;
      }
      const a = text(join(out, f)).split('\n');
      const b = text(join(committed, f)).split('\n');
      const line = a.findIndex((l, i) => l !== b[i]);
      if (line >= 0 || a.length !== b.length) {
        const n = line >= 0 ? line : Math.min(a.length, b.length);
        problems.push(`${f}:${n + 1}: differs\n  generated: ${a[n] ?? '(end of file)'}\n  committed: ${b[n] ?? '(end of file)'}`);
      }
    }
    for (const f of have) if (!want.includes(f)) problems.push(`${f}: committed, but tsc no longer generates it`);
    if (problems.length > 0) {
      console.error(`assets/types/ is not what tsc generates from the JSDoc:\n${problems.join('\n')}`);
      console.error('Run `npm run types` and commit assets/types/.');
      process.exitCode = 1;
    } else {
      console.log(`assets/types/: ${want.length} declarations match what tsc generates`);
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
