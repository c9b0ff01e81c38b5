/**
 * The O(T) stepped evaluation of the FSVAE posterior and prior must give the
 * same numbers as the reference's O(T²) prefix passes, bit for bit, on every
 * kernel back-end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FSVAE, defaultFsvaeConfig } from '../src/models/fsvae.js';
import { Random } from '../src/engine/random.js';
import { Tensor, noGrad } from '../src/engine/tensor.js';
import { backend, getNativeBackend, setBackend, typescriptBackend } from '../src/engine/backend/index.js';
import type { KernelBackend } from '../src/engine/backend/types.js';

function spikingModel(seed: number, neuron: 'lif' | 'alif' = 'lif'): FSVAE {
  const rng = new Random(seed);
  const m = new FSVAE(defaultFsvaeConfig('mnist', { latentDim: 16, k: 5, timeSteps: 8, neuron }), rng);
  // Non-trivial running statistics and biases, so eval-mode BN is not an identity and layers fire.
  for (const [name, b] of m.namedBuffers()) {
    if (name.endsWith('running_mean')) b.data!.forEach((_, i, a) => (a[i] = (rng.uniform() - 0.5) * 0.2));
    if (name.endsWith('running_var')) b.data!.forEach((_, i, a) => (a[i] = 0.5 + rng.uniform()));
  }
  for (const [name, p] of m.namedParameters()) if (name.endsWith('bn.bias')) p.data.forEach((_, i, a) => (a[i] = rng.uniform() * 0.4 - 0.1));
  return m.eval();
}

function countDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d;
}

const backends: Array<[string, KernelBackend | null]> = [
  ['typescript', typescriptBackend],
  ['native', getNativeBackend()],
];

for (const [name, be] of backends) for (const neuron of ['lif', 'alif'] as const) {
  test(`stepped posterior and prior sampling equal the prefix passes (${neuron}, ${name})`, (t) => {
    if (!be) return t.skip('native addon not built');
    const prev = backend();
    setBackend(be);
    try {
      const m = spikingModel(3, neuron);
      const images = new Tensor(new Random(1).fillUniform(new Float32Array(3 * 1024)).map((v) => v * 2 - 1), [3, 1, 32, 32]);
      const xE = noGrad(() => m.encodeSpikes(images));
      m.exactPrefixPasses = false;
      const fast = m.posteriorForward(xE, new Random(7));
      m.exactPrefixPasses = true;
      const slow = noGrad(() => m.posteriorForward(xE, new Random(7)));
      const rate = fast.qZ.data.reduce((s, v) => s + v, 0) / fast.qZ.size;
      assert.ok(rate > 0.05 && rate < 0.95, `posterior firing rate ${rate} should be non-trivial`);
      assert.equal(countDiff(fast.qZ.data, slow.qZ.data), 0, 'q_z differs');
      assert.equal(countDiff(fast.sampledZ.data, slow.sampledZ.data), 0, 'sampled z differs');

      const a = m.sampleLatent(4, new Random(9));
      m.exactPrefixPasses = false;
      const b = m.sampleLatent(4, new Random(9));
      const zRate = b.data.reduce((s, v) => s + v, 0) / b.size;
      assert.ok(zRate > 0.05 && zRate < 0.95, `sample firing rate ${zRate} should be non-trivial`);
      assert.equal(countDiff(a.data, b.data), 0, 'prior samples differ');
    } finally {
      setBackend(prev);
    }
  });
}
