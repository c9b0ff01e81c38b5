/**
 * The PLIF-family neurons (snn/plif.ts): hand-computed spikes, the initial
 * values, surrogate gradients of x, w and V_th against finite differences of
 * an independent float64 model, and the batch-norm-fused forms against the
 * separate layers, on each kernel back-end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/engine/tensor.js';
import * as ops from '../src/engine/ops.js';
import { BatchNorm } from '../src/engine/layers.js';
import { Random } from '../src/engine/random.js';
import { backend, getNativeBackend, setBackend, typescriptBackend } from '../src/engine/backend/index.js';
import type { KernelBackend } from '../src/engine/backend/types.js';
import { ParametricLif, initialW, tauFromDecay, type ParametricKind } from '../src/snn/plif.js';
import { maxRelDiff } from './compare.js';

const backends: Array<[string, KernelBackend | null]> = [
  ['typescript', typescriptBackend],
  ['native', getNativeBackend()],
];

function withBackend(be: KernelBackend | null, t: { skip: (m: string) => void }, fn: () => void): void {
  if (!be) return t.skip('native addon not built');
  const prev = backend();
  setBackend(be);
  try {
    fn();
  } finally {
    setBackend(prev);
  }
}

test('initial values: w0 = −ln(τ0 − 1); the paper\'s Table 7 decay factors map to τ0 = 1/(1 − decay)', () => {
  assert.equal(initialW(2), -0);
  assert.ok(Math.abs(initialW(4 / 3) - Math.log(3)) < 1e-12);
  assert.equal(tauFromDecay(0.5), 2);
  assert.ok(Math.abs(tauFromDecay(0.25) - 4 / 3) < 1e-12);
  const n = new ParametricLif('alif', { tau0: tauFromDecay(0.25), vth0: 0.2 });
  assert.ok(Math.abs(n.k - 0.75) < 1e-7 && Math.abs(n.tau - 4 / 3) < 1e-6);
  assert.equal(n.threshold, Math.fround(0.2));
  assert.throws(() => initialW(0.25), /above 1/);
  assert.throws(() => tauFromDecay(1), /\(0, 1\)/);
});

test('state_dict entries: none for the fixed neuron, w for PLIF, w and v_threshold (0-d) for ALIF', () => {
  const names = (kind: ParametricKind) => [...new ParametricLif(kind, { tau0: 2, vth0: 0.5 }).namedParameters()].map(([k, v]) => `${k}${JSON.stringify(v.shape)}`);
  assert.deepEqual(names('lif'), []);
  assert.deepEqual(names('plif'), ['w[]']);
  assert.deepEqual(names('alif'), ['w[]', 'v_threshold[]']);
});

for (const [bname, be] of backends) {
  test(`hand-computed charge, fire (≥ threshold) and hard reset (${bname})`, (t) =>
    withBackend(be, t, () => {
      // τ0 = 2 (k = 0.5), V_th = 0.5, one neuron, x = [1, 0.2, 0.6, 1]:
      // t0: h = 0 + (1 − 0)·0.5 = 0.5 ≥ 0.5 → spike, v = 0
      // t1: h = 0.1 → v = 0.1;  t2: h = 0.1 + (0.6 − 0.1)·0.5 = 0.35 → v = 0.35
      // t3: h = 0.35 + (1 − 0.35)·0.5 = 0.675 → spike
      const n = new ParametricLif('alif', { tau0: 2, vth0: 0.5 });
      assert.deepEqual(Array.from(n.forward(Tensor.from([1, 0.2, 0.6, 1], [4, 1])).data), [1, 0, 0, 1]);
      // Just below the threshold: no spike (the comparison is ≥, not >).
      assert.deepEqual(Array.from(n.forward(Tensor.from([0.999, 0], [2, 1])).data), [0, 0]);
    }));

  test(`surrogate gradients of x, w and V_th equal finite differences of an independent float64 model (${bname})`, (t) =>
    withBackend(be, t, () => {
      const [T, M] = [8, 40];
      const rng = new Random(5);
      const xs = rng.fillNormal(new Float32Array(T * M), 0.4, 0.8);
      const r = Float64Array.from(rng.fillNormal(new Float32Array(T * M)));
      for (const kind of ['lif', 'plif', 'alif'] as const) {
        const neuron = new ParametricLif(kind, { tau0: 1.7, vth0: 0.45 });
        const x = new Tensor(xs.slice(), [T, M], true);
        const out = neuron.forward(x);
        const spikes = Float64Array.from(out.data);
        const rate = spikes.reduce((a, v) => a + v, 0) / spikes.length;
        assert.ok(rate > 0.1 && rate < 0.7, `firing rate ${rate}`);
        out.backward(Float32Array.from(r));
        // The model the surrogate gradient differentiates: spikes frozen where they are
        // (in the output and in the detached reset), plus the arctangent primitive
        // P(z) = atan(π/2·α·z)/π of h − V_th minus its value at the evaluation point.
        const P = (z: number) => Math.atan((Math.PI / 2) * 2 * z) / Math.PI;
        const model = (xv: ArrayLike<number>, w: number, vth: number, base?: Float64Array): { loss: number; h: Float64Array } => {
          const k = 1 / (1 + Math.exp(-w));
          const hs = new Float64Array(T * M);
          let loss = 0;
          for (let i = 0; i < M; i++) {
            let v = 0;
            for (let s = 0; s < T; s++) {
              const idx = s * M + i;
              const h = v + (xv[idx] - v) * k;
              hs[idx] = h;
              const sTilde = spikes[idx] + (base ? P(h - vth) - base[idx] : 0);
              loss += r[idx] * sTilde;
              v = h * (1 - spikes[idx]);
            }
          }
          return { loss, h: hs };
        };
        const w0 = neuron.w.data[0];
        const v0 = neuron.threshold;
        const base = model(xs, w0, v0).h.map((h) => P(h - v0));
        const fd = (f: (e: number) => number, eps = 1e-4) => (f(eps) - f(-eps)) / (2 * eps);
        const numericX = Float64Array.from({ length: T * M }, (_, j) =>
          fd((e) => model(Float64Array.from(xs, (v, i) => (i === j ? v + e : v)), w0, v0, base).loss),
        );
        const analyticX = Float64Array.from(x.grad!);
        let num = 0;
        let den = 0;
        for (let j = 0; j < T * M; j++) {
          num += (analyticX[j] - numericX[j]) ** 2;
          den += numericX[j] ** 2;
        }
        assert.ok(den > 0 && Math.sqrt(num / den) < 1e-5, `${kind} dL/dx relative error ${Math.sqrt(num / den)}`);
        const dw = fd((e) => model(xs, w0 + e, v0, base).loss);
        const dv = fd((e) => model(xs, w0, v0 + e, base).loss);
        if (kind === 'lif') {
          assert.equal(neuron.w.grad, null);
          assert.equal(neuron.vThreshold.grad, null);
          continue;
        }
        assert.ok(Math.abs(neuron.w.grad![0] - dw) < 1e-4 * Math.max(1, Math.abs(dw)), `${kind} dL/dw ${neuron.w.grad![0]} vs ${dw}`);
        if (kind === 'plif') assert.equal(neuron.vThreshold.grad, null);
        else assert.ok(Math.abs(neuron.vThreshold.grad![0] - dv) < 1e-4 * Math.max(1, Math.abs(dv)), `dL/dV_th ${neuron.vThreshold.grad![0]} vs ${dv}`);
      }
    }));

  test(`batch norm fused with an ALIF equals the batch norm followed by the ALIF (statistics over time or per step; spikes, every gradient, running statistics) (${bname})`, (t) =>
    withBackend(be, t, () => {
      for (const perStep of [false, true]) {
        const run = (fused: boolean) => {
          const r = new Random(31);
          const bn = new BatchNorm(3);
          bn.weight.data.set([1.3, 0.8, 1.1]);
          bn.bias.data.set([0.1, 0.2, 0.05]);
          const neuron = new ParametricLif('alif', { tau0: 2, vth0: 0.5 });
          const x = new Tensor(r.fillNormal(new Float32Array(6 * 4 * 3 * 5)), [6, 4, 3, 5], true);
          const out = fused
            ? bn.forwardNeuron(x, 2, neuron.fused(), { perStep })
            : neuron.forward(ops.batchNorm(x, bn.weight, bn.bias, { runningMean: bn.runningMean.data!, runningVar: bn.runningVar.data!, numBatchesTracked: bn.numBatchesTracked.counter! }, { axis: 2, training: true, perStep }));
          out.backward(r.fillNormal(new Float32Array(out.size)));
          return {
            o: out.data.slice(),
            gx: x.grad!.slice(),
            gw: bn.weight.grad!.slice(),
            gb: bn.bias.grad!.slice(),
            gk: neuron.w.grad!.slice(),
            gth: neuron.vThreshold.grad!.slice(),
            rm: bn.runningMean.data!.slice(),
            rv: bn.runningVar.data!.slice(),
            tracked: bn.numBatchesTracked.counter!.value,
          };
        };
        const a = run(true);
        const b = run(false);
        assert.deepEqual(a.o, b.o, 'spikes');
        assert.ok(a.o.some((v) => v === 1) && a.o.some((v) => v === 0));
        for (const k of ['gx', 'gw', 'gb', 'gk', 'gth', 'rm', 'rv'] as const) {
          assert.ok(b[k].some((v) => v !== 0), `${k} is all zero`);
          assert.ok(maxRelDiff(a[k], b[k]) < 1e-6, `${k} (perStep ${perStep}) differs by ${maxRelDiff(a[k], b[k])}`);
        }
        assert.equal(a.tracked, perStep ? 6 : 1);
        assert.equal(b.tracked, a.tracked);
      }
    }));

  test(`batch norm + ALIF on one step repeated over time equals it on the written-out repeat (${bname})`, (t) =>
    withBackend(be, t, () => {
      const [T, N, C, H] = [5, 3, 4, 6];
      const x1 = new Random(8).fillNormal(new Float32Array(N * C * H * H), 0, 0.6);
      const run = (shared: boolean) => {
        const bn = new BatchNorm(C);
        const neuron = new ParametricLif('alif', { tau0: 2, vth0: 0.5 });
        const x = shared ? new Tensor(x1.slice(), [1, N, C, H, H], true) : new Tensor(Float32Array.from({ length: T * x1.length }, (_, i) => x1[i % x1.length]), [T, N, C, H, H], true);
        const out = bn.forwardNeuron(x, 2, neuron.fused(), shared ? { repeat: T } : {});
        out.backward(new Random(6).fillNormal(new Float32Array(out.size)));
        let gx = x.grad!;
        if (!shared) {
          // The repeat's backward: the sum of the copies' gradients.
          const sum = new Float32Array(x1.length);
          for (let i = 0; i < gx.length; i++) sum[i % x1.length] += gx[i];
          gx = sum;
        }
        return { shape: out.shape, o: out.data.slice(), gx, gw: bn.weight.grad!.slice(), gk: neuron.w.grad!.slice(), gth: neuron.vThreshold.grad!.slice(), rv: bn.runningVar.data!.slice() };
      };
      const a = run(true);
      const b = run(false);
      assert.deepEqual(a.shape, [T, N, C, H, H]);
      assert.deepEqual(a.o, b.o, 'spikes');
      for (const k of ['gx', 'gw', 'gk', 'gth', 'rv'] as const) assert.ok(maxRelDiff(a[k], b[k]) < 1e-5, `${k} differs by ${maxRelDiff(a[k], b[k])}`);
    }));
}
