/**
 * The first encoder layer computed once per image and the last decoder layer
 * computed after the time sum (snn/layers.ts forwardRepeated,
 * forwardMembraneOutput) against the literal per-step layers, through a whole
 * training step of FSVAE and ESVAE: same loss, same spikes, and every
 * parameter gradient equal up to float32 rounding. setTimeSharing(false)
 * makes both layers take the literal path, so one model is run both ways
 * with the same random draws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../src/models/index.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { setTimeSharing } from '../src/snn/layers.js';
import { maxAbs, maxRelDiff } from './compare.js';

for (const kind of ['fsvae', 'esvae'] as const) {
  test(`${kind}: a training step with the once-per-image first and last layers equals the per-step layers (loss, encoder spikes, every gradient)`, () => {
    const images = new Tensor(new Float32Array(6 * 1024).map((_, i) => Math.sin(i * 0.37) * 0.9), [6, 1, 32, 32]);
    const run = (literal: boolean) => {
      const model = createModel(kind, 'mnist', { timeSteps: 6, latentDim: 16 }, 5);
      model.train();
      model.beginEpoch(0, 10);
      setTimeSharing(!literal);
      try {
        const r = model.lossOnBatch(images, new Random(11));
        r.loss.backward();
        return {
          loss: r.loss.item(),
          rates: r.rates,
          grads: [...model.namedParameters()].map(([name, p]) => [name, p.grad ? p.grad.slice() : null] as const),
        };
      } finally {
        setTimeSharing(true);
      }
    };
    const shared = run(false);
    const literal = run(true);
    assert.deepEqual(shared.rates, literal.rates, 'firing rates (spikes) differ');
    assert.ok(Math.abs(shared.loss - literal.loss) <= 1e-6 * Math.abs(literal.loss), `loss ${shared.loss} vs ${literal.loss}`);
    let compared = 0;
    for (const [i, [name, g]] of literal.grads.entries()) {
      const mine = shared.grads[i][1];
      if (g === null) {
        assert.equal(mine, null, name);
        continue;
      }
      assert.ok(mine !== null, name);
      // A bias before batch normalisation has a zero gradient up to rounding:
      // nothing to compare it against (the layer tests check it is near zero).
      if (maxAbs(g) < 1e-6) continue;
      const diff = maxRelDiff(mine, g);
      assert.ok(diff <= 1e-4, `${name}: max difference ${diff} of the gradient's scale`);
      compared++;
    }
    assert.ok(compared > 20, `only ${compared} gradients compared`);
  });
}
