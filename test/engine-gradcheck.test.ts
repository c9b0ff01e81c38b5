/**
 * Finite-difference gradient checks for every differentiable op and block,
 * run on each kernel back-end. The loss is L = Σ r·f(x) with a fixed random
 * r; the analytic gradient from backward() is compared with central
 * differences computed in float64 around float32 inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/engine/tensor.js';
import * as ops from '../src/engine/ops.js';
import { Random } from '../src/engine/random.js';
import { backend, getNativeBackend, setBackend, typescriptBackend } from '../src/engine/backend/index.js';
import type { KernelBackend } from '../src/engine/backend/types.js';
import { lif, membraneCoefficients, membraneOutput, psp, repeatOverTime } from '../src/snn/functional.js';
import { TdBatchNorm, TdConv, TdConvTranspose } from '../src/snn/layers.js';
import { maxAbs, maxRelDiff } from './compare.js';

const rng = new Random(2024);

function param(shape: number[], scale = 1, offset = 0): Tensor {
  const t = Tensor.zeros(shape, true);
  for (let i = 0; i < t.size; i++) t.data[i] = offset + scale * rng.normal();
  return t;
}

/**
 * Checks d(Σ r·f(inputs))/d(input) for every input against central
 * differences. `f` must be deterministic (it is re-run for each perturbation).
 */
function gradcheck(name: string, inputs: Tensor[], f: (...xs: Tensor[]) => Tensor, eps = 1e-2, tol = 2e-2): void {
  const out0 = f(...inputs);
  const r = rng.fillNormal(new Float32Array(out0.size));
  const loss = (o: Tensor) => {
    let s = 0;
    for (let i = 0; i < o.size; i++) s += r[i] * o.data[i];
    return s;
  };
  for (const x of inputs) x.grad = null;
  out0.backward(r);
  for (const [k, x] of inputs.entries()) {
    const analytic = x.grad ? Float64Array.from(x.grad) : new Float64Array(x.size);
    const numeric = new Float64Array(x.size);
    for (let i = 0; i < x.size; i++) {
      const v = x.data[i];
      x.data[i] = v + eps;
      const up = loss(f(...inputs));
      x.data[i] = v - eps;
      const down = loss(f(...inputs));
      x.data[i] = v;
      numeric[i] = (up - down) / (2 * eps);
    }
    let num = 0;
    let den = 0;
    for (let i = 0; i < x.size; i++) {
      num += (analytic[i] - numeric[i]) ** 2;
      den += numeric[i] ** 2 + analytic[i] ** 2;
    }
    const rel = Math.sqrt(num / Math.max(den, 1e-20));
    assert.ok(rel < tol, `${name}: input ${k} gradient relative error ${rel.toExponential(2)} (tolerance ${tol})`);
    x.grad = null;
  }
}

const backends: Array<[string, KernelBackend | null]> = [
  ['typescript', typescriptBackend],
  ['native', getNativeBackend()],
];

for (const [bname, be] of backends) {
  const withBackend = (t: { skip: (m: string) => void }, fn: () => void) => {
    if (!be) return t.skip('native addon not built');
    const prev = backend();
    setBackend(be);
    try {
      fn();
    } finally {
      setBackend(prev);
    }
  };

  test(`elementwise ops with broadcasting (${bname})`, (t) =>
    withBackend(t, () => {
      const a = param([2, 3, 4]);
      const b = param([3, 1]);
      const pos = param([2, 3, 4], 0.3, 2);
      gradcheck('add', [a, b], (x, y) => ops.add(x, y));
      gradcheck('sub', [a, b], (x, y) => ops.sub(x, y));
      gradcheck('mul', [a, b], (x, y) => ops.mul(x, y));
      gradcheck('div', [a, pos], (x, y) => ops.div(x, y));
      gradcheck('scale/addScalar/neg', [a], (x) => ops.neg(ops.addScalar(ops.scale(x, 1.7), 0.3)));
      gradcheck('tanh', [a], (x) => ops.tanh(x));
      gradcheck('sigmoid', [a], (x) => ops.sigmoid(x));
      gradcheck('exp', [a], (x) => ops.exp(ops.scale(x, 0.5)));
      gradcheck('log', [pos], (x) => ops.log(x));
      gradcheck('square', [a], (x) => ops.square(x));
      // Keep inputs away from the kink at 0 for the piecewise-linear ops.
      const away = Tensor.from(Array.from({ length: 12 }, (_, i) => (i % 2 ? 1 : -1) * (0.2 + 0.1 * i)), [3, 4], true);
      gradcheck('leakyRelu', [away], (x) => ops.leakyRelu(x, 0.01));
      gradcheck('relu', [away], (x) => ops.relu(x));
      // scale writes its first gradient without clearing the buffer: it must
      // still be what adding to zeros gives (0 + −0 = +0), and a second use adds.
      const once = Tensor.from([1, -2], [2], true);
      ops.scale(once, -1).backward(Float32Array.from([0, 3]));
      assert.ok(Object.is(once.grad![0], 0), `0 + (-0) must be +0, got ${once.grad![0]}`);
      assert.equal(once.grad![1], -3);
      const twice = Tensor.from([1, -2, 3], [3], true);
      ops.add(ops.scale(twice, 2), ops.scale(twice, -0.5)).backward(Float32Array.from([1, 0, -3]));
      assert.deepEqual(Array.from(twice.grad!), [1.5, 0, -4.5]);
    }));

  test(`reductions and shape ops (${bname})`, (t) =>
    withBackend(t, () => {
      const a = param([2, 3, 4]);
      const b = param([2, 5, 4]);
      gradcheck('sum axes [0,2]', [a], (x) => ops.sum(x, [0, 2]));
      gradcheck('mean axis 1 keepDims', [a], (x) => ops.mul(ops.mean(x, [1], true), x));
      gradcheck('sum all', [a], (x) => ops.sum(ops.square(x)));
      gradcheck('sum trailing axes [1,2]', [a], (x) => ops.sum(ops.square(x), [1, 2]));
      gradcheck('mean last axis', [a], (x) => ops.mean(ops.square(x), [2]));
      // One tensor into two trailing sums: the second gradient adds to the first.
      gradcheck('trailing sum used twice', [a], (x) => {
        const s = ops.square(x);
        return ops.mul(ops.sum(s, [2]), ops.sum(s, [1, 2], true));
      });
      // Trailing-axis sums take a contiguous fast path; hand-computed values (0..23 as [2, 3, 4]).
      const seq = Tensor.from(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
      assert.deepEqual(Array.from(ops.sum(seq, [2]).data), [6, 22, 38, 54, 70, 86]);
      assert.deepEqual(Array.from(ops.sum(seq, [1, 2]).data), [66, 210]);
      assert.deepEqual(Array.from(ops.sum(seq, [0, 1]).data), [60, 66, 72, 78]);
      gradcheck('reshape', [a], (x) => ops.square(ops.reshape(x, [4, 6])));
      gradcheck('permute', [a], (x) => ops.mul(ops.permute(x, [2, 0, 1]), ops.permute(x, [2, 0, 1])));
      gradcheck('transpose', [a], (x) => ops.square(ops.transpose(x, 0, 2)));
      gradcheck('concat', [a, b], (x, y) => ops.square(ops.concat([x, y], 1)));
      gradcheck('slice', [b], (x) => ops.square(ops.slice(x, 1, 1, 4)));
      // Distinct values, so each window has one maximum and small steps do not change it.
      const distinct = (shape: number[]) => {
        const n = shape.reduce((p, q) => p * q, 1);
        const perm = rng.permutation(n);
        return new Tensor(Float32Array.from(perm, (v) => v * 0.1 - 2), shape, true);
      };
      gradcheck('maxPool2d 2x2 s2 (odd size: the last row and column are dropped)', [distinct([2, 3, 5, 4])], (x) => ops.square(ops.maxPool2d(x, 2)), 1e-3);
      gradcheck('maxPool2d 3x3 s2 (overlapping windows)', [distinct([1, 2, 7, 7])], (x) => ops.maxPool2d(x, 3, 2), 1e-3);
      // Windows tiling the input (the classifiers' case): the gradient is written, then added by a second consumer.
      gradcheck('maxPool2d 2x2 s2 tiling, used twice', [distinct([2, 3, 4, 6])], (x) => ops.mul(ops.maxPool2d(x, 2), ops.maxPool2d(x, 2)), 1e-3);
      const idx = Int32Array.from({ length: 6 }, (_, i) => i % 4);
      gradcheck('pickLastAxis', [a], (x) => ops.square(ops.pickLastAxis(x, idx)));
      gradcheck('mseLoss', [a, param([2, 3, 4])], (x, y) => ops.mseLoss(x, y));
    }));

  test(`linear, conv2d, transposed conv with output padding (${bname})`, (t) =>
    withBackend(t, () => {
      gradcheck('linear', [param([5, 7]), param([4, 7]), param([4])], (x, w, b) => ops.linear(x, w, b));
      gradcheck('linear 3-d input', [param([2, 3, 6]), param([5, 6]), param([5])], (x, w, b) => ops.linear(x, w, b));
      gradcheck('conv2d s1 p1', [param([2, 3, 5, 5]), param([4, 3, 3, 3]), param([4])], (x, w, b) => ops.conv2d(x, w, b, 1, 1));
      gradcheck('conv2d s2 p1 (Conv3d weight)', [param([2, 2, 6, 6]), param([3, 2, 3, 3, 1]), param([3])], (x, w, b) => ops.conv2d(x, w, b, 2, 1));
      gradcheck('convTranspose2d s2 p1 op1', [param([2, 3, 3, 3]), param([3, 2, 3, 3]), param([2])], (x, w, b) => ops.convTranspose2d(x, w, b, 2, 1, 1));
      gradcheck('convTranspose2d s1 p1', [param([1, 4, 4, 4]), param([4, 1, 3, 3, 1]), param([1])], (x, w, b) => ops.convTranspose2d(x, w, b, 1, 1, 0));
    }));

  test(`batch norm and tdBN in training and evaluation mode (${bname})`, (t) =>
    withBackend(t, () => {
      const state = () => ({ runningMean: new Float32Array(3).fill(0.1), runningVar: new Float32Array(3).fill(1.5), numBatchesTracked: { value: 0 } });
      gradcheck('batchNorm train axis 1', [param([4, 3, 2, 2]), param([3], 0.3, 1), param([3])], (x, w, b) =>
        ops.batchNorm(x, w, b, state(), { axis: 1, training: true }),
      );
      gradcheck('batchNorm eval', [param([4, 3, 2]), param([3], 0.3, 1), param([3])], (x, w, b) =>
        ops.batchNorm(x, w, b, state(), { axis: 1, training: false }),
      );
      // tdBN on a time-major [T, N, C] tensor: statistics over T and N together, alpha 2.
      const bn = new TdBatchNorm(3, 2);
      bn.weight.data.set([0.7, 1.2, -0.4]);
      const x = param([4, 3, 3]);
      gradcheck('tdBN train (alpha 2)', [x, bn.weight, bn.bias], (xx) => bn.forward(xx, 2));
      // A BatchNorm2d called once per time step: statistics per step of a [T, N, C, H, W] tensor.
      gradcheck('batchNorm statistics per step', [param([3, 2, 3, 2, 2]), param([3], 0.3, 1), param([3])], (x, w, b) =>
        ops.batchNorm(x, w, b, state(), { axis: 2, training: true, perStep: true }),
      );
    }));

  test(`LIF surrogate gradient, PSP and membrane output (${bname})`, (t) =>
    withBackend(t, () => {
      gradcheck('psp', [param([5, 3])], (x) => psp(x));
      gradcheck('membraneOutput + tanh', [param([4, 2, 3])], (x) => ops.tanh(membraneOutput(x, membraneCoefficients(4))));
      // The LIF's gradient is a surrogate, so it is checked against a hand-computed
      // case: x = [0.3, 0.1, 0.1] for one neuron.
      // t0: u=0.3 > 0.2 → spike.  t1: u = 0.25·0.3·(1−1) + 0.1 = 0.1, no spike.
      // t2: u = 0.25·0.1·1 + 0.1 = 0.125, no spike.
      // Backward with go = [1, 1, 1], surrogate 1 on |u| < 0.5 (all three u here):
      // U2 = 1; O1 = 1 − 0.25·u1·U2 = 0.975; U1 = 0.975 + 0.25·(1−0)·1 = 1.225;
      // O0 = 1 − 0.25·u0·U1 = 1 − 0.25·0.3·1.225 = 0.908125; U0 = 0.908125 + 0.25·(1−1)·U1 = 0.908125.
      const x = Tensor.from([0.3, 0.1, 0.1], [3, 1], true);
      const o = lif(x);
      assert.deepEqual(Array.from(o.data), [1, 0, 0]);
      o.backward(new Float32Array([1, 1, 1]));
      const g = Array.from(x.grad!);
      for (const [i, want] of [0.908125, 1.225, 1].entries()) assert.ok(Math.abs(g[i] - want) < 1e-6, `gx[${i}] = ${g[i]}, want ${want}`);
      // Outside the window |u| ≥ 0.5 the surrogate is 0, and the reset path still carries gradient.
      const y = Tensor.from([0.6, 0.1], [2, 1], true);
      lif(y).backward(new Float32Array([1, 1]));
      // U1 = 1 (u1 = 0.1); O0 = 1 − 0.25·0.6·1 = 0.85; U0 = 0.85·0 + 0.25·(1−1)·1 = 0.
      assert.deepEqual(Array.from(y.grad!).map((v) => Math.round(v * 1e6) / 1e6), [0, 1]);
    }));

  test(`the first layer on an image repeated over time, computed once per image, equals the layer on the written-out repeat (spikes, every gradient, running statistics) (${bname})`, (t) =>
    withBackend(t, () => {
      // The encoder's first layer at a small batch: 1 → 8 channels, 12×12 s2, T = 5.
      const images = new Tensor(new Random(8).fillNormal(new Float32Array(3 * 144), 0, 0.6), [3, 1, 12, 12]);
      const run = (shared: boolean) => {
        const layer = new TdConv(1, 8, 3, 2, 1, new Random(4), { bn: true, spike: true });
        layer.train();
        const out = shared ? layer.forwardRepeated(images, 5) : layer.forward(repeatOverTime(images, 5));
        out.backward(new Random(6).fillNormal(new Float32Array(out.size)));
        const bn = layer.bn!;
        return {
          shape: out.shape,
          o: out.data.slice(),
          w: layer.conv.weight.grad!.slice(),
          b: layer.conv.bias!.grad!.slice(),
          bnW: bn.weight.grad!.slice(),
          bnB: bn.bias.grad!.slice(),
          mean: bn.runningMean.data!.slice(),
          var: bn.runningVar.data!.slice(),
          tracked: bn.numBatchesTracked.counter!.value,
        };
      };
      const a = run(true);
      const b = run(false);
      assert.deepEqual(a.shape, [5, 3, 8, 6, 6]);
      assert.deepEqual(a.o, b.o, 'spikes');
      const rate = a.o.reduce((s, v) => s + v, 0) / a.o.length;
      assert.ok(rate > 0.05 && rate < 0.9, `firing rate ${rate}`);
      for (const k of ['w', 'bnW', 'bnB', 'mean', 'var'] as const) {
        assert.ok(b[k].some((v) => v !== 0), `${k} is all zero`);
        assert.ok(maxRelDiff(a[k], b[k]) < 1e-5, `${k} differs by ${maxRelDiff(a[k], b[k])}`);
      }
      // A bias before batch normalisation has a zero gradient (up to rounding) either way.
      for (const g of [a.b, b.b]) assert.ok(maxAbs(g) < 1e-5 * maxAbs(b.w), `conv bias gradient ${maxAbs(g)}`);
      assert.equal(a.tracked, b.tracked);
    }));

  test(`the last decoder layer summed over time first (convT(Σ c_t·x_t) + b·Σ c_t) equals the membrane output of the per-step layer (output and every gradient) (${bname})`, (t) =>
    withBackend(t, () => {
      // final_layer.1 at a small batch: 6 → 2 channels, 7×7, s1, T = 5, spike input.
      const r = new Random(12);
      const spikes = new Float32Array(5 * 3 * 6 * 49);
      for (let i = 0; i < spikes.length; i++) spikes[i] = r.uniform() < 0.2 ? 1 : 0;
      const coef = membraneCoefficients(5);
      const run = (shared: boolean) => {
        const x = new Tensor(spikes.slice(), [5, 3, 6, 7, 7], true);
        x.binary = true;
        const layer = new TdConvTranspose(6, 2, 3, 1, 1, 0, new Random(4), { bn: false, spike: false });
        const out = shared ? layer.forwardMembraneOutput(x, coef) : membraneOutput(layer.forward(x), coef);
        out.backward(new Random(6).fillNormal(new Float32Array(out.size)));
        return { shape: out.shape, o: out.data.slice(), x: x.grad!.slice(), w: layer.conv.weight.grad!.slice(), b: layer.conv.bias!.grad!.slice() };
      };
      const a = run(true);
      const b = run(false);
      assert.deepEqual(a.shape, [3, 2, 7, 7]);
      for (const k of ['o', 'x', 'w', 'b'] as const) {
        assert.ok(b[k].some((v) => v !== 0), `${k} is all zero`);
        assert.ok(maxRelDiff(a[k], b[k]) < 1e-5, `${k} differs by ${maxRelDiff(a[k], b[k])}`);
      }
    }));
}

test('LIF forward: hand-computed membrane, spikes and hard reset', () => {
  // u0 = 0.15 (no spike); u1 = 0.25·0.15 + 0.2 = 0.2375 > 0.2 spike; u2 = 0.25·0.2375·0 + 0.05 = 0.05;
  // u3 = 0.25·0.05 + 0.2 = 0.2125 spike.
  const o = lif(Tensor.from([0.15, 0.2, 0.05, 0.2], [4, 1]));
  assert.deepEqual(Array.from(o.data), [0, 1, 0, 1]);
  // The threshold is strict and compared in float32, as PyTorch compares a float32
  // tensor with the scalar 0.2: an input of exactly float32(0.2) does not spike.
  for (const be of [typescriptBackend, getNativeBackend()]) {
    if (!be) continue;
    const prev = backend();
    setBackend(be);
    assert.deepEqual(Array.from(lif(Tensor.from([0.2], [1, 1])).data), [0], be.name);
    setBackend(prev);
  }
});

test('tdBN: hand-computed output and running statistics after one training call', () => {
  const bn = new TdBatchNorm(1, 1);
  // x over (T=2, N=2): 1, 2, 3, 6 → mean 3, biased var (4+1+0+9)/4 = 3.5, unbiased 14/3.
  const x = Tensor.from([1, 2, 3, 6], [2, 2, 1]);
  const y = bn.forward(x, 2);
  const s = 0.2 / Math.sqrt(3.5 + 1e-5);
  for (const [i, v] of [1, 2, 3, 6].entries()) assert.ok(Math.abs(y.data[i] - (v - 3) * s) < 1e-6);
  assert.ok(Math.abs(bn.runningMean.data![0] - 0.3) < 1e-7);
  assert.ok(Math.abs(bn.runningVar.data![0] - (0.1 * 14 / 3 + 0.9)) < 1e-6);
  assert.equal(bn.numBatchesTracked.counter!.value, 1);
});

test('maxPool2d on spikes: ties send the gradient to the first maximum of the window (row-major), as PyTorch does', () => {
  // Two 2×2 windows of a 2×4 plane: [0 1 | 0 0] over [1 0 | 0 0].
  const x = Tensor.from([0, 1, 0, 0, 1, 0, 0, 0], [1, 1, 2, 4], true);
  x.binary = true;
  const y = ops.maxPool2d(x, 2);
  assert.deepEqual(Array.from(y.data), [1, 0]);
  assert.ok(y.binary);
  y.backward(new Float32Array([3, 5]));
  assert.deepEqual(Array.from(x.grad!), [0, 3, 5, 0, 0, 0, 0, 0]);
});

test('batch norm with statistics per step: hand-computed output and running statistics (one update per step)', () => {
  // [T, N, C] = [2, 2, 1]: step 0 holds 1, 3 (mean 2, biased var 1), step 1 holds 2, 6 (mean 4, var 4).
  const state = { runningMean: new Float32Array(1), runningVar: new Float32Array([1]), numBatchesTracked: { value: 0 } };
  const y = ops.batchNorm(Tensor.from([1, 3, 2, 6], [2, 2, 1]), null, null, state, { axis: 2, training: true, perStep: true });
  const want = [-1, 1, -1, 1].map((v, i) => v * (i < 2 ? 1 / Math.sqrt(1 + 1e-5) : 2 / Math.sqrt(4 + 1e-5)));
  for (const [i, v] of want.entries()) assert.ok(Math.abs(y.data[i] - v) < 1e-6, `y[${i}] = ${y.data[i]}, want ${v}`);
  // mean: 0.1·2 = 0.2, then 0.1·4 + 0.9·0.2 = 0.58; var (unbiased, n = 2): 0.1·2 + 0.9 = 1.1, then 0.1·8 + 0.9·1.1 = 1.79.
  assert.ok(Math.abs(state.runningMean[0] - 0.58) < 1e-6 && Math.abs(state.runningVar[0] - 1.79) < 1e-6, `${state.runningMean[0]} ${state.runningVar[0]}`);
  assert.equal(state.numBatchesTracked.value, 2);
});

test('fused tdBN + LIF with a time sum equals the membrane output of its spikes bit for bit (output, gradients, running statistics), on each back-end', (t) => {
  const run = (timeSum: boolean) => {
    const r = new Random(47);
    const bn = new TdBatchNorm(5, 1);
    bn.weight.data.set([1.3, 0.8, 1.1, 0.9, 1.2]);
    bn.bias.data.set([0.1, 0.2, 0.05, -0.1, 0]);
    // [T, N, C, H, W]: a step's slice (630) spans more than one 512-neuron replay block.
    const x = new Tensor(r.fillNormal(new Float32Array(16 * 3 * 5 * 6 * 7)), [16, 3, 5, 6, 7], true);
    const coef = membraneCoefficients(16);
    const lifOpts = { decay: 0.25, threshold: 0.2, halfWidth: 0.5, height: 1 };
    const out = timeSum ? bn.forward(x, 2, { ...lifOpts, timeSum: coef }) : membraneOutput(bn.forward(x, 2, lifOpts), coef);
    out.backward(r.fillNormal(new Float32Array(out.size)));
    return { shape: out.shape, o: Array.from(out.data), gx: Array.from(x.grad!), gw: Array.from(bn.weight.grad!), gb: Array.from(bn.bias.grad!), rv: Array.from(bn.runningVar.data!) };
  };
  for (const [bname, be] of backends) {
    if (!be) {
      t.diagnostic(`${bname}: native addon not built`);
      continue;
    }
    const prev = backend();
    setBackend(be);
    try {
      const fused = run(true);
      const separate = run(false);
      assert.deepEqual(fused.shape, [3, 5, 6, 7]);
      // Sums of several different coefficient subsets: the spikes vary over time.
      assert.ok(new Set(fused.o).size > 20, bname);
      assert.ok(fused.gx.some((v) => v !== 0), bname);
      assert.deepEqual(fused, separate, bname);
    } finally {
      setBackend(prev);
    }
  }
  assert.throws(() => new TdBatchNorm(2, 1).forward(Tensor.zeros([4, 3, 2]), 2, { decay: 0.25, threshold: 0.2, halfWidth: 0.5, height: 1, timeSum: new Float32Array(3) }), /3 time-sum coefficients for 4 time steps/);
});

test('shape mismatches name the op and both shapes', () => {
  assert.throws(() => ops.linear(Tensor.zeros([2, 5]), Tensor.zeros([3, 4]), null), /linear: input \[2, 5\] does not match weight \[3, 4\]/);
  assert.throws(() => ops.add(Tensor.zeros([2, 3]), Tensor.zeros([4])), /add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
  assert.throws(() => ops.conv2d(Tensor.zeros([1, 2, 4, 4]), Tensor.zeros([3, 5, 3, 3]), null, 1, 1), /conv2d: input \[1, 2, 4, 4\] does not match weight \[3, 5, 3, 3\]/);
});

test('fused tdBN + LIF equals tdBN followed by LIF (spikes, gradients, running statistics)', () => {
  const run = (fused: boolean) => {
    const r = new Random(31);
    const bn = new TdBatchNorm(3, 1);
    bn.weight.data.set([1.3, 0.8, 1.1]);
    bn.bias.data.set([0.1, 0.2, 0.05]);
    const x = new Tensor(r.fillNormal(new Float32Array(6 * 4 * 3)), [6, 4, 3], true);
    const out = fused
      ? bn.forward(x, 2, { decay: 0.25, threshold: 0.2, halfWidth: 0.5, height: 1 })
      : lif(bn.forward(x, 2));
    out.backward(r.fillNormal(new Float32Array(out.size)));
    return { o: Array.from(out.data), gx: Array.from(x.grad!), gw: Array.from(bn.weight.grad!), rm: Array.from(bn.runningMean.data!) };
  };
  const a = run(true);
  const b = run(false);
  assert.deepEqual(a.o, b.o);
  assert.ok(a.o.some((v) => v === 1) && a.o.some((v) => v === 0));
  for (const k of ['gx', 'gw', 'rm'] as const) a[k].forEach((v, i) => assert.ok(Math.abs(v - b[k][i]) < 1e-6, `${k}[${i}]`));
});

test('tanh, leakyRelu and square (own loops; leakyRelu a kernel of each back-end) round as the generic unary expressions do, first gradient and accumulated', () => {
  // Values of both signs, ±0, tiny and large, NaN: forward f(x) rounded to
  // float32; gradient 0 + g·f'(x) for the first contribution, then += g·f'(x).
  const xs = Float32Array.from([0.3, -0.7, 0, -0, 1e-30, -1e-30, 3.5, -12, 20, NaN, ...Array.from({ length: 1001 }, () => 2 * rng.normal())]);
  const g1 = Float32Array.from(xs, () => rng.normal());
  const g2 = Float32Array.from(xs, () => rng.normal());
  const cases: Array<[string, (t: Tensor) => Tensor, (v: number) => number, (v: number, y: number) => number]> = [
    ['tanh', ops.tanh, Math.tanh, (_v, y) => 1 - y * y],
    ['leakyRelu', (t) => ops.leakyRelu(t, 0.01), (v) => (v > 0 ? v : v * 0.01), (v) => (v > 0 ? 1 : 0.01)],
    ['square', ops.square, (v) => v * v, (v) => 2 * v],
  ];
  const same = (a: Float32Array, b: Float32Array) => a.every((v, i) => Object.is(v, b[i]));
  const prev = backend();
  for (const be of [typescriptBackend, getNativeBackend()]) {
    if (!be) continue;
    setBackend(be);
    for (const [name0, op, f, df] of cases) {
      const name = `${name0} (${be.name})`;
      const y = Float32Array.from(xs, f);
      const first = new Float32Array(xs.length);
      for (let i = 0; i < xs.length; i++) first[i] += g1[i] * df(xs[i], y[i]);
      const both = Float32Array.from(first);
      for (let i = 0; i < xs.length; i++) both[i] += g2[i] * df(xs[i], y[i]);
      const x = new Tensor(Float32Array.from(xs), [xs.length], true);
      const out = op(x);
      assert.ok(same(out.data, y), `${name} forward`);
      out.backward(Float32Array.from(g1));
      assert.ok(same(x.grad!, first), `${name} first gradient`);
      op(x).backward(Float32Array.from(g2));
      assert.ok(same(x.grad!, both), `${name} accumulated gradient`);
    }
  }
  setBackend(prev);
});

test('broadcasting ops, sums over any axes and permutes walk rows of merged axes: the same values as a per-element reference, bit for bit', () => {
  // The reference visits every element in row-major order through explicit
  // multi-indices and does each op's float arithmetic per element, as the
  // callback walk that the row walk replaced did.
  const rnd = (shape: number[]) => new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() + (rng.uniform() < 0.1 ? 0 : 0.5)), shape, true);
  const indexOf = (shape: number[], idx: number[]) => idx.reduce((o, v, d) => o * shape[d] + (shape[d] === 1 ? 0 : v), 0);
  const each = (shape: number[], f: (idx: number[], i: number) => void) => {
    const n = shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) {
      const idx = new Array<number>(shape.length);
      let r = i;
      for (let d = shape.length - 1; d >= 0; d--) {
        idx[d] = r % shape[d];
        r = Math.floor(r / shape[d]);
      }
      f(idx, i);
    }
  };
  const same = (a: Float32Array, b: Float32Array, what: string) => assert.ok(a.length === b.length && a.every((v, i) => Object.is(v, b[i])), what);
  const pairs: Array<[number[], number[]]> = [
    [[4, 3, 2, 1, 1], [4, 3, 2, 5, 6]], // TAID: per-channel weights times a plane per channel
    [[2, 1, 5], [1, 3, 1]],
    [[6, 1], [6, 7]],
    [[3, 4], [4]],
    [[1], [2, 3]],
    [[2, 3, 4], [2, 3, 4]],
  ];
  const ops2 = { add: ops.add, sub: ops.sub, mul: ops.mul, div: ops.div };
  for (const [sa, sb] of pairs) {
    const out = sa.length >= sb.length ? sa.map((d, i) => Math.max(d, [...new Array(sa.length - sb.length).fill(1), ...sb][i])) : sb.map((d, i) => Math.max(d, [...new Array(sb.length - sa.length).fill(1), ...sa][i]));
    const pad = (s: number[]) => [...new Array(out.length - s.length).fill(1), ...s];
    for (const [kind, op] of Object.entries(ops2)) {
      const a = rnd(sa);
      const b = rnd(sb);
      const y = op(a, b);
      const g = Float32Array.from({ length: y.size }, () => rng.normal());
      const wantY = new Float32Array(y.size);
      const ga = new Float32Array(a.size);
      const gb = new Float32Array(b.size);
      each(out, (idx, i) => {
        const av = a.data[indexOf(pad(sa), idx)];
        const bv = b.data[indexOf(pad(sb), idx)];
        const ia = indexOf(pad(sa), idx);
        const ib = indexOf(pad(sb), idx);
        if (kind === 'add') (wantY[i] = av + bv), (ga[ia] += Math.fround(g[i])), (gb[ib] += Math.fround(g[i]));
        else if (kind === 'sub') (wantY[i] = av - bv), (ga[ia] += g[i]), (gb[ib] += Math.fround(-g[i]));
        else if (kind === 'mul') (wantY[i] = av * bv), (ga[ia] += Math.fround(g[i] * bv)), (gb[ib] += Math.fround(g[i] * av));
        else (wantY[i] = av / bv), (ga[ia] += Math.fround(g[i] / bv)), (gb[ib] += Math.fround((-g[i] * av) / (bv * bv)));
      });
      same(y.data, wantY, `${kind} ${JSON.stringify(sa)} ${JSON.stringify(sb)} forward`);
      y.backward(g);
      same(a.grad!, ga, `${kind} ${JSON.stringify(sa)} ${JSON.stringify(sb)} dA`);
      same(b.grad!, gb, `${kind} ${JSON.stringify(sa)} ${JSON.stringify(sb)} dB`);
    }
  }
  // Sums over axes that are not a suffix (float64 sums in element order), and permutes.
  for (const [shape, axes] of [[[4, 3, 2, 5, 6], [0]], [[4, 3, 5], [0, 2]], [[3, 4, 5], [1]], [[2, 3, 4, 5], [0, 2]]] as Array<[number[], number[]]>) {
    const x = rnd(shape);
    const y = ops.sum(x, axes);
    const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const acc = new Float64Array(y.size);
    each(shape, (idx, i) => (acc[indexOf(kept, idx)] += x.data[i]));
    same(y.data, Float32Array.from(acc), `sum ${JSON.stringify(shape)} over ${JSON.stringify(axes)}`);
    const g = Float32Array.from({ length: y.size }, () => rng.normal());
    y.backward(g);
    const gx = new Float32Array(x.size);
    each(shape, (idx, i) => (gx[i] = g[indexOf(kept, idx)]));
    same(x.grad!, gx, `sum backward ${JSON.stringify(shape)}`);
  }
  for (const [shape, perm] of [[[2, 3, 4], [2, 0, 1]], [[3, 4, 5, 2], [0, 1, 3, 2]], [[5, 6], [1, 0]]] as Array<[number[], number[]]>) {
    const x = rnd(shape);
    const y = ops.permute(x, perm);
    const outShape = perm.map((p) => shape[p]);
    const want = new Float32Array(y.size);
    each(outShape, (idx, i) => {
      const src = new Array<number>(shape.length);
      perm.forEach((p, d) => (src[p] = idx[d]));
      want[i] = x.data[indexOf(shape, src)];
    });
    same(y.data, want, `permute ${JSON.stringify(shape)} ${JSON.stringify(perm)}`);
    const g = Float32Array.from({ length: y.size }, () => rng.normal());
    y.backward(g);
    const gx = new Float32Array(x.size);
    each(outShape, (idx, i) => {
      const src = new Array<number>(shape.length);
      perm.forEach((p, d) => (src[p] = idx[d]));
      gx[indexOf(shape, src)] += g[i];
    });
    same(x.grad!, gx, `permute backward ${JSON.stringify(shape)}`);
  }
});
