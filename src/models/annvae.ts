/**
 * The conventional convolutional VAE the papers compare against
 * (reference-semantics.md §6, official `VanillaVAE` / `VanillaVAELarge`):
 * Conv(k3 s2 p1) + BatchNorm + LeakyReLU(0.01) stages, fc_mu / fc_var to a
 * Gaussian latent (128), a mirrored transposed-conv decoder and Tanh.
 * Loss: MSE + kld_weight · mean_B(−½ Σ_d (1 + logvar − μ² − e^logvar)),
 * with kld_weight = 1 / (batches per epoch) — set by the trainer through
 * setBatchesPerEpoch. NCHW layout (no time axis). State_dict names as PyTorch's.
 */
import { BatchNorm, Conv2d, ConvTranspose2d, Linear } from '../engine/layers.js';
import { Module } from '../engine/module.js';
import type { ParamGroup } from '../engine/optim.js';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import * as ops from '../engine/ops.js';
import { ShapeError, fmtShape } from '../util/errors.js';
import { SequentialHolder, latentRows, type LatentRows } from './fsvae.js';
import type { BatchLoss, GenerativeModel, TrainingDefaults } from './types.js';

export interface AnnVaeConfig {
  variant: 'ann-vae' | 'ann-vae-large';
  inChannels: number;
  imageSize: number;
  latentDim: number;
}

export function defaultAnnVaeConfig(dataset: string, overrides: Partial<AnnVaeConfig> = {}): AnnVaeConfig {
  const large = dataset === 'celeba';
  return {
    variant: large ? 'ann-vae-large' : 'ann-vae',
    inChannels: dataset === 'mnist' || dataset === 'fashion' ? 1 : 3,
    imageSize: large ? 64 : 32,
    latentDim: 128,
    ...overrides,
  };
}

/** AdamW lr 1e-3 with PyTorch's default weight decay 0.01, batch 250, 150 epochs. */
export const annVaeTrainingDefaults: TrainingDefaults = { lr: 1e-3, weightDecay: 0.01, batchSize: 250, epochs: 150 };

/** Conv or transposed conv `.0`, BatchNorm `.1`, LeakyReLU(0.01): one stage of the official ANN networks. */
export class ConvBlock extends SequentialHolder {
  constructor(readonly layer: Conv2d | ConvTranspose2d, readonly bn: BatchNorm) {
    super();
    this.add('0', layer);
    this.add('1', bn);
  }
  forward(x: Tensor): Tensor {
    return ops.leakyRelu(this.bn.forward(this.layer.forward(x), 1), 0.01);
  }
}

/**
 * The convolutional encoder and mirrored decoder the official ANN networks
 * share (VanillaVAE, AE and their Large variants), registered on their owner under
 * the official names: `encoder.i` stages, then (after the caller's latent
 * layers, so the state_dict keeps PyTorch's order) `decoder_input`, `decoder.i` stages and `final_layer` 0, 1, 3.
 */
export class AnnConvStack {
  readonly encoderBlocks: ConvBlock[] = [];
  readonly decoderBlocks: ConvBlock[] = [];
  finalBlock!: ConvBlock;
  finalConv!: ConvTranspose2d;
  decoderInput!: Linear;

  /** Stage widths: 4 stages for 32×32 images, 5 for the Large variants' 64×64. */
  readonly hidden: number[];

  /**
   * `name` labels shape errors (the owner's variant); `register` is the
   * owner's registerModule (protected, so handed in).
   */
  constructor(
    readonly name: string,
    readonly inChannels: number,
    readonly imageSize: number,
    large: boolean,
    private readonly register: <M extends Module>(name: string, m: M) => M,
  ) {
    this.hidden = large ? [32, 64, 128, 256, 512] : [32, 64, 128, 256];
    if (imageSize !== 2 << this.hidden.length) throw new ShapeError(name, `image size ${imageSize} does not fit`);
  }

  /** Width of the flattened encoder output (last stage at 2×2). */
  get flatSize(): number {
    return this.hidden[this.hidden.length - 1] * 4;
  }

  buildEncoder(rng: Random): void {
    const enc = this.register('encoder', new SequentialHolder());
    let c = this.inChannels;
    this.hidden.forEach((h, i) => {
      const b = new ConvBlock(new Conv2d(c, h, 3, 2, 1, rng), new BatchNorm(h));
      enc.add(String(i), b);
      this.encoderBlocks.push(b);
      c = h;
    });
  }

  buildDecoder(latentDim: number, rng: Random): void {
    this.decoderInput = this.register('decoder_input', new Linear(latentDim, this.flatSize, rng));
    const rev = [...this.hidden].reverse();
    const dec = this.register('decoder', new SequentialHolder());
    for (let i = 0; i < rev.length - 1; i++) {
      const b = new ConvBlock(new ConvTranspose2d(rev[i], rev[i + 1], 3, 2, 1, 1, rng), new BatchNorm(rev[i + 1]));
      dec.add(String(i), b);
      this.decoderBlocks.push(b);
    }
    const c0 = rev[rev.length - 1];
    // final_layer = Sequential(ConvT, BN, LeakyReLU, ConvT, Tanh): indices 0, 1 and 3 hold weights.
    const fin = this.register('final_layer', new SequentialHolder());
    const ct = new ConvTranspose2d(c0, c0, 3, 2, 1, 1, rng);
    const bn = new BatchNorm(c0);
    this.finalConv = new ConvTranspose2d(c0, this.inChannels, 3, 1, 1, 0, rng);
    fin.add('0', ct);
    fin.add('1', bn);
    fin.add('3', this.finalConv);
    this.finalBlock = new ConvBlock(ct, bn);
  }

  /** Encoder stages and flatten: [N, C, S, S] → [N, flatSize]. */
  encode(images: Tensor): Tensor {
    const [c, s] = [this.inChannels, this.imageSize];
    if (images.ndim !== 4 || images.shape[1] !== c || images.shape[2] !== s || images.shape[3] !== s) {
      throw new ShapeError(this.name, `expects images [N, ${c}, ${s}, ${s}], got ${fmtShape(images.shape)}`);
    }
    let h = images;
    for (const b of this.encoderBlocks) h = b.forward(h);
    return ops.reshape(h, [images.shape[0], -1]);
  }

  decode(z: Tensor): Tensor {
    let h = ops.reshape(this.decoderInput.forward(z), [z.shape[0], this.hidden[this.hidden.length - 1], 2, 2]);
    for (const b of this.decoderBlocks) h = b.forward(h);
    return ops.tanh(this.finalConv.forward(this.finalBlock.forward(h)));
  }
}

export class AnnVAE extends Module implements GenerativeModel {
  readonly kind = 'ann-vae';
  readonly stack: AnnConvStack;
  readonly fcMu: Linear;
  readonly fcVar: Linear;
  kldWeight = 1;

  constructor(readonly cfg: AnnVaeConfig, rng: Random) {
    super();
    this.stack = new AnnConvStack(cfg.variant, cfg.inChannels, cfg.imageSize, cfg.variant === 'ann-vae-large', (n, m) => this.registerModule(n, m));
    this.stack.buildEncoder(rng);
    this.fcMu = this.registerModule('fc_mu', new Linear(this.stack.flatSize, cfg.latentDim, rng));
    this.fcVar = this.registerModule('fc_var', new Linear(this.stack.flatSize, cfg.latentDim, rng));
    this.stack.buildDecoder(cfg.latentDim, rng);
  }

  get config(): Record<string, unknown> {
    return { ...this.cfg };
  }

  setBatchesPerEpoch(n: number): void {
    this.kldWeight = 1 / Math.max(1, n);
  }

  encode(images: Tensor): { mu: Tensor; logVar: Tensor } {
    const h = this.stack.encode(images);
    return { mu: this.fcMu.forward(h), logVar: this.fcVar.forward(h) };
  }

  decode(z: Tensor): Tensor {
    return this.stack.decode(z);
  }

  /** z = μ + exp(½·logvar)·ε with ε ~ N(0, I). */
  reparameterize(mu: Tensor, logVar: Tensor, rng: Random): Tensor {
    const eps = new Tensor(rng.fillNormal(new Float32Array(mu.size)), mu.shape);
    return ops.add(mu, ops.mul(ops.exp(ops.scale(logVar, 0.5)), eps));
  }

  lossOnBatch(images: Tensor, rng: Random): BatchLoss {
    const { mu, logVar } = this.encode(images);
    const recon = ops.mseLoss(this.decode(this.reparameterize(mu, logVar, rng)), images);
    // −½ Σ_d (1 + logvar − μ² − e^logvar), averaged over the batch.
    const inner = ops.sub(ops.sub(ops.addScalar(logVar, 1), ops.square(mu)), ops.exp(logVar));
    const kld = ops.scale(ops.mean(ops.sum(inner, [1])), -0.5);
    const loss = ops.add(recon, ops.scale(kld, this.kldWeight));
    return { loss, terms: { loss: loss.item(), recon: recon.item(), distance: kld.item() }, rates: {} };
  }

  beginEpoch(): void {}

  /** Latents [n, L] from the standard-normal prior (`rows`: only those images of the n, as FSVAE.sampleLatent). */
  sampleLatent(n: number, rng: Random, rows: LatentRows = { first: 0, count: n }): Tensor {
    return latentRows(new Tensor(rng.fillNormal(new Float32Array(n * this.cfg.latentDim)), [n, this.cfg.latentDim]), n, rows);
  }

  sample(n: number, rng: Random): { images: Tensor; z: Tensor } {
    const z = this.sampleLatent(n, rng);
    return { images: noGrad(() => this.decode(z)), z };
  }

  /** Latents [N, L] sampled from the posterior of images (what reconstruct decodes). */
  inferLatent(images: Tensor, rng: Random): Tensor {
    return noGrad(() => {
      const { mu, logVar } = this.encode(images);
      return this.reparameterize(mu, logVar, rng);
    });
  }

  reconstruct(images: Tensor, rng: Random): Tensor {
    return noGrad(() => this.decode(this.inferLatent(images, rng)));
  }

  /** Linear path between the posterior means of the two images. */
  interpolate(a: Tensor, b: Tensor, steps: number, _rng: Random): Tensor {
    return noGrad(() => {
      const ma = this.encode(a).mu.data;
      const mb = this.encode(b).mu.data;
      const L = this.cfg.latentDim;
      const z = new Float32Array(steps * L);
      for (let s = 0; s < steps; s++) {
        const alpha = steps === 1 ? 0 : s / (steps - 1);
        for (let d = 0; d < L; d++) z[s * L + d] = (1 - alpha) * ma[d] + alpha * mb[d];
      }
      return this.decode(new Tensor(z, [steps, L]));
    });
  }

  paramGroups(lr: number, weightDecay: number): ParamGroup[] {
    return [{ params: this.parameters(), lr, weightDecay }];
  }
}
