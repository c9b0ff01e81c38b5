/** Cross-entropy (hand value and gradient) and the latent classifier on separable data. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/engine/tensor.js';
import { Random } from '../src/engine/random.js';
import * as ops from '../src/engine/ops.js';
import { trainClassifier } from '../src/metrics/classify.js';

test('cross-entropy: hand-computed value and gradient softmax − onehot', () => {
  // logits [0, ln 3] → softmax [1/4, 3/4]; label 1 → loss −ln(3/4).
  const x = Tensor.from([0, Math.log(3)], [1, 2], true);
  const l = ops.crossEntropy(x, [1]);
  assert.ok(Math.abs(l.item() + Math.log(0.75)) < 1e-6);
  l.backward();
  assert.ok(Math.abs(x.grad![0] - 0.25) < 1e-6 && Math.abs(x.grad![1] + 0.25) < 1e-6);
  assert.throws(() => ops.crossEntropy(x, [2]), /label 2 outside/);
});

test('the latent classifier learns linearly separable classes', () => {
  const rng = new Random(8);
  const make = (n: number) => {
    const z = new Float32Array(n * 16);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 10;
      for (let d = 0; d < 16; d++) z[i * 16 + d] = (d === labels[i] ? 1 : 0) + 0.2 * rng.normal();
    }
    return { z, labels, dim: 16 };
  };
  const r = trainClassifier(make(1000), make(500), 0, 5);
  assert.ok(r.testAccuracy > 0.95, `accuracy ${r.testAccuracy}`);
});
