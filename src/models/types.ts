/**
 * What the trainer, the sampler and the evaluators need from a model. FSVAE,
 * ESVAE and the ANN VAE all implement it, so every command works on each.
 */
import type { Module } from '../engine/module.js';
import type { ParamGroup } from '../engine/optim.js';
import type { Random } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';

export interface BatchLoss {
  /** The scalar to differentiate. */
  loss: Tensor;
  /** Named loss terms (logged; checked for NaN). */
  terms: Record<string, number>;
  /** Firing rates of interesting layers (spiking models). */
  rates: Record<string, number>;
}

/**
 * What the training loop needs from any model: the generative models and
 * the spiking classifiers (classifier.ts) alike.
 */
export interface TrainableModel extends Module {
  readonly kind: string;
  /** JSON-serialisable configuration that rebuilds this model. */
  readonly config: Record<string, unknown>;
  /** Called at the start of every epoch (FSVAE: scheduled-sampling p). */
  beginEpoch(epoch: number, epochs: number): void;
  /**
   * Forward pass and loss on a batch of images [N, C, H, W] (the VAEs: in
   * [-1, 1]; the classifiers: normalised, with their class labels), in the
   * current train/eval mode.
   */
  lossOnBatch(images: Tensor, rng: Random, labels?: Int32Array): BatchLoss;
  paramGroups(lr: number, weightDecay: number): ParamGroup[];
  /** Models whose loss weight depends on the loader length (ANN VAE: KL weight 1/batches). */
  setBatchesPerEpoch?(n: number): void;
  /** The factor on the base learning rate during `epoch` (a schedule); absent: constant. */
  learningRateFactor?(epoch: number): number;
  /**
   * A classifier: its batches carry labels, its test terms are means over
   * images (correct / total), its best checkpoint has the highest test
   * accuracy, and it generates no samples.
   */
  readonly supervised?: boolean;
}

export interface GenerativeModel extends TrainableModel {
  /** Generated images [n, C, H, W] and the latent that produced them. */
  sample(n: number, rng: Random): { images: Tensor; z: Tensor };
  /** Reconstructions of images (no gradients). */
  reconstruct(images: Tensor, rng: Random): Tensor;
  /**
   * Images decoded along a path between the latents of two images a and b
   * ([1, C, H, W] each), `steps` points including both ends.
   */
  interpolate(a: Tensor, b: Tensor, steps: number, rng: Random): Tensor;
}

export interface TrainingDefaults {
  lr: number;
  weightDecay: number;
  batchSize: number;
  epochs: number;
}
