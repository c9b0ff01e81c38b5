/**
 * Spiking layer wrappers of the reference (snn_layers.py): a spatial layer
 * applied independently at every time step, then optional tdBN, then optional
 * LIF. Inputs are time-major [T, N, C, H, W] or [T, N, F]; T is folded into
 * the batch for the layer itself, so one kernel call covers all time steps.
 *
 * State_dict names follow PyTorch: tdConv subclasses Conv3d, so its weight
 * and bias sit at the module's own level and its tdBN under `.bn`.
 */
import { BatchNorm, Conv2d, ConvTranspose2d, Linear } from '../engine/layers.js';
import { Module } from '../engine/module.js';
import { Random } from '../engine/random.js';
import { Tensor } from '../engine/tensor.js';
import * as ops from '../engine/ops.js';
import { ShapeError, fmtShape } from '../util/errors.js';
import { LIF_DECAY, LIF_THRESHOLD, SURROGATE_HALF_WIDTH, lif, membraneOutput, repeatOverTime } from './functional.js';
import { ParametricLif, type NeuronInit } from './plif.js';

/** tdBN followed by LIF as one op (the normalised values are not kept). */
const FUSED_LIF = { decay: LIF_DECAY, threshold: LIF_THRESHOLD, halfWidth: SURROGATE_HALF_WIDTH, height: 1 / (2 * SURROGATE_HALF_WIDTH) };

/** tdBN: statistics over batch, space and time; y = alpha·Vth·x̂·weight + bias. */
export class TdBatchNorm extends BatchNorm {
  constructor(channels: number, readonly alpha = 1) {
    super(channels, alpha * LIF_THRESHOLD);
  }
}

/**
 * What a spiking layer reports to an observer after each forward call: the
 * spatial layer's input and output (before tdBN/LIF), and the spikes it
 * emits. Used to count spikes and synaptic operations (metrics/cost.ts)
 * without changing the models.
 */
export interface LayerEvent {
  layer: SpikingLayer;
  kind: 'conv' | 'convTranspose' | 'linear';
  input: Tensor;
  preActivation: Tensor;
  spikes: Tensor | null;
}

let observer: ((e: LayerEvent) => void) | null = null;

/** Installs (or removes, with null) the observer of every spiking layer's forward pass. */
export function setLayerObserver(fn: ((e: LayerEvent) => void) | null): void {
  observer = fn;
}

let timeSharing = true;

/**
 * Whether the first encoder layer runs once per image (forwardRepeated) and
 * the last decoder layer after the time sum (forwardMembraneOutput), the
 * default, or both take the literal per-step path of the reference code: the
 * results agree up to float32 rounding (test/models-time-sharing.test.ts
 * compares the two).
 */
export function setTimeSharing(on: boolean): void {
  timeSharing = on;
}

/** Lets code that evaluates a layer step by step (snn/incremental.ts) report like forward() does. */
export function notifyLayerObserver(e: LayerEvent): void {
  observer?.(e);
}

/**
 * A neuron of the PLIF family (snn/plif.ts) in place of the reference's LIF:
 * its own learnable decay (and threshold, for ALIF) per layer.
 */
export interface PlifNeuronSpec extends NeuronInit {
  kind: 'plif' | 'alif';
}

export interface SpikingLayerOptions {
  bn: boolean;
  spike: boolean;
  /** tdBN alpha: 1 in encoder/decoder, 2 in the prior and posterior. */
  alpha?: number;
  /** The spiking neuron: the reference's LIF when absent. */
  neuron?: PlifNeuronSpec;
}

export abstract class SpikingLayer extends Module {
  abstract readonly kind: LayerEvent['kind'];
  readonly bn: TdBatchNorm | null;
  readonly spike: boolean;
  /** A PLIF-family neuron (state_dict `.neuron`) instead of the LIF, or null. */
  readonly plif: ParametricLif | null;
  constructor(channels: number, opts: SpikingLayerOptions) {
    super();
    this.spike = opts.spike;
    this.bn = opts.bn ? this.registerModule('bn', new TdBatchNorm(channels, opts.alpha ?? 1)) : null;
    this.plif = opts.spike && opts.neuron ? this.registerModule('neuron', new ParametricLif(opts.neuron.kind, opts.neuron)) : null;
  }
  protected post(input: Tensor, y: Tensor): Tensor {
    let out = y;
    if (this.bn && this.spike) out = this.plif ? this.bn.forwardNeuron(out, 2, this.plif.fused()) : this.bn.forward(out, 2, FUSED_LIF);
    else {
      if (this.bn) out = this.bn.forward(out, 2);
      if (this.spike) out = this.plif ? this.plif.forward(out) : lif(out);
    }
    observer?.({ layer: this, kind: this.kind, input, preActivation: y, spikes: this.spike ? out : null });
    return out;
  }
}

/** Shares parameter storage with an inner standard layer but registers it flat (Conv3d naming). */
function adopt(target: Module, inner: Conv2d | ConvTranspose2d | Linear): void {
  const reg = target as unknown as { registerParameter(n: string, t: Tensor): Tensor };
  reg.registerParameter('weight', inner.weight);
  if (inner.bias) reg.registerParameter('bias', inner.bias);
}

export class TdConv extends SpikingLayer {
  readonly kind = 'conv';
  readonly conv: Conv2d;
  constructor(inChannels: number, outChannels: number, kernel: number, stride: number, padding: number, rng: Random, opts: SpikingLayerOptions) {
    super(outChannels, opts);
    this.conv = new Conv2d(inChannels, outChannels, kernel, stride, padding, rng, true, true);
    adopt(this, this.conv);
  }
  forward(x: Tensor): Tensor {
    if (x.ndim !== 5) throw new ShapeError('tdConv', `expects [T, N, C, H, W], got ${fmtShape(x.shape)}`);
    const [T, N, C, H, W] = x.shape;
    const y = this.conv.forward(ops.reshape(x, [T * N, C, H, W]));
    return this.post(x, ops.reshape(y, [T, N, ...y.shape.slice(1)]));
  }

  /**
   * forward(images repeated over `steps` time steps) — the encoder's direct
   * input — computed once per image instead of once per step: the convolution
   * and the tdBN of identical steps are identical, so only the LIF runs over
   * time (ops.batchNorm's `repeat`). Equal to the repeated forward up to the
   * rounding of the batch statistics' sums; gradients flow to the weights as
   * the sum over the steps, as the repeat's backward gives them.
   */
  forwardRepeated(images: Tensor, steps: number): Tensor {
    if (images.ndim !== 4) throw new ShapeError('tdConv', `expects images [N, C, H, W], got ${fmtShape(images.shape)}`);
    // A layer without tdBN + LIF has nothing to share.
    if (!timeSharing || !this.bn || !this.spike) return this.forward(repeatOverTime(images, steps));
    const y = this.conv.forward(images);
    const once = ops.reshape(y, [1, ...y.shape]);
    const out = this.plif ? this.bn.forwardNeuron(once, 2, this.plif.fused(), { repeat: steps }) : this.bn.forward(once, 2, { ...FUSED_LIF, repeat: steps });
    // An observer (the spike-cost analysis) sees what the per-step layer
    // reports: its input and pre-activation are the same at every step.
    if (observer) {
      const input = repeatOverTime(images, steps);
      observer({ layer: this, kind: this.kind, input, preActivation: repeatOverTime(y, steps), spikes: out });
    }
    return out;
  }
}

export class TdConvTranspose extends SpikingLayer {
  readonly kind = 'convTranspose';
  readonly conv: ConvTranspose2d;
  constructor(
    inChannels: number,
    outChannels: number,
    kernel: number,
    stride: number,
    padding: number,
    outputPadding: number,
    rng: Random,
    opts: SpikingLayerOptions,
  ) {
    super(outChannels, opts);
    this.conv = new ConvTranspose2d(inChannels, outChannels, kernel, stride, padding, outputPadding, rng, true, true);
    adopt(this, this.conv);
  }
  forward(x: Tensor): Tensor {
    if (x.ndim !== 5) throw new ShapeError('tdConvTranspose', `expects [T, N, C, H, W], got ${fmtShape(x.shape)}`);
    const [T, N, C, H, W] = x.shape;
    const y = this.conv.forward(ops.reshape(x, [T * N, C, H, W]));
    return this.post(x, ops.reshape(y, [T, N, ...y.shape.slice(1)]));
  }

  /**
   * membraneOutput(forward(x), coef) for the decoder's last layer (no tdBN,
   * no LIF), computed as convT(Σ_t coef_t·x_t) + bias·Σ_t coef_t: the layer is
   * linear, so the weighted sum over time can come first and the convolution
   * runs on N images instead of T·N. Equal up to float32 rounding.
   */
  forwardMembraneOutput(x: Tensor, coef: Float32Array): Tensor {
    if (x.ndim !== 5) throw new ShapeError('tdConvTranspose', `expects [T, N, C, H, W], got ${fmtShape(x.shape)}`);
    if (!this.linearOverTime()) return membraneOutput(this.forward(x), coef);
    return this.onTimeSum(membraneOutput(x, coef), coef);
  }

  /**
   * forwardMembraneOutput(prev.forward(x), coef), where prev is the spiking
   * layer before this one: when both allow it, prev's fused tdBN + LIF puts
   * out its spikes' weighted sum over time directly (ops.batchNorm's
   * `timeSum`), so they are never stored. Bit-identical to the two calls.
   */
  membraneOutputAfter(prev: TdConvTranspose, x: Tensor, coef: Float32Array): Tensor {
    if (!this.linearOverTime() || !prev.bn || !prev.spike || prev.plif) return this.forwardMembraneOutput(prev.forward(x), coef);
    if (x.ndim !== 5) throw new ShapeError('tdConvTranspose', `expects [T, N, C, H, W], got ${fmtShape(x.shape)}`);
    const [T, N, C, H, W] = x.shape;
    const y = prev.conv.forward(ops.reshape(x, [T * N, C, H, W]));
    const summed = prev.bn.forward(ops.reshape(y, [T, N, ...y.shape.slice(1)]), 2, { ...FUSED_LIF, timeSum: coef });
    return this.onTimeSum(summed, coef);
  }

  /**
   * Whether this layer may run after the time sum: it has no tdBN or LIF (so
   * it is linear), and no observer needs its per-step pre-activation.
   */
  private linearOverTime(): boolean {
    return timeSharing && !observer && !this.bn && !this.spike;
  }

  /** The layer's membrane output from its input's weighted sum over time s: convT(s) + bias·Σ_t coef_t. */
  private onTimeSum(summed: Tensor, coef: Float32Array): Tensor {
    const c = this.conv;
    let coefSum = 0;
    for (const v of coef) coefSum += v;
    const bias = c.bias ? ops.scale(c.bias, coefSum) : null;
    return ops.convTranspose2d(summed, c.weight, bias, c.stride, c.padding, c.outputPadding);
  }
}

export class TdLinear extends SpikingLayer {
  readonly kind = 'linear';
  readonly linear: Linear;
  constructor(inFeatures: number, outFeatures: number, rng: Random, opts: SpikingLayerOptions) {
    super(outFeatures, opts);
    this.linear = new Linear(inFeatures, outFeatures, rng, true);
    adopt(this, this.linear);
  }
  forward(x: Tensor): Tensor {
    if (x.ndim !== 3) throw new ShapeError('tdLinear', `expects [T, N, F], got ${fmtShape(x.shape)}`);
    return this.post(x, this.linear.forward(x));
  }
}
