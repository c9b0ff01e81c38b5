/**
 * A model at a training run's steady state, for the step profilers: MNIST's
 * first `batch` training images (with their labels and the classifiers'
 * preprocessing for 'alif-classifier'), AdamW, and two warm-up steps (the
 * first takes fresh memory, the second settles the buffer pool's blocks).
 */
import { openDataset } from '../src/data/index.js';
import { AdamW } from '../src/engine/optim.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { checkModelKind, createTrainableModel } from '../src/models/index.js';
import { betweenTrainingSteps, trainingStep } from '../src/train/step.js';

export async function warmTrainingStep(kind: string, batch: number, decoding?: string) {
  const modelKind = checkModelKind(kind);
  const classifier = modelKind === 'alif-classifier';
  if (decoding !== undefined && decoding !== 'taid' && decoding !== 'membrane') throw new Error(`--decoding ${decoding}: expected taid or membrane`);
  const model = createTrainableModel(modelKind, 'mnist', decoding ? { decoding } : {}, 0);
  const ds = await openDataset('mnist', 'train', classifier ? { preprocessing: 'classifier', limit: batch } : { limit: batch });
  const imgs = new Float32Array(batch * ds.channels * ds.height * ds.width);
  const labels = classifier ? new Int32Array(batch) : undefined;
  // The classifiers' augmentation draws, fixed at the middle of their ranges (no shift, no rotation).
  const draws = classifier ? new Float64Array(batch * (ds.augmentDraws ?? 0)).fill(0.5) : undefined;
  await ds.readBatch(Int32Array.from({ length: batch }, (_, i) => i), null, imgs, labels, draws);
  const x = new Tensor(imgs, [batch, ds.channels, ds.height, ds.width]);
  const rng = new Random(0);
  const opt = new AdamW(model.paramGroups(1e-3, classifier ? 0 : 1e-3));
  for (let i = 0; i < 2; i++) {
    trainingStep(model, opt, x, rng, undefined, labels);
    await betweenTrainingSteps();
  }
  return { model, opt, x, rng, labels };
}
