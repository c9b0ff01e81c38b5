/** The latent perturbations of the robustness analysis. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/engine/tensor.js';
import { Random } from '../src/engine/random.js';
import { flipNoise, timeShuffle, robustness } from '../src/metrics/robustness.js';
import { createModel } from '../src/models/index.js';

function spikes(shape: number[], seed: number): Tensor {
  const r = new Random(seed);
  const t = Tensor.zeros(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = r.uniform() < 0.3 ? 1 : 0;
  t.binary = true;
  return t;
}

test('time shuffle permutes the steps of each image: every neuron keeps its spike count', () => {
  const z = spikes([16, 3, 8], 1);
  const s = timeShuffle(z, new Random(2));
  let moved = 0;
  for (let n = 0; n < 3; n++)
    for (let c = 0; c < 8; c++) {
      let a = 0;
      let b = 0;
      for (let t = 0; t < 16; t++) {
        a += z.data[(t * 3 + n) * 8 + c];
        b += s.data[(t * 3 + n) * 8 + c];
        if (z.data[(t * 3 + n) * 8 + c] !== s.data[(t * 3 + n) * 8 + c]) moved++;
      }
      assert.equal(b, a);
    }
  assert.ok(moved > 0, 'timing changed');
});

test('flip noise of amplitude a flips a fraction a of the entries', () => {
  const z = spikes([16, 64, 32], 3);
  for (const a of [0.05, 0.3]) {
    const f = flipNoise(z, a, new Random(4));
    let flipped = 0;
    for (let i = 0; i < z.size; i++) if (f.data[i] !== z.data[i]) flipped++;
    assert.ok(Math.abs(flipped / z.size - a) < 0.01, `${flipped / z.size} vs ${a}`);
  }
  assert.deepEqual(Array.from(flipNoise(z, 0, new Random(5)).data), Array.from(z.data));
});

test('robustness rows: vanilla first (0 against itself), then shuffle and six noise levels', () => {
  const m = createModel('esvae', 'mnist', { timeSteps: 4 }, 0);
  const x = new Tensor(new Random(6).fillUniform(new Float32Array(2 * 1024)).map((v) => v * 2 - 1), [2, 1, 32, 32]);
  const r = robustness(m, x, 0);
  assert.deepEqual(r.rows.map((row) => row.perturbation), ['none', 'Time shuffled', 'Noised a=0.05', 'Noised a=0.10', 'Noised a=0.15', 'Noised a=0.20', 'Noised a=0.25', 'Noised a=0.30']);
  assert.equal(r.rows[0].mseToVanilla, 0);
  assert.equal(r.panels.length, 2 + 7);
  assert.throws(() => robustness(createModel('ann-vae', 'mnist', {}, 0), x, 0), /spiking latents/);
});
