/** The classifiers' input pipeline (data/classifier.ts) against hand-computed answers and the raw MNIST bytes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataLoader, InMemoryDataset, locateIdx, openDataset } from '../src/data/index.js';
import { ClassifierDataset, affineNearest, affineParams, inverseAffineMatrix, roundHalfEven } from '../src/data/classifier.js';
import { readIdx } from '../src/data/idx.js';
import { Random } from '../src/engine/random.js';

const seq = (n: number) => Uint8Array.from({ length: n }, (_, i) => i + 1);

test('MNIST for the classifiers: 28×28, no resize, Normalize(0.1307, 0.3081); the test split is not augmented', async () => {
  const test = await openDataset('mnist', 'test', { preprocessing: 'classifier', limit: 3 });
  assert.deepEqual([test.channels, test.height, test.width, test.length, test.augmentDraws], [1, 28, 28, 3, 0]);
  const raw = readIdx(locateIdx('mnist', 'test').images, 3).data;
  const out = new Float32Array(3 * 784);
  const labels = new Int32Array(3);
  await test.readBatch([0, 1, 2], null, out, labels);
  assert.deepEqual(Array.from(labels), [7, 2, 1]);
  for (let i = 0; i < 3 * 784; i += 37) assert.ok(Math.abs(out[i] - (raw[i] / 255 - 0.1307) / 0.3081) < 1e-6, `pixel ${i}`);
  const train = await openDataset('mnist', 'train', { preprocessing: 'classifier', limit: 5 });
  assert.equal(train.augmentDraws, 4);
});

test('RandomAffine parameters from uniforms: U(−30, 30)°, round-half-even translations within ±0.15·28, scale U(0.85, 1.11)', () => {
  assert.deepEqual(affineParams([0.5, 0.5, 0.5, 0.5], 28, 28), { angle: 0, tx: 0, ty: 0, scale: 0.98 });
  const p = affineParams([0, 0.25, 0.999999, 0], 28, 28);
  assert.equal(p.angle, -30);
  assert.equal(p.tx, -2); // −4.2 + 8.4·0.25 = −2.1
  assert.equal(p.ty, 4); // just under 4.2
  assert.equal(p.scale, 0.85);
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2]);
});

test('affine warp (Pillow nearest, about the centre): identity, a one-pixel shift (float path) and a 90° rotation (fixed-point path), by hand', () => {
  const src = seq(16); // 4×4, value = 1 + y·4 + x
  const out = new Uint8Array(16);
  affineNearest(src, 4, 4, inverseAffineMatrix(0, 0, 0, 1, 4, 4), out);
  assert.deepEqual(out, src);
  // tx = 1: output x reads input x − 1; column 0 is filled with 0.
  affineNearest(src, 4, 4, inverseAffineMatrix(0, 1, 0, 1, 4, 4), out);
  assert.deepEqual(Array.from(out), [0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15]);
  // 90°: the inverse map sends output (X, Y) about the centre to input (Y, −X): out[y][x] = in[3 − x][y].
  affineNearest(src, 4, 4, inverseAffineMatrix(90, 0, 0, 1, 4, 4), out);
  const want = Array.from({ length: 16 }, (_, i) => src[(3 - (i % 4)) * 4 + Math.floor(i / 4)]);
  assert.deepEqual(Array.from(out), want);
});

test('CIFAR-style random crop (zero padding 4) and flip from three uniforms, by hand', async () => {
  // One 3-channel 8×8 image with distinct values; mean 0, std 1/255 so outputs are the bytes.
  const pixels = Uint8Array.from({ length: 3 * 64 }, (_, i) => (i % 250) + 1);
  const images = new InMemoryDataset('cifar10', 'train', pixels, Uint8Array.of(3), 3, 8, 8, 10, 'memory', false);
  const ds = new ClassifierDataset(images, 'crop-flip', { mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255] });
  const out = new Float32Array(3 * 64);
  await ds.readBatch([0], null, out, undefined, [0.5, 0.5, 0.9]); // offsets 4 − 4 = 0, no flip
  assert.deepEqual(Array.from(out, Math.round), Array.from(pixels));
  await ds.readBatch([0], null, out, undefined, [0, 0.99, 0.1]); // top −4, left +4, flipped
  for (const [c, y, x] of [[0, 0, 0], [1, 5, 0], [2, 7, 3], [0, 4, 7]]) {
    const sy = y - 4;
    const sx = 7 - x + 4;
    const want = sy >= 0 && sy < 8 && sx < 8 ? pixels[c * 64 + sy * 8 + sx] : 0;
    assert.equal(Math.round(out[c * 64 + y * 8 + x]), want, `c${c} y${y} x${x}`);
  }
});

test('augmented epochs are reproducible and resume mid-epoch with the same images', async () => {
  const train = await openDataset('mnist', 'train', { preprocessing: 'classifier', limit: 40 });
  const loader = new DataLoader(train, { batchSize: 8, shuffle: true, dropLast: true });
  const all: Float32Array[] = [];
  for await (const b of loader.epoch(new Random(3))) all.push(b.images);
  const resumed: Float32Array[] = [];
  for await (const b of loader.epoch(new Random(3), 3)) resumed.push(b.images);
  assert.deepEqual(resumed, all.slice(3));
  // The augmentation changes the images: the same index differs between two epochs' draws.
  const a = new Float32Array(784);
  const b = new Float32Array(784);
  await train.readBatch([0], null, a, undefined, [0.1, 0.2, 0.3, 0.4]);
  await train.readBatch([0], null, b, undefined, [0.9, 0.8, 0.7, 0.6]);
  assert.notDeepEqual(a, b);
});
