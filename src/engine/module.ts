/**
 * A minimal module system whose parameter and buffer names are exactly the
 * PyTorch state_dict names (`encoder.0.weight`, `encoder.0.bn.running_mean`,
 * ...), so checkpoints map one to one onto the official implementation's.
 */
import { Tensor } from './tensor.js';

export interface BufferEntry {
  /** Float32 buffers (running statistics, constant coefficients). */
  data?: Float32Array;
  /** Integer counters (num_batches_tracked), saved as I64. */
  counter?: { value: number };
  /** Shape as stored in the state_dict. */
  shape: number[];
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, BufferEntry>();
  private readonly children = new Map<string, Module>();

  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.params.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, entry: BufferEntry): BufferEntry {
    this.buffers.set(name, entry);
    return entry;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** All parameters by state_dict name, in registration order. */
  namedParameters(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [k, v] of this.params) out.set(prefix + k, v);
    for (const [k, m] of this.children) for (const [kk, vv] of m.namedParameters(`${prefix}${k}.`)) out.set(kk, vv);
    return out;
  }

  namedBuffers(prefix = ''): Map<string, BufferEntry> {
    const out = new Map<string, BufferEntry>();
    for (const [k, v] of this.buffers) out.set(prefix + k, v);
    for (const [k, m] of this.children) for (const [kk, vv] of m.namedBuffers(`${prefix}${k}.`)) out.set(kk, vv);
    return out;
  }

  namedModules(prefix = ''): Map<string, Module> {
    const out = new Map<string, Module>([[prefix.replace(/\.$/, ''), this]]);
    for (const [k, m] of this.children) for (const [kk, vv] of m.namedModules(`${prefix}${k}.`)) out.set(kk, vv);
    return out;
  }

  parameters(): Tensor[] {
    return [...this.namedParameters().values()];
  }

  train(on = true): this {
    this.training = on;
    for (const m of this.children.values()) m.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  parameterCount(): number {
    let n = 0;
    for (const p of this.parameters()) n += p.size;
    return n;
  }
}
