/**
 * FSVAE (Kamata et al., AAAI 2022) with the exact semantics of the official
 * implementation (reference-semantics.md §2): spiking encoder, autoregressive
 * Bernoulli posterior and prior with random one-of-k selection, spiking
 * decoder with membrane-potential output, PSP-filtered "MMD" loss.
 *
 * Tensors are time-major ([T, N, ...]); parameter and buffer names are the
 * official state_dict names, so checkpoints map one to one.
 */
import { Module } from '../engine/module.js';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { releasingScope } from '../engine/alloc.js';
import * as ops from '../engine/ops.js';
import { membraneCoefficients, membraneOutput, psp } from '../snn/functional.js';
import { TdConv, TdConvTranspose, TdLinear, type PlifNeuronSpec } from '../snn/layers.js';
import { SteppedLinearStack } from '../snn/incremental.js';
import { TaidDecoding } from './taid.js';
import { ShapeError, fmtShape } from '../util/errors.js';
import type { GenerativeModel, BatchLoss } from './types.js';
import type { ParamGroup } from '../engine/optim.js';

export interface FsvaeConfig {
  /** 'fsvae' (32x32) or 'fsvae-large' (64x64, CelebA). */
  variant: 'fsvae' | 'fsvae-large';
  inChannels: number;
  imageSize: number;
  latentDim: number;
  timeSteps: number;
  k: number;
  /** 'membrane' (fixed 0.8^(T-1-t)) or 'taid' (learned temporal attention). */
  decoding: 'membrane' | 'taid';
  /**
   * The spiking neuron of every layer: 'lif' (the reference's; default) or a
   * PLIF-family neuron (snn/plif.ts) with learnable decay ('plif') and
   * threshold ('alif'), initialised at tau0 and vth0.
   */
  neuron?: 'lif' | 'plif' | 'alif';
  tau0?: number;
  vth0?: number;
}

/**
 * Initial values of a PLIF/ALIF neuron in the VAEs: the paper's Table 7 row
 * 0.25 / 0.2 (decay 0.25, i.e. τ0 = 4/3, and V_th0 = 0.2), its best, which
 * are also the FSVAE LIF's decay and threshold; the classifiers' code default
 * (τ0 = 2, V_th0 = 0.5) would leave tdBN's 0.2-scaled inputs far below threshold.
 */
export const VAE_NEURON_INIT = { tau0: 4 / 3, vth0: 0.2 };

function neuronSpec(cfg: FsvaeConfig): PlifNeuronSpec | undefined {
  const kind = cfg.neuron ?? 'lif';
  if (kind === 'lif') return undefined;
  return { kind, tau0: cfg.tau0 ?? VAE_NEURON_INIT.tau0, vth0: cfg.vth0 ?? VAE_NEURON_INIT.vth0 };
}

export function defaultFsvaeConfig(dataset: string, overrides: Partial<FsvaeConfig> = {}): FsvaeConfig {
  const large = dataset === 'celeba';
  return {
    variant: large ? 'fsvae-large' : 'fsvae',
    inChannels: dataset === 'mnist' || dataset === 'fashion' ? 1 : 3,
    imageSize: large ? 64 : 32,
    latentDim: 128,
    timeSteps: 16,
    k: 20,
    decoding: 'membrane',
    ...overrides,
  };
}

/** Stack of three tdLinear + tdBN(alpha=2) + LIF layers (the prior/posterior `layers`). */
class BernoulliNet extends Module {
  readonly layers: TdLinear[];
  constructor(inFeatures: number, latent: number, k: number, rng: Random, neuron?: PlifNeuronSpec) {
    super();
    const seq = new SequentialHolder();
    this.layers = [
      new TdLinear(inFeatures, latent * 2, rng, { bn: true, spike: true, alpha: 2, neuron }),
      new TdLinear(latent * 2, latent * 4, rng, { bn: true, spike: true, alpha: 2, neuron }),
      new TdLinear(latent * 4, latent * k, rng, { bn: true, spike: true, alpha: 2, neuron }),
    ];
    this.layers.forEach((l, i) => seq.add(String(i), l));
    this.registerModule('layers', seq);
    this.registerBuffer('initial_input', { data: new Float32Array(latent), shape: [1, latent, 1] });
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const l of this.layers) h = l.forward(h);
    return h;
  }
}

/** Holds numbered children, like nn.Sequential, for state_dict naming. */
export class SequentialHolder extends Module {
  add(name: string, m: Module): void {
    this.registerModule(name, m);
  }
}

/** Holds the fixed 0.8^(T-1-t) coefficients as the reference's `coef` buffer [1,1,1,1,T]. */
export class MembraneOutputLayer extends Module {
  readonly coef: Float32Array;
  constructor(steps: number) {
    super();
    this.coef = membraneCoefficients(steps);
    this.registerBuffer('coef', { data: this.coef, shape: [1, 1, 1, 1, steps] });
  }
}

/** A run of images [first, first + count) of a batch. */
export interface LatentRows {
  first: number;
  count: number;
}

function checkRows(n: number, rows: LatentRows): LatentRows {
  if (!(Number.isInteger(rows.first) && Number.isInteger(rows.count) && rows.first >= 0 && rows.count >= 0 && rows.first + rows.count <= n)) {
    throw new ShapeError('sampleLatent', `images [${rows.first}, ${rows.first + rows.count}) are not inside a batch of ${n}`);
  }
  return rows;
}

/** Those images of a latent batch of n (the image axis is the second of [T, N, C] spikes, the first of [N, L] values). */
export function latentRows(z: Tensor, n: number, rows: LatentRows): Tensor {
  const { first, count } = checkRows(n, rows);
  if (first === 0 && count === n) return z;
  const part = ops.slice(z, z.ndim === 3 ? 1 : 0, first, first + count);
  part.binary = z.binary;
  return part;
}

/** One uniform index in [0, k) per row: PyTorch's randint(0, k, (rows,)). */
function randomIndices(rows: number, k: number, rng: Random): Int32Array {
  return rng.fillInt(new Int32Array(rows), k);
}

/** Stacks [B, C] step tensors (no grad) into [T, B, C]. */
function stackSteps(steps: Float32Array[], b: number, c: number): Tensor {
  const out = new Float32Array(steps.length * b * c);
  steps.forEach((s, t) => out.set(s, t * b * c));
  const t = new Tensor(out, [steps.length, b, c]);
  t.binary = true;
  return t;
}

export interface EncodeResult {
  /** Encoder spikes x^E [T, N, C]. */
  encoded: Tensor;
  /** Posterior sample z [T, N, C]. */
  sampledZ: Tensor;
  /** Posterior output spikes q_z [T, N, C, k]. */
  qZ: Tensor;
  /** Prior output spikes p_z [T, N, C, k]. */
  pZ: Tensor;
}

export interface ForwardResult extends EncodeResult {
  recon: Tensor;
}

export interface LossResult {
  loss: Tensor;
  recon: number;
  distance: number;
}

export class FSVAE extends Module implements GenerativeModel {
  readonly kind: string = 'fsvae';
  readonly cfg: FsvaeConfig;
  readonly hiddenDims: number[];
  readonly encoderLayers: TdConv[] = [];
  readonly beforeLatent: TdLinear;
  readonly prior: BernoulliNet;
  readonly posterior: BernoulliNet;
  readonly decoderInput: TdLinear;
  readonly decoderLayers: TdConvTranspose[] = [];
  readonly finalLayers: TdConvTranspose[];
  readonly coef: Float32Array | null;
  /** TAID decoding, when configured (replaces the fixed membrane output). */
  readonly taid: TaidDecoding | null;
  /** Scheduled-sampling probability (update_p sets it each epoch). */
  p = 0;
  /**
   * Re-run every prefix in evaluation mode too, as the reference does
   * (O(T²)); the default steps through time in O(T) with identical results.
   * Kept for tests that prove the equivalence.
   */
  exactPrefixPasses = false;

  constructor(cfg: FsvaeConfig, rng: Random) {
    super();
    this.cfg = cfg;
    const hidden = cfg.variant === 'fsvae-large' ? [32, 64, 128, 256, 512] : [32, 64, 128, 256];
    const expectedSize = 2 << hidden.length;
    if (cfg.imageSize !== expectedSize) {
      throw new ShapeError(cfg.variant, `image size ${cfg.imageSize} does not fit (needs ${expectedSize}x${expectedSize})`);
    }
    this.hiddenDims = hidden;
    const C = cfg.latentDim;
    const neuron = neuronSpec(cfg);
    const encoder = this.registerModule('encoder', new SequentialHolder());
    let inC = cfg.inChannels;
    hidden.forEach((h, i) => {
      const layer = new TdConv(inC, h, 3, 2, 1, rng, { bn: true, spike: true, neuron });
      encoder.add(String(i), layer);
      this.encoderLayers.push(layer);
      inC = h;
    });
    const last = hidden[hidden.length - 1];
    this.beforeLatent = this.registerModule('before_latent_layer', new TdLinear(last * 4, C, rng, { bn: true, spike: true, neuron }));
    this.prior = this.registerModule('prior', new BernoulliNet(C, C, cfg.k, rng, neuron));
    this.posterior = this.registerModule('posterior', new BernoulliNet(2 * C, C, cfg.k, rng, neuron));
    this.decoderInput = this.registerModule('decoder_input', new TdLinear(C, last * 4, rng, { bn: true, spike: true, neuron }));
    const rev = [...hidden].reverse();
    const decoder = this.registerModule('decoder', new SequentialHolder());
    for (let i = 0; i < rev.length - 1; i++) {
      const layer = new TdConvTranspose(rev[i], rev[i + 1], 3, 2, 1, 1, rng, { bn: true, spike: true, neuron });
      decoder.add(String(i), layer);
      this.decoderLayers.push(layer);
    }
    const final = this.registerModule('final_layer', new SequentialHolder());
    const f0 = new TdConvTranspose(rev[rev.length - 1], rev[rev.length - 1], 3, 2, 1, 1, rng, { bn: true, spike: true, neuron });
    const f1 = new TdConvTranspose(rev[rev.length - 1], cfg.inChannels, 3, 1, 1, 0, rng, { bn: false, spike: false });
    final.add('0', f0);
    final.add('1', f1);
    this.finalLayers = [f0, f1];
    if (cfg.decoding === 'taid') {
      this.taid = this.registerModule('membrane_output_layer', new TaidDecoding(cfg.timeSteps, rng));
      this.coef = null;
    } else {
      this.taid = null;
      this.coef = this.registerModule('membrane_output_layer', new MembraneOutputLayer(cfg.timeSteps)).coef;
    }
  }

  /** scheduled-sampling probability for epoch e of `epochs` (update_p). */
  updateP(epoch: number, epochs: number): void {
    this.p = 0.1 + (0.2 * epoch) / epochs;
  }

  checkImages(images: Tensor): void {
    const { inChannels: c, imageSize: s } = this.cfg;
    if (images.ndim !== 4 || images.shape[1] !== c || images.shape[2] !== s || images.shape[3] !== s) {
      throw new ShapeError(this.cfg.variant, `expects images [N, ${c}, ${s}, ${s}], got ${fmtShape(images.shape)}`);
    }
  }

  /**
   * Encoder spikes x^E [T, N, latent] from images [N, C, H, W] in [-1, 1]
   * (direct input: the image repeated over T, which the first layer computes
   * once per image).
   */
  encodeSpikes(images: Tensor): Tensor {
    this.checkImages(images);
    const [first, ...rest] = this.encoderLayers;
    let h = first.forwardRepeated(images, this.cfg.timeSteps);
    for (const l of rest) h = l.forward(h);
    const [T, N] = h.shape;
    h = ops.reshape(h, [T, N, -1]);
    return this.beforeLatent.forward(h);
  }

  /**
   * The posterior q(z_t | x_≤t, z_<t) exactly as the reference runs it: a
   * no-grad O(T²) pass over growing prefixes that samples z one step at a time,
   * then one gradient pass over the whole sequence that re-picks the same
   * random indices (a fresh index for the last step).
   */
  posteriorForward(xE: Tensor, rng: Random): { sampledZ: Tensor; qZ: Tensor } {
    if (!this.training && !this.exactPrefixPasses) return this.posteriorStepped(xE, rng);
    const [T, B, C] = xE.shape;
    const k = this.cfg.k;
    const zSteps: Float32Array[] = [new Float32Array(B * C)];
    const indices: Int32Array[] = [];
    noGrad(() => {
      for (let t = 0; t < T - 1; t++) {
        // Each prefix pass's activations are dead once z_t is picked.
        const zt = releasingScope(() => {
          const inp = ops.concat([ops.slice(xE.detach(), 0, 0, t + 1), stackSteps(zSteps, B, C)], 2);
          const out = this.posterior.forward(inp);
          const lastStep = ops.slice(out, 0, t, t + 1);
          const idx = randomIndices(B * C, k, rng);
          indices.push(idx);
          return ops.pickLastAxis(ops.reshape(lastStep, [B * C, k]), idx).data.slice();
        });
        zSteps.push(zt);
      }
    });
    indices.push(randomIndices(B * C, k, rng));
    const zHist = stackSteps(zSteps, B, C);
    const qFlat = this.posterior.forward(ops.concat([xE, zHist], 2)); // [T, B, C*k]
    const qZ = ops.reshape(qFlat, [T, B, C, k]);
    const all = new Int32Array(T * B * C);
    indices.forEach((idx, t) => all.set(idx, t * B * C));
    const sampledZ = ops.pickLastAxis(qZ, all);
    return { sampledZ, qZ };
  }

  /**
   * Evaluation-mode posterior in O(T): identical results to the prefix passes
   * (see snn/incremental.ts), same random draws in the same order.
   */
  private posteriorStepped(xE: Tensor, rng: Random): { sampledZ: Tensor; qZ: Tensor } {
    const [T, B, C] = xE.shape;
    const k = this.cfg.k;
    return noGrad(() => {
      const net = new SteppedLinearStack(this.posterior.layers, B);
      const q = new Float32Array(T * B * C * k);
      const z = new Float32Array(T * B * C);
      let prev = new Float32Array(B * C);
      for (let t = 0; t < T; t++) {
        const inp = new Float32Array(B * 2 * C);
        const xt = xE.data.subarray(t * B * C, (t + 1) * B * C);
        for (let b = 0; b < B; b++) {
          inp.set(xt.subarray(b * C, (b + 1) * C), b * 2 * C);
          inp.set(prev.subarray(b * C, (b + 1) * C), b * 2 * C + C);
        }
        const it = new Tensor(inp, [B, 2 * C]);
        it.binary = xE.binary;
        const out = net.step(it);
        q.set(out, t * B * C * k);
        const idx = randomIndices(B * C, k, rng);
        const zt = new Float32Array(B * C);
        for (let i = 0; i < B * C; i++) zt[i] = out[i * k + idx[i]];
        z.set(zt, t * B * C);
        prev = zt;
      }
      const qZ = new Tensor(q, [T, B, C, k]);
      qZ.binary = true;
      const sampledZ = new Tensor(z, [T, B, C]);
      sampledZ.binary = true;
      return { sampledZ, qZ };
    });
  }

  /**
   * The prior p(z_t | z_<t). Training uses scheduled sampling (one coin per
   * step for the whole batch from t ≥ 5, thresholded mean of the k outputs plus
   * 1e-3 noise); evaluation uses teacher forcing. The input z is detached.
   */
  priorForward(z: Tensor, rng: Random): Tensor {
    const [T, B, C] = z.shape;
    const k = this.cfg.k;
    const zd = z.detach();
    const hist: Float32Array[] = [new Float32Array(B * C)];
    if (this.training) {
      noGrad(() => {
        for (let t = 0; t < T - 1; t++) {
          if (t >= 5 && rng.uniform() < this.p) {
            const zt = releasingScope(() => {
              const out = this.prior.forward(stackSteps(hist, B, C));
              const lastStep = out.data.subarray(t * B * C * k, (t + 1) * B * C * k);
              const z = new Float32Array(B * C);
              for (let i = 0; i < B * C; i++) {
                let s = 0;
                for (let j = 0; j < k; j++) s += lastStep[i * k + j];
                const prob = Math.fround(Math.fround(s / k) + Math.fround(1e-3 * rng.normal()));
                z[i] = prob > 0.5 ? 1 : 0;
              }
              return z;
            });
            hist.push(zt);
          } else {
            hist.push(zd.data.slice(t * B * C, (t + 1) * B * C));
          }
        }
      });
    } else {
      for (let t = 0; t < T - 1; t++) hist.push(zd.data.slice(t * B * C, (t + 1) * B * C));
    }
    const pFlat = this.prior.forward(stackSteps(hist, B, C));
    return ops.reshape(pFlat, [T, B, C, k]);
  }

  encode(images: Tensor, rng: Random): EncodeResult {
    const encoded = this.encodeSpikes(images);
    const { sampledZ, qZ } = this.posteriorForward(encoded, rng);
    const pZ = this.priorForward(sampledZ, rng);
    return { encoded, sampledZ, qZ, pZ };
  }

  /** Decoder: latent spikes z [T, N, latent] → images [N, C, H, W] in (-1, 1). */
  decode(z: Tensor): Tensor {
    const [last, output] = this.finalLayers;
    if (this.taid) return ops.tanh(this.taid.forward(output.forward(this.decoderSpikes(z))));
    // The last spiking layer's spikes only feed the membrane output.
    return ops.tanh(output.membraneOutputAfter(last, this.decoderHidden(z), this.coef!));
  }

  /** The decoder up to its last spiking layer: spikes [T, N, hidden, H, W] that the output layer integrates. */
  private decoderSpikes(z: Tensor): Tensor {
    return this.finalLayers[0].forward(this.decoderHidden(z));
  }

  /** The decoder before its last spiking layer. */
  private decoderHidden(z: Tensor): Tensor {
    const [T, N, C] = z.shape;
    if (z.ndim !== 3 || T !== this.cfg.timeSteps || C !== this.cfg.latentDim) {
      throw new ShapeError('decode', `expects latent spikes [${this.cfg.timeSteps}, N, ${this.cfg.latentDim}], got ${fmtShape(z.shape)}`);
    }
    let h = this.decoderInput.forward(z);
    const last = this.hiddenDims[this.hiddenDims.length - 1];
    h = ops.reshape(h, [T, N, last, 2, 2]);
    for (const l of this.decoderLayers) h = l.forward(h);
    return h;
  }

  /**
   * The decoded image forming over time (no gradients): frame t is the tanh
   * of the output membrane after steps 0..t, Σ_{t'≤t} 0.8^(t−t')·x_t' with
   * the fixed output (what a decoder of t + 1 steps would return), or
   * Σ_{t'≤t} a_t'·x_t' with TAID's weights; x_t is the output layer's value at
   * step t. The last frame is decode(z) up to float32 rounding. Returns the
   * frames [T, N, C, H, W] and TAID's time weights a [T, N, C] (null with the
   * fixed output).
   */
  decodeOverTime(z: Tensor): { frames: Tensor; timeWeights: Tensor | null } {
    return noGrad(() => {
      const x = this.finalLayers[1].forward(this.decoderSpikes(z)); // [T, N, C, H, W]
      const [T, N, C, H, W] = x.shape;
      const timeWeights = this.taid ? this.taid.weights(x) : null;
      const size = N * C * H * W;
      const frames = new Float32Array(T * size);
      for (let t = 0; t < T; t++) {
        const prefix = ops.slice(x, 0, 0, t + 1);
        const membrane = timeWeights
          ? ops.sum(ops.mul(ops.reshape(ops.slice(timeWeights, 0, 0, t + 1), [t + 1, N, C, 1, 1]), prefix), [0])
          : membraneOutput(prefix, membraneCoefficients(t + 1));
        frames.set(ops.tanh(membrane).data, t * size);
      }
      return { frames: new Tensor(frames, [T, N, C, H, W]), timeWeights };
    });
  }

  forward(images: Tensor, rng: Random): ForwardResult {
    const enc = this.encode(images, rng);
    return { ...enc, recon: this.decode(enc.sampledZ) };
  }

  /** recon MSE + mean((PSP(mean_k q) − PSP(mean_k p))²), weight 1 (loss_function_mmd). */
  loss(images: Tensor, out: ForwardResult): LossResult {
    const recon = ops.mseLoss(out.recon, images);
    const qBer = ops.mean(out.qZ, [3]);
    const pBer = ops.mean(out.pZ, [3]);
    const diff = ops.sub(psp(qBer), psp(pBer));
    const distance = ops.mean(ops.square(diff));
    return { loss: ops.add(recon, distance), recon: recon.item(), distance: distance.item() };
  }

  /**
   * Generation from the prior (eval mode): z_t drawn one step at a time.
   * With `rows`, only images [first, first + count) of the n are computed,
   * from the random draws of all n: the same spikes as those images of the
   * full call (the web page splits a batch over its workers this way).
   */
  sampleLatent(n: number, rng: Random, rows: LatentRows = { first: 0, count: n }): Tensor {
    const C = this.cfg.latentDim;
    const k = this.cfg.k;
    const T = this.cfg.timeSteps;
    const { first, count } = checkRows(n, rows);
    if (!this.exactPrefixPasses) {
      return noGrad(() => {
        const net = new SteppedLinearStack(this.prior.layers, count);
        const z = new Float32Array(T * count * C);
        let prev = new Float32Array(count * C);
        for (let t = 0; t < T; t++) {
          const it = new Tensor(prev, [count, C]);
          it.binary = true;
          const out = net.step(it);
          const idx = randomIndices(n * C, k, rng).subarray(first * C);
          const zt = new Float32Array(count * C);
          for (let i = 0; i < count * C; i++) zt[i] = out[i * k + idx[i]];
          z.set(zt, t * count * C);
          prev = zt;
        }
        const zT = new Tensor(z, [T, count, C]);
        zT.binary = true;
        return zT;
      });
    }
    return noGrad(() => {
      const hist: Float32Array[] = [new Float32Array(n * C)];
      for (let t = 0; t < T; t++) {
        const out = this.prior.forward(stackSteps(hist, n, C));
        const lastStep = ops.slice(out, 0, t, t + 1);
        hist.push(ops.pickLastAxis(ops.reshape(lastStep, [n * C, k]), randomIndices(n * C, k, rng)).data);
      }
      return latentRows(stackSteps(hist.slice(1), n, C), n, rows);
    });
  }

  sample(n: number, rng: Random): { images: Tensor; z: Tensor } {
    const z = this.sampleLatent(n, rng);
    return { images: noGrad(() => this.decode(z)), z };
  }

  // ---------------------------------------------------------------- GenerativeModel

  get config(): Record<string, unknown> {
    return { ...this.cfg };
  }

  beginEpoch(epoch: number, epochs: number): void {
    this.updateP(epoch, epochs);
  }

  lossOnBatch(images: Tensor, rng: Random): BatchLoss {
    const out = this.forward(images, rng);
    const l = this.loss(images, out);
    return {
      loss: l.loss,
      terms: { loss: l.loss.item(), recon: l.recon, distance: l.distance },
      rates: { encoder: meanOf(out.encoded.data), latent: meanOf(out.sampledZ.data) },
    };
  }

  /** Encoder → posterior sample → decoder (the prior is not needed to reconstruct). */
  reconstruct(images: Tensor, rng: Random): Tensor {
    return noGrad(() => this.decode(this.inferLatent(images, rng)));
  }

  /** Latent spikes [T, N, C] sampled from the posterior of images [N, C, H, W] (what reconstruct decodes). */
  inferLatent(images: Tensor, rng: Random): Tensor {
    return noGrad(() => this.posteriorForward(this.encodeSpikes(images), rng).sampledZ);
  }

  paramGroups(lr: number, weightDecay: number): ParamGroup[] {
    return [{ params: this.parameters(), lr, weightDecay }];
  }

  /**
   * Spike trains mixed per time step: each (channel, step) entry of the
   * latent takes b's spike when a fixed uniform draw is below α, else a's,
   * so α = 0 and 1 reproduce the two posterior samples exactly.
   */
  interpolate(a: Tensor, b: Tensor, steps: number, rng: Random): Tensor {
    return noGrad(() => {
      const za = this.posteriorForward(this.encodeSpikes(a), rng).sampledZ.data;
      const zb = this.posteriorForward(this.encodeSpikes(b), rng).sampledZ.data;
      const mask = rng.fillUniform(new Float32Array(za.length));
      const T = this.cfg.timeSteps;
      const C = this.cfg.latentDim;
      // [T, steps, C]: latent of path point s at step t
      const z = new Float32Array(T * steps * C);
      for (let s = 0; s < steps; s++) {
        const alpha = steps === 1 ? 0 : s / (steps - 1);
        for (let t = 0; t < T; t++)
          for (let c = 0; c < C; c++) {
            const i = t * C + c;
            z[(t * steps + s) * C + c] = mask[i] < alpha ? zb[i] : za[i];
          }
      }
      const zt = new Tensor(z, [T, steps, C]);
      zt.binary = true;
      return this.decode(zt);
    });
  }
}

/** The mean of a spike array (a firing rate), in float64; its own function so that V8 compiles the loop once (a loop inside a once-a-step method ran on-stack-replaced code, thrown away and rebuilt every step). */
export function meanOf(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : 0;
}
