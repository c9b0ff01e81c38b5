/**
 * ESVAE's Bernoulli sampling and MMD, TAID decoding and the ANN VAE: hand-
 * computed values, gradient checks, official parameter counts, and short
 * training runs whose loss falls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/engine/tensor.js';
import { Random } from '../src/engine/random.js';
import { AdamW } from '../src/engine/optim.js';
import * as ops from '../src/engine/ops.js';
import { bernoulliSpikes, mmdRbf } from '../src/snn/sampling.js';
import { TaidDecoding } from '../src/models/taid.js';
import { createModel, ModelKind } from '../src/models/index.js';
import { openDataset } from '../src/data/index.js';

test('Bernoulli spikes: z = (r > u) per step; surrogate dz/dr = 1 where |r − u| < 0.5, summed over T', () => {
  const r = Tensor.from([0.3, 0.9], [1, 2], true);
  // u for t = 0, 1, 2 (rows) and the two rates (columns)
  const u = Float32Array.from([0.1, 0.95, 0.5, 0.2, 0.85, 0.3]);
  const z = bernoulliSpikes(r, 3, new Random(0), u);
  assert.deepEqual(Array.from(z.data), [1, 0, 0, 1, 0, 1]);
  assert.equal(z.binary, true);
  z.backward(Float32Array.from([1, 2, 3, 4, 5, 6]));
  // rate 0.3: |0.3−0.1|, |0.3−0.5| < 0.5 but |0.3−0.85| = 0.55 is not → 1 + 3 = 4.
  // rate 0.9: only |0.9−0.95| = 0.05 is inside; |0.9−0.2| = 0.7 and |0.9−0.3| = 0.6 are not → 2.
  assert.deepEqual(Array.from(r.grad!), [4, 2]);
});

test('MMD² with the 5-kernel RBF and the adaptive, detached bandwidth: a hand-computed case', () => {
  // X = [0, 1], Y = [2, 2] (N = 2, C = 1). Z = [0, 1, 2, 2]; off-diagonal squared
  // distances sum to 2·(1 + 4 + 4 + 1 + 1 + 0) = 22 over n² − n = 12 pairs: 11/6, /4 → 11/24.
  // K(d) = Σ_{b=0..4} exp(−d / (11/24 · 2^b)); K(0) = 5.
  // mean K_XX = (2·5 + 2·K(1))/4, mean K_YY = 5, mean K_XY = mean K_YX = (2·K(4) + 2·K(1))/4
  // ⇒ MMD² = 7.5 − 0.5·K(1) − K(4).
  const K = (d: number) => [1, 2, 4, 8, 16].reduce((s, m) => s + Math.exp(-d / ((11 / 24) * m)), 0);
  const want = 7.5 - 0.5 * K(1) - K(4);
  const got = mmdRbf(Tensor.from([0, 1], [2, 1]), Tensor.from([2, 2], [2, 1])).item();
  assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  // Same distributions: 0.
  assert.ok(Math.abs(mmdRbf(Tensor.from([0.2, 0.7], [2, 1]), Tensor.from([0.2, 0.7], [2, 1])).item()) < 1e-7);
});

test('MMD gradient: the bandwidth is a constant (finite differences with it frozen)', () => {
  const rng = new Random(4);
  const x = new Tensor(rng.fillUniform(new Float32Array(12)), [3, 4], true);
  const y = new Tensor(rng.fillUniform(new Float32Array(12)), [3, 4], true);
  // base bandwidth of the starting point, computed as the op does
  const z = [...x.data, ...y.data];
  let total = 0;
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) if (i !== j) for (let c = 0; c < 4; c++) total += (z[i * 4 + c] - z[j * 4 + c]) ** 2;
  const bw0 = total / 30;
  mmdRbf(x, y).backward();
  const analytic = [...x.grad!, ...y.grad!];
  const eps = 1e-3;
  for (const [k, t] of [x, y].entries()) {
    for (let i = 0; i < t.size; i++) {
      const v = t.data[i];
      t.data[i] = v + eps;
      const up = mmdRbf(x, y, 5, 2, bw0).item();
      t.data[i] = v - eps;
      const down = mmdRbf(x, y, 5, 2, bw0).item();
      t.data[i] = v;
      const num = (up - down) / (2 * eps);
      assert.ok(Math.abs(num - analytic[k * 12 + i]) < 2e-3 * Math.max(1, Math.abs(num)), `d/d${k ? 'y' : 'x'}[${i}]: ${analytic[k * 12 + i]} vs ${num}`);
    }
  }
});

/**
 * The MMD as first written (a per-element choice of X or Y, every kernel
 * evaluated for both halves of the symmetric matrix): what the faster loops
 * of mmdRbf must equal bit for bit, loss and both gradients.
 */
function mmdAsFirstWritten(xd: Float32Array, yd: Float32Array, N: number, C: number): { loss: number; gx: Float32Array; gy: Float32Array } {
  const n = 2 * N;
  const z = (i: number, c: number) => (i < N ? xd[i * C + c] : yd[(i - N) * C + c]);
  const D = new Float64Array(n * n);
  let total = 0;
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += (z(i, c) - z(j, c)) ** 2;
      D[i * n + j] = s;
      D[j * n + i] = s;
      total += 2 * s;
    }
  const bw = total / (n * n - n) / 4;
  const bws = [1, 2, 4, 8, 16].map((m) => bw * m);
  const sign = (i: number, j: number) => ((i < N) === (j < N) ? 1 : -1) / (N * N);
  let loss = 0;
  const dK = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let k = 0;
      let dk = 0;
      for (const b of bws) {
        const e = bw > 0 ? Math.exp(-D[i * n + j] / b) : 1;
        k += e;
        dk -= bw > 0 ? e / b : 0;
      }
      loss += sign(i, j) * k;
      dK[i * n + j] = dk;
    }
  const gx = new Float32Array(N * C);
  const gy = new Float32Array(N * C);
  for (let i = 0; i < n; i++) {
    const dst = i < N ? gx : gy;
    const row = (i < N ? i : i - N) * C;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const w = 4 * sign(i, j) * dK[i * n + j] * 1;
      for (let c = 0; c < C; c++) dst[row + c] += w * (z(i, c) - z(j, c));
    }
  }
  return { loss: Math.fround(loss), gx, gy };
}

test('MMD: the loss and both gradients equal the first, plain loops bit for bit (rates as ESVAE makes them, and identical rows)', () => {
  const rng = new Random(9);
  for (const [N, C] of [[16, 8], [5, 3], [4, 2]]) {
    // Rates on the 1/16 grid (ESVAE's posterior) against continuous ones; the last case has X = Y.
    const xd = Float32Array.from({ length: N * C }, () => Math.floor(rng.uniform() * 17) / 16);
    const yd = N === 4 ? Float32Array.from(xd) : rng.fillUniform(new Float32Array(N * C));
    const want = mmdAsFirstWritten(xd, yd, N, C);
    const x = new Tensor(Float32Array.from(xd), [N, C], true);
    const y = new Tensor(Float32Array.from(yd), [N, C], true);
    const loss = mmdRbf(x, y);
    assert.ok(Object.is(loss.item(), want.loss), `N = ${N}: loss ${loss.item()} vs ${want.loss}`);
    loss.backward();
    assert.ok(x.grad!.every((v, i) => Object.is(v, want.gx[i])), `N = ${N}: dX`);
    assert.ok(y.grad!.every((v, i) => Object.is(v, want.gy[i])), `N = ${N}: dY`);
  }
});

test('TAID: zero weights give every time step the weight 0.5; finite-difference check of W', () => {
  const taid = new TaidDecoding(4, new Random(1));
  taid.conv.weight.data.fill(0);
  const rng = new Random(2);
  const x = new Tensor(rng.fillNormal(new Float32Array(4 * 2 * 1 * 3 * 3)), [4, 2, 1, 3, 3]);
  const y = taid.forward(x);
  for (let i = 0; i < y.size; i++) {
    let s = 0;
    for (let t = 0; t < 4; t++) s += x.data[t * y.size + i];
    assert.ok(Math.abs(y.data[i] - 0.5 * s) < 1e-5);
  }
  taid.conv.weight.data.set(rng.fillNormal(new Float32Array(16), 0, 0.5));
  const r = rng.fillNormal(new Float32Array(y.size));
  const loss = () => {
    const o = ops.tanh(taid.forward(x));
    let s = 0;
    for (let i = 0; i < o.size; i++) s += r[i] * o.data[i];
    return s;
  };
  taid.conv.weight.grad = null;
  ops.tanh(taid.forward(x)).backward(r);
  const g = Array.from(taid.conv.weight.grad!);
  const w = taid.conv.weight.data;
  for (let i = 0; i < 16; i++) {
    const v = w[i];
    w[i] = v + 1e-3;
    const up = loss();
    w[i] = v - 1e-3;
    const down = loss();
    w[i] = v;
    const num = (up - down) / 2e-3;
    assert.ok(Math.abs(num - g[i]) < 1e-2 * Math.max(1, Math.abs(num)), `dW[${i}]: ${g[i]} vs ${num}`);
  }
  assert.deepEqual(taid.conv.weight.shape, [4, 4, 1]);
  assert.deepEqual(taid.convC.weight.shape, [1, 1, 4]);
});

test('parameter counts and names equal the official models', () => {
  const count = (kind: ModelKind, ds: string) => createModel(kind, ds, {}, 0).parameterCount();
  assert.equal(count('esvae', 'mnist'), 1047265);
  assert.equal(count('esvae', 'cifar10'), 4071267);
  assert.equal(count('ann-vae', 'mnist'), 1180641);
  assert.equal(count('ann-vae', 'cifar10'), 1181795);
  assert.equal(count('ann-vae', 'celeba'), 3937635);
  const es = createModel('esvae', 'mnist', {}, 0);
  assert.deepEqual(es.namedParameters().get('sample_layer.0.weight')!.shape, [32, 32]);
  assert.ok(es.namedParameters().has('posterior.layers.2.weight'), 'unused FSVAE posterior kept');
  const ann = createModel('ann-vae', 'mnist', {}, 0);
  for (const n of ['encoder.0.0.weight', 'encoder.0.1.running_mean', 'fc_mu.weight', 'fc_var.bias', 'decoder_input.weight', 'decoder.2.0.weight', 'final_layer.1.weight', 'final_layer.3.weight']) {
    assert.ok(ann.namedParameters().has(n) || ann.namedBuffers().has(n), n);
  }
  const taid = createModel('fsvae', 'mnist', { decoding: 'taid' }, 0);
  assert.deepEqual(taid.namedParameters().get('membrane_output_layer.conv.weight')!.shape, [16, 16, 1]);
  assert.equal(taid.namedBuffers().has('membrane_output_layer.coef'), false);
});

for (const [kind, opts, lr] of [
  ['esvae', { timeSteps: 4 }, 3e-3],
  ['ann-vae', {}, 3e-3],
  ['fsvae', { decoding: 'taid' as const, timeSteps: 4, latentDim: 16, k: 4 }, 3e-3],
] as const) {
  test(`${kind}${'decoding' in opts ? ' with TAID' : ''}: loss falls over 15 steps on 8 MNIST images`, async () => {
    const ds = await openDataset('mnist', 'train', { limit: 8 });
    const imgs = new Float32Array(8 * 1024);
    await ds.readBatch(Int32Array.from({ length: 8 }, (_, i) => i), null, imgs);
    const x = new Tensor(imgs, [8, 1, 32, 32]);
    const model = createModel(kind, 'mnist', opts, 3);
    model.setBatchesPerEpoch?.(1);
    const opt = new AdamW(model.paramGroups(lr, 1e-3));
    const rng = new Random(5);
    const losses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const r = model.lossOnBatch(x, rng);
      losses.push(r.terms.recon);
      r.loss.backward();
      opt.step();
      opt.zeroGrad();
    }
    const first = (losses[0] + losses[1]) / 2;
    const last = (losses[13] + losses[14]) / 2;
    assert.ok(last < 0.7 * first, `${kind}: reconstruction ${first.toFixed(3)} → ${last.toFixed(3)}`);
  });
}

test('the ANN VAE and the FAD autoencoder reject images of the wrong shape with one line naming the variant', () => {
  const x = new Tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
  const ann = createModel('ann-vae', 'mnist', {}, 0);
  assert.throws(() => ann.lossOnBatch(x, new Random(0)), /ann-vae: expects images \[N, 1, 32, 32\], got \[1, 3, 32, 32\]/);
  const ae = createModel('fad-ae', 'mnist', {}, 0);
  assert.throws(() => ae.lossOnBatch(x, new Random(0)), /ae: expects images \[N, 1, 32, 32\], got \[1, 3, 32, 32\]/);
});
