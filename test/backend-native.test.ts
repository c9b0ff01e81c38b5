/**
 * The native kernels against the TypeScript oracle, on the real FSVAE layer
 * shapes (small batches), for every instruction set this CPU has and for 1
 * and 2 threads (which must give identical bits); and the same kernels
 * compiled to WebAssembly SIMD for the web page (built here when Emscripten's
 * emcc is installed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getNativeBackend, typescriptBackend } from '../src/engine/backend/index.js';
import { configureNative, nativeAllocator, nativeInfo } from '../src/engine/backend/native.js';
import type { Conv2dGeometry, GradSums, KernelBackend, NeuronAffine } from '../src/engine/backend/types.js';
import { createWasmBackend } from '../src/engine/backend/wasm.js';
import { Random } from '../src/engine/random.js';
import { buildWasm } from '../scripts/build-wasm.js';

const native = getNativeBackend();
const wasmFile = await buildWasm((line) => console.log(`# ${line}`));
const wasm = wasmFile ? await createWasmBackend(readFileSync(wasmFile)) : null;
const NEITHER = 'neither the native addon nor the WebAssembly kernels are built';
const rng = new Random(123);

function randn(n: number): Float32Array {
  return rng.fillNormal(new Float32Array(n));
}
function spikes(n: number, density = 0.1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() < density ? 1 : 0;
  return a;
}
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    s += b[i] ** 2;
  }
  return Math.sqrt(d / Math.max(s, 1e-30));
}
function close(a: Float32Array, b: Float32Array, what: string, tol = 1e-5): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Number.isFinite(a[i]), `${what}: non-finite value at ${i}`);
  const e = relErr(a, b);
  assert.ok(e < tol, `${what}: relative error ${e.toExponential(2)} ≥ ${tol}`);
}

function geo(batch: number, C: number, H: number, O: number, k: number, s: number, p: number, extra = 0): Conv2dGeometry {
  const OH = Math.floor((H + 2 * p - k) / s) + 1;
  return { batch, inChannels: C, inHeight: H + extra, inWidth: H + extra, outChannels: O, outHeight: OH, outWidth: OH, kernel: k, stride: s, padding: p };
}

// Encoder convs (stride 2), decoder transposed convs seen from the conv side
// (their input side is larger by the output padding), and the final s1 layer.
const convShapes: Array<[string, Conv2dGeometry]> = [
  ['enc0 1→32 32x32 s2', geo(3, 1, 32, 32, 3, 2, 1)],
  // Row-dot weight gradients in image groups of 19 and 18 (groups of at least 16 images).
  ['37 images enc0 1→32 32x32 s2', geo(37, 1, 32, 32, 3, 2, 1)],
  ['enc1 32→64 16x16 s2', geo(3, 32, 16, 64, 3, 2, 1)],
  ['enc3 128→256 4x4 s2', geo(3, 128, 4, 256, 3, 2, 1)],
  // Register tiles that span images: several image blocks, the last one partial.
  ['19 images 128→256 4x4 s2', geo(19, 128, 4, 256, 3, 2, 1)],
  ['dec0 256→128 2→4 (transposed, output padding 1)', geo(3, 128, 3, 256, 3, 2, 1, 1)],
  ['final 32→1 32x32 s1', geo(2, 1, 32, 32, 3, 1, 1)],
  // The single-channel 3×3 kernels at other row widths (one, two and four
  // vectors on AVX-512) and with output channels that leave a partial tile.
  ['1→20 16x16 s1', geo(3, 1, 16, 20, 3, 1, 1)],
  ['1→17 64x64 s2', geo(2, 1, 64, 17, 3, 2, 1)],
  ['1→9 64x64 s1', geo(2, 1, 64, 9, 3, 1, 1)],
  ['1→32 32x32 s2, 18 rows of 16', { ...geo(2, 1, 32, 32, 3, 2, 1), inHeight: 36, outHeight: 18 }],
  ['1→32 s1, 20 rows of 32', { ...geo(2, 1, 32, 32, 3, 1, 1), inHeight: 20, outHeight: 20 }],
  ['final0 32→32 16→32 (transposed)', geo(2, 32, 31, 32, 3, 2, 1, 1)],
  // Input-gradient tiles that run through several rows of one stride phase; odd sizes give phases of 5 and 4 rows.
  ['enc2 64→128 8x8 s2', geo(2, 64, 8, 128, 3, 2, 1)],
  ['32→32 9x9 s2', geo(2, 32, 9, 32, 3, 2, 1)],
  // More images than weight-gradient groups, so groups hold several images.
  ['70 images 4→32 6x6 s1', geo(70, 4, 6, 32, 3, 1, 1)],
  // Few-tap stride-1 layers (the decoders' last): rows that are not whole vectors, and an odd vector count.
  ['3→32 13x13 s1', geo(3, 3, 13, 32, 3, 1, 1)],
  ['3→32 40x40 s1', geo(2, 3, 40, 32, 3, 1, 1)],
  // Few channels, stride 2, output channels that fill no register panel: the small direct kernels.
  ['3→3 9x9 s2', geo(2, 3, 9, 3, 3, 2, 1)],
  // Output channels that fill no register panel: the im2col route.
  ['rgb 16→3 8x8 s1', geo(2, 16, 8, 3, 3, 1, 1)],
];

const gemmShapes: Array<[string, number, number, number]> = [
  ['before_latent 1024→128', 48, 128, 1024],
  ['posterior 256→256', 40, 256, 256],
  ['posterior 512→2560', 33, 2560, 512],
  ['odd sizes', 7, 13, 29],
  // Several row blocks (some uneven), two K blocks, a partial column panel.
  ['many rows', 203, 40, 600],
  // Few rows, a wide output and a long k: the classifier's fc 6272→2048 path (C^T = B·A^T).
  ['few rows, wide', 6, 48, 2100],
];

/**
 * Every native instruction set this CPU has, both ways of multiplying
 * spikes, 1 and 2 threads (adjacent); then the WebAssembly kernels.
 */
function each(fn: (label: string, be: KernelBackend) => void): void {
  if (native) {
    const isas: Array<'scalar' | 'avx2' | 'avx512'> = ['scalar', 'avx2', 'avx512'];
    for (const isa of isas) {
      for (const spikes of ['event', 'dense'] as const) {
        for (const threads of [1, 2]) {
          const err = configureNative(isa, threads, spikes);
          if (err) continue; // this CPU lacks the instruction set
          fn(`${isa}/${spikes}/${threads}t`, native);
        }
      }
    }
    configureNative('', 2);
  }
  if (wasm) fn('wasm', wasm);
}

test('native gemm matches the oracle (all transposes, binary A)', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  for (const [name, m, n, k] of gemmShapes) {
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const a = randn(m * k);
      const b = randn(k * n);
      const c0 = randn(m * n);
      const ref = c0.slice();
      typescriptBackend.gemm(ta, tb, m, n, k, a, b, ref, 1);
      const ref0 = new Float32Array(m * n);
      typescriptBackend.gemm(ta, tb, m, n, k, a, b, ref0, 0);
      const bits: Float32Array[] = [];
      each((label, be) => {
        const c = c0.slice();
        be.gemm(ta, tb, m, n, k, a, b, c, 1);
        close(c, ref, `${name} ta=${ta} tb=${tb} beta=1 ${label}`);
        const z = new Float32Array(m * n).fill(NaN); // beta 0 must ignore old contents, even NaN
        be.gemm(ta, tb, m, n, k, a, b, z, 0);
        close(z, ref0, `${name} ta=${ta} tb=${tb} beta=0 ${label}`);
        bits.push(z);
      });
      // Same instruction set, 1 vs 2 threads: identical bits (the WebAssembly result comes last, unpaired).
      for (let i = 0; i + 1 < bits.length; i += 2) assert.deepEqual(bits[i], bits[i + 1]);
    }
    const s = spikes(m * k, 0.15);
    const b = randn(k * n);
    for (const tb of [false, true]) {
      const ref = new Float32Array(m * n);
      typescriptBackend.gemm(false, tb, m, n, k, s, b, ref, 0);
      each((label, be) => {
        const c = new Float32Array(m * n);
        be.gemm(false, tb, m, n, k, s, b, c, 0, true);
        close(c, ref, `${name} binary tb=${tb} ${label}`);
      });
    }
  }
});

test('a wide product over few rows, computed as its transpose, equals the same product with B untransposed bit for bit', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  const [m, n, k] = [6, 48, 2100];
  const a = randn(m * k);
  const bt = randn(n * k); // [n, k]
  const b = new Float32Array(k * n);
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) b[p * n + j] = bt[j * k + p];
  each((label, be) => {
    const viaT = new Float32Array(m * n).fill(NaN);
    be.gemm(false, true, m, n, k, a, bt, viaT, 0);
    const direct = new Float32Array(m * n);
    be.gemm(false, false, m, n, k, a, b, direct, 0);
    assert.deepEqual(viaT, direct, label);
  });
});

test('a product of a few rows with a large weight (run as C^T = B·A^T) equals the same rows of a many-row product bit for bit, as the stepped posterior and prior need', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  // posterior.layers.2: 2,560 × 512; 64 and 128 rows take the swapped route, 192 the packed-weight one.
  const [n, k] = [2560, 512];
  const w = randn(n * k);
  for (const [rows, spiking] of [[64, true], [128, false], [40, true]] as const) {
    const big = 192;
    const a = spiking ? spikes(big * k, 0.2) : randn(big * k);
    const ref = new Float32Array(rows * n);
    typescriptBackend.gemm(false, true, rows, n, k, a, w, ref, 0);
    each((label, be) => {
      const all = new Float32Array(big * n);
      be.gemm(false, true, big, n, k, a, w, all, 0, spiking);
      const few = new Float32Array(rows * n).fill(NaN);
      be.gemm(false, true, rows, n, k, a.subarray(0, rows * k), w, few, 0, spiking);
      close(few, ref, `${rows} rows ${label}`);
      assert.deepEqual(few, all.subarray(0, rows * n), `${rows} rows against ${big} ${label}`);
      const acc = randn(rows * n);
      const want = acc.map((v, i) => Math.fround(v + few[i]));
      be.gemm(false, true, rows, n, k, a.subarray(0, rows * k), w, acc, 1, spiking);
      assert.deepEqual(acc, want, `${rows} rows accumulated ${label}`);
    });
  }
});

// Outputs in aligned buffers (as a training step's pooled arrays are) take the
// kernels' non-temporal store path, which plain arrays usually miss.
test('native convolution forward into aligned (pooled) outputs matches the oracle', (t) => {
  const allocator = nativeAllocator();
  if (!native || !allocator) return t.skip('native addon not built');
  for (const [name, g] of convShapes.filter(([n]) => /^(enc0|final 32→1|1→|3→32 40x40|3→32 13x13)/.test(n))) {
    const xs = g.batch * g.inChannels * g.inHeight * g.inWidth;
    const ys = g.batch * g.outChannels * g.outHeight * g.outWidth;
    const x = randn(xs);
    const w = randn(g.outChannels * g.inChannels * g.kernel * g.kernel);
    const bias = randn(g.outChannels);
    const ref = new Float32Array(ys);
    typescriptBackend.conv2dForward(g, x, w, bias, ref);
    each((label, be) => {
      const y = new Float32Array(allocator.alloc(4 * ys, false)).fill(NaN);
      be.conv2dForward(g, x, w, bias, y);
      close(y, ref, `${name} forward into a pooled array ${label}`);
    });
  }
});

test('native convolutions match the oracle (forward, backward data, backward weight, binary inputs)', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  for (const [name, g] of convShapes) {
    const xs = g.batch * g.inChannels * g.inHeight * g.inWidth;
    const ys = g.batch * g.outChannels * g.outHeight * g.outWidth;
    const ws = g.outChannels * g.inChannels * g.kernel * g.kernel;
    const x = randn(xs);
    const xb = spikes(xs);
    const w = randn(ws);
    const bias = randn(g.outChannels);
    const gy = randn(ys);
    const gyb = spikes(ys);
    const refY = new Float32Array(ys);
    typescriptBackend.conv2dForward(g, x, w, bias, refY);
    const refYb = new Float32Array(ys);
    typescriptBackend.conv2dForward(g, xb, w, null, refYb);
    const gx0 = randn(xs);
    const refGx = gx0.slice();
    typescriptBackend.conv2dBackwardData(g, gy, w, refGx, true);
    const refGxb = new Float32Array(xs);
    typescriptBackend.conv2dBackwardData(g, gyb, w, refGxb, false);
    const gw0 = randn(ws);
    const refGw = gw0.slice();
    typescriptBackend.conv2dBackwardWeight(g, x, gy, refGw, true);
    const refGwb = new Float32Array(ws);
    typescriptBackend.conv2dBackwardWeight(g, xb, gy, refGwb, false);
    each((label, be) => {
      const y = new Float32Array(ys);
      be.conv2dForward(g, x, w, bias, y);
      close(y, refY, `${name} forward ${label}`);
      const yb = new Float32Array(ys);
      be.conv2dForward(g, xb, w, null, yb, true);
      close(yb, refYb, `${name} forward binary ${label}`);
      const gx = gx0.slice();
      be.conv2dBackwardData(g, gy, w, gx, true);
      close(gx, refGx, `${name} backward data ${label}`);
      const gxb = new Float32Array(xs).fill(NaN);
      be.conv2dBackwardData(g, gyb, w, gxb, false, true);
      close(gxb, refGxb, `${name} backward data binary ${label}`);
      const gw = gw0.slice();
      be.conv2dBackwardWeight(g, x, gy, gw, true);
      close(gw, refGw, `${name} backward weight ${label}`);
      const gwb = new Float32Array(ws);
      be.conv2dBackwardWeight(g, xb, gy, gwb, false, true);
      close(gwb, refGwb, `${name} backward weight binary ${label}`);
    });
  }
});

test('native LIF kernels equal the oracle bit for bit', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  const steps = 16;
  const size = 3000;
  const x = rng.fillNormal(new Float32Array(steps * size), 0.1, 0.3);
  const go = randn(steps * size);
  const u0 = new Float32Array(steps * size);
  const o0 = new Float32Array(steps * size);
  typescriptBackend.lifForward(steps, size, x, u0, o0, 0.25, 0.2);
  const g0 = new Float32Array(steps * size);
  typescriptBackend.lifBackward(steps, size, u0, o0, go, g0, 0.25, 0.5, 1);
  const rate = o0.reduce((s, v) => s + v, 0) / o0.length;
  assert.ok(rate > 0.05 && rate < 0.9, `firing rate ${rate}`);
  each((label, be) => {
    const u = new Float32Array(steps * size);
    const o = new Float32Array(steps * size);
    be.lifForward(steps, size, x, u, o, 0.25, 0.2);
    assert.deepEqual(u, u0, `membrane ${label}`);
    assert.deepEqual(o, o0, `spikes ${label}`);
    const g = new Float32Array(steps * size);
    be.lifBackward(steps, size, u0, o0, go, g, 0.25, 0.5, 1);
    assert.deepEqual(g, g0, `gradient ${label}`);
  });
});

/** Per-channel statistics for the batch-norm gradient sums, and zeroed sums. */
function gradSums(C: number): GradSums {
  return {
    mean: Float64Array.from({ length: C }, (_, c) => 0.1 * c - 0.2),
    invStd: Float64Array.from({ length: C }, (_, c) => 1 + 0.3 * c),
    sumG: new Float64Array(C).fill(NaN),
    sumGX: new Float64Array(C).fill(NaN),
  };
}

/** The sums lifBackwardRecompute computed on the side against channelGradSums of its gradient (float64 sums in another order). */
function checkGradSums(be: KernelBackend, outer: number, C: number, inner: number, g: Float32Array, x: Float32Array, sums: GradSums, label: string): void {
  const sumG = new Float64Array(C);
  const sumGX = new Float64Array(C);
  be.channelGradSums(outer, C, inner, g, x, sums.mean, sums.invStd, sumG, sumGX);
  for (let c = 0; c < C; c++) {
    for (const [got, want, what] of [[sums.sumG[c], sumG[c], 'Σg'], [sums.sumGX[c], sumGX[c], 'Σg·x̂']] as const) {
      assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${what}[${c}] ${got} vs ${want} ${label}`);
    }
  }
}

test('one LIF step with carried state, repeated over the steps, equals lifForward bit for bit (oracle and each back-end)', (t) => {
  // Hand values: u = 0.3 (spike), then 0.25·0.3·(1 − 1) + 0.1 = 0.1 (no spike), then 0.25·0.1 + 0.5 = 0.525.
  const u1 = new Float32Array(1);
  const o1 = new Float32Array(1);
  const seen: number[] = [];
  for (const x of [0.3, 0.1, 0.5]) {
    typescriptBackend.lifStep(1, Float32Array.of(x), u1, o1, 0.25, 0.2);
    seen.push(u1[0], o1[0]);
  }
  assert.deepEqual(seen, [Math.fround(0.3), 1, Math.fround(0.1), 0, Math.fround(Math.fround(0.25 * Math.fround(0.1)) + Math.fround(0.5)), 1]);
  const [steps, size] = [16, 3 * 2560 + 5];
  const x = rng.fillNormal(new Float32Array(steps * size), 0.15, 0.3);
  const uWant = new Float32Array(steps * size);
  const oWant = new Float32Array(steps * size);
  typescriptBackend.lifForward(steps, size, x, uWant, oWant, 0.25, 0.2);
  const rate = oWant.reduce((s, v) => s + v, 0) / oWant.length;
  assert.ok(rate > 0.05 && rate < 0.9, `firing rate ${rate}`);
  const check = (label: string, be: KernelBackend): void => {
    const u = new Float32Array(size);
    const o = new Float32Array(size);
    for (let st = 0; st < steps; st++) {
      be.lifStep(size, x.subarray(st * size, (st + 1) * size), u, o, 0.25, 0.2);
      assert.deepEqual(u, uWant.subarray(st * size, (st + 1) * size), `membrane, step ${st} ${label}`);
      assert.deepEqual(o, oWant.subarray(st * size, (st + 1) * size), `spikes, step ${st} ${label}`);
    }
  };
  check('typescript', typescriptBackend);
  if (native || wasm) each(check);
});

test('fused affine + LIF forward, and the LIF backward that replays the membrane from the batch-norm input, equal the separate kernels bit for bit', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  // [T, N, C, H, W] = [16, 3, 5, 7, 9]: a step's slice (945) is not a multiple
  // of the 512-neuron replay block, and channels change inside blocks; and a
  // linear layer's [T, N, F] = [16, 40, 24] (the channel changes every neuron).
  for (const [steps, N, C, inner] of [[16, 3, 5, 63], [16, 40, 24, 1]]) {
    const size = N * C * inner;
    const x = randn(steps * size);
    const a = rng.fillNormal(new Float32Array(C), 0.3, 0.1);
    const b = rng.fillNormal(new Float32Array(C), 0.1, 0.1);
    const go = randn(steps * size);
    const check = (label: string, be: KernelBackend): void => {
      const y = new Float32Array(steps * size);
      be.channelAffine(steps * N, C, inner, x, a, b, y);
      const u = new Float32Array(steps * size);
      const o = new Float32Array(steps * size);
      be.lifForward(steps, size, y, u, o, 0.25, 0.2);
      const rate = o.reduce((s, v) => s + v, 0) / o.length;
      assert.ok(rate > 0.05 && rate < 0.9, `firing rate ${rate}`);
      const want = new Float32Array(steps * size);
      be.lifBackward(steps, size, u, o, go, want, 0.25, 0.5, 1);
      const got = new Float32Array(steps * size);
      be.lifBackwardRecompute(steps, size, C, inner, x, a, b, o, go, got, 0.25, 0.5, 1, false, null);
      assert.deepEqual(got, want, `separate output ${label}`);
      const sums = gradSums(C);
      const withSums = new Float32Array(steps * size);
      be.lifBackwardRecompute(steps, size, C, inner, x, a, b, o, go, withSums, 0.25, 0.5, 1, false, sums);
      assert.deepEqual(withSums, want, `output with sums ${label}`);
      checkGradSums(be, steps * N, C, inner, want, x, sums, label);
      const inPlace = go.slice();
      be.lifBackwardRecompute(steps, size, C, inner, x, a, b, o, inPlace, inPlace, 0.25, 0.5, 1, false, null);
      assert.deepEqual(inPlace, want, `in place ${label}`);
      const fused = new Float32Array(steps * size).fill(NaN);
      be.affineLifForward(steps, size, C, inner, x, a, b, fused, 0.25, 0.2, false);
      assert.deepEqual(fused, o, `fused affine + LIF spikes ${label}`);
    };
    check('typescript', typescriptBackend);
    each(check);
  }
});

test('fused affine + LIF with one input step repeated over time equals the kernels on the written-out repeat; its backward sums the steps (bit for bit)', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  // The encoder's first layer: [T, N, C, H, W] = [16, 3, 5, 7, 9] driven by one step.
  const [steps, N, C, inner] = [16, 3, 5, 63];
  const size = N * C * inner;
  const x1 = rng.fillNormal(new Float32Array(size), 0.1, 1);
  const xFull = new Float32Array(steps * size);
  for (let s = 0; s < steps; s++) xFull.set(x1, s * size);
  const a = rng.fillNormal(new Float32Array(C), 0.3, 0.1);
  const b = rng.fillNormal(new Float32Array(C), 0.1, 0.1);
  const go = randn(steps * size);
  // The answer from the same back-end's kernels on the written-out repeat
  // (back-ends round the affine step differently, within an ulp), the
  // per-step gradients summed from the last step down in float64.
  const check = (label: string, be: KernelBackend): void => {
    const oWant = new Float32Array(steps * size);
    be.affineLifForward(steps, size, C, inner, xFull, a, b, oWant, 0.25, 0.2, false);
    const rate = oWant.reduce((s, v) => s + v, 0) / oWant.length;
    assert.ok(rate > 0.05 && rate < 0.9, `firing rate ${rate}`);
    const perStep = new Float32Array(steps * size);
    be.lifBackwardRecompute(steps, size, C, inner, xFull, a, b, oWant, go, perStep, 0.25, 0.5, 1, false, null);
    const gWant = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      let s = 0;
      for (let st = steps - 1; st >= 0; st--) s += perStep[st * size + i];
      gWant[i] = s;
    }
    assert.ok(gWant.some((v) => v !== 0));
    const o = new Float32Array(steps * size).fill(NaN);
    be.affineLifForward(steps, size, C, inner, x1, a, b, o, 0.25, 0.2, true);
    assert.deepEqual(o, oWant, `spikes ${label}`);
    const g = new Float32Array(size).fill(NaN);
    be.lifBackwardRecompute(steps, size, C, inner, x1, a, b, o, go, g, 0.25, 0.5, 1, true, null);
    assert.deepEqual(g, gWant, `summed gradient ${label}`);
    const sums = gradSums(C);
    const g2 = new Float32Array(size).fill(NaN);
    be.lifBackwardRecompute(steps, size, C, inner, x1, a, b, o, go, g2, 0.25, 0.5, 1, true, sums);
    assert.deepEqual(g2, gWant, `summed gradient with sums ${label}`);
    checkGradSums(be, N, C, inner, gWant, x1, sums, label);
  };
  check('typescript', typescriptBackend);
  each(check);
  for (const be of [native, wasm]) {
    if (be) assert.throws(() => be.lifBackwardRecompute(steps, size, C, inner, x1, a, b, new Float32Array(steps * size), go, go, 0.25, 0.5, 1, true, null), /cannot overwrite go/);
  }
});

test('fused affine + LIF summed over time: hand values of the oracle; each back-end equals its own separate kernels bit for bit', (t) => {
  // One neuron, a = 1, b = 0: u = 0.3 (spike), 0.25·0.3·0 + 0.1 = 0.1, 0.25·0.1·1 + 0.5 = 0.525 (spike).
  const coef3 = Float32Array.from([0.64, 0.8, 1]);
  const one = Float32Array.from([1]);
  const zero = Float32Array.from([0]);
  const x3 = Float32Array.from([0.3, 0.1, 0.5]);
  const out1 = new Float32Array(1);
  typescriptBackend.affineLifTimeSum(3, 1, 1, 1, x3, one, zero, coef3, out1, 0.25, 0.2);
  assert.equal(out1[0], Math.fround(Math.fround(0.64) + 1));
  // Output gradients coef_t; backward from t = 2: outside the surrogate window
  // (|0.525| ≥ 0.5) → 0; t = 1: 0.8; t = 0: 0.64 − 0.25·0.3·0.8 = 0.58 (the
  // spike's reset passes nothing from t = 1 through the membrane term).
  const gx3 = new Float32Array(3);
  typescriptBackend.lifBackwardTimeSum(3, 1, 1, 1, x3, one, zero, coef3, Float32Array.from([1]), gx3, 0.25, 0.2, 0.5, 1, null);
  [0.58, 0.8, 0].forEach((v, i) => assert.ok(Math.abs(gx3[i] - v) < 1e-6, `gx[${i}] = ${gx3[i]}, want ${v}`));
  if (!native && !wasm) return t.skip(NEITHER);
  // [T, N, C, H, W] = [16, 3, 5, 7, 9] (slices not a multiple of the blocks) and a linear layer's [16, 40, 24].
  for (const [steps, N, C, inner] of [[16, 3, 5, 63], [16, 40, 24, 1]]) {
    const size = N * C * inner;
    const x = randn(steps * size);
    const a = rng.fillNormal(new Float32Array(C), 0.3, 0.1);
    const b = rng.fillNormal(new Float32Array(C), 0.1, 0.1);
    const coef = Float32Array.from({ length: steps }, (_, i) => Math.pow(0.8, steps - 1 - i));
    const g = randn(size);
    const check = (label: string, be: KernelBackend): void => {
      const o = new Float32Array(steps * size);
      be.affineLifForward(steps, size, C, inner, x, a, b, o, 0.25, 0.2, false);
      const want = new Float32Array(size);
      be.timeWeightedSum(steps, size, o, coef, want);
      const got = new Float32Array(size).fill(NaN);
      be.affineLifTimeSum(steps, size, C, inner, x, a, b, coef, got, 0.25, 0.2);
      assert.deepEqual(got, want, `time sum ${label}`);
      const go = new Float32Array(steps * size);
      be.timeWeightedSpread(steps, size, g, coef, go, false);
      const gWant = new Float32Array(steps * size);
      const sumsWant = gradSums(C);
      be.lifBackwardRecompute(steps, size, C, inner, x, a, b, o, go, gWant, 0.25, 0.5, 1, false, sumsWant);
      assert.ok(gWant.some((v) => v !== 0));
      const gGot = new Float32Array(steps * size).fill(NaN);
      const sums = gradSums(C);
      be.lifBackwardTimeSum(steps, size, C, inner, x, a, b, coef, g, gGot, 0.25, 0.2, 0.5, 1, sums);
      assert.deepEqual(gGot, gWant, `gradient ${label}`);
      assert.deepEqual(sums.sumG, sumsWant.sumG, `Σg ${label}`);
      assert.deepEqual(sums.sumGX, sumsWant.sumGX, `Σg·x̂ ${label}`);
      const gNoSums = new Float32Array(steps * size).fill(NaN);
      be.lifBackwardTimeSum(steps, size, C, inner, x, a, b, coef, g, gNoSums, 0.25, 0.2, 0.5, 1, null);
      assert.deepEqual(gNoSums, gWant, `gradient without sums ${label}`);
    };
    check('typescript', typescriptBackend);
    each(check);
  }
});

test('PLIF-family kernels: spikes and input gradients equal the oracle bit for bit (plain, fused affine, per-step affine, repeated input); dL/dk and dL/dV_th agree', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  // [T, N, C, H·W] = [8, 3, 5, 63] (a step's slice of 945 is not a multiple of the
  // 512-neuron block, channels change inside blocks), and a linear layer's [8, 40, 24].
  const [k, threshold, alpha] = [Math.fround(1 / (1 + Math.exp(-0.3))), 0.45, 2];
  for (const [steps, N, C, inner] of [[8, 3, 5, 63], [8, 40, 24, 1]]) {
    const size = N * C * inner;
    const x = rng.fillNormal(new Float32Array(steps * size), 0.3, 0.8);
    const x1 = x.slice(0, size);
    const go = randn(steps * size);
    const coef = (n: number, mean: number) => rng.fillNormal(new Float32Array(n), mean, 0.2);
    const cases: Array<[string, NeuronAffine | null, boolean, Float32Array]> = [
      ['plain', null, false, x],
      ['affine', { channels: C, inner, a: coef(C, 1), b: coef(C, 0.1), perStep: false }, false, x],
      ['per-step affine', { channels: C, inner, a: coef(steps * C, 1), b: coef(steps * C, 0.1), perStep: true }, false, x],
      ['repeated, affine', { channels: C, inner, a: coef(C, 1), b: coef(C, 0.1), perStep: false }, true, x1],
      ['repeated', null, true, x1],
    ];
    for (const [name, affine, repeated, input] of cases) {
      const gSize = repeated ? size : steps * size;
      const o0 = new Float32Array(steps * size);
      typescriptBackend.plifForward(steps, size, input, o0, k, threshold, affine, repeated);
      const rate = o0.reduce((s, v) => s + v, 0) / o0.length;
      assert.ok(rate > 0.05 && rate < 0.9, `${name}: firing rate ${rate}`);
      const g0 = new Float32Array(gSize);
      const sums0 = new Float64Array(2);
      typescriptBackend.plifBackward(steps, size, input, o0, go, g0, k, threshold, alpha, affine, repeated, sums0);
      assert.ok(g0.some((v) => v !== 0) && sums0[0] !== 0 && sums0[1] !== 0, name);
      const check = (label: string, be: KernelBackend) => {
        const o = new Float32Array(steps * size).fill(NaN);
        be.plifForward(steps, size, input, o, k, threshold, affine, repeated);
        const g = new Float32Array(gSize).fill(NaN);
        const sums = new Float64Array(2).fill(NaN);
        be.plifBackward(steps, size, input, o, go, g, k, threshold, alpha, affine, repeated, sums);
        // The parameter gradients are float64 sums in an order of the back-end's choosing.
        let sumsWant = sums0;
        if (!affine) {
          assert.deepEqual(o, o0, `${name} spikes ${label}`);
          assert.deepEqual(g, g0, `${name} gradient ${label}`);
        }
        // With an affine input, each back-end equals its own affine followed by the plain kernel
        // (the back-ends round a·x + b differently, within an ulp).
        if (affine) {
          const y = new Float32Array(steps * size);
          const full = repeated ? Float32Array.from({ length: steps * size }, (_, i) => input[i % size]) : input;
          for (let s = 0; s < steps; s++) {
            const at = (arr: Float32Array, n: number) => (affine.perStep ? arr.subarray(s * n, (s + 1) * n) : arr.subarray(0, n));
            be.channelAffine(size / (C * inner), C, inner, full.subarray(s * size, (s + 1) * size), at(affine.a, C), at(affine.b, C), y.subarray(s * size, (s + 1) * size));
          }
          const oSep = new Float32Array(steps * size);
          be.plifForward(steps, size, y, oSep, k, threshold, null, false);
          assert.deepEqual(o, oSep, `${name} spikes against the separate affine ${label}`);
          const gSep = new Float32Array(steps * size);
          sumsWant = new Float64Array(2);
          be.plifBackward(steps, size, y, oSep, go, gSep, k, threshold, alpha, null, false, sumsWant);
          const gWant = repeated ? new Float32Array(size) : gSep;
          if (repeated) {
            for (let i = 0; i < size; i++) {
              let acc = 0;
              for (let s = steps - 1; s >= 0; s--) acc += gSep[s * size + i];
              gWant[i] = acc;
            }
          }
          assert.deepEqual(g, gWant, `${name} gradient against the separate affine ${label}`);
        }
        for (let j = 0; j < 2; j++) {
          const want = sumsWant[j];
          assert.ok(Math.abs(sums[j] - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${name} ${j ? 'dL/dV_th' : 'dL/dk'} ${sums[j]} vs ${want} ${label}`);
        }
        if (!repeated) {
          const inPlace = go.slice();
          be.plifBackward(steps, size, input, o, inPlace, inPlace, k, threshold, alpha, affine, false, new Float64Array(2));
          assert.deepEqual(inPlace, g, `${name} in place ${label}`);
        }
        return { o, g, sums };
      };
      check('typescript', typescriptBackend);
      // The native kernels are chosen per CPU at load (target_clones), so the instruction
      // sets compared here are the machine's widest; 1 and 2 threads give identical bits.
      const runs: Array<{ o: Float32Array; g: Float32Array; sums: Float64Array }> = [];
      each((label, be) => {
        const r = check(label, be);
        if (be === native) runs.push(r);
      });
      for (let i = 0; i + 1 < runs.length; i += 2) assert.deepEqual(runs[i], runs[i + 1], `${name}: 1 and 2 threads`);
    }
  }
  const go80 = new Float32Array(80);
  for (const be of [native, wasm]) {
    if (!be) continue;
    assert.throws(() => be.plifBackward(8, 10, new Float32Array(10), new Float32Array(80), go80, go80, 0.5, 0.5, 2, null, true, new Float64Array(2)), /cannot overwrite go/);
    assert.throws(() => be.plifForward(8, 10, new Float32Array(70), new Float32Array(80), 0.5, 0.5, null, false), /70 elements/);
  }
});

test('PLIF with a fused 2×2 max pooling equals each back-end\'s own PLIF and pooling kernels in sequence, bit for bit (spikes, pooled spikes, input gradient); dL/dk and dL/dV_th agree', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  const [k, threshold, alpha] = [Math.fround(1 / (1 + Math.exp(-0.3))), 0.45, 2];
  const coef = (n: number, mean: number) => rng.fillNormal(new Float32Array(n), mean, 0.2);
  // [steps, N, C, H, W]: the classifier's first layer (28×28 planes, one input
  // step repeated, blocks of 9 row pairs that end inside a channel), its second
  // (14×14, statistics per step), and small planes without an affine.
  const cases: Array<[string, number, number, number, number, number, 'repeated' | 'per-step' | 'plain']> = [
    ['first layer', 8, 3, 4, 28, 28, 'repeated'],
    ['second layer', 8, 3, 4, 14, 14, 'per-step'],
    ['plain 6×10', 5, 2, 3, 6, 10, 'plain'],
  ];
  for (const [name, steps, N, C, H, W, kind] of cases) {
    const inner = H * W;
    const size = N * C * inner;
    const repeated = kind === 'repeated';
    const input = rng.fillNormal(new Float32Array((repeated ? 1 : steps) * size), 0.3, 0.8);
    const affine: NeuronAffine | null =
      kind === 'plain' ? null : { channels: C, inner, a: coef((kind === 'per-step' ? steps : 1) * C, 1), b: coef((kind === 'per-step' ? steps : 1) * C, 0.1), perStep: kind === 'per-step' };
    const gPooled = randn((steps * size) / 4);
    const gSize = repeated ? size : steps * size;
    const planes = (steps * size) / inner;
    const check = (label: string, be: KernelBackend) => {
      // The separate kernels: PLIF, pooling; the pooling's backward into a full gradient, then PLIF's backward.
      const oWant = new Float32Array(steps * size);
      be.plifForward(steps, size, input, oWant, k, threshold, affine, repeated);
      const pooledWant = new Float32Array((steps * size) / 4);
      be.maxPool2x2Forward(planes, H, W, oWant, pooledWant);
      const go = new Float32Array(steps * size);
      be.maxPool2x2Backward(planes, H, W, oWant, gPooled, go, false);
      const gWant = new Float32Array(gSize);
      const sumsWant = new Float64Array(2);
      be.plifBackward(steps, size, input, oWant, go, gWant, k, threshold, alpha, affine, repeated, sumsWant);
      const rate = oWant.reduce((a, v) => a + v, 0) / oWant.length;
      assert.ok(rate > 0.05 && rate < 0.9 && gWant.some((v) => v !== 0), `${name}: firing rate ${rate}`);
      const o = new Float32Array(steps * size).fill(NaN);
      const pooled = new Float32Array((steps * size) / 4).fill(NaN);
      be.plifPoolForward(steps, size, input, o, pooled, k, threshold, affine, repeated, H, W);
      assert.deepEqual(o, oWant, `${name} spikes ${label}`);
      assert.deepEqual(pooled, pooledWant, `${name} pooled spikes ${label}`);
      const g = new Float32Array(gSize).fill(NaN);
      const sums = new Float64Array(2).fill(NaN);
      be.plifPoolBackward(steps, size, input, o, gPooled, g, k, threshold, alpha, affine, repeated, sums, H, W);
      assert.deepEqual(g, gWant, `${name} input gradient ${label}`);
      for (let j = 0; j < 2; j++) {
        assert.ok(Math.abs(sums[j] - sumsWant[j]) <= 1e-9 * Math.max(1, Math.abs(sumsWant[j])), `${name} ${j ? 'dL/dV_th' : 'dL/dk'} ${sums[j]} vs ${sumsWant[j]} ${label}`);
      }
      return { o, pooled, g, sums };
    };
    check('typescript', typescriptBackend);
    const runs: Array<ReturnType<typeof check>> = [];
    each((label, be) => {
      const r = check(label, be);
      if (be === native) runs.push(r);
    });
    for (let i = 0; i + 1 < runs.length; i += 2) assert.deepEqual(runs[i], runs[i + 1], `${name}: 1 and 2 threads`);
  }
  for (const be of [native, wasm]) {
    if (!be) continue;
    const z = (n: number) => new Float32Array(n);
    assert.throws(() => be.plifPoolForward(2, 30, z(60), z(60), z(15), 0.5, 0.5, null, false, 3, 10), /even height/);
    assert.throws(() => be.plifPoolBackward(2, 30, z(60), z(60), z(15), z(60), 0.5, 0.5, 2, null, false, new Float64Array(2), 6, 4), /multiple of the plane|divide the size/);
  }
});

test('2×2 max pooling: winners by hand (first of ties, NaN wins), and the native and WebAssembly kernels equal the oracle bit for bit', (t) => {
  // One 2×4 plane: windows [1 1; 1 0] (a tie: the first), [0 NaN; 5 7] (NaN), then one 2×4 plane [-1 -3; -2 -0.5], [2 2; 3 3].
  const x = Float32Array.of(1, 1, 0, NaN, 1, 0, 5, 7, -1, -3, 2, 2, -2, -0.5, 3, 3);
  const y = new Float32Array(4);
  typescriptBackend.maxPool2x2Forward(2, 2, 4, x, y);
  assert.deepEqual([...y], [1, NaN, -0.5, 3]);
  const gx = new Float32Array(16).fill(NaN);
  typescriptBackend.maxPool2x2Backward(2, 2, 4, x, Float32Array.of(10, 20, 30, 40), gx, false);
  assert.deepEqual([...gx], [10, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 40, 0]);
  typescriptBackend.maxPool2x2Backward(2, 2, 4, x, Float32Array.of(1, 2, 3, 4), gx, true);
  assert.deepEqual([...gx], [11, 0, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 33, 44, 0]);
  if (!native && !wasm) return t.skip(NEITHER);
  // The classifier's poolings at a small batch (rows of 14 and 7 windows), small planes, and rows
  // wider than the kernels' chunk; spikes (many ties), and real values with NaNs.
  for (const [planes, H, W] of [[3 * 128, 28, 28], [3 * 128, 14, 14], [5, 6, 10], [2, 4, 4100]]) {
    const n = planes * H * W;
    const real = randn(n);
    for (let i = 0; i < n; i += 37) real[i] = NaN;
    for (const [what, input] of [['spikes', spikes(n, 0.2)], ['real', real]] as const) {
      const g = randn(n / 4);
      const base = randn(n);
      const want = new Float32Array(n / 4);
      typescriptBackend.maxPool2x2Forward(planes, H, W, input, want);
      const wantSet = new Float32Array(n);
      typescriptBackend.maxPool2x2Backward(planes, H, W, input, g, wantSet, false);
      const wantAdd = base.slice();
      typescriptBackend.maxPool2x2Backward(planes, H, W, input, g, wantAdd, true);
      each((label, be) => {
        const out = new Float32Array(n / 4).fill(-1);
        be.maxPool2x2Forward(planes, H, W, input, out);
        assert.deepEqual(out, want, `forward ${what} ${W} ${label}`);
        const set = new Float32Array(n).fill(NaN);
        be.maxPool2x2Backward(planes, H, W, input, g, set, false);
        assert.deepEqual(set, wantSet, `backward ${what} ${W} ${label}`);
        const add = base.slice();
        be.maxPool2x2Backward(planes, H, W, input, g, add, true);
        assert.deepEqual(add, wantAdd, `backward, accumulated ${what} ${label}`);
      });
    }
  }
});

test('membrane output kernels: Σ_t coef_t·x_t and its spread back over the steps, against hand-computed values and the oracle', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  // Hand-computed: two steps, coefficients 0.8 and 1.
  const small = new Float32Array(3);
  typescriptBackend.timeWeightedSum(2, 3, Float32Array.from([1, 2, 3, 10, 20, 30]), Float32Array.from([0.5, 1]), small);
  assert.deepEqual([...small], [10.5, 21, 31.5]);
  const spread = new Float32Array(6).fill(1);
  typescriptBackend.timeWeightedSpread(2, 3, Float32Array.from([2, 4, 6]), Float32Array.from([0.5, 1]), spread, true);
  assert.deepEqual([...spread], [2, 3, 4, 3, 5, 7]);
  // The final layer's input: [16, 3, 32, 32, 32] would be large; 16 steps of 5000 (not a multiple of the 2048-neuron block).
  const [steps, size] = [16, 5000];
  const coef = new Float32Array(steps);
  for (let s = 0; s < steps; s++) coef[s] = Math.pow(0.8, steps - 1 - s);
  // Real values (the last layer's input is spikes, but the contract is float32 rounding of any input).
  const x = randn(steps * size);
  const g = randn(size);
  const base = randn(steps * size);
  const want = new Float32Array(size);
  typescriptBackend.timeWeightedSum(steps, size, x, coef, want);
  const wantSet = new Float32Array(steps * size);
  typescriptBackend.timeWeightedSpread(steps, size, g, coef, wantSet, false);
  const wantAdd = base.slice();
  typescriptBackend.timeWeightedSpread(steps, size, g, coef, wantAdd, true);
  each((label, be) => {
    const out = new Float32Array(size).fill(NaN);
    be.timeWeightedSum(steps, size, x, coef, out);
    assert.deepEqual(out, want, `sum ${label}`);
    const set = new Float32Array(steps * size).fill(NaN);
    be.timeWeightedSpread(steps, size, g, coef, set, false);
    assert.deepEqual(set, wantSet, `spread ${label}`);
    const add = base.slice();
    be.timeWeightedSpread(steps, size, g, coef, add, true);
    assert.deepEqual(add, wantAdd, `spread, accumulated ${label}`);
  });
});

test('native batch-norm and bias kernels agree with the oracle (float64 sums in another order; affine within an ulp)', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  // inner 1 (linear layers), 4 (2x2 maps) and 67 (not a multiple of the 8 lanes); outer above one reduction block.
  for (const [outer, C, inner] of [[40, 24, 1], [33, 5, 4], [19, 3, 67]]) {
    const n = outer * C * inner;
    const x = rng.fillNormal(new Float32Array(n), 0.7, 2);
    const g = randn(n);
    const a = randn(C);
    const b = randn(C);
    const near = (got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): void => {
      for (let i = 0; i < want.length; i++) {
        assert.ok(Math.abs(got[i] - want[i]) <= rel * (Math.abs(want[i]) + 1), `${what}[${i}]: ${got[i]} vs ${want[i]} (${outer}x${C}x${inner})`);
      }
    };
    const mean0 = new Float64Array(C), var0 = new Float64Array(C);
    typescriptBackend.channelMeanVar(outer, C, inner, x, mean0, var0);
    const sum0 = new Float64Array(C);
    typescriptBackend.channelSums(outer, C, inner, x, sum0);
    near(sum0, mean0.map((m) => m * outer * inner), 1e-12, 'oracle sums against the oracle means');
    const invStd = var0.map((v) => 1 / Math.sqrt(v + 1e-5));
    const sg0 = new Float64Array(C), sgx0 = new Float64Array(C);
    typescriptBackend.channelGradSums(outer, C, inner, g, x, mean0, invStd, sg0, sgx0);
    const y0 = new Float32Array(n);
    typescriptBackend.channelAffine(outer, C, inner, x, a, b, y0);
    const gx0 = randn(n);
    const gxStart = gx0.slice();
    typescriptBackend.channelNormBackward(outer, C, inner, g, x, a, mean0, invStd, sg0, sgx0, true, gx0, true);
    const gxOnly = new Float32Array(n);
    typescriptBackend.channelNormBackward(outer, C, inner, g, x, a, mean0, invStd, sg0, sgx0, true, gxOnly, true);
    each((label, be) => {
      const mean = new Float64Array(C), variance = new Float64Array(C);
      be.channelMeanVar(outer, C, inner, x, mean, variance);
      near(mean, mean0, 1e-12, `mean ${label}`);
      near(variance, var0, 1e-12, `variance ${label}`);
      const sum = new Float64Array(C).fill(NaN);
      be.channelSums(outer, C, inner, x, sum);
      near(sum, sum0, 1e-12, `sums ${label}`);
      const sg = new Float64Array(C), sgx = new Float64Array(C);
      be.channelGradSums(outer, C, inner, g, x, mean0, invStd, sg, sgx);
      near(sg, sg0, 1e-12, `sum g ${label}`);
      near(sgx, sgx0, 1e-12, `sum g·x̂ ${label}`);
      const y = new Float32Array(n);
      be.channelAffine(outer, C, inner, x, a, b, y);
      near(y, y0, 3e-7, `affine ${label}`);
      const gx = gxStart.slice();
      be.channelNormBackward(outer, C, inner, g, x, a, mean0, invStd, sg0, sgx0, true, gx, true);
      near(gx, gx0, 3e-7, `input gradient ${label}`);
      const fresh = new Float32Array(n).fill(NaN); // written over, whatever it held
      be.channelNormBackward(outer, C, inner, g, x, a, mean0, invStd, sg0, sgx0, true, fresh, false);
      near(fresh, gxOnly, 3e-7, `input gradient written ${label}`);
      // Written over the output gradient itself (the engine's in-place backward), with batch and with running statistics.
      for (const batchStats of [true, false]) {
        const apart = new Float32Array(n);
        be.channelNormBackward(outer, C, inner, g, x, a, mean0, invStd, sg0, sgx0, batchStats, apart, false);
        const inPlace = g.slice();
        be.channelNormBackward(outer, C, inner, inPlace, x, a, mean0, invStd, sg0, sgx0, batchStats, inPlace, false);
        assert.deepEqual(inPlace, apart, `input gradient over g, batchStats ${batchStats} ${label}`);
      }
    });
    const oracleInPlace = g.slice();
    typescriptBackend.channelNormBackward(outer, C, inner, oracleInPlace, x, a, mean0, invStd, sg0, sgx0, true, oracleInPlace, false);
    assert.deepEqual(oracleInPlace, gxOnly, 'oracle input gradient over g');
  }
});

test('native AdamW update equals the oracle bit for bit', (t) => {
  if (!native && !wasm) return t.skip(NEITHER);
  const n = 100_003; // several parallel chunks and a ragged end
  const p0 = randn(n);
  const g = randn(n);
  const m0 = rng.fillNormal(new Float32Array(n), 0, 0.1);
  const v0 = new Float32Array(n).map(() => rng.uniform() * 0.01);
  const args = [1 - 1e-3 * 0.01, 0.9, 0.999, 1e-3 / (1 - 0.9 ** 3), Math.sqrt(1 - 0.999 ** 3), 1e-8] as const;
  const [p1, m1, v1] = [p0.slice(), m0.slice(), v0.slice()];
  assert.equal(typescriptBackend.adamwUpdate(p1, g, m1, v1, ...args), true);
  assert.ok(p1.some((x, i) => x !== p0[i]));
  each((label, be) => {
    const [p, m, v] = [p0.slice(), m0.slice(), v0.slice()];
    assert.equal(be.adamwUpdate(p, g, m, v, ...args), true, `all finite ${label}`);
    assert.deepEqual(p, p1, `parameters ${label}`);
    assert.deepEqual(m, m1, `first moments ${label}`);
    assert.deepEqual(v, v1, `second moments ${label}`);
  });
  // The same pass reports a non-finite store wherever it lands (first, middle, last chunk), from NaN or overflow.
  for (const [at, poison] of [[0, NaN], [50_000, Infinity], [n - 1, 3e38]] as const) {
    const gBad = g.slice();
    gBad[at] = poison; // 3e38 overflows v = (1 − β2)·g² in float32
    const poisoned = (be: KernelBackend) => {
      const [p, m, v] = [p0.slice(), m0.slice(), v0.slice()];
      return be.adamwUpdate(p, gBad, m, v, ...args);
    };
    assert.equal(poisoned(typescriptBackend), false, `typescript: gradient ${poison} at ${at}`);
    each((label, be) => assert.equal(poisoned(be), false, `${label}: gradient ${poison} at ${at}`));
  }
});

test('native wrapper rejects arrays shorter than the geometry', (t) => {
  if (!native) return t.skip('native addon not built');
  assert.throws(() => native.gemm(false, false, 4, 4, 4, new Float32Array(15), new Float32Array(16), new Float32Array(16), 0), /has 15 elements, needs 16/);
  const g = geo(1, 2, 8, 3, 3, 1, 1);
  assert.throws(() => native.conv2dForward(g, new Float32Array(10), new Float32Array(54), null, new Float32Array(192)), /needs 128/);
  assert.ok(nativeInfo()!.threads >= 1);
  assert.match(configureNative('', 2, 'sparse' as 'dense'), /unknown spike kernels 'sparse'/);
  assert.equal(configureNative('', 2), '');
});

test('WebAssembly wrapper rejects arrays shorter than the geometry; results survive the memory growing between calls', (t) => {
  if (!wasm) return t.skip('WebAssembly kernels not built (needs emcc: apt-get install emscripten)');
  assert.throws(() => wasm.gemm(false, false, 4, 4, 4, new Float32Array(15), new Float32Array(16), new Float32Array(16), 0), /has 15 elements, needs 16/);
  const g = geo(1, 2, 8, 3, 3, 1, 1);
  assert.throws(() => wasm.conv2dForward(g, new Float32Array(10), new Float32Array(54), null, new Float32Array(192)), /needs 128/);
  // A call larger than all memory so far (the module starts at 16 MiB) grows it mid-call.
  const n = 3_000_000;
  const coef = Float32Array.from([0.5, 2]);
  const x = new Float32Array(2 * n).map((_, i) => i % 7);
  const out = new Float32Array(n);
  wasm.timeWeightedSum(2, n, x, coef, out);
  assert.equal(out[n - 1], 0.5 * ((n - 1) % 7) + 2 * ((2 * n - 1) % 7));
});
