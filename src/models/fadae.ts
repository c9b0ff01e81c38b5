/**
 * The FSVAE repository's FAD autoencoder, whole (reference-semantics.md §5.4,
 * official `AE` / `AELarge` in ann_models/ann_ae.py), so that `spikevae
 * train-ae` can train one for datasets whose official weights are missing.
 *
 * Encoder: Conv(k3 s2 p1) + BatchNorm + LeakyReLU(0.01) stages [32, 64, 128,
 * 256] (AELarge adds 512), flatten, `latent_layer` Linear → L (the FAD
 * feature, no activation). Decoder: `decoder_input` Linear, view [last, 2, 2],
 * transposed-conv stages, `final_layer` (ConvT s2, BN, LeakyReLU, ConvT → C,
 * Tanh) — the ANN VAE's decoder. Loss: MSE on [−1, 1] images. State_dict names
 * as PyTorch's, so `src/metrics/fad.ts` loads the encoder part directly.
 *
 * An autoencoder has no prior: `sample` decodes standard-normal latents,
 * which is only a visual check, not a generative model.
 */
import { Linear } from '../engine/layers.js';
import { Module } from '../engine/module.js';
import type { ParamGroup } from '../engine/optim.js';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import * as ops from '../engine/ops.js';
import { AnnConvStack } from './annvae.js';
import type { BatchLoss, GenerativeModel, TrainingDefaults } from './types.js';

export interface FadAeConfig {
  variant: 'ae' | 'ae-large';
  inChannels: number;
  imageSize: number;
  latentDim: number;
}

/** Latent 64 for MNIST and Fashion-MNIST, 128 for CIFAR-10 and CelebA (the official files). */
export function defaultFadAeConfig(dataset: string, overrides: Partial<FadAeConfig> = {}): FadAeConfig {
  const large = dataset === 'celeba';
  const gray = dataset === 'mnist' || dataset === 'fashion';
  return { variant: large ? 'ae-large' : 'ae', inChannels: gray ? 1 : 3, imageSize: large ? 64 : 32, latentDim: gray ? 64 : 128, ...overrides };
}

/** FSVAE main_ann_ae.py: AdamW lr 1e-3 with PyTorch's default weight decay 0.01, batch 250, 150 epochs. */
export const fadAeTrainingDefaults: TrainingDefaults = { lr: 1e-3, weightDecay: 0.01, batchSize: 250, epochs: 150 };

export class FadAutoencoder extends Module implements GenerativeModel {
  readonly kind = 'fad-ae';
  readonly stack: AnnConvStack;
  readonly latent: Linear;

  constructor(readonly cfg: FadAeConfig, rng: Random) {
    super();
    this.stack = new AnnConvStack(cfg.variant, cfg.inChannels, cfg.imageSize, cfg.variant === 'ae-large', (n, m) => this.registerModule(n, m));
    this.stack.buildEncoder(rng);
    this.latent = this.registerModule('latent_layer', new Linear(this.stack.flatSize, cfg.latentDim, rng));
    this.stack.buildDecoder(cfg.latentDim, rng);
  }

  get config(): Record<string, unknown> {
    return { ...this.cfg };
  }

  /** The FAD feature: `latent_layer` output [N, L]. */
  encode(images: Tensor): Tensor {
    return this.latent.forward(this.stack.encode(images));
  }

  decode(z: Tensor): Tensor {
    return this.stack.decode(z);
  }

  lossOnBatch(images: Tensor, _rng: Random): BatchLoss {
    const recon = ops.mseLoss(this.decode(this.encode(images)), images);
    const v = recon.item();
    return { loss: recon, terms: { loss: v, recon: v }, rates: {} };
  }

  beginEpoch(): void {}

  sample(n: number, rng: Random): { images: Tensor; z: Tensor } {
    return noGrad(() => {
      const z = new Tensor(rng.fillNormal(new Float32Array(n * this.cfg.latentDim)), [n, this.cfg.latentDim]);
      return { images: this.decode(z), z };
    });
  }

  reconstruct(images: Tensor, _rng: Random): Tensor {
    return noGrad(() => this.decode(this.encode(images)));
  }

  interpolate(a: Tensor, b: Tensor, steps: number, _rng: Random): Tensor {
    return noGrad(() => {
      const za = this.encode(a).data;
      const zb = this.encode(b).data;
      const L = this.cfg.latentDim;
      const z = new Float32Array(steps * L);
      for (let s = 0; s < steps; s++) {
        const alpha = steps === 1 ? 0 : s / (steps - 1);
        for (let d = 0; d < L; d++) z[s * L + d] = (1 - alpha) * za[d] + alpha * zb[d];
      }
      return this.decode(new Tensor(z, [steps, L]));
    });
  }

  paramGroups(lr: number, weightDecay: number): ParamGroup[] {
    return [{ params: this.parameters(), lr, weightDecay }];
  }
}
