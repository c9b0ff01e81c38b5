/**
 * The spiking classifiers of the TAID/ALIF paper (reference-semantics.md
 * §4.3; the official Classification/codes/models.py, which derives from the
 * PLIF code): a static encoder (Conv + BatchNorm2d, computed once per image),
 * then spiking stages run for T steps, then voting (AvgPool1d(10) over 100
 * output neurons, summed over time).
 *
 *   MNIST:    Conv(1→128) + BN | ALIF, MaxPool2, Conv(128→128) + BN, ALIF, MaxPool2 |
 *             Flatten, Dropout 0.5, FC 6272→2048, ALIF, Dropout 0.5, FC 2048→100, ALIF | vote
 *   CIFAR-10: Conv(3→256) + BN | ALIF, 2 × [Conv 256 + BN + ALIF], MaxPool2,
 *             3 × [Conv 256 + BN + ALIF], MaxPool2 | Flatten, Dropout 0.5,
 *             FC 16384→2048, ALIF, FC 2048→100, ALIF | vote
 *
 * As the official code has them: convolutions and linear layers without bias;
 * 3×3 convolutions with padding 1; the BatchNorm2d inside the spiking stages
 * sees one time step per call, so its statistics are per step (and its
 * running statistics move T times per batch); dropout masks (values 0 and
 * 1/(1 − p)) are drawn once per batch and kept over the T steps
 * (spikingjelly's layer.Dropout); the CIFAR-10 network has one dropout (the
 * paper's Table 8 draws two; the code, which the spec follows, has one).
 * Loss: MSE(spike count / T, one-hot); prediction: argmax of the counts.
 *
 * `neuron` picks the PLIF family member in every spiking layer: 'alif'
 * (learnable decay and threshold), 'plif' (learnable decay) or 'lif' (both
 * fixed: the official code's non-PLIF option, spikingjelly's LIFNode, here
 * with the same τ0 and V_th0 so the three differ only in what learns).
 *
 * State_dict names are the official modules' (`static_conv.0.weight`,
 * `static_conv.1.running_mean`, `conv.0.w`, `conv.0.v_threshold`,
 * `conv.2.weight`, ..., `fc.2.weight`, `fc.3.w`, ...).
 */
import { BatchNorm, Conv2d, Linear } from '../engine/layers.js';
import { Module } from '../engine/module.js';
import { type ParamGroup, cosineAnnealingFactor } from '../engine/optim.js';
import { Random } from '../engine/random.js';
import { allocFloat32Output } from '../engine/alloc.js';
import { backend } from '../engine/backend/index.js';
import { Tensor, makeResult } from '../engine/tensor.js';
import * as ops from '../engine/ops.js';
import { CODE_DEFAULT_INIT, ParametricLif, type ParametricKind, tauFromDecay } from '../snn/plif.js';
import { ShapeError, UserError, fmtShape } from '../util/errors.js';
import { SequentialHolder } from './fsvae.js';
import type { BatchLoss, TrainableModel, TrainingDefaults } from './types.js';

export type ClassifierNetwork = 'mnist' | 'cifar10';

export interface ClassifierConfig {
  network: ClassifierNetwork;
  neuron: ParametricKind;
  /** Initial time constant τ0 (> 1); the code's default 2. */
  tau0: number;
  /** Initial threshold V_th0; the code's default 0.5. */
  vth0: number;
  timeSteps: number;
  dropout: number;
  /** CosineAnnealingLR's T_max, in epochs. */
  cosineTMax: number;
}

export const CLASSES = 10;
/** Output neurons per class: AvgPool1d(10, 10) over 100 outputs votes them into 10 classes. */
export const VOTERS = 10;

export function classifierNetwork(dataset: string): ClassifierNetwork {
  if (dataset === 'mnist' || dataset === 'fashion') return 'mnist';
  if (dataset === 'cifar10') return 'cifar10';
  throw new UserError(`alif-classifier: trains on mnist, fashion or cifar10, not '${dataset}'`);
}

export interface NeuronOptions {
  neuron?: ParametricKind;
  tau0?: number;
  /** The paper's Table 7 "init τ" (a decay factor in (0, 1)): τ0 = 1/(1 − decay0). */
  decay0?: number;
  vth0?: number;
}

/** τ0 from --tau0 or --decay0 (not both). */
export function resolveTau0(opts: NeuronOptions, fallback: number): number {
  if (opts.tau0 !== undefined && opts.decay0 !== undefined) throw new UserError('give the initial decay as --tau0 or as --decay0, not both');
  return opts.decay0 !== undefined ? tauFromDecay(opts.decay0) : (opts.tau0 ?? fallback);
}

export function defaultClassifierConfig(dataset: string, opts: NeuronOptions & { timeSteps?: number } = {}): ClassifierConfig {
  return {
    network: classifierNetwork(dataset),
    neuron: opts.neuron ?? 'alif',
    tau0: resolveTau0(opts, CODE_DEFAULT_INIT.tau0),
    vth0: opts.vth0 ?? CODE_DEFAULT_INIT.vth0,
    timeSteps: opts.timeSteps ?? 8,
    dropout: 0.5,
    cosineTMax: 64,
  };
}

/** train.py: Adam (no weight decay), lr 1e-3, batch 16; the paper trains 1000 epochs. */
export const classifierTrainingDefaults: TrainingDefaults = { lr: 1e-3, weightDecay: 0, batchSize: 16, epochs: 1000 };

/** A 3×3 convolution (padding 1, no bias), its BatchNorm2d and the neuron after it. */
interface ConvStage {
  kind: 'conv';
  /** State_dict prefix of the convolution (its BN and neuron follow it). */
  name: string;
  conv: Conv2d;
  bn: BatchNorm;
  neuron: ParametricLif;
}
type Stage = ConvStage | { kind: 'pool' };

/** What one spiking layer did in a forward pass (for firing rates and spike cost). */
export interface ClassifierTrace {
  /** State_dict prefix of the layer's neuron, e.g. 'conv.4'. */
  neuron: string;
  /** The synaptic layer that drives the neuron, and its input (time-major; [N, ...] for the static convolution, run once). */
  synapse: { name: string; kind: 'conv' | 'linear'; input: Tensor; layer: Conv2d | Linear };
  /** The neuron's spikes [T, N, ...]. */
  spikes: Tensor;
}

export class AlifClassifier extends Module implements TrainableModel {
  readonly kind = 'alif-classifier';
  readonly supervised = true;
  readonly cfg: ClassifierConfig;
  readonly staticConv: Conv2d;
  readonly staticBn: BatchNorm;
  readonly firstNeuron: ParametricLif;
  readonly stages: Stage[] = [];
  readonly fc1: Linear;
  readonly fc1Neuron: ParametricLif;
  readonly fc2: Linear;
  readonly fc2Neuron: ParametricLif;
  /** Image geometry: channels and side. */
  readonly inChannels: number;
  readonly imageSize: number;
  /** Names of the neuron layers in forward order (state_dict prefixes). */
  readonly neuronNames: string[] = [];
  private readonly twoDropouts: boolean;
  private readonly fc2Name: string;

  constructor(cfg: ClassifierConfig, rng: Random) {
    super();
    if (!(cfg.timeSteps >= 1) || !(cfg.dropout >= 0 && cfg.dropout < 1)) throw new UserError(`alif-classifier: bad configuration ${JSON.stringify(cfg)}`);
    this.cfg = cfg;
    const mnist = cfg.network === 'mnist';
    this.inChannels = mnist ? 1 : 3;
    this.imageSize = mnist ? 28 : 32;
    const width = mnist ? 128 : 256;
    const neuron = () => new ParametricLif(cfg.neuron, { tau0: cfg.tau0, vth0: cfg.vth0 });
    const stat = this.registerModule('static_conv', new SequentialHolder());
    this.staticConv = new Conv2d(this.inChannels, width, 3, 1, 1, rng, false);
    this.staticBn = new BatchNorm(width);
    stat.add('0', this.staticConv);
    stat.add('1', this.staticBn);
    const conv = this.registerModule('conv', new SequentialHolder());
    this.firstNeuron = neuron();
    conv.add('0', this.firstNeuron);
    this.neuronNames.push('conv.0');
    // After the first neuron: the official Sequential's layers, by index.
    const layout: Array<'conv' | 'pool'> = mnist ? ['pool', 'conv', 'pool'] : ['conv', 'conv', 'pool', 'conv', 'conv', 'conv', 'pool'];
    let index = 1;
    let side = this.imageSize;
    for (const l of layout) {
      if (l === 'pool') {
        this.stages.push({ kind: 'pool' });
        side /= 2;
        index += 1;
        continue;
      }
      const stage: ConvStage = { kind: 'conv', name: `conv.${index}`, conv: new Conv2d(width, width, 3, 1, 1, rng, false), bn: new BatchNorm(width), neuron: neuron() };
      conv.add(String(index), stage.conv);
      conv.add(String(index + 1), stage.bn);
      conv.add(String(index + 2), stage.neuron);
      this.neuronNames.push(`conv.${index + 2}`);
      this.stages.push(stage);
      index += 3;
    }
    const flat = width * side * side;
    const hidden = 128 * 4 * 4; // 2048 in both networks
    const fc = this.registerModule('fc', new SequentialHolder());
    this.twoDropouts = mnist;
    this.fc1 = new Linear(flat, hidden, rng, false);
    this.fc1Neuron = neuron();
    this.fc2 = new Linear(hidden, CLASSES * VOTERS, rng, false);
    this.fc2Neuron = neuron();
    // fc.0 Flatten and fc.1 Dropout hold no tensors; MNIST has a second dropout at fc.4.
    const after = mnist ? 5 : 4;
    fc.add('2', this.fc1);
    fc.add('3', this.fc1Neuron);
    this.fc2Name = `fc.${after}`;
    fc.add(String(after), this.fc2);
    fc.add(String(after + 1), this.fc2Neuron);
    this.neuronNames.push('fc.3', `fc.${after + 1}`);
  }

  checkImages(images: Tensor): void {
    const [c, s] = [this.inChannels, this.imageSize];
    if (images.ndim !== 4 || images.shape[1] !== c || images.shape[2] !== s || images.shape[3] !== s) {
      throw new ShapeError('alif-classifier', `expects images [N, ${c}, ${s}, ${s}], got ${fmtShape(images.shape)}`);
    }
  }

  /** A dropout mask [features] of 0 and 1/(1 − p), kept over every step (spikingjelly's layer.Dropout). */
  private dropoutMask(size: number, rng: Random): Float32Array {
    const p = this.cfg.dropout;
    const keep = 1 / (1 - p);
    // The same draws in the same order as one uniform() per element; they are
    // exact in float32, so comparing the stored draw with p decides alike.
    return dropFrom(rng.fillUniform(new Float32Array(size)), p, keep);
  }

  private dropout(x: Tensor, rng: Random): Tensor {
    if (!this.training || this.cfg.dropout === 0) return x;
    return maskEveryStep(x, this.dropoutMask(x.size / x.shape[0], rng));
  }

  /**
   * Spike counts per class [N, 10] (0..T) for images [N, C, H, W]. `trace`
   * receives each spiking layer's synaptic input and spikes.
   */
  forward(images: Tensor, rng: Random, trace?: ClassifierTrace[]): Tensor {
    this.checkImages(images);
    const T = this.cfg.timeSteps;
    const N = images.shape[0];
    const names = this.neuronNames;
    // A neuron followed by a pooling stage pools its own spikes (the pooled
    // spikes feed the next layer; the unpooled ones only reach the trace).
    const poolsNext = (j: number) => this.stages[j]?.kind === 'pool';
    // The static encoder runs once; its BatchNorm output drives the first neuron at every step.
    const y0 = this.staticConv.forward(images);
    let fired = fire(this.staticBn, ops.reshape(y0, [1, ...y0.shape]), this.firstNeuron, { repeat: T }, poolsNext(0));
    let h = fired.out;
    trace?.push({ neuron: names[0], synapse: { name: 'static_conv.0', kind: 'conv', input: images, layer: this.staticConv }, spikes: fired.spikes });
    let n = 1;
    for (let j = fired.pooled ? 1 : 0; j < this.stages.length; j++) {
      const st = this.stages[j];
      const [, , C, H, W] = h.shape;
      const flat = ops.reshape(h, [T * N, C, H, W]);
      if (st.kind === 'pool') {
        const p = ops.maxPool2d(flat, 2);
        h = ops.reshape(p, [T, N, ...p.shape.slice(1)]);
        continue;
      }
      const y = st.conv.forward(flat);
      const input = h;
      fired = fire(st.bn, ops.reshape(y, [T, N, ...y.shape.slice(1)]), st.neuron, { perStep: true }, poolsNext(j + 1));
      h = fired.out;
      if (fired.pooled) j++;
      trace?.push({ neuron: names[n++], synapse: { name: st.name, kind: 'conv', input, layer: st.conv }, spikes: fired.spikes });
    }
    let v = ops.reshape(h, [T, N, -1]);
    v = this.dropout(v, rng);
    const s1 = this.fc1Neuron.forward(this.fc1.forward(v));
    trace?.push({ neuron: names[n++], synapse: { name: 'fc.2', kind: 'linear', input: v, layer: this.fc1 }, spikes: s1 });
    const v2 = this.twoDropouts ? this.dropout(s1, rng) : s1;
    const s2 = this.fc2Neuron.forward(this.fc2.forward(v2));
    trace?.push({ neuron: names[n++], synapse: { name: this.fc2Name, kind: 'linear', input: v2, layer: this.fc2 }, spikes: s2 });
    // Voting: the mean of each class's 10 output neurons, summed over the steps.
    return ops.sum(ops.mean(ops.reshape(s2, [T, N, CLASSES, VOTERS]), [3]), [0]);
  }

  /** MSE(count / T, one-hot) as train.py computes it, and the batch's accuracy. */
  loss(counts: Tensor, labels: Int32Array): { loss: Tensor; correct: number } {
    const N = counts.shape[0];
    if (labels.length !== N) throw new ShapeError('alif-classifier', `${labels.length} labels for ${N} images`);
    const oneHot = new Float32Array(N * CLASSES);
    for (let i = 0; i < N; i++) {
      if (!(labels[i] >= 0 && labels[i] < CLASSES)) throw new ShapeError('alif-classifier', `label ${labels[i]} outside 0-${CLASSES - 1}`);
      oneHot[i * CLASSES + labels[i]] = 1;
    }
    const loss = ops.mseLoss(ops.scale(counts, 1 / this.cfg.timeSteps), new Tensor(oneHot, [N, CLASSES]));
    const pred = predictions(counts);
    let correct = 0;
    for (let i = 0; i < N; i++) if (pred[i] === labels[i]) correct++;
    return { loss, correct };
  }

  // ---------------------------------------------------------------- TrainableModel

  get config(): Record<string, unknown> {
    return { ...this.cfg };
  }

  beginEpoch(): void {}

  learningRateFactor(epoch: number): number {
    return cosineAnnealingFactor(epoch, this.cfg.cosineTMax);
  }

  lossOnBatch(images: Tensor, rng: Random, labels?: Int32Array): BatchLoss {
    if (!labels) throw new UserError('alif-classifier: training and evaluation need the images\' labels');
    const trace: ClassifierTrace[] = [];
    const counts = this.forward(images, rng, trace);
    const { loss, correct } = this.loss(counts, labels);
    const rates: Record<string, number> = {};
    for (const t of trace) rates[t.neuron] = firingRate(t.spikes);
    return { loss, terms: { loss: loss.item(), accuracy: correct / labels.length }, rates };
  }

  paramGroups(lr: number, weightDecay: number): ParamGroup[] {
    return [{ params: this.parameters(), lr, weightDecay }];
  }
}

/**
 * A batch norm and the neuron it drives over y [T or 1, N, C, H, W]; with
 * `pool` (and even H, W) the neuron also applies the 2×2 max pooling that
 * follows it. `out` feeds the next layer; `spikes` are the neuron's own
 * (readable until the backward pass).
 */
function fire(bn: BatchNorm, y: Tensor, neuron: ParametricLif, opts: { perStep?: boolean; repeat?: number }, pool: boolean): { out: Tensor; spikes: Tensor; pooled: boolean } {
  const [H, W] = y.shape.slice(-2);
  if (!pool || H % 2 !== 0 || W % 2 !== 0) {
    const out = bn.forwardNeuron(y, 2, neuron.fused(), opts);
    return { out, spikes: out, pooled: false };
  }
  const fused = neuron.fusedPooled(H, W);
  const out = bn.forwardNeuron(y, 2, fused, opts);
  const spikes = new Tensor(fused.spikes!, [out.shape[0], ...y.shape.slice(1)]);
  spikes.binary = true;
  return { out, spikes, pooled: true };
}

/** Index of the largest count per image (the first on ties, as torch.argmax). */
export function predictions(counts: Tensor): Int32Array {
  const [N, K] = counts.shape;
  const out = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let j = 1; j < K; j++) if (counts.data[i * K + j] > counts.data[i * K + best]) best = j;
    out[i] = best;
  }
  return out;
}

/**
 * x [T, ...] times mask [...] at every step (ops.mul with the mask broadcast
 * over time, the same products, without the general broadcasting loop,
 * which with its backward took several percent of a batch-16 step).
 */
export function maskEveryStep(x: Tensor, mask: Float32Array): Tensor {
  const size = mask.length;
  if (x.ndim < 1 || x.size !== x.shape[0] * size) throw new ShapeError('maskEveryStep', `mask of ${size} values does not fit ${fmtShape(x.shape)}`);
  const steps = x.shape[0];
  const y = allocFloat32Output(x.size);
  maskRows(x.data, mask, y, steps, size, false);
  return makeResult('maskEveryStep', y, x.shape, [x], (g) => {
    x.addGradWith((gx, accumulate) => maskRows(g, mask, gx, steps, size, accumulate));
  });
}

// Draws u → 0 where u < p, else keep (a loop of its own, like maskRows).
function dropFrom(u: Float32Array, p: number, keep: number): Float32Array {
  for (let i = 0; i < u.length; i++) u[i] = u[i] < p ? 0 : keep;
  return u;
}

// The loops of maskEveryStep in a function of their own: called twice a step,
// a loop inside the op itself ran on-stack-replaced code that V8 threw away at
// the code after it (never run yet) and recompiled, step after step: 10 ms per
// 800k products instead of ~1 (js-profile: 8.4 ms of a 239 ms batch-16 step).
function maskRows(src: Float32Array, mask: Float32Array, dst: Float32Array, steps: number, size: number, accumulate: boolean): void {
  for (let t = 0; t < steps; t++) {
    const o = t * size;
    if (accumulate) for (let i = 0; i < size; i++) dst[o + i] += src[o + i] * mask[i];
    else for (let i = 0; i < size; i++) dst[o + i] = src[o + i] * mask[i];
  }
}

/** The mean of a spike tensor [T, N, ...] (a count, summed exactly in float64 by the back-end's threads). */
export function firingRate(spikes: Tensor): number {
  if (spikes.size === 0) return 0;
  const rows = spikes.shape[0] * spikes.shape[1];
  const sum = new Float64Array(1);
  backend().channelSums(rows, 1, spikes.size / rows, spikes.data, sum);
  return sum[0] / spikes.size;
}
