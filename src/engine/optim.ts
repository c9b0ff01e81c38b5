/**
 * AdamW with PyTorch's semantics (torch.optim.AdamW, non-amsgrad):
 *   p ← p·(1 − lr·wd)                      (decoupled weight decay, first)
 *   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
 *   p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps)
 * Parameter groups carry their own lr and weight decay (ESVAE trains its
 * prior bottleneck at 10× the learning rate). With weight decay 0 this is
 * torch.optim.Adam exactly (the decay factor is 1).
 */
import { releaseFloat32 } from './alloc.js';
import { backend } from './backend/index.js';
import { Tensor } from './tensor.js';

export interface ParamGroup {
  params: Tensor[];
  lr: number;
  weightDecay: number;
  betas?: [number, number];
  eps?: number;
}

export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  readonly groups: Required<ParamGroup>[];
  /** Each group's learning rate as constructed (what a schedule scales). */
  readonly baseLrs: number[];
  /** Per-parameter state in group order, then parameter order. */
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  stepCount = 0;

  constructor(groups: ParamGroup[]) {
    this.groups = groups.map((g) => ({ betas: [0.9, 0.999], eps: 1e-8, ...g }) as Required<ParamGroup>);
    this.baseLrs = this.groups.map((g) => g.lr);
    const all = this.groups.flatMap((g) => g.params);
    this.m = all.map((p) => new Float32Array(p.size));
    this.v = all.map((p) => new Float32Array(p.size));
  }

  /** Parameters in state order. */
  get params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /**
   * One update of every parameter with a gradient. Returns false when a
   * parameter or moment became NaN or infinite (checked in the same pass).
   */
  step(): boolean {
    let finite = true;
    this.stepCount++;
    const t = this.stepCount;
    const be = backend();
    let k = 0;
    for (const g of this.groups) {
      const [b1, b2] = g.betas;
      const bc1 = 1 - Math.pow(b1, t);
      const bc2 = 1 - Math.pow(b2, t);
      const stepSize = g.lr / bc1;
      const bc2Sqrt = Math.sqrt(bc2);
      const decay = 1 - g.lr * g.weightDecay;
      for (const p of g.params) {
        const m = this.m[k];
        const v = this.v[k];
        k++;
        const grad = p.grad;
        if (grad === null) continue; // PyTorch skips parameters without gradients (no decay either)
        if (!be.adamwUpdate(p.data, grad, m, v, decay, b1, b2, stepSize, bc2Sqrt, g.eps)) finite = false;
      }
    }
    return finite;
  }

  /** Sets every group's learning rate (and its base rate) to `scale` times its value (a resumed run given a new --lr). */
  scaleLearningRates(scale: number): void {
    this.groups.forEach((g, i) => {
      g.lr *= scale;
      this.baseLrs[i] *= scale;
    });
  }

  /** Sets every group's learning rate to its base rate times `factor` (a schedule's value at this epoch). */
  setLearningRateFactor(factor: number): void {
    this.groups.forEach((g, i) => (g.lr = this.baseLrs[i] * factor));
  }

  /**
   * Drops every parameter's gradient, handing pooled buffers straight back
   * (the gradients belong to the parameters alone): otherwise a large one
   * (the MNIST classifier's 51 MB fc weight gradient) stays counted as live
   * until garbage collection, and reclaimPooledMemory forced a full
   * collection after every step for it.
   */
  zeroGrad(): void {
    for (const p of this.params) {
      if (p.grad) releaseFloat32(p.grad);
      p.grad = null;
    }
  }

  getState(): AdamWState {
    return { step: this.stepCount, m: this.m, v: this.v };
  }

  setState(s: AdamWState): void {
    if (s.m.length !== this.m.length) throw new Error(`optimizer state has ${s.m.length} parameters, expected ${this.m.length}`);
    s.m.forEach((a, i) => this.m[i].set(a));
    s.v.forEach((a, i) => this.v[i].set(a));
    this.stepCount = s.step;
  }
}

/**
 * torch.optim.lr_scheduler.CosineAnnealingLR with eta_min = 0, stepped once
 * per epoch: the factor on the base rate at `epoch` is (1 + cos(π·epoch/tMax))/2.
 * Past tMax it rises again (period 2·tMax), as PyTorch's chained form does
 * when training runs longer than T_max (the TAID classifiers: T_max 64,
 * 1000 epochs).
 */
export function cosineAnnealingFactor(epoch: number, tMax: number): number {
  return (1 + Math.cos((Math.PI * epoch) / tMax)) / 2;
}
