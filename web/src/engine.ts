/**
 * The page's side of the engine workers: one worker per core (at most four),
 * each holding the same model. Sampling splits the batch into runs of
 * images, one per worker; each worker makes the random draws of the whole
 * batch (in the CLI's order) but computes only its own images, so splitting
 * changes no pixel: the grid is model.sample's for the seed.
 */
import { joinLatents } from './latent.js';
import type { Analysis, ModelInfo, Op, Request, Response, Results, Timeline } from './protocol.js';

/** An error the person can act on (a bad checkpoint file), shown as one line. */
export class EngineUserError extends Error {}

class EngineWorker {
  private readonly worker: Worker;
  private next = 0;
  private readonly pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();

  constructor(url: URL) {
    this.worker = new Worker(url, { type: 'module' });
    this.worker.onmessage = (e: MessageEvent<Response>) => {
      const p = this.pending.get(e.data.id);
      if (!p) return;
      this.pending.delete(e.data.id);
      if (e.data.ok) p.resolve(e.data.result);
      else p.reject(e.data.userError ? new EngineUserError(e.data.error) : new Error(e.data.error));
    };
    this.worker.onerror = (e) => {
      for (const p of this.pending.values()) p.reject(new Error(`engine worker failed: ${e.message}`));
      this.pending.clear();
    };
  }

  call<K extends Op>(request: Extract<Request, { op: K }>, transfer: Transferable[] = []): Promise<Results[K]> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }
}

export interface SampleResult {
  /** [n, C, H, W] in [-1, 1] */
  images: Float32Array;
  /** [T, n, C] spikes, or [n, L] */
  latent: Float32Array;
  latentShape: number[];
  /** Wall time of the whole call, and each worker's time in the prior and in the decoder. */
  ms: { total: number; prior: number[]; decode: number[] };
}

export class Engine {
  readonly workers: EngineWorker[];
  kernels = '';

  private constructor(count: number) {
    this.workers = Array.from({ length: count }, () => new EngineWorker(new URL('./worker.js', import.meta.url)));
  }

  /** Starts the workers on the WebAssembly kernels (compiled once here), or the TypeScript ones when there are none. */
  static async start(kernelsUrl: string | null): Promise<Engine> {
    const count = Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 4));
    const engine = new Engine(count);
    const kernels = kernelsUrl ? await WebAssembly.compileStreaming(fetch(kernelsUrl)) : null;
    const replies = await Promise.all(engine.workers.map((w) => w.call({ op: 'init', kernels })));
    engine.kernels = replies[0].kernels;
    return engine;
  }

  async load(bytes: ArrayBuffer, name: string): Promise<ModelInfo> {
    // Each worker gets its own copy; the first one's failure (a bad file) is the one reported.
    const replies = await Promise.all(this.workers.map((w) => w.call({ op: 'load', bytes: bytes.slice(0), name })));
    return replies[0];
  }

  async sample(n: number, seed: number): Promise<SampleResult> {
    const t0 = performance.now();
    const per = Math.ceil(n / this.workers.length);
    const parts = await Promise.all(
      this.workers.filter((_, i) => i * per < n).map((w, i) => w.call({ op: 'sample', n, seed, first: i * per, count: Math.min(per, n - i * per) })),
    );
    const images = new Float32Array(parts.reduce((s, p) => s + p.images.length, 0));
    let offset = 0;
    for (const p of parts) {
      images.set(p.images, offset);
      offset += p.images.length;
    }
    const { latent, shape } = joinLatents(parts.map((p) => ({ latent: p.latent, shape: p.latentShape })));
    return { images, latent, latentShape: shape, ms: { total: performance.now() - t0, prior: parts.map((p) => p.ms.prior), decode: parts.map((p) => p.ms.decode) } };
  }

  timeline(latent: Float32Array, shape: number[]): Promise<Timeline> {
    return this.workers[0].call({ op: 'timeline', latent, shape });
  }

  analyse(image: Float32Array, seed: number): Promise<Analysis> {
    return this.workers[0].call({ op: 'analyse', image, seed });
  }

  interpolate(a: Float32Array, b: Float32Array, steps: number, seed: number): Promise<Results['interpolate']> {
    return this.workers[0].call({ op: 'interpolate', a, b, steps, seed });
  }
}

