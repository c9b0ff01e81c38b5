/**
 * TAID decoding (ICLR 2023 Tiny Papers; reference-semantics.md §4.2): a
 * learned T×T mixing of per-channel spatial means gives input-dependent
 * weights in (0, 1) for each time step, replacing the fixed 0.8^(T−1−t):
 *   s[t,n,c] = mean_{h,w} x_t;  a[t',n,c] = sigmoid(Σ_t W[t',t]·s[t,n,c]);
 *   y = Σ_t a[t,n,c]·x_t   (tanh applied by the caller).
 * State_dict names as the official `TAID_decoding` module sitting at
 * `membrane_output_layer`: `conv.weight` [T, T, 1] (Conv1d, kernel 1) and the
 * unused `conv_c.weight` [1, 1, 4], kept so checkpoints interchange.
 */
import { Module } from '../engine/module.js';
import type { Random } from '../engine/random.js';
import { Tensor } from '../engine/tensor.js';
import { kaimingUniformA5 } from '../engine/init.js';
import * as ops from '../engine/ops.js';

class WeightOnly extends Module {
  readonly weight: Tensor;
  constructor(shape: number[], rng: Random) {
    super();
    const n = shape.reduce((a, b) => a * b, 1);
    this.weight = this.registerParameter('weight', new Tensor(kaimingUniformA5(new Float32Array(n), shape, rng), shape));
  }
}

export class TaidDecoding extends Module {
  readonly conv: WeightOnly;
  readonly convC: WeightOnly;
  constructor(readonly steps: number, rng: Random) {
    super();
    this.conv = this.registerModule('conv', new WeightOnly([steps, steps, 1], rng));
    this.convC = this.registerModule('conv_c', new WeightOnly([1, 1, 4], rng));
  }

  /** x [T, N, C, H, W] (real-valued final deconv output) → [N, C, H, W] before tanh. */
  forward(x: Tensor): Tensor {
    const [T, N, C] = x.shape;
    const aT = ops.reshape(this.weights(x), [T, N, C, 1, 1]);
    return ops.sum(ops.mul(aT, x), [0]);
  }

  /** The time weights a [T, N, C] in (0, 1) that forward gives x's steps. */
  weights(x: Tensor): Tensor {
    const T = x.shape[0];
    const s = ops.mean(x, [3, 4]); // [T, N, C]
    const w = ops.reshape(this.conv.weight, [T, T]);
    const mixed = ops.linear(ops.permute(s, [1, 2, 0]), w, null); // [N, C, T']
    return ops.permute(ops.sigmoid(mixed), [2, 0, 1]);
  }
}
