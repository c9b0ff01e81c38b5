/**
 * A model at a training run's steady state, for the step profilers: MNIST's
 * first `batch` training images, AdamW, and two warm-up steps (the first
 * takes fresh memory, the second settles the buffer pool's blocks).
 */
import { openDataset } from '../src/data/index.js';
import { AdamW } from '../src/engine/optim.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { checkModelKind, createModel } from '../src/models/index.js';
import { betweenTrainingSteps, trainingStep } from '../src/train/step.js';

export async function warmTrainingStep(kind: string, batch: number) {
  const model = createModel(checkModelKind(kind), 'mnist', {}, 0);
  const ds = await openDataset('mnist', 'train', { limit: batch });
  const imgs = new Float32Array(batch * 1024);
  await ds.readBatch(Int32Array.from({ length: batch }, (_, i) => i), null, imgs);
  const x = new Tensor(imgs, [batch, 1, 32, 32]);
  const rng = new Random(0);
  const opt = new AdamW(model.paramGroups(1e-3, 1e-3));
  for (let i = 0; i < 2; i++) {
    trainingStep(model, opt, x, rng);
    await betweenTrainingSteps();
  }
  return { model, opt, x, rng };
}
