/**
 * Standard (non-spiking) layers as PyTorch modules define them: the same
 * parameter names, shapes and default initialisation.
 */
import { Random } from './random.js';
import { Module, BufferEntry } from './module.js';
import { Tensor } from './tensor.js';
import { biasFill, kaimingUniformA5 } from './init.js';
import * as ops from './ops.js';

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, rng: Random, bias = true) {
    super();
    const shape = [outFeatures, inFeatures];
    this.weight = this.registerParameter('weight', new Tensor(kaimingUniformA5(new Float32Array(outFeatures * inFeatures), shape, rng), shape));
    this.bias = bias ? this.registerParameter('bias', new Tensor(biasFill(new Float32Array(outFeatures), shape, rng), [outFeatures])) : null;
  }
  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }
}

/** Conv2d (or a Conv3d with kernel (k,k,1) when `trailingUnit`, as the spiking layers store it). */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly stride: number,
    readonly padding: number,
    rng: Random,
    bias = true,
    trailingUnit = false,
  ) {
    super();
    const shape = [outChannels, inChannels, kernel, kernel, ...(trailingUnit ? [1] : [])];
    const n = outChannels * inChannels * kernel * kernel;
    this.weight = this.registerParameter('weight', new Tensor(kaimingUniformA5(new Float32Array(n), shape, rng), shape));
    this.bias = bias ? this.registerParameter('bias', new Tensor(biasFill(new Float32Array(outChannels), shape, rng), [outChannels])) : null;
  }
  forward(x: Tensor): Tensor {
    return ops.conv2d(x, this.weight, this.bias, this.stride, this.padding);
  }
}

/** ConvTranspose2d (weight [Cin, Cout, k, k], or (k,k,1) for ConvTranspose3d). */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly stride: number,
    readonly padding: number,
    readonly outputPadding: number,
    rng: Random,
    bias = true,
    trailingUnit = false,
  ) {
    super();
    const shape = [inChannels, outChannels, kernel, kernel, ...(trailingUnit ? [1] : [])];
    const n = outChannels * inChannels * kernel * kernel;
    this.weight = this.registerParameter('weight', new Tensor(kaimingUniformA5(new Float32Array(n), shape, rng), shape));
    this.bias = bias ? this.registerParameter('bias', new Tensor(biasFill(new Float32Array(outChannels), shape, rng), [outChannels])) : null;
  }
  forward(x: Tensor): Tensor {
    return ops.convTranspose2d(x, this.weight, this.bias, this.stride, this.padding, this.outputPadding);
  }
}

/**
 * BatchNorm with PyTorch's parameters and buffers (weight=1, bias=0,
 * running_mean=0, running_var=1, num_batches_tracked=0). `normScale`
 * multiplies the normalised value: 1 for nn.BatchNorm, alpha·Vth for tdBN.
 */
export class BatchNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: BufferEntry;
  readonly runningVar: BufferEntry;
  readonly numBatchesTracked: BufferEntry;
  momentum = 0.1;
  eps = 1e-5;
  constructor(readonly channels: number, readonly normScale = 1) {
    super();
    this.weight = this.registerParameter('weight', Tensor.full([channels], 1));
    this.bias = this.registerParameter('bias', Tensor.zeros([channels]));
    this.runningMean = this.registerBuffer('running_mean', { data: new Float32Array(channels), shape: [channels] });
    this.runningVar = this.registerBuffer('running_var', { data: new Float32Array(channels).fill(1), shape: [channels] });
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', { counter: { value: 0 }, shape: [] });
  }
  /** Normalises over every axis but `axis` (the channel axis); `lif` fuses a LIF neuron after it. */
  forward(x: Tensor, axis: number, lif?: ops.BatchNormOptions['lif']): Tensor {
    return ops.batchNorm(x, this.weight, this.bias, this.state(), { ...this.options(axis), lif });
  }

  /**
   * Normalises as forward() does, then runs `neuron` over the leading time
   * axis; only its spikes are kept. `perStep`: statistics per time step;
   * `repeat`: x is one step repeated over that many (ops.BatchNormOptions).
   */
  forwardNeuron(x: Tensor, axis: number, neuron: ops.FusedNeuron, opts: { perStep?: boolean; repeat?: number } = {}): Tensor {
    return ops.batchNorm(x, this.weight, this.bias, this.state(), { ...this.options(axis), neuron, ...opts });
  }

  private state(): ops.BatchNormState {
    return { runningMean: this.runningMean.data!, runningVar: this.runningVar.data!, numBatchesTracked: this.numBatchesTracked.counter! };
  }

  private options(axis: number): ops.BatchNormOptions {
    return { axis, training: this.training, momentum: this.momentum, eps: this.eps, scale: this.normScale };
  }
}
