/**
 * Float32 tensors and reverse-mode automatic differentiation.
 *
 * A Tensor is a dense row-major Float32Array plus a shape. Operations (ops.ts)
 * record, for each output that depends on a tensor requiring gradients, a
 * `GradNode` holding the inputs and a closure that maps the output gradient to
 * input gradients. `backward()` walks the graph once in reverse topological
 * order. Gradients of intermediate tensors are released as soon as they have
 * been propagated, so peak memory is the activations plus one gradient front.
 *
 * Layout convention for spiking tensors: time-major [T, N, C, H, W] (or
 * [T, N, F] for vectors). Stateless layers (conv, linear, tdBN) see T folded
 * into the batch, which makes each per-time-step convolution one big batched
 * call; the LIF neuron walks the leading T axis. PyTorch's reference keeps
 * time last ([N, C, H, W, T]); checkpoints are converted at load/save.
 */
import { allocFloat32, allocFloat32Output, releaseFloat32 } from './alloc.js';
import { ShapeError, fmtShape } from '../util/errors.js';

export type Shape = readonly number[];

export interface GradNode {
  /** Name of the operation, for error messages and debugging. */
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Accumulates input gradients from the output gradient `g`. */
  readonly backward: (g: Float32Array) => void;
}

let gradEnabled = true;

/** Whether operations currently record the graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with graph recording off (like torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export class Tensor {
  readonly data: Float32Array;
  readonly shape: number[];
  /** Gradient, allocated on first accumulation. */
  grad: Float32Array | null = null;
  requiresGrad: boolean;
  /** The operation that produced this tensor (null for leaves). */
  node: GradNode | null = null;
  /** Promise that every element is 0 or 1 (spikes); lets kernels go event-driven. */
  binary = false;
  /** Optional name (parameters carry their state_dict name). */
  name?: string;

  constructor(data: Float32Array, shape: Shape, requiresGrad = false) {
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new ShapeError('Tensor', `data has ${data.length} elements but shape ${fmtShape(shape)} needs ${n}`);
    }
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError('Tensor', `invalid shape ${fmtShape(shape)}`);
    }
    this.data = data;
    this.shape = [...shape];
    this.requiresGrad = requiresGrad;
  }

  static zeros(shape: Shape, requiresGrad = false): Tensor {
    return new Tensor(allocFloat32(sizeOf(shape)), shape, requiresGrad);
  }

  static full(shape: Shape, value: number, requiresGrad = false): Tensor {
    return new Tensor(allocFloat32(sizeOf(shape)).fill(value), shape, requiresGrad);
  }

  static from(values: ArrayLike<number>, shape?: Shape, requiresGrad = false): Tensor {
    return new Tensor(Float32Array.from(values), shape ?? [values.length], requiresGrad);
  }

  get size(): number {
    return this.data.length;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1) throw new ShapeError('item', `tensor of shape ${fmtShape(this.shape)} has more than one element`);
    return this.data[0];
  }

  /** A new leaf sharing no graph with this tensor (data is shared, not copied). */
  detach(): Tensor {
    const t = new Tensor(this.data, this.shape, false);
    t.binary = this.binary;
    return t;
  }

  /** Whether the graph must be recorded for an op taking these inputs. */
  static needsGrad(...inputs: Tensor[]): boolean {
    if (!gradEnabled) return false;
    for (const t of inputs) if (t.requiresGrad) return true;
    return false;
  }

  /** Adds g into this tensor's gradient (allocating it on first use). */
  accumulateGrad(g: Float32Array): void {
    if (this.grad === null) {
      this.grad = allocFloat32(g.length);
      this.grad.set(g);
    } else {
      const dst = this.grad;
      for (let i = 0; i < dst.length; i++) dst[i] += g[i];
    }
  }

  /**
   * Like accumulateGrad, but may keep `g` itself instead of copying it. Only
   * for callers that own `g` outright (a fresh temporary, or the gradient of
   * an output this tensor alone feeds, such as a reshape's).
   */
  takeGrad(g: Float32Array): void {
    if (this.grad === null && g.length === this.data.length) this.grad = g;
    else this.accumulateGrad(g);
  }

  /**
   * Adds a gradient that a kernel writes straight into the buffer:
   * write(grad, false) for the first gradient (a fresh buffer, not zeroed:
   * the kernel overwrites it), write(grad, true) to add to an existing one.
   * For kernels with a write-or-add switch; saves clearing a buffer first.
   */
  addGradWith(write: (grad: Float32Array, accumulate: boolean) => void): void {
    if (this.grad === null) {
      this.grad = allocFloat32Output(this.data.length);
      write(this.grad, false);
    } else write(this.grad, true);
  }

  /** Returns this tensor's gradient buffer, allocating zeros if needed (for in-place accumulation by ops). */
  gradBuffer(): Float32Array {
    if (this.grad === null) this.grad = allocFloat32(this.data.length);
    return this.grad;
  }

  /**
   * Reverse-mode pass from this tensor. A scalar seeds with 1; otherwise pass
   * the seed gradient. Leaf tensors (parameters) keep their accumulated grads.
   * With releaseActivations, the data of every intermediate tensor is given
   * back to the buffer pool as soon as the pass no longer needs it: the graph's
   * tensors must not be read afterwards (they read as empty).
   */
  backward(seed?: Float32Array, opts: { releaseActivations?: boolean } = {}): void {
    if (!this.requiresGrad) throw new Error('backward: tensor does not require grad (did you run inside noGrad?)');
    if (seed === undefined) {
      if (this.data.length !== 1) throw new ShapeError('backward', `needs a seed gradient for non-scalar shape ${fmtShape(this.shape)}`);
      seed = new Float32Array([1]);
    }
    const order = topologicalOrder(this);
    this.accumulateGrad(seed);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const node = t.node;
      if (node === null) continue;
      const g = t.grad;
      if (g !== null) node.backward(g);
      // Intermediate gradients are not needed any more; release them early
      // (unless an input adopted the same array, as a reshape's does).
      t.grad = null;
      t.node = null;
      if (g !== null && !node.inputs.some((x) => x.grad === g)) releaseFloat32(g);
      // A training step that reads nothing of the graph after backward can
      // also hand each activation back once the ops that read it are done
      // (its consumers ran before it, its own node just now); views that share
      // an input's data (reshape) are left to that input.
      if (opts.releaseActivations && t !== this && !node.inputs.some((x) => x.data === t.data)) releaseFloat32(t.data);
    }
  }
}

/** Tensors reachable from root through nodes, inputs before outputs. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS: graphs of unrolled time steps can be deep.
  const stack: Array<[Tensor, number]> = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, idx] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (idx < inputs.length) {
      top[1]++;
      const child = inputs[idx];
      if (!visited.has(child) && child.requiresGrad) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

/** Creates the output tensor of an op and attaches its backward when needed. */
export function makeResult(
  op: string,
  data: Float32Array,
  shape: Shape,
  inputs: Tensor[],
  backward: (g: Float32Array) => void,
): Tensor {
  const needs = Tensor.needsGrad(...inputs);
  const out = new Tensor(data, shape, needs);
  if (needs) out.node = { op, inputs: inputs.filter((t) => t.requiresGrad), backward };
  return out;
}
