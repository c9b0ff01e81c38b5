/**
 * One optimizer step as training runs it, shared by the trainer and the
 * benchmarks so a benchmark measures exactly what `spikevae train` does: the
 * step's large arrays come from the buffer pool, activations go back during
 * backward, and between steps the pool takes the rest back.
 */
import { reclaimPooledMemory, withPool } from '../engine/alloc.js';
import type { AdamW } from '../engine/optim.js';
import type { Random } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import type { BatchLoss, TrainableModel } from '../models/types.js';

export interface StepResult extends BatchLoss {
  /** False when the update left a parameter or optimizer moment NaN or infinite. */
  parametersFinite: boolean;
}

/**
 * Loss, backward, AdamW update. `check` sees the loss terms before backward
 * (the trainer stops on a non-finite loss there). `labels`: the batch's
 * classes, for the classifiers.
 */
export function trainingStep(model: TrainableModel, optimizer: AdamW, images: Tensor, rng: Random, check?: (r: BatchLoss) => void, labels?: Int32Array): StepResult {
  return withPool(() => {
    const r = model.lossOnBatch(images, rng, labels);
    check?.(r);
    r.loss.backward(undefined, { releaseActivations: true });
    const parametersFinite = optimizer.step();
    optimizer.zeroGrad();
    return { ...r, parametersFinite };
  });
}

/**
 * Call between steps: a garbage collection, then one event-loop turn, in which
 * the collected arrays' blocks return to the pool (and signal handlers such as
 * Ctrl-C's get to run).
 */
export async function betweenTrainingSteps(): Promise<void> {
  reclaimPooledMemory();
  await new Promise((resolve) => setImmediate(resolve));
}
