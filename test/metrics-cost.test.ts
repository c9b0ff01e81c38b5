/** Spike-cost counting against hand-computed cases. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/engine/tensor.js';
import { Random } from '../src/engine/random.js';
import { TdConv, setTimeSharing } from '../src/snn/layers.js';
import { correctCost, fanOut, annCost, spikingCost } from '../src/metrics/cost.js';
import { createModel } from '../src/models/index.js';
import { AnnVAE } from '../src/models/annvae.js';
import { FSVAE } from '../src/models/fsvae.js';

test('fan-out of a k3 s2 p1 convolution over 4 inputs is [1, 2, 1, 1]', () => {
  // outputs o = 0, 1 read inputs o·2 − 1 + {0, 1, 2}: {−1, 0, 1} and {1, 2, 3}.
  assert.deepEqual(fanOut(4, 2, 3, 2, 1), [1, 2, 1, 1]);
});

test('a spike-input convolution costs fan-out × output channels ACs per spike, plus a bias add per output', () => {
  const layer = new TdConv(1, 5, 3, 2, 1, new Random(0), { bn: false, spike: false });
  const x = Tensor.zeros([1, 1, 1, 4, 4]);
  x.data[1 * 4 + 1] = 1; // spike at (1, 1): fan-out 2 × 2
  x.data[3 * 4 + 0] = 1; // spike at (3, 0): fan-out 1 × 1
  x.binary = true;
  const y = Tensor.zeros([1, 1, 5, 2, 2]);
  const c = correctCost({ layer, kind: 'conv', input: x, preActivation: y, spikes: null });
  assert.equal(c.ac, (4 + 1) * 5 + 20);
  assert.equal(c.mac, 0);
  // The same input as real values: MACs over valid taps: per dimension 2 + 3 = 5 taps → 25 · C_in · C_out.
  const xr = Tensor.full([1, 1, 1, 4, 4], 0.5);
  assert.equal(correctCost({ layer, kind: 'conv', input: xr, preActivation: y, spikes: null }).mac, 25 * 5);
});

test('LIF costs one MAC per neuron-step after t = 0 unless the neuron just spiked', () => {
  const layer = new TdConv(1, 1, 3, 1, 1, new Random(0), { bn: false, spike: true });
  const spikes = Tensor.from([1, 0, 0, 1, 0, 0], [3, 1, 1, 1, 2]); // 2 neurons over 3 steps
  const c = correctCost({ layer, kind: 'conv', input: Tensor.full([3, 1, 1, 1, 2], 0.1), preActivation: Tensor.zeros([3, 1, 1, 1, 2]), spikes });
  // t=1: neuron 0 spiked at t=0 (reset, free), neuron 1 did not → 1 MAC; t=2: neuron 0 no spike at t=1 → 1, neuron 1 spiked → 0.
  const convMacs = 3 * 1 * (2 * 2) * 1 * 1; // 3 steps, taps per output: 1 row × 2 cols valid in a 1×2 map
  assert.equal(c.mac, convMacs + 2);
});

test('ANN VAE MACs: the first convolution of the MNIST model is 47 × 47 × 32', () => {
  const r = annCost(createModel('ann-vae', 'mnist', {}, 0) as AnnVAE);
  // 16 outputs per dimension; the first reads only 2 of its 3 taps (padding): 2 + 15·3 = 47.
  assert.equal(r.layers[0].mac, 47 * 47 * 1 * 32);
  assert.ok(r.perImage.mac > 1e6 && r.perImage.energyMicroJoule > 0);
});

test('FSVAE reconstruction cost: counts every layer once per step and reports firing rates', () => {
  const m = createModel('fsvae', 'mnist', { timeSteps: 4, latentDim: 16, k: 4 }, 0) as FSVAE;
  const x = new Tensor(new Random(1).fillUniform(new Float32Array(2 * 1024)).map((v) => v * 2 - 1), [2, 1, 32, 32]);
  const r = spikingCost(m, x);
  const names = r.layers.map((l) => l.layer);
  for (const n of ['encoder.0', 'before_latent_layer', 'posterior.layers.2', 'decoder_input', 'final_layer.1', 'membrane_output_layer']) assert.ok(names.includes(n), n);
  assert.ok(!names.some((n) => n.startsWith('prior.')), 'reconstruction does not run the prior');
  const enc1 = r.layers.find((l) => l.layer === 'encoder.1')!;
  assert.equal(enc1.neuronSteps, 4 * 64 * 8 * 8, 'neuron-steps per image');
  const ref = spikingCost(m, x, 0, true);
  assert.equal(ref.counting, 'reference');
});

test('the cost of the first layer computed once per image equals the per-step layer\'s (both counting methods)', () => {
  const m = createModel('fsvae', 'mnist', { timeSteps: 4, latentDim: 16, k: 4 }, 0) as FSVAE;
  const x = new Tensor(new Random(1).fillUniform(new Float32Array(2 * 1024)).map((v) => v * 2 - 1), [2, 1, 32, 32]);
  for (const reference of [false, true]) {
    const shared = spikingCost(m, x, 0, reference);
    setTimeSharing(false);
    let literal;
    try {
      literal = spikingCost(m, x, 0, reference);
    } finally {
      setTimeSharing(true);
    }
    const enc0 = shared.layers.find((l) => l.layer === 'encoder.0')!;
    assert.ok(enc0.mac > 0 && enc0.spikes > 0, 'encoder.0 is counted');
    assert.deepEqual(shared, literal);
  }
});
