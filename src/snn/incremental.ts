/**
 * Step-by-step evaluation of a stack of tdLinear + tdBN + LIF layers (or
 * PLIF-family neurons).
 *
 * In evaluation mode tdBN uses running statistics, so every layer is causal:
 * the output at step t of a pass over the prefix 0..t equals what a network
 * stepped one time step at a time (carrying each LIF's membrane state)
 * produces at t. The FSVAE's prior sampling and its posterior re-run every
 * prefix (O(T²) layer evaluations); stepping gives the same numbers in O(T).
 * The arithmetic per step is the same as the full pass (same linear and
 * batch-norm ops, the LIF update rounded to float32 exactly as the kernels
 * do), so the results are identical, not merely close.
 */
import { Tensor } from '../engine/tensor.js';
import * as ops from '../engine/ops.js';
import { backend } from '../engine/backend/index.js';
import { notifyLayerObserver, type TdLinear } from './layers.js';
import { LIF_DECAY, LIF_THRESHOLD } from './functional.js';

export class SteppedLinearStack {
  private readonly u: Float32Array[];
  private readonly o: Float32Array[];

  constructor(private readonly layers: readonly TdLinear[], private readonly batch: number) {
    this.u = layers.map((l) => new Float32Array(batch * l.linear.outFeatures));
    this.o = layers.map((l) => new Float32Array(batch * l.linear.outFeatures));
  }

  /** One time step: input [batch, inFeatures] (binary hint kept) → output spikes [batch, outFeatures]. */
  step(input: Tensor): Float32Array {
    let h = ops.reshape(input, [1, this.batch, input.shape[input.ndim - 1]]);
    const decay = Math.fround(LIF_DECAY);
    const threshold = Math.fround(LIF_THRESHOLD); // float32 comparison, as the kernels and PyTorch do
    this.layers.forEach((layer, i) => {
      const input = h;
      const pre = layer.linear.forward(h);
      let y = pre;
      if (layer.bn) y = layer.bn.forward(y, 2);
      if (!layer.spike) {
        notifyLayerObserver({ layer, kind: 'linear', input, preActivation: pre, spikes: null });
        h = y;
        return;
      }
      const u = this.u[i];
      const o = this.o[i];
      const x = y.data;
      if (layer.plif) {
        // The PLIF-family update as its kernels round it; u holds v (the membrane after reset).
        const k = Math.fround(layer.plif.k);
        const th = Math.fround(layer.plif.threshold);
        for (let j = 0; j < x.length; j++) {
          const h = Math.fround(u[j] + Math.fround(Math.fround(x[j] - u[j]) * k));
          o[j] = h >= th ? 1 : 0;
          u[j] = o[j] ? 0 : h;
        }
      } else backend().lifStep(x.length, x, u, o, decay, threshold);
      h = new Tensor(o.slice(), y.shape);
      h.binary = true;
      notifyLayerObserver({ layer, kind: 'linear', input, preActivation: pre, spikes: h });
    });
    return h.data;
  }
}
