/**
 * The PLIF family of spiking neurons (reference-semantics.md §4.3): PLIF
 * (Fang et al. 2021: learnable decay) and ALIF (the TAID paper: learnable
 * decay and threshold), plus the same neuron with both fixed, which is the
 * classifiers' "LIF" baseline (spikingjelly's LIFNode). Per layer instance,
 * one scalar w (decay k = sigmoid(w), time constant τ = 1/k) and one scalar
 * threshold V_th; for each neuron, with v_{-1} = 0:
 *   h_t = v_{t−1} + (y_t − v_{t−1})·k      (charge; the input is scaled by k too)
 *   s_t = [h_t ≥ V_th]                     (fire; spikingjelly's heaviside is ≥)
 *   v_t = s_t ? 0 : h_t                     (hard reset to 0, reset detached)
 * with spikingjelly's arctangent surrogate ds/dh = (α/2)/(1 + (π/2·α·(h − V_th))²),
 * α = 2, centred on the threshold.
 *
 * Initial values: w0 = −ln(τ0 − 1) (so sigmoid(w0) = 1/τ0; τ0 > 1), V_th0.
 * The official code's defaults are τ0 = 2 and V_th0 = 0.5. The paper's
 * Table 7 gives "init τ" 0.25 and 0.5, which −ln(τ0 − 1) cannot take: there
 * τ is the multiplicative decay of its Eq. 5 (u_t = τ·u_{t−1}(1 − o) + x, the
 * FSVAE LIF's 0.25), i.e. 1 − k, so τ0 = 1/(1 − decay0): decay 0.5 is the
 * code's τ0 = 2 (w0 = 0) and decay 0.25 is τ0 = 4/3 (w0 = ln 3).
 *
 * State_dict names follow the official modules: `w` (a 0-d tensor) for PLIF
 * and ALIF, `v_threshold` (0-d) for ALIF; the fixed neuron has none.
 */
import { allocFloat32Output, releaseFloat32 } from '../engine/alloc.js';
import { backend } from '../engine/backend/index.js';
import type { NeuronAffine } from '../engine/backend/types.js';
import { Module } from '../engine/module.js';
import type { FusedNeuron } from '../engine/ops.js';
import { Tensor, makeResult } from '../engine/tensor.js';
import { ShapeError, UserError, fmtShape } from '../util/errors.js';

/** Which parameters learn: none ('lif', the classifiers' baseline), the decay ('plif'), decay and threshold ('alif'). */
export type ParametricKind = 'lif' | 'plif' | 'alif';

/** Width parameter of spikingjelly's ATan surrogate (its default). */
export const ATAN_ALPHA = 2;

export interface NeuronInit {
  /** Initial time constant τ0 = 1/sigmoid(w0); must be above 1. */
  tau0: number;
  /** Initial threshold V_th0. */
  vth0: number;
}

/** The official code's defaults (models.py ALIF: init_tau = 2.0, init_v_threshold = 0.5). */
export const CODE_DEFAULT_INIT: NeuronInit = { tau0: 2, vth0: 0.5 };

/** w0 = −ln(τ0 − 1), so that sigmoid(w0) = 1/τ0. */
export function initialW(tau0: number): number {
  if (!(tau0 > 1) || !Number.isFinite(tau0)) throw new UserError(`initial time constant τ0 must be a number above 1, got ${tau0} (a decay factor in (0, 1) is given as decay0)`);
  return -Math.log(tau0 - 1);
}

/** τ0 of a decay factor in the paper's Eq. 5 notation (its Table 7 "init τ"): τ0 = 1/(1 − decay0). */
export function tauFromDecay(decay0: number): number {
  if (!(decay0 > 0 && decay0 < 1)) throw new UserError(`initial decay factor must be in (0, 1), got ${decay0}`);
  return 1 / (1 - decay0);
}

/** sigmoid(w) rounded to float32, as PyTorch's float32 sigmoid gives it (up to an ulp). */
export function decayRate(w: number): number {
  return Math.fround(1 / (1 + Math.exp(-w)));
}

/** The scalar parameters of one neuron layer, as the kernels take them (read once per forward). */
interface NeuronScalars {
  k: number;
  threshold: number;
}

/** One neuron layer's learned (or fixed) parameters, as `spikevae eval` reports them. */
export interface NeuronReport {
  /** The layer's state_dict prefix (without the neuron's own `.neuron`). */
  layer: string;
  neuron: string;
  /** Time constant τ = 1/sigmoid(w), the decay rate k = 1/τ and the threshold. */
  tau: number;
  k: number;
  threshold: number;
  /** Which of them learn. */
  learns: string[];
}

export class ParametricLif extends Module {
  /** w of k = sigmoid(w); a parameter for 'plif' and 'alif'. */
  readonly w: Tensor;
  /** V_th; a parameter for 'alif'. */
  readonly vThreshold: Tensor;

  constructor(readonly neuron: ParametricKind, readonly init: NeuronInit, readonly alpha = ATAN_ALPHA) {
    super();
    if (!Number.isFinite(init.vth0)) throw new UserError(`initial threshold must be a finite number, got ${init.vth0}`);
    this.w = new Tensor(Float32Array.of(initialW(init.tau0)), []);
    this.vThreshold = new Tensor(Float32Array.of(init.vth0), []);
    if (neuron !== 'lif') this.registerParameter('w', this.w);
    if (neuron === 'alif') this.registerParameter('v_threshold', this.vThreshold);
  }

  /** The current decay rate k = sigmoid(w) = 1/τ. */
  get k(): number {
    return decayRate(this.w.data[0]);
  }

  /** The current time constant τ = 1/k. */
  get tau(): number {
    return 1 / this.k;
  }

  get threshold(): number {
    return this.vThreshold.data[0];
  }

  private scalars(): NeuronScalars {
    return { k: this.k, threshold: this.threshold };
  }

  /** The parameter gradients from the kernel's dL/dk and dL/dV_th. */
  private addParamGrads(q: NeuronScalars, sums: Float64Array): void {
    // k = sigmoid(w): dk/dw = k·(1 − k).
    if (this.w.requiresGrad) this.w.gradBuffer()[0] += sums[0] * q.k * (1 - q.k);
    if (this.vThreshold.requiresGrad) this.vThreshold.gradBuffer()[0] += sums[1];
  }

  /** Spikes [T, ...] for the input currents x [T, ...] (time-major). */
  forward(x: Tensor): Tensor {
    if (x.ndim < 1) throw new ShapeError(this.neuron, `needs a time axis, got shape ${fmtShape(x.shape)}`);
    const steps = x.shape[0];
    const size = x.size / Math.max(steps, 1);
    const q = this.scalars();
    const be = backend();
    const o = allocFloat32Output(x.size);
    be.plifForward(steps, size, x.data, o, q.k, q.threshold, null, false);
    const out = makeResult(this.neuron, o, x.shape, [x, this.w, this.vThreshold], (g) => {
      // g is this output's own gradient buffer: the input gradient overwrites it in place.
      const sums = new Float64Array(2);
      be.plifBackward(steps, size, x.data, o, g, g, q.k, q.threshold, this.alpha, null, false, sums);
      if (x.requiresGrad) x.takeGrad(g);
      this.addParamGrads(q, sums);
    });
    out.binary = true;
    return out;
  }

  /** This neuron in the form a batch norm fuses (ops.batchNorm's `neuron`). */
  fused(): FusedNeuron {
    const q = this.scalars();
    const be = backend();
    return {
      params: [this.w, this.vThreshold],
      forward: (steps: number, size: number, x: Float32Array, affine: NeuronAffine, repeated: boolean) => {
        const o = allocFloat32Output(steps * size);
        be.plifForward(steps, size, x, o, q.k, q.threshold, affine, repeated);
        return o;
      },
      backward: (steps, size, x, o, go, gy, affine, repeated) => {
        const sums = new Float64Array(2);
        be.plifBackward(steps, size, x, o, go, gy, q.k, q.threshold, this.alpha, affine, repeated, sums);
        this.addParamGrads(q, sums);
      },
    };
  }

  /**
   * fused() with a 2×2 stride-2 max pooling after the neuron (the
   * classifiers' MaxPool2d(2)), for inputs whose last two axes are height ×
   * width (both even): the fused op outputs the pooled spikes, and the
   * neuron's own spikes never meet a gradient buffer of their size (the
   * backward sends each pooled gradient to its window's winner on the fly).
   * `spikes` holds the neuron's spikes of the last forward (firing rates,
   * spike cost) until the backward, which hands them back to the pool.
   */
  fusedPooled(height: number, width: number): FusedNeuron & { spikes: Float32Array | null } {
    const q = this.scalars();
    const be = backend();
    const fused = {
      spikes: null as Float32Array | null,
      params: [this.w, this.vThreshold],
      outputShape: (shape: number[]) => {
        if (shape.length < 3 || shape[shape.length - 2] !== height || shape[shape.length - 1] !== width || height % 2 || width % 2) {
          throw new ShapeError(this.neuron, `pools ${height}×${width} planes (both even), got spikes ${fmtShape(shape)}`);
        }
        return [...shape.slice(0, -2), height / 2, width / 2];
      },
      forward: (steps: number, size: number, x: Float32Array, affine: NeuronAffine, repeated: boolean) => {
        const o = allocFloat32Output(steps * size);
        const pooled = allocFloat32Output((steps * size) / 4);
        be.plifPoolForward(steps, size, x, o, pooled, q.k, q.threshold, affine, repeated, height, width);
        fused.spikes = o;
        return pooled;
      },
      backward: (steps: number, size: number, x: Float32Array, _pooled: Float32Array, gPooled: Float32Array, gy: Float32Array, affine: NeuronAffine, repeated: boolean) => {
        const sums = new Float64Array(2);
        be.plifPoolBackward(steps, size, x, fused.spikes!, gPooled, gy, q.k, q.threshold, this.alpha, affine, repeated, sums, height, width);
        this.addParamGrads(q, sums);
        releaseFloat32(fused.spikes!);
        fused.spikes = null;
      },
    };
    return fused;
  }
}

/**
 * Every PLIF-family neuron layer of a model, in registration (forward)
 * order: the classifiers' (named by their state_dict prefix, `conv.0`) and
 * those of a VAE built with --neuron plif|alif (`encoder.0.neuron` reported
 * as `encoder.0`). Empty for a model of the reference's fixed LIF.
 */
export function learnedNeurons(model: Module): NeuronReport[] {
  const out: NeuronReport[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof ParametricLif)) continue;
    out.push({
      layer: name.replace(/\.neuron$/, ''),
      neuron: m.neuron,
      tau: m.tau,
      k: m.k,
      threshold: m.threshold,
      learns: m.neuron === 'alif' ? ['tau', 'threshold'] : m.neuron === 'plif' ? ['tau'] : [],
    });
  }
  return out;
}
