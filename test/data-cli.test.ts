/** `spikevae data info` and `spikevae data grid` as a user runs them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePng } from '../src/io/image.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
function run(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr.split('\n').filter((l) => l && !l.includes('native kernels')).join('\n') };
}

test('data info --json: MNIST counts, classes, size and checksums', () => {
  const r = run('data', 'info', '--dataset', 'mnist', '--json');
  assert.equal(r.code, 0, r.err);
  const info = JSON.parse(r.out);
  assert.deepEqual(info.splits, { train: 60000, test: 10000 });
  assert.equal(info.classes, 10);
  assert.deepEqual([info.channels, info.height, info.width], [1, 32, 32]);
  assert.equal(info.checksums.length, 4);
  for (const c of info.checksums) assert.equal(c.status, 'ok', c.file);
});

test('data grid writes a PNG of preprocessed samples; bad flags give one clear line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-grid-'));
  try {
    // A tiny CIFAR-10 test split.
    const rec = Buffer.alloc(4 * 3073);
    for (let r = 0; r < 4; r++) for (let i = 1; i < 3073; i++) rec[r * 3073 + i] = (i * (r + 1)) % 256;
    writeFileSync(join(dir, 'test_batch.bin'), rec);
    const out = join(dir, 'g.png');
    const r = run('data', 'grid', '--dataset', 'cifar10', '--data', dir, '--split', 'test', '--n', '4', '--out', out);
    assert.equal(r.code, 0, r.err);
    const png = decodePng(readFileSync(out), out);
    assert.ok(png.width >= 64 && png.height >= 64);

    const bad = run('data', 'grid', '--dataset', 'svhn', '--out', out);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--dataset must be one of mnist, fashion, cifar10, celeba, got 'svhn'/);
    const badN = run('data', 'grid', '--dataset', 'mnist', '--n', 'many', '--out', out);
    assert.match(badN.err, /--n must be a whole number/);
    const missing = run('data', 'grid', '--dataset', 'cifar10', '--data', join(dir, 'nowhere'), '--out', join(dir, 'x.png'));
    assert.equal(missing.code, 1);
    assert.equal(missing.err.split('\n').length, 1);
    // Where to get it, the folder to put it in (--data itself), then what was looked for.
    assert.match(missing.err, /^spikevae: cifar10: dataset not found\. Download https:\/\/www\.cs\.toronto\.edu\/~kriz\/cifar-10-binary\.tar\.gz /);
    assert.ok(missing.err.includes(`into ${join(dir, 'nowhere')};`), missing.err);
    assert.match(missing.err, /Looked for data_batch_1\.bin/);
    assert.ok(!existsSync(join(dir, 'x.png')));
    const help = run('data', 'grid', '--help');
    assert.equal(help.code, 0);
    assert.match(help.out, /--split <split>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
