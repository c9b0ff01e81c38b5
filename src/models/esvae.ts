/**
 * ESVAE (Zhan et al., 2023; reference-semantics.md §3): the FSVAE encoder and
 * decoder with a reparameterizable Bernoulli latent. The posterior rate is the
 * encoder's latent firing rate r_q = mean_T x^E; spikes z = (r_q > u) per step;
 * the prior rate is r_p = sigmoid(Linear(z_n)), z_n ~ N(0, I); the loss is
 * MSE + 0.001·MMD²_rbf(r_q, r_p). The FSVAE prior and posterior are built but
 * never used, exactly as in the official code, so state_dicts interchange;
 * their names are listed in UNUSED_PREFIXES and flagged in checkpoints.
 */
import { Linear } from '../engine/layers.js';
import type { ParamGroup } from '../engine/optim.js';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import * as ops from '../engine/ops.js';
import { bernoulliSpikes, mmdRbf } from '../snn/sampling.js';
import { FSVAE, FsvaeConfig, SequentialHolder, defaultFsvaeConfig, latentRows, meanOf, type LatentRows } from './fsvae.js';
import type { BatchLoss, TrainingDefaults } from './types.js';

export const UNUSED_PREFIXES = ['prior.', 'posterior.'];
export const DISTANCE_LAMBDA = 0.001;
export const SAMPLE_LAYER_LR_TIMES = 10;

export function defaultEsvaeConfig(dataset: string, overrides: Partial<FsvaeConfig> = {}): FsvaeConfig {
  const small = dataset === 'mnist' || dataset === 'fashion';
  return defaultFsvaeConfig(dataset, { latentDim: small ? 32 : 128, ...overrides });
}

/** §3.4: lr = cfg_lr · batch / 250, batch 256 (64 for CelebA), 300 epochs, weight decay 1e-3. */
export function esvaeTrainingDefaults(dataset: string): TrainingDefaults {
  const batchSize = dataset === 'celeba' ? 64 : 256;
  const cfgLr = dataset === 'cifar10' ? 0.0006 : dataset === 'celeba' ? 0.001 : 0.003;
  return { lr: (cfgLr * batchSize) / 250, weightDecay: 1e-3, batchSize, epochs: 300 };
}

export class ESVAE extends FSVAE {
  override readonly kind: string = 'esvae';
  readonly sampleLayer: Linear;

  constructor(cfg: FsvaeConfig, rng: Random) {
    super(cfg, rng);
    const seq = this.registerModule('sample_layer', new SequentialHolder());
    this.sampleLayer = new Linear(cfg.latentDim, cfg.latentDim, rng);
    seq.add('0', this.sampleLayer);
  }

  /** Prior rates r_p = sigmoid(Linear(z_n)) for n fresh standard normal vectors. */
  priorRates(n: number, rng: Random): Tensor {
    const zn = new Tensor(rng.fillNormal(new Float32Array(n * this.cfg.latentDim)), [n, this.cfg.latentDim]);
    return ops.sigmoid(this.sampleLayer.forward(zn));
  }

  /** Same order of random draws as the official gaussian_sample: z_n first, then the spike noise. */
  encodeLatent(images: Tensor, rng: Random): { rq: Tensor; rp: Tensor; z: Tensor; encoded: Tensor } {
    const encoded = this.encodeSpikes(images); // [T, N, C]
    const rp = this.priorRates(images.shape[0], rng);
    const rq = ops.mean(encoded, [0]); // [N, C]
    const z = bernoulliSpikes(rq, this.cfg.timeSteps, rng);
    return { rq, rp, z, encoded };
  }

  override lossOnBatch(images: Tensor, rng: Random): BatchLoss {
    const { rq, rp, z, encoded } = this.encodeLatent(images, rng);
    const recon = ops.mseLoss(this.decode(z), images);
    const mmd = mmdRbf(rq, rp);
    const loss = ops.add(recon, ops.scale(mmd, DISTANCE_LAMBDA));
    return {
      loss,
      terms: { loss: loss.item(), recon: recon.item(), distance: mmd.item() },
      rates: { encoder: meanOf(encoded.data), latent: meanOf(z.data) },
    };
  }

  /** Spikes at the encoder's latent rates r_q (the prior rates r_p are drawn first, as in the official code). */
  override inferLatent(images: Tensor, rng: Random): Tensor {
    return noGrad(() => this.encodeLatent(images, rng).z);
  }

  /** Latent spikes [T, n, C] from the prior: Bernoulli spikes at the rates r_p (FSVAE's autoregressive prior is unused). */
  override sampleLatent(n: number, rng: Random, rows: LatentRows = { first: 0, count: n }): Tensor {
    return latentRows(noGrad(() => bernoulliSpikes(this.priorRates(n, rng), this.cfg.timeSteps, rng)), n, rows);
  }

  override sample(n: number, rng: Random): { images: Tensor; z: Tensor } {
    const z = this.sampleLatent(n, rng);
    return { images: noGrad(() => this.decode(z)), z };
  }

  /** Two groups as the official optimizer: the prior bottleneck at 10× the learning rate. */
  override paramGroups(lr: number, weightDecay: number): ParamGroup[] {
    const rest: Tensor[] = [];
    const fast: Tensor[] = [];
    for (const [name, p] of this.namedParameters()) (name.startsWith('sample_layer.') ? fast : rest).push(p);
    return [
      { params: rest, lr, weightDecay },
      { params: fast, lr: lr * SAMPLE_LAYER_LR_TIMES, weightDecay },
    ];
  }

  /** Rates interpolated linearly; the same spike noise for every point, so only the rate moves. */
  override interpolate(a: Tensor, b: Tensor, steps: number, rng: Random): Tensor {
    return noGrad(() => {
      const ra = ops.mean(this.encodeSpikes(a), [0]).data;
      const rb = ops.mean(this.encodeSpikes(b), [0]).data;
      const C = this.cfg.latentDim;
      const T = this.cfg.timeSteps;
      const r = new Float32Array(steps * C);
      for (let s = 0; s < steps; s++) {
        const alpha = steps === 1 ? 0 : s / (steps - 1);
        for (let c = 0; c < C; c++) r[s * C + c] = (1 - alpha) * ra[c] + alpha * rb[c];
      }
      const u1 = rng.fillUniform(new Float32Array(T * C));
      const noise = new Float32Array(T * steps * C);
      for (let t = 0; t < T; t++) for (let s = 0; s < steps; s++) noise.set(u1.subarray(t * C, (t + 1) * C), (t * steps + s) * C);
      return this.decode(bernoulliSpikes(new Tensor(r, [steps, C]), T, rng, noise));
    });
  }

  override beginEpoch(): void {
    // update_p is called by the official loop but has no effect on ESVAE.
  }
}
