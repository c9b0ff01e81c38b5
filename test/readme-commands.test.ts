/**
 * Every command line of the README runs as written, in the README's order,
 * on the quick start's output: the README is read at test time, its shell
 * blocks and its inline `spikevae ...` / `npm ...` commands are run in an
 * empty temp folder, where `spikevae` is on the PATH as `npm link` puts it.
 *
 * Only budgets change, through the tables below (each entry says why), so
 * the test takes about a minute instead of hours. A command that fits no
 * table fails the test until it is added to one: a new README command is run
 * or consciously skipped, never silently ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../src/util/package.js';

const ROOT = packageRoot();
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Commands the test does not run, and why. */
const SKIP: Array<[RegExp, string]> = [
  [/^npm (install|i|ci)\b/, 'installs and builds; the test runs on this checkout, already installed'],
  [/^npm (test|t)\b/, 'the suite this test belongs to'],
  [/^npm (link|unlink)\b/, "writes npm's global folder; the test puts the same `spikevae` link on its own PATH"],
  [/^npm config\b/, "changes the user's npm configuration"],
  [/^npm prefix\b/, "prints npm's global folder; nothing to check"],
  [/^npm run build\b(?!:)/, 'rebuilds dist/, which npm test has just done'],
  [/^npm run (demo|build:web)\b/, 'builds the web page (and serves it until stopped); web-browser.test.ts builds, serves and drives it'],
  [/^npm rebuild\b/, 'rebuilds the native addon (about 40 s); build-native.test.ts covers when it rebuilds'],
  [/^(\w+=\S+ )*npm run bench/, 'a 5-minute benchmark on a quiet machine; speed is never measured in tests'],
  [/^npx spikevae\b/, 'works only inside the checkout; cli-report.test.ts checks the hints that print it'],
  [/^(sudo )?(apt-get|apt|curl|wget) /, 'installs or downloads from the network'],
];

/**
 * Flags appended to a `spikevae` subcommand so it finishes in seconds; none
 * changes what the command does, only how much of it.
 */
const SMALL_BUDGETS: Record<string, string[]> = {
  // Two optimizer steps (a resumed quick start, which did one: one more).
  train: ['--max-steps', '2'],
  'train-ae': ['--max-steps', '1'],
  // 100 test images, 256 generated images (one batch), few images for the other metrics.
  eval: ['--test-limit', '100', '--fad-samples', '256', '--cost-images', '4', '--robustness-images', '8', '--classify-train', '100'],
};

/** Commands that cannot succeed without files a user must supply: they must fail with one clear line naming them, creating nothing. */
const NEEDS_USER_FILES: Array<[RegExp, RegExp]> = [[/^spikevae fid-stats\b/, /spikevae: .*pt_inception-2015-12-05-6726825d\.pth/]];

/**
 * `npm start` runs package.json's start script (scripts/quickstart.mjs) with
 * the quick start's budget made tiny: one training step, 50 test images.
 */
function quickStartCommand(): string {
  const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
  assert.equal(script, 'node scripts/quickstart.mjs', 'npm start changed: update quickStartCommand() in test/readme-commands.test.ts');
  return `SPIKEVAE_QUICKSTART_STEPS=1 SPIKEVAE_QUICKSTART_TEST_LIMIT=50 node ${join(ROOT, 'scripts', 'quickstart.mjs')}`;
}

/** The README's command lines in order: lines of sh/bash blocks, and inline code that starts with a command. */
export function readmeCommands(markdown: string): string[] {
  const out: string[] = [];
  const add = (line: string) => {
    for (const part of line.split(/\s*&&\s*/)) {
      const cmd = part.trim().replace(/\s+/g, ' ');
      if (cmd && !out.includes(cmd)) out.push(cmd);
    }
  };
  const fence = /^```(\w*)\s*$/;
  let inBlock: string | null = null;
  let pending = '';
  for (const line of markdown.split('\n')) {
    const f = fence.exec(line.trim());
    if (f) {
      inBlock = inBlock === null ? f[1] || 'text' : null;
      continue;
    }
    if (inBlock !== null) {
      if (!['sh', 'bash', 'shell', 'console'].includes(inBlock)) continue;
      const text = line.replace(/^\$ /, '').trim();
      if (!text || text.startsWith('#')) continue;
      // A continued line joins the next; a trailing comment is not part of the command.
      const bare = text.replace(/\s+#.*$/, '');
      if (bare.endsWith('\\')) pending += bare.slice(0, -1) + ' ';
      else {
        add(pending + bare);
        pending = '';
      }
      continue;
    }
    for (const m of line.matchAll(/`([^`]+)`/g)) {
      // A command has arguments: prose names the program as `spikevae` alone.
      if (/^(\w+=\S+ )*(spikevae|npm|npx) [^.\s]/.test(m[1])) add(m[1]);
    }
  }
  return out;
}

/** A tiny CIFAR-10 in ./data/cifar10, where the README says to put it: 250 training records (one batch of 250) and 20 test records. */
function tinyCifar(dir: string): void {
  const records = (n: number, seed: number) => {
    const b = Buffer.alloc(n * 3073);
    for (let r = 0; r < n; r++) {
      b[r * 3073] = (r + seed) % 10;
      for (let i = 1; i < 3073; i++) b[r * 3073 + i] = (i * 7 + r * 13 + seed) % 256;
    }
    return b;
  };
  mkdirSync(dir, { recursive: true });
  for (let k = 1; k <= 5; k++) writeFileSync(join(dir, `data_batch_${k}.bin`), records(50, k));
  writeFileSync(join(dir, 'test_batch.bin'), records(20, 0));
}

test('README: the extractor finds block lines, && parts and inline commands, in order, once each', () => {
  const md = [
    'Run `spikevae sample --checkpoint a --out b.png` or `npm test`; not `runs/x`, `--help`, `spikevae` or `spikevae ...`.',
    '```sh',
    '# comment',
    'npm install && npm start   # trailing',
    'spikevae eval \\',
    '  --checkpoint c',
    '```',
    '```ts',
    "spikevae('not a shell line')",
    '```',
    'Again `npm start`, and `SPIKEVAE_ISA=avx2 npm run bench`.',
  ].join('\n');
  assert.deepEqual(readmeCommands(md), ['spikevae sample --checkpoint a --out b.png', 'npm test', 'npm install', 'npm start', 'spikevae eval --checkpoint c', 'SPIKEVAE_ISA=avx2 npm run bench']);
});

test('README: every command line runs as written on the quick start\'s output', { timeout: 600_000 }, () => {
  const commands = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  assert.ok(commands.includes('npm start'), 'the README no longer runs npm start');
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-readme-'));
  try {
    // `spikevae` on the PATH, as after the README's npm link.
    const bin = join(dir, '.bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'spikevae'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(MAIN)} "$@"\n`);
    chmodSync(join(bin, 'spikevae'), 0o755);
    const work = join(dir, 'work');
    tinyCifar(join(work, 'data', 'cifar10'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
    for (const k of ['SPIKEVAE_DATA', 'SPIKEVAE_FAD', 'SPIKEVAE_FID_WEIGHTS', 'SPIKEVAE_FID_STATS', 'SPIKEVAE_IS_WEIGHTS']) delete env[k];

    const failures: string[] = [];
    const ran: string[] = [];
    for (const cmd of commands) {
      if (SKIP.some(([re]) => re.test(cmd))) continue;
      let shell: string;
      if (cmd === 'npm start') shell = quickStartCommand();
      else if (/^spikevae( |$)/.test(cmd)) {
        const sub = cmd.split(/\s+/)[1] ?? '';
        shell = [cmd, ...(SMALL_BUDGETS[sub] ?? [])].join(' ');
      } else {
        failures.push(`${cmd}\n    not classified: run it (a spikevae command), or add it to SKIP with the reason`);
        continue;
      }
      const before = readdirSync(work, { recursive: true }).sort().join('\n');
      const r = spawnSync('sh', ['-c', shell], { cwd: work, env, encoding: 'utf8', timeout: 300_000 });
      ran.push(cmd);
      const err = (r.stderr ?? '').trim();
      const expected = NEEDS_USER_FILES.find(([re]) => re.test(cmd));
      if (expected) {
        const lines = err.split('\n').filter((l) => !l.includes('native kernels'));
        if (r.status !== 1 || lines.length !== 1 || !expected[1].test(lines[0])) failures.push(`${cmd}\n    expected one line naming the missing file, got exit ${r.status}: ${err.slice(-600)}`);
        else if (readdirSync(work, { recursive: true }).sort().join('\n') !== before) failures.push(`${cmd}\n    failed as expected but left files or folders behind`);
      } else if (r.status !== 0 || /internal error|\n\s+at /.test(err)) {
        failures.push(`${cmd}\n    (ran: ${shell})\n    exit ${r.status ?? r.signal}: ${err.slice(-800)}`);
      }
    }
    assert.deepEqual(failures, [], `README commands that failed:\n${failures.join('\n')}`);
    assert.ok(ran.some((c) => c.startsWith('spikevae eval')) && ran.some((c) => c.startsWith('spikevae report')), `ran: ${ran.join('; ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
