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

export interface GenerativeModel extends Module {
  readonly kind: string;
  /** JSON-serialisable configuration that rebuilds this model. */
  readonly config: Record<string, unknown>;
  /** Called at the start of every epoch (FSVAE: scheduled-sampling p). */
  beginEpoch(epoch: number, epochs: number): void;
  /** Forward pass and loss on images [N, C, H, W] in [-1, 1], in the current train/eval mode. */
  lossOnBatch(images: Tensor, rng: Random): BatchLoss;
  /** Generated images [n, C, H, W] and the latent that produced them. */
  sample(n: number, rng: Random): { images: Tensor; z: Tensor };
  /** Reconstructions of images (no gradients). */
  reconstruct(images: Tensor, rng: Random): Tensor;
  paramGroups(lr: number, weightDecay: number): ParamGroup[];
  /**
   * Images decoded along a path between the latents of two images a and b
   * ([1, C, H, W] each), `steps` points including both ends.
   */
  interpolate(a: Tensor, b: Tensor, steps: number, rng: Random): Tensor;
  /** Models whose loss weight depends on the loader length (ANN VAE: KL weight 1/batches). */
  setBatchesPerEpoch?(n: number): void;
}

export interface TrainingDefaults {
  lr: number;
  weightDecay: number;
  batchSize: number;
  epochs: number;
}
