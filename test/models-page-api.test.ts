/**
 * What the web page asks of the models: FSVAE.decodeOverTime (a frame of the
 * fixed membrane output is what a decoder of fewer time steps with the same
 * weights returns; the last frame is decode(z)); ESVAE's latent from its own
 * prior, not the unused FSVAE one; sampleLatent for a run of the batch's
 * images equal to those images of the whole batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/engine/tensor.js';
import { Random } from '../src/engine/random.js';
import { FSVAE } from '../src/models/fsvae.js';
import { ESVAE } from '../src/models/esvae.js';
import { createModel } from '../src/models/index.js';
import { AnnVAE } from '../src/models/annvae.js';
import { loadStateDict, stateDict } from '../src/models/checkpoint.js';
import { maxRelDiff } from './compare.js';

const T = 4;
const N = 2;

function randomSpikes(steps: number, n: number, c: number, rate: number, seed: number): Tensor {
  const rng = new Random(seed);
  const z = new Float32Array(steps * n * c).map(() => (rng.uniform() < rate ? 1 : 0));
  const t = new Tensor(z, [steps, n, c]);
  t.binary = true;
  return t;
}

function frame(frames: Tensor, t: number): Float32Array {
  const size = frames.size / frames.shape[0];
  return frames.data.subarray(t * size, (t + 1) * size);
}

test('decodeOverTime (fixed output): frame t equals decode by a (t + 1)-step model with the same weights; the last frame is decode(z)', () => {
  const model = createModel('fsvae', 'mnist', { timeSteps: T }, 3) as FSVAE;
  model.eval();
  const z = randomSpikes(T, N, model.cfg.latentDim, 0.3, 1);
  const { frames, timeWeights } = model.decodeOverTime(z);
  assert.deepEqual(frames.shape, [T, N, 1, 32, 32]);
  assert.equal(timeWeights, null);
  const full = model.decode(z).data;
  assert.ok(maxRelDiff(frame(frames, T - 1), full) < 1e-5);
  // (t + 1 >= 2: models have at least two time steps.)
  for (const t of [1, 2]) {
    // The output membrane after t + 1 steps, Σ 0.8^(t−t')·x_t', is the output of a (t + 1)-step decoder:
    // every layer is causal and only the coefficient buffer depends on T.
    const short = createModel('fsvae', 'mnist', { timeSteps: t + 1 }, 0) as FSVAE;
    const weights = stateDict(model);
    weights.delete('membrane_output_layer.coef');
    loadStateDict(short, weights, 'model', (name) => name === 'membrane_output_layer.coef');
    short.eval();
    const zPrefix = new Tensor(z.data.slice(0, (t + 1) * N * model.cfg.latentDim), [t + 1, N, model.cfg.latentDim]);
    zPrefix.binary = true;
    const want = short.decode(zPrefix).data;
    assert.ok(maxRelDiff(frame(frames, t), want) < 1e-5, `frame ${t}`);
    // and the frames do change over time
    assert.ok(maxRelDiff(frame(frames, t), full) > 1e-3, `frame ${t} already final`);
  }
});

test('decodeOverTime (TAID): time weights [T, N, C] in (0, 1); the last frame is decode(z)', () => {
  const model = createModel('fsvae', 'mnist', { timeSteps: T, decoding: 'taid' }, 5) as FSVAE;
  model.eval();
  const z = randomSpikes(T, N, model.cfg.latentDim, 0.3, 2);
  const { frames, timeWeights } = model.decodeOverTime(z);
  assert.ok(timeWeights);
  assert.deepEqual(timeWeights.shape, [T, N, 1]);
  assert.ok(timeWeights.data.every((a) => a > 0 && a < 1));
  assert.ok(maxRelDiff(frame(frames, T - 1), model.decode(z).data) < 1e-5);
});

test('ESVAE.sampleLatent draws from the ESVAE prior (what sample() decodes), not the unused FSVAE one', () => {
  const model = createModel('esvae', 'mnist', {}, 7) as ESVAE;
  model.eval();
  const z = model.sampleLatent(3, new Random(11));
  const { z: zs, images } = model.sample(3, new Random(11));
  assert.deepEqual(z.shape, [16, 3, 32]);
  assert.deepEqual(Array.from(z.data), Array.from(zs.data));
  assert.deepEqual(Array.from(images.data), Array.from(model.decode(z).data));
  // An untrained ESVAE prior fires at rates near sigmoid(small) ≈ 0.5; the untrained FSVAE prior does not fire at all.
  const rate = z.data.reduce((s, v) => s + v, 0) / z.size;
  assert.ok(rate > 0.3 && rate < 0.7, `rate ${rate}`);
});

test('sampleLatent for images [first, first + count) of n equals those images of the whole batch (FSVAE stepped and prefix passes, ESVAE, ANN VAE)', () => {
  const n = 5;
  const fsvae = createModel('fsvae', 'mnist', { timeSteps: T }, 2) as FSVAE;
  fsvae.eval();
  // Firing priors make the comparison worth something: an untrained FSVAE prior is silent, so perturb its biases.
  const rng = new Random(8);
  for (const [name, p] of fsvae.prior.namedParameters()) if (name.endsWith('bias')) rng.fillNormal(p.data, 0.5, 1);
  const models: Array<[string, FSVAE | ESVAE | AnnVAE]> = [['fsvae', fsvae], ['esvae', createModel('esvae', 'mnist', {}, 3) as ESVAE], ['ann-vae', createModel('ann-vae', 'mnist', {}, 4) as AnnVAE]];
  for (const exact of [false, true]) {
    for (const [kind, m] of models) {
      if (exact && !(m instanceof FSVAE)) continue;
      if (m instanceof FSVAE) m.exactPrefixPasses = exact;
      const whole = m.sampleLatent(n, new Random(21));
      const spikes = whole.data.reduce((s, v) => s + v, 0) / whole.size;
      if (kind !== 'ann-vae') assert.ok(spikes > 0.05 && spikes < 0.95, `${kind}: firing rate ${spikes}`);
      const per = whole.ndim === 3 ? whole.shape[2] : whole.shape[1];
      const steps = whole.ndim === 3 ? whole.shape[0] : 1;
      for (const [first, count] of [[0, 2], [2, 3], [4, 1]]) {
        const part = m.sampleLatent(n, new Random(21), { first, count });
        assert.deepEqual(part.shape, whole.ndim === 3 ? [steps, count, per] : [count, per]);
        for (let t = 0; t < steps; t++) {
          const want = whole.data.subarray((t * n + first) * per, (t * n + first + count) * per);
          assert.deepEqual(part.data.subarray(t * count * per, (t + 1) * count * per), want, `${kind} exact=${exact} rows ${first}+${count} step ${t}`);
        }
      }
      assert.throws(() => m.sampleLatent(n, new Random(1), { first: 4, count: 2 }), /not inside a batch of 5/);
    }
  }
});
