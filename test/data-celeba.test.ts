/**
 * CelebA from the 32-image aligned sample: partition file or the documented
 * fallback, CenterCrop(148) + Resize(64) shapes, flips, worker and in-thread
 * decoding agreeing, and corrupt JPEGs skipped with warnings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataLoader, openDataset } from '../src/data/index.js';
import { centerCropOffset, decodeCelebA } from '../src/data/celeba-decode.js';
import { Random } from '../src/engine/random.js';
import { UserError } from '../src/util/errors.js';

const SAMPLE = '/work/shared/datasets/celeba-sample';
const skip = existsSync(join(SAMPLE, '000001.jpg')) ? false : `CelebA sample not found at ${SAMPLE}`;

function makeFolder(withPartition: boolean): string {
  const root = mkdtempSync(join(tmpdir(), 'spikevae-celeba-'));
  mkdirSync(join(root, 'img_align_celeba'));
  const files = readdirSync(SAMPLE).filter((f) => f.endsWith('.jpg')).sort();
  for (const f of files) copyFileSync(join(SAMPLE, f), join(root, 'img_align_celeba', f));
  if (withPartition) {
    // 24 train, 4 valid, 4 test.
    writeFileSync(join(root, 'list_eval_partition.txt'), files.map((f, i) => `${f} ${i < 24 ? 0 : i < 28 ? 1 : 2}`).join('\n') + '\n');
  }
  return root;
}

test('torchvision CenterCrop offsets: int(round((size - crop) / 2)), halves to even', () => {
  assert.equal(centerCropOffset(218, 148), 35);
  assert.equal(centerCropOffset(178, 148), 15);
  assert.equal(centerCropOffset(5, 2), 2); // round(1.5) = 2
  assert.equal(centerCropOffset(6, 1), 2); // round(2.5) = 2
  assert.equal(centerCropOffset(8, 1), 4); // round(3.5) = 4
});

test('CelebA sample: splits from list_eval_partition.txt, 3x64x64 in [-1,1], flips', { skip }, async () => {
  const root = makeFolder(true);
  const warnings: string[] = [];
  try {
    const train = await openDataset('celeba', 'train', { dataDir: root, onWarning: (m) => warnings.push(m) });
    const valid = await openDataset('celeba', 'valid', { dataDir: root, threads: 0 });
    const testDs = await openDataset('celeba', 'test', { dataDir: root, threads: 0, evalFlip: false });
    try {
      assert.deepEqual([train.length, valid.length, testDs.length], [24, 4, 4]);
      assert.deepEqual([train.channels, train.height, train.width, train.numClasses], [3, 64, 64, 0]);
      assert.equal(train.source, join(root, 'img_align_celeba'));
      // FSVAE flips the evaluation splits too (its quirk) unless evalFlip: false.
      assert.equal(train.augmentFlip, true);
      assert.equal(valid.augmentFlip, true);
      assert.equal(testDs.augmentFlip, false);
      assert.deepEqual(warnings, []);

      const per = 3 * 64 * 64;
      const out = new Float32Array(4 * per);
      const labels = new Int32Array(4).fill(9);
      await train.readBatch([0, 1, 0, 23], [false, false, true, false], out, labels);
      assert.deepEqual(Array.from(labels), [0, 0, 0, 0]);
      let min = Infinity;
      let max = -Infinity;
      for (const v of out) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      assert.ok(min >= -1 && max <= 1 && max - min > 1, `range ${min}..${max}`);
      // The flip is of the whole 178-wide image before the centred crop; the crop
      // (columns 15..162) is symmetric, so the result is close to the mirrored image
      // (not bit-equal: Pillow's filter taps are not mirror-symmetric at every pixel).
      let diff = 0;
      for (let p = 0; p < 3 * 64; p++) for (let x = 0; x < 64; x++) diff = Math.max(diff, Math.abs(out[2 * per + p * 64 + x] - out[p * 64 + 63 - x]));
      assert.ok(diff < 0.05, `flip differs from mirror by ${diff}`);
      // Worker decoding equals in-thread decoding.
      const direct = decodeCelebA(readFileSync(join(root, 'img_align_celeba', '000024.jpg')), false);
      const same = new Float32Array(per);
      await valid.readBatch([0], null, same); // valid[0] is the 25th file
      const viaWorker = new Float32Array(per);
      const trainLast = new Float32Array(per);
      await train.readBatch([23], null, trainLast);
      await train.readBatch([23], null, viaWorker);
      const inThread = decodeCelebA(readFileSync(join(root, 'img_align_celeba', '000024.jpg')), false);
      assert.deepEqual(direct, inThread);
      for (let j = 0; j < per; j += 97) assert.equal(Math.round(((viaWorker[j] + 1) / 2) * 255), direct[j]);
      assert.notDeepEqual(same, viaWorker);

      // A loader epoch over the worker-backed split.
      const loader = new DataLoader(train, { batchSize: 8, shuffle: true, dropLast: true, prefetch: 2 });
      assert.equal(loader.batchesPerEpoch, 3);
      let n = 0;
      for await (const b of loader.epoch(new Random(0))) n += b.size;
      assert.equal(n, 24);
    } finally {
      await Promise.all([train.close(), valid.close(), testDs.close()]);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('CelebA without list_eval_partition.txt: warning and the partition by file number', { skip }, async () => {
  const root = makeFolder(false);
  const warnings: string[] = [];
  try {
    const ds = await openDataset('celeba', 'train', { dataDir: root, threads: 0, onWarning: (m) => warnings.push(m) });
    assert.equal(ds.length, 32); // 000001..000032 are all in the official training range
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /list_eval_partition\.txt not found; using the official partition by file number/);
    await assert.rejects(openDataset('celeba', 'test', { dataDir: root, threads: 0, onWarning: () => {} }), /no test images/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('corrupt CelebA JPEGs are skipped with a warning naming them, and counted', { skip }, async () => {
  const root = makeFolder(true);
  const warnings: string[] = [];
  try {
    const dir = join(root, 'img_align_celeba');
    // Not a JPEG at all: found when the folder is opened.
    writeFileSync(join(dir, '000003.jpg'), 'this is not an image');
    // A JPEG header followed by garbage: found only when decoded.
    const good = readFileSync(join(dir, '000005.jpg'));
    writeFileSync(join(dir, '000005.jpg'), Buffer.concat([good.subarray(0, 20), Buffer.alloc(200, 0x55)]));
    const ds = await openDataset('celeba', 'train', { dataDir: root, onWarning: (m) => warnings.push(m) });
    try {
      assert.equal(ds.length, 23);
      assert.ok(warnings.some((w) => w.includes(join(dir, '000003.jpg')) && /no JPEG start-of-image marker/.test(w)), warnings.join('\n'));
      assert.ok(warnings.some((w) => /^1 CelebA file\(s\) skipped/.test(w)), warnings.join('\n'));
      const per = 3 * 64 * 64;
      const out = new Float32Array(3 * per);
      // Index 3 is now 000005.jpg (000003 was dropped).
      await ds.readBatch([2, 3, 4], null, out);
      const w = warnings.find((m) => m.includes(join(dir, '000005.jpg')));
      assert.ok(w, warnings.join('\n'));
      assert.match(w, /skipping unreadable image .* 2 CelebA file\(s\) skipped so far/);
      assert.equal((ds as unknown as { skipped: string[] }).skipped.length, 2);
      // Its slot holds a neighbour's image rather than garbage.
      assert.deepEqual(out.subarray(per, 2 * per), out.subarray(2 * per, 3 * per));
      // Warned once only.
      await ds.readBatch([3, 4], null, new Float32Array(2 * per));
      assert.equal(warnings.filter((m) => m.includes('000005.jpg')).length, 1);
    } finally {
      await ds.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a directory where a CelebA image is expected is skipped with a warning; a file where the image folder is expected is one error', { skip }, async () => {
  const root = makeFolder(true);
  const warnings: string[] = [];
  try {
    const dir = join(root, 'img_align_celeba');
    rmSync(join(dir, '000002.jpg'));
    mkdirSync(join(dir, '000002.jpg'));
    const ds = await openDataset('celeba', 'train', { dataDir: root, threads: 0, onWarning: (m) => warnings.push(m) });
    assert.equal(ds.length, 23);
    assert.ok(warnings.includes(`skipping ${join(dir, '000002.jpg')}: is a directory, not an image`), warnings.join('\n'));
    await ds.close();
    rmSync(dir, { recursive: true });
    writeFileSync(dir, 'not a folder');
    await assert.rejects(openDataset('celeba', 'train', { dataDir: root, threads: 0 }), (e: Error) => e instanceof UserError && e.message.startsWith(`${dir}: is not a directory`));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
