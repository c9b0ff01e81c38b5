/**
 * FID and IS: the Inception-v3 graph against an independent naive
 * implementation (direct convolution loops, BatchNorm not folded) with weights
 * generated here, its parameter count against torchvision's published figure,
 * weight files read back from .pth, the two resizes against hand-computed
 * values, the Inception Score and the Fréchet distance on cases with known
 * answers, and the .npz statistics reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from '../src/engine/random.js';
import { InceptionV3, loadInception, syntheticInceptionWeights } from '../src/metrics/inception.js';
import { inceptionScore, loadFidStats, softmax, cleanFidInputs, fidFeatures, fidFromFeatures } from '../src/metrics/fid.js';
import { inceptionScoreEval, writeFidStats } from '../src/metrics/evaluate.js';
import { openDataset } from '../src/data/index.js';
import { createModel } from '../src/models/index.js';
import { FloatPlaneResizer, upsampleBilinearTorch } from '../src/data/resize.js';
import { frechetDistance, traceSqrtProduct } from '../src/metrics/frechet.js';
import { matmul, symmetricEigen, symmetricEigenvalues, pivotedCholesky } from '../src/metrics/linalg.js';
import { writePth } from '../src/io/pth.js';
import { readNpz } from '../src/io/npy.js';
import type { StoredTensor } from '../src/io/safetensors.js';
import { UserError } from '../src/util/errors.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');

// ------------------------------------------------ naive Inception-v3 oracle

interface Map3 {
  c: number;
  h: number;
  w: number;
  d: Float64Array;
}

function naiveNet(weights: Map<string, StoredTensor>, variant: 'fid' | 'is') {
  const W = (n: string) => weights.get(n)!;
  const basic = (name: string, x: Map3, kh: number, kw: number, stride = 1, ph = 0, pw = 0): Map3 => {
    const w = W(`${name}.conv.weight`);
    const O = w.shape[0];
    const oh = Math.floor((x.h + 2 * ph - kh) / stride) + 1;
    const ow = Math.floor((x.w + 2 * pw - kw) / stride) + 1;
    const out = new Float64Array(O * oh * ow);
    const g = W(`${name}.bn.weight`).data;
    const b = W(`${name}.bn.bias`).data;
    const mu = W(`${name}.bn.running_mean`).data;
    const vr = W(`${name}.bn.running_var`).data;
    for (let o = 0; o < O; o++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let s = 0;
          for (let c = 0; c < x.c; c++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const sy = y * stride - ph + i;
                const sx = xx * stride - pw + j;
                if (sy >= 0 && sy < x.h && sx >= 0 && sx < x.w) s += Number(w.data[((o * x.c + c) * kh + i) * kw + j]) * x.d[(c * x.h + sy) * x.w + sx];
              }
          const bn = ((s - Number(mu[o])) / Math.sqrt(Number(vr[o]) + 0.001)) * Number(g[o]) + Number(b[o]);
          out[(o * oh + y) * ow + xx] = Math.max(0, bn);
        }
    return { c: O, h: oh, w: ow, d: out };
  };
  const pool = (x: Map3, kind: 'max' | 'avg' | 'avgExcl', stride: number, pad: number): Map3 => {
    const oh = Math.floor((x.h + 2 * pad - 3) / stride) + 1;
    const ow = Math.floor((x.w + 2 * pad - 3) / stride) + 1;
    const out = new Float64Array(x.c * oh * ow);
    for (let c = 0; c < x.c; c++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let m = -Infinity;
          let s = 0;
          let cnt = 0;
          for (let i = 0; i < 3; i++)
            for (let j = 0; j < 3; j++) {
              const sy = y * stride - pad + i;
              const sx = xx * stride - pad + j;
              if (sy < 0 || sy >= x.h || sx < 0 || sx >= x.w) continue;
              const v = x.d[(c * x.h + sy) * x.w + sx];
              m = Math.max(m, v);
              s += v;
              cnt++;
            }
          out[(c * oh + y) * ow + xx] = kind === 'max' ? m : s / (kind === 'avg' ? 9 : cnt);
        }
    return { c: x.c, h: oh, w: ow, d: out };
  };
  const cat = (...xs: Map3[]): Map3 => {
    const d = new Float64Array(xs.reduce((a, x) => a + x.d.length, 0));
    let o = 0;
    for (const x of xs) {
      d.set(x.d, o);
      o += x.d.length;
    }
    return { c: xs.reduce((a, x) => a + x.c, 0), h: xs[0].h, w: xs[0].w, d };
  };
  const avg = (x: Map3, tfStyle: boolean) => pool(x, variant === 'fid' && tfStyle ? 'avgExcl' : 'avg', 1, 1);
  const A = (n: string, x: Map3) =>
    cat(
      basic(`${n}.branch1x1`, x, 1, 1),
      basic(`${n}.branch5x5_2`, basic(`${n}.branch5x5_1`, x, 1, 1), 5, 5, 1, 2, 2),
      basic(`${n}.branch3x3dbl_3`, basic(`${n}.branch3x3dbl_2`, basic(`${n}.branch3x3dbl_1`, x, 1, 1), 3, 3, 1, 1, 1), 3, 3, 1, 1, 1),
      basic(`${n}.branch_pool`, avg(x, true), 1, 1),
    );
  const C = (n: string, x: Map3) => {
    const r17 = (nm: string, v: Map3) => basic(nm, v, 1, 7, 1, 0, 3);
    const r71 = (nm: string, v: Map3) => basic(nm, v, 7, 1, 1, 3, 0);
    return cat(
      basic(`${n}.branch1x1`, x, 1, 1),
      r71(`${n}.branch7x7_3`, r17(`${n}.branch7x7_2`, basic(`${n}.branch7x7_1`, x, 1, 1))),
      r17(`${n}.branch7x7dbl_5`, r71(`${n}.branch7x7dbl_4`, r17(`${n}.branch7x7dbl_3`, r71(`${n}.branch7x7dbl_2`, basic(`${n}.branch7x7dbl_1`, x, 1, 1))))),
      basic(`${n}.branch_pool`, avg(x, true), 1, 1),
    );
  };
  const E = (n: string, x: Map3, last: boolean) => {
    const t = basic(`${n}.branch3x3_1`, x, 1, 1);
    const d = basic(`${n}.branch3x3dbl_2`, basic(`${n}.branch3x3dbl_1`, x, 1, 1), 3, 3, 1, 1, 1);
    const p = variant === 'fid' && last ? pool(x, 'max', 1, 1) : avg(x, true);
    return cat(
      basic(`${n}.branch1x1`, x, 1, 1),
      cat(basic(`${n}.branch3x3_2a`, t, 1, 3, 1, 0, 1), basic(`${n}.branch3x3_2b`, t, 3, 1, 1, 1, 0)),
      cat(basic(`${n}.branch3x3dbl_3a`, d, 1, 3, 1, 0, 1), basic(`${n}.branch3x3dbl_3b`, d, 3, 1, 1, 1, 0)),
      basic(`${n}.branch_pool`, p, 1, 1),
    );
  };
  return (img: Float32Array, h: number, w: number) => {
    let x: Map3 = { c: 3, h, w, d: Float64Array.from(img) };
    x = basic('Conv2d_1a_3x3', x, 3, 3, 2);
    x = basic('Conv2d_2a_3x3', x, 3, 3);
    x = basic('Conv2d_2b_3x3', x, 3, 3, 1, 1, 1);
    x = pool(x, 'max', 2, 0);
    x = basic('Conv2d_3b_1x1', x, 1, 1);
    x = basic('Conv2d_4a_3x3', x, 3, 3);
    x = pool(x, 'max', 2, 0);
    x = A('Mixed_5b', x);
    x = A('Mixed_5c', x);
    x = A('Mixed_5d', x);
    x = cat(
      basic('Mixed_6a.branch3x3', x, 3, 3, 2),
      basic('Mixed_6a.branch3x3dbl_3', basic('Mixed_6a.branch3x3dbl_2', basic('Mixed_6a.branch3x3dbl_1', x, 1, 1), 3, 3, 1, 1, 1), 3, 3, 2),
      pool(x, 'max', 2, 0),
    );
    for (const n of ['Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e']) x = C(n, x);
    x = cat(
      basic('Mixed_7a.branch3x3_2', basic('Mixed_7a.branch3x3_1', x, 1, 1), 3, 3, 2),
      basic(
        'Mixed_7a.branch7x7x3_4',
        basic('Mixed_7a.branch7x7x3_3', basic('Mixed_7a.branch7x7x3_2', basic('Mixed_7a.branch7x7x3_1', x, 1, 1), 1, 7, 1, 0, 3), 7, 1, 1, 3, 0),
        3,
        3,
        2,
      ),
      pool(x, 'max', 2, 0),
    );
    x = E('Mixed_7b', x, false);
    x = E('Mixed_7c', x, true);
    const feat = new Float64Array(x.c);
    for (let c = 0; c < x.c; c++) {
      let s = 0;
      for (let p = 0; p < x.h * x.w; p++) s += x.d[c * x.h * x.w + p];
      feat[c] = s / (x.h * x.w);
    }
    return feat;
  };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > rel * scale) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (scale ${scale})`);
  }
}

for (const variant of ['fid', 'is'] as const) {
  test(`Inception-v3 (${variant}) agrees with a naive implementation on generated weights, at the 75×75 minimum size`, () => {
    const rng = new Random(variant === 'fid' ? 11 : 12);
    const weights = syntheticInceptionWeights(variant, rng);
    const net = new InceptionV3(variant, weights);
    const H = 75;
    const img = new Float32Array(3 * H * H);
    for (let i = 0; i < img.length; i++) img[i] = rng.uniform() * 2 - 1;
    const out = net.forward(img, 1, H, H);
    const expected = naiveNet(weights, variant)(img, H, H);
    assertClose(out.pool, expected, 2e-4, 'pool features');
    // Logits: the fc layer on those features.
    const fcw = weights.get('fc.weight')!.data as Float32Array;
    const fcb = weights.get('fc.bias')!.data as Float32Array;
    const k = net.classes;
    const logits = Array.from({ length: k }, (_, j) => {
      let s = Number(fcb[j]);
      for (let c = 0; c < 2048; c++) s += fcw[j * 2048 + c] * expected[c];
      return s;
    });
    assertClose(out.logits, logits, 2e-4, 'logits');
  });
}

test('parameter counts equal torchvision inception_v3 without AuxLogits (27,161,264 − 3,326,696) and the FID net (1008 classes)', () => {
  const count = (v: 'fid' | 'is') => {
    let n = 0;
    for (const [k, t] of syntheticInceptionWeights(v, new Random(1))) if (!k.includes('running_')) n += t.data.length;
    return n;
  };
  assert.equal(count('is'), 27_161_264 - 3_326_696);
  assert.equal(count('fid'), 27_161_264 - 3_326_696 + 8 * 2048 + 8);
});

test('weights written as .pth load back into the same network; wrong files get one clear line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-inception-'));
  try {
    const weights = syntheticInceptionWeights('is', new Random(3));
    const p = join(dir, 'inception_v3_google-0cc3c7bd.pth');
    writePth(p, weights);
    const loaded = loadInception(p, 'is');
    const direct = new InceptionV3('is', weights);
    const img = new Float32Array(2 * 3 * 80 * 80).map((_, i) => Math.sin(i));
    assert.deepEqual(Array.from(loaded.forward(img, 2, 80, 80).logits), Array.from(direct.forward(img, 2, 80, 80).logits));
    assert.throws(() => loadInception(p, 'fid'), (e: Error) => e instanceof UserError && e.message.startsWith(p) && /1000 output classes/.test(e.message));
    assert.throws(
      () => loadInception(join(dir, 'missing.pth'), 'fid'),
      (e: Error) => e instanceof UserError && /pt_inception-2015-12-05-6726825d\.pth/.test(e.message) && /https:\/\//.test(e.message),
    );
    const broken = new Map(weights);
    broken.delete('Mixed_6c.branch7x7_2.conv.weight');
    assert.throws(() => new InceptionV3('is', broken, 'x.pth'), (e: Error) => e instanceof UserError && /Mixed_6c\.branch7x7_2\.conv\.weight' is missing/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------ resizing

test("Pillow's float bicubic resize: hand-computed edge coefficients, constants kept, clean-fid's clip", () => {
  // 2 → 4 pixels: output 0 has centre 0.25; taps x=0,1 get bicubic(0.25) = 0.8671875 and
  // bicubic(1.25) = −0.0703125, normalised by their sum 0.796875.
  const r = new FloatPlaneResizer(2, 1, 4, 1, 'bicubic');
  const out = r.resize(Float32Array.of(0, 255));
  assert.ok(Math.abs(out[0] - -22.5) < 1e-4, `out[0] = ${out[0]}`);
  assert.ok(Math.abs(out[3] - 277.5) < 1e-4, `out[3] = ${out[3]}`);
  const c = new FloatPlaneResizer(32, 32, 299, 299, 'bicubic').resize(new Float32Array(32 * 32).fill(100));
  for (const v of c) assert.ok(Math.abs(v - 100) < 1e-4);
  // clean-fid clips to [0, 255] after the resize, then (x − 128)/128: −1 becomes exactly (0 − 128)/128.
  const x = new Float32Array(32 * 32).map((_, i) => (i % 32 < 16 ? -1 : 1));
  const inp = cleanFidInputs(x, 1, 1, 32, 32);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of inp) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.equal(lo, -1);
  assert.equal(hi, 127 / 128);
});

test("PyTorch's bilinear upsampling (align_corners=False): 2 → 4 is [a, ¾a+¼b, ¼a+¾b, b]", () => {
  const out = upsampleBilinearTorch(Float32Array.of(8, 16), 2, 1, 4, 1);
  assert.deepEqual(Array.from(out), [8, 10, 14, 16]);
  const two = upsampleBilinearTorch(Float32Array.of(0, 4, 8, 12), 2, 2, 4, 4);
  // Rows interpolate the same way: row 1 = ¾·row(0) + ¼·row(1).
  // Row 0 upsampled is [0, 1, 3, 4], row 1 [8, 9, 11, 12].
  assert.deepEqual(Array.from(two.subarray(4, 8)), [2, 3, 5, 6]);
});

// ------------------------------------------------ scores

test('Inception Score on known distributions', () => {
  const k = 10;
  const uniform = new Float64Array(20 * k).fill(1 / k);
  assert.ok(Math.abs(inceptionScore(uniform, 20, k, 2).mean - 1) < 1e-12);
  // One-hot predictions spread evenly over all classes: KL = ln k, IS = k.
  const onehot = new Float64Array(20 * k);
  for (let i = 0; i < 20; i++) onehot[i * k + (i % k)] = 1;
  const s = inceptionScore(onehot, 20, k, 2);
  assert.ok(Math.abs(s.mean - k) < 1e-9);
  assert.ok(s.std < 1e-9);
  // Two images [0.9, 0.1] and [0.1, 0.9]: p̄ = [0.5, 0.5], KL = 0.9 ln 1.8 + 0.1 ln 0.2 for both.
  const two = Float64Array.of(0.9, 0.1, 0.1, 0.9);
  assert.ok(Math.abs(inceptionScore(two, 2, 2, 1).mean - Math.exp(0.9 * Math.log(1.8) + 0.1 * Math.log(0.2))) < 1e-12);
  // Splits are scored separately: split 1 is all class 0 (IS 1), split 2 spread (IS 2); mean 1.5, std 0.5.
  const mixed = Float64Array.of(1, 0, 1, 0, 1, 0, 0, 1);
  const m = inceptionScore(mixed, 4, 2, 2);
  assert.deepEqual(m.splitScores.map((v) => Number(v.toFixed(12))), [1, 2]);
  assert.ok(Math.abs(m.mean - 1.5) < 1e-12 && Math.abs(m.std - 0.5) < 1e-12);
  const p = softmax(Float32Array.of(0, Math.log(3)), 1, 2);
  assert.ok(Math.abs(p[0] - 0.25) < 1e-7 && Math.abs(p[1] - 0.75) < 1e-7);
});

function randomPsd(n: number, rank: number, rng: Random): Float64Array {
  const b = new Float64Array(n * rank).map(() => rng.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < rank; k++) a[i * n + j] += b[i * rank + k] * b[j * rank + k];
  return a;
}

test('Fréchet distance: closed forms, rank-deficient covariances, and agreement with the Jacobi square-root method', () => {
  const n = 6;
  const eye = (s: number) => Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? s : 0));
  // N(μ1, a²I) vs N(μ2, b²I): ‖μ1 − μ2‖² + n(a − b)².
  const mu1 = [1, 2, 3, 4, 5, 6];
  const mu2 = [0, 2, 3, 4, 5, 8];
  assert.ok(Math.abs(frechetDistance(mu1, eye(4), mu2, eye(9), n) - (1 + 4 + n * 1)) < 1e-10);
  const rng = new Random(9);
  for (const [size, r1, r2] of [
    [30, 30, 30],
    [30, 10, 30],
    [40, 5, 7],
  ]) {
    const s1 = randomPsd(size, r1, rng);
    const s2 = randomPsd(size, r2, rng);
    // Independent route: tr sqrt(S1^½ S2 S1^½) with Jacobi eigen-decompositions.
    const e1 = symmetricEigen(s1, size);
    const root = new Float64Array(size * size);
    for (let k = 0; k < size; k++) {
      const sq = Math.sqrt(Math.max(0, e1.values[k]));
      for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) root[i * size + j] += e1.vectors[i * size + k] * sq * e1.vectors[j * size + k];
    }
    const m = matmul(matmul(root, s2, size), root, size);
    for (let i = 0; i < size; i++)
      for (let j = i + 1; j < size; j++) m[i * size + j] = m[j * size + i] = 0.5 * (m[i * size + j] + m[j * size + i]);
    const want = symmetricEigen(m, size).values.reduce((a, v) => a + Math.sqrt(Math.max(0, v)), 0);
    const got = traceSqrtProduct(s1, s2, size);
    // Rank-deficient cases: the Jacobi route adds √(rounding noise) of the null space, ~1e-6 in all.
    assert.ok(Math.abs(got - want) < 1e-7 * want, `size ${size} ranks ${r1}/${r2}: ${got} vs ${want}`);
    assert.equal(pivotedCholesky(s1, size).rank, r1);
    // Identical Gaussians are at distance 0.
    assert.ok(Math.abs(frechetDistance(new Array(size).fill(0), s1, new Array(size).fill(0), s1, size)) < 1e-7 * want);
  }
});

test('symmetric eigenvalues (Householder + QL) agree with Jacobi', () => {
  const rng = new Random(4);
  for (const n of [1, 2, 5, 33]) {
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
    const got = Array.from(symmetricEigenvalues(a, n)).sort((x, y) => x - y);
    const want = Array.from(symmetricEigen(a, n).values).sort((x, y) => x - y);
    assertClose(got, want, 1e-11, `n=${n}`);
  }
});

test('.npz statistics (np.savez_compressed layout) are read with their dtypes', () => {
  const t = readNpz(join(fixtures, 'stats.npz'));
  assert.equal(t.get('mu')!.dtype, 'F32');
  assert.deepEqual(Array.from(t.get('mu')!.data as Float32Array), [1.5, -2, 0.25]);
  assert.equal(t.get('sigma')!.dtype, 'F64');
  assert.deepEqual(t.get('sigma')!.shape, [3, 3]);
  assert.deepEqual(Array.from(t.get('sigma')!.data as Float64Array), [2, 0.5, 0, 0.5, 1, 0, 0, 0, 3]);
  // FID statistics must be 2048-d; the loader says so in one line naming the file.
  const p = join(fixtures, 'stats.npz');
  assert.throws(() => loadFidStats(p), (e: Error) => e instanceof UserError && e.message.startsWith(p) && /2048/.test(e.message));
});

test('end to end with generated weights: fid-stats of real images, their own FID is 0, and IS of a model runs its splits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikevae-fid-'));
  try {
    const fidW = join(dir, 'fid.pth');
    const isW = join(dir, 'is.pth');
    writePth(fidW, syntheticInceptionWeights('fid', new Random(21)));
    writePth(isW, syntheticInceptionWeights('is', new Random(22)));
    const out = join(dir, 'stats.safetensors');
    const r = await writeFidStats({ dataset: 'mnist', weights: fidW, out, limit: 12 });
    assert.equal(r.images, 12);
    const stats = loadFidStats(out);
    assert.match(stats.note, /not comparable/);
    // The same 12 images again through the pipeline: distance 0 up to rounding.
    const ds = await openDataset('mnist', 'test', { limit: 12 });
    const buf = new Float32Array(12 * 32 * 32);
    await ds.readBatch(Int32Array.from({ length: 12 }, (_, i) => i), null, buf);
    await ds.close();
    const feats = fidFeatures(loadInception(fidW, 'fid'), buf, 12, 1, 32, 32);
    const d = fidFromFeatures(feats, 12, stats);
    assert.ok(Math.abs(d) < 1e-6 * stats.sigma.reduce((a, v, i) => (i % 2049 === 0 ? a + v : a), 0), `FID of a set with itself: ${d}`);
    const model = createModel('ann-vae', 'mnist', {}, 1);
    const is = inceptionScoreEval(model, { dataset: 'mnist', batchSize: 8, seed: 0, fadSamples: 0, isWeights: isW, isBatchSize: 3, isSplits: 2 });
    assert.equal(is.samples, 6);
    assert.equal(is.splits, 2);
    assert.ok(is.mean >= 1 - 1e-9 && is.mean <= 1000, `IS ${is.mean}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
