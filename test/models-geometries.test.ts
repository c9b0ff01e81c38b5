/**
 * One training step of every generative model on the CIFAR-10 and CelebA
 * geometries (3 channels, 32×32 and 64×64: the kernels' few-channel, odd-width
 * and wide-row paths) gives the same loss and gradients with the native
 * kernels, on every instruction set the CPU has and in both spike modes, as
 * with the portable TypeScript kernels. Spiking models run T = 4 at batch 2 so
 * the portable run stays short.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel, type ModelKind } from '../src/models/index.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { backend, getNativeBackend, setBackend, typescriptBackend } from '../src/engine/backend/index.js';
import type { KernelBackend } from '../src/engine/backend/types.js';
import { configureNative } from '../src/engine/backend/native.js';

interface StepResult {
  loss: number;
  grads: Map<string, Float32Array>;
}

function step(be: KernelBackend, kind: ModelKind, dataset: 'cifar10' | 'celeba'): StepResult {
  const prev = backend();
  setBackend(be);
  try {
    const model = createModel(kind, dataset, kind === 'ann-vae' ? {} : { timeSteps: 4 }, 0);
    const side = dataset === 'celeba' ? 64 : 32;
    const rng = new Random(3);
    const x = new Tensor(new Float32Array(2 * 3 * side * side).map(() => rng.uniform() * 2 - 1), [2, 3, side, side]);
    const { loss } = model.lossOnBatch(x, rng);
    loss.backward();
    const grads = new Map<string, Float32Array>();
    for (const [name, p] of model.namedParameters()) if (p.grad) grads.set(name, p.grad.slice());
    return { loss: loss.item(), grads };
  } finally {
    setBackend(prev);
  }
}

const native = getNativeBackend();

for (const dataset of ['cifar10', 'celeba'] as const) {
  test(`a training step on ${dataset} geometry: native kernels equal the portable ones (fsvae, esvae, ann-vae)`, (t) => {
    if (!native) return t.skip('native addon not built');
    for (const kind of ['fsvae', 'esvae', 'ann-vae'] as const) {
      const ref = step(typescriptBackend, kind, dataset);
      assert.ok(Number.isFinite(ref.loss) && ref.grads.size > 0);
      for (const isa of ['avx512', 'avx2', 'scalar'] as const) {
        for (const spikes of ['dense', 'event'] as const) {
          if (configureNative(isa, 2, spikes)) continue; // this CPU lacks the instruction set
          const label = `${kind} ${dataset} ${isa}/${spikes}`;
          const got = step(native, kind, dataset);
          assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss), `${label}: loss ${got.loss} vs ${ref.loss}`);
          assert.equal(got.grads.size, ref.grads.size, label);
          // Gradients that are zero in exact arithmetic (a convolution bias
          // followed by batch norm) are rounding noise on both sides; they are
          // held to a floor set by the whole model's gradient instead.
          let total = 0;
          for (const g of ref.grads.values()) for (const v of g) total += v * v;
          const floor = 1e-6 * Math.sqrt(total);
          for (const [name, want] of ref.grads) {
            const have = got.grads.get(name)!;
            let diff = 0;
            let norm = 0;
            for (let i = 0; i < want.length; i++) {
              diff += (have[i] - want[i]) ** 2;
              norm += want[i] ** 2;
            }
            assert.ok(Math.sqrt(diff) <= 1e-3 * Math.sqrt(norm) + floor, `${label}: gradient of ${name} differs (relative ${Math.sqrt(diff / (norm || 1))}, norm ${Math.sqrt(norm)})`);
          }
        }
      }
      configureNative('', 2);
    }
  });
}
