/**
 * CIFAR-10 in the official binary record format, written small here: loose
 * .bin files, Brotli .br copies, and the official cifar-10-binary.tar.gz
 * layout; flips; damaged files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { BYTE_TO_UNIT, DataLoader, openDataset } from '../src/data/index.js';
import { CIFAR10_FILES } from '../src/data/cifar10.js';
import { Random } from '../src/engine/random.js';
import { UserError } from '../src/util/errors.js';

/** n records; record r has label (r + seed) % 10 and pixel (c, y, x) = (r·7 + c·50 + y·3 + x + seed) mod 256. */
function records(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n * 3073);
  for (let r = 0; r < n; r++) {
    b[r * 3073] = (r + seed) % 10;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) b[r * 3073 + 1 + c * 1024 + y * 32 + x] = (r * 7 + c * 50 + y * 3 + x + seed) % 256;
  }
  return b;
}

/** A ustar archive of regular files (what `tar czf` writes for the official archive). */
function tar(files: Array<[string, Uint8Array]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of files) {
    const h = Buffer.alloc(512);
    h.write(name, 0, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h[156] = 0x30;
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const v of h) sum += v;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    parts.push(h, Buffer.from(data), Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const SIZES = [3, 2, 2, 2, 1]; // records per training batch file
function writeLoose(dir: string, compress: boolean): void {
  mkdirSync(dir, { recursive: true });
  CIFAR10_FILES.train.forEach((f, i) => {
    const b = records(SIZES[i], i * 10);
    writeFileSync(join(dir, compress ? f + '.br' : f), compress ? brotliCompressSync(b) : b);
  });
  writeFileSync(join(dir, 'test_batch.bin'), records(4, 100));
}

async function firstPixels(dir: string, split: 'train' | 'test', opts = {}) {
  const ds = await openDataset('cifar10', split, { dataDir: dir, ...opts });
  const out = new Float32Array(ds.length * 3072);
  const labels = new Int32Array(ds.length);
  await ds.readBatch(Array.from({ length: ds.length }, (_, i) => i), null, out, labels);
  return { ds, out, labels };
}

test('CIFAR-10: loose .bin, .br and the official tar.gz give the same data', async () => {
  const root = mkdtempSync(join(tmpdir(), 'spikevae-cifar-'));
  try {
    writeLoose(join(root, 'raw', 'cifar-10-batches-bin'), false);
    writeLoose(join(root, 'br'), true);
    const members: Array<[string, Uint8Array]> = [['cifar-10-batches-bin/batches.meta.txt', Buffer.from('airplane\n')]];
    CIFAR10_FILES.train.forEach((f, i) => members.push([`cifar-10-batches-bin/${f}`, records(SIZES[i], i * 10)]));
    members.push(['cifar-10-batches-bin/test_batch.bin', records(4, 100)]);
    mkdirSync(join(root, 'tgz', 'cifar10'), { recursive: true });
    writeFileSync(join(root, 'tgz', 'cifar10', 'cifar-10-binary.tar.gz'), gzipSync(tar(members)));

    const a = await firstPixels(join(root, 'raw'), 'train');
    assert.equal(a.ds.source, join(root, 'raw', 'cifar-10-batches-bin'));
    assert.equal(a.ds.length, 10);
    assert.deepEqual([a.ds.channels, a.ds.height, a.ds.width, a.ds.numClasses], [3, 32, 32, 10]);
    // Files in order data_batch_1..5: labels (r + 10·i) % 10 = r.
    assert.deepEqual(Array.from(a.labels), [0, 1, 2, 0, 1, 0, 1, 0, 1, 0]);
    // Record 1 of data_batch_1: pixel G(2, 5) = 7 + 50 + 6 + 5 = 68; stored planar RGB → CHW.
    assert.equal(a.out[3072 + 1024 + 2 * 32 + 5], BYTE_TO_UNIT[68]);
    const b = await firstPixels(join(root, 'br'), 'train');
    assert.equal(b.ds.source, join(root, 'br'));
    const c = await firstPixels(join(root, 'tgz'), 'train');
    assert.equal(c.ds.source, join(root, 'tgz', 'cifar10', 'cifar-10-binary.tar.gz'));
    assert.deepEqual(b.out, a.out);
    assert.deepEqual(c.out, a.out);
    assert.deepEqual(c.labels, a.labels);
    const t = await firstPixels(join(root, 'tgz'), 'test');
    assert.equal(t.ds.length, 4);
    assert.deepEqual(Array.from(t.labels), [0, 1, 2, 3]);
    assert.equal(t.ds.augmentFlip, false);
    assert.equal(a.ds.augmentFlip, true);
    assert.equal((await openDataset('cifar10', 'train', { dataDir: join(root, 'raw'), forAnn: true })).augmentFlip, false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('CIFAR-10 flips mirror each row; the loader draws them only for training', async () => {
  const root = mkdtempSync(join(tmpdir(), 'spikevae-cifar-'));
  try {
    writeLoose(root, false);
    const ds = await openDataset('cifar10', 'train', { dataDir: root });
    const plain = new Float32Array(3072);
    const flipped = new Float32Array(3072);
    await ds.readBatch([4], null, plain);
    await ds.readBatch([4], [true], flipped);
    for (let p = 0; p < 96; p++) for (let x = 0; x < 32; x++) assert.equal(flipped[p * 32 + x], plain[p * 32 + 31 - x]);
    // Over an epoch about half the training images come out mirrored.
    const loader = new DataLoader(ds, { batchSize: 5, shuffle: false, dropLast: true });
    let mirrored = 0;
    const one = new Float32Array(3072);
    for await (const batch of loader.epoch(new Random(3))) {
      for (let k = 0; k < batch.size; k++) {
        await ds.readBatch([batch.index * 5 + k], null, one);
        if (batch.images[k * 3072] !== one[0]) mirrored++;
      }
    }
    assert.ok(mirrored > 0 && mirrored < 10, `mirrored ${mirrored} of 10`);
    const testDs = await openDataset('cifar10', 'test', { dataDir: root });
    const tl = new DataLoader(testDs, { batchSize: 4, shuffle: false, dropLast: false });
    const direct = new Float32Array(4 * 3072);
    await testDs.readBatch([0, 1, 2, 3], null, direct);
    for await (const batch of tl.epoch(new Random(3))) assert.deepEqual(batch.images, direct);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('damaged CIFAR-10 files: errors name the file and the problem', async () => {
  const root = mkdtempSync(join(tmpdir(), 'spikevae-cifar-'));
  try {
    writeLoose(root, false);
    const expectErr = async (split: 'train' | 'test', file: string, re: RegExp) =>
      assert.rejects(openDataset('cifar10', split, { dataDir: root }), (e: Error) => {
        assert.ok(e.message.includes(file), e.message);
        assert.match(e.message, re);
        return true;
      });
    writeFileSync(join(root, 'test_batch.bin'), records(4, 100).subarray(0, 3 * 3073 + 1000));
    await expectErr('test', join(root, 'test_batch.bin'), /10219 bytes is not a whole number of 3073-byte CIFAR-10 records \(truncated/);
    const bad = records(4, 100);
    bad[2 * 3073] = 12;
    writeFileSync(join(root, 'test_batch.bin'), bad);
    await expectErr('test', join(root, 'test_batch.bin'), /record 2 has label 12, outside the class range 0-9/);
    writeFileSync(join(root, 'data_batch_3.bin.br'), Buffer.from('not brotli at all'));
    rmSync(join(root, 'data_batch_3.bin'));
    await expectErr('train', join(root, 'data_batch_3.bin.br'), /corrupt Brotli data/);

    const arch = join(root, 'a');
    mkdirSync(arch);
    const t = tar([['cifar-10-batches-bin/test_batch.bin', records(2, 0)]]);
    writeFileSync(join(arch, 'cifar-10-binary.tar.gz'), gzipSync(t));
    const expectArch = (split: 'train' | 'test', re: RegExp) =>
      assert.rejects(openDataset('cifar10', split, { dataDir: arch }), (e: Error) => {
        assert.ok(e.message.includes(join(arch, 'cifar-10-binary.tar.gz')), e.message);
        assert.match(e.message, re);
        return true;
      });
    await expectArch('train', /archive lacks data_batch_1\.bin, .*data_batch_5\.bin/);
    writeFileSync(join(arch, 'cifar-10-binary.tar.gz'), gzipSync(t.subarray(0, 512 + 3000)));
    await expectArch('test', /truncated inside 'cifar-10-batches-bin\/test_batch\.bin'/);
    const c = Buffer.from(t);
    c[10] ^= 1;
    writeFileSync(join(arch, 'cifar-10-binary.tar.gz'), gzipSync(c));
    await expectArch('test', /corrupt tar header checksum at byte 0/);
    writeFileSync(join(arch, 'cifar-10-binary.tar.gz'), gzipSync(t).subarray(0, 100));
    await expectArch('test', /corrupt gzip data/);

    const empty = join(root, 'none');
    mkdirSync(empty);
    await assert.rejects(openDataset('cifar10', 'test', { dataDir: empty }), (e: Error) => {
      assert.match(e.message, /cifar10: dataset not found\. Download https:\/\/www\.cs\.toronto\.edu\/~kriz\/cifar-10-binary\.tar\.gz .*Looked for test_batch\.bin \(or test_batch\.bin\.br\), or cifar-10-binary\.tar\.gz in: /);
      assert.ok(e.message.includes(join(empty, 'cifar-10-batches-bin')));
      return true;
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a directory where a CIFAR-10 record file or archive is expected: one UserError naming it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'spikevae-cifar-dir-'));
  try {
    mkdirSync(join(root, 'data_batch_1.bin'));
    for (const f of CIFAR10_FILES.train.slice(1)) writeFileSync(join(root, f), records(1, 0));
    mkdirSync(join(root, 'test_batch.bin.br'));
    mkdirSync(join(root, 'a', CIFAR10_FILES.archive), { recursive: true });
    const cases: Array<['train' | 'test', string, string]> = [
      ['train', root, join(root, 'data_batch_1.bin')],
      ['test', root, join(root, 'test_batch.bin.br')],
      ['test', join(root, 'a'), join(root, 'a', CIFAR10_FILES.archive)],
    ];
    for (const [split, dataDir, file] of cases) {
      await assert.rejects(openDataset('cifar10', split, { dataDir }), (e: Error) => e instanceof UserError && e.message === `${file}: is a directory`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
