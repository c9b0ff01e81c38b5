/**
 * An engine worker: the library itself (src/engine, src/snn, src/models,
 * src/metrics/cost.ts) running on the WebAssembly kernels, one model per
 * worker. The page runs one worker per core and splits a batch of samples
 * between them (engine.ts); everything else runs on the first one.
 */
import { backend, setBackend } from '../../src/engine/backend/index.js';
import { createWasmBackend } from '../../src/engine/backend/wasm.js';
import { Random } from '../../src/engine/random.js';
import { Tensor, noGrad } from '../../src/engine/tensor.js';
import { modelCost } from '../../src/metrics/cost.js';
import { AnnVAE } from '../../src/models/annvae.js';
import { FSVAE } from '../../src/models/fsvae.js';
import { loadModelFromBytes } from '../../src/models/index.js';
import { UserError } from '../../src/util/errors.js';
import { latentCount, latentImages } from './latent.js';
import type { ModelInfo, Request, Response, Results } from './protocol.js';

/** The models the page shows: FSVAE and ESVAE (an FSVAE subclass) and the ANN VAE. */
type PageModel = FSVAE | AnnVAE;

/**
 * Images decoded per call: the decoder's activations for a few images stay
 * in the caches (its last spiking layer alone holds T × 32 × 32 × 32 floats
 * per image): decoding 32 FSVAE images took about 40 % less CPU time in
 * calls of 2 than in one call (web/README.md).
 */
const DECODE_CHUNK = 2;

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Request & { id: number }>) => void) | null;
  postMessage(message: Response, transfer: Transferable[]): void;
};

let model: PageModel | null = null;

function loaded(): PageModel {
  if (!model) throw new UserError('no model loaded');
  return model;
}

function imageShape(m: PageModel): [number, number, number] {
  return [m.cfg.inChannels, m.cfg.imageSize, m.cfg.imageSize];
}

function info(m: PageModel, metadata: Record<string, string>, training: Record<string, unknown> | null): ModelInfo {
  const spiking = m instanceof FSVAE;
  return {
    kind: m.kind,
    decoding: spiking ? m.cfg.decoding : null,
    dataset: metadata['spikevae.dataset'] ?? null,
    spiking,
    timeSteps: spiking ? m.cfg.timeSteps : null,
    latentDim: m.cfg.latentDim,
    inChannels: m.cfg.inChannels,
    imageSize: m.cfg.imageSize,
    parameters: m.parameters().reduce((s, p) => s + p.size, 0),
    trainingStep: typeof training?.step === 'number' ? training.step : null,
  };
}

/** The decoder over a batch of latents, DECODE_CHUNK images at a time. */
function decode(m: PageModel, latent: Float32Array, shape: number[]): Float32Array {
  const n = latentCount(shape);
  const [c, h, w] = imageShape(m);
  const out = new Float32Array(n * c * h * w);
  for (let i = 0; i < n; i += DECODE_CHUNK) {
    const part = latentImages(latent, shape, i, Math.min(DECODE_CHUNK, n - i));
    out.set(noGrad(() => m.decode(latentTensor(part.latent, part.shape))).data, i * c * h * w);
  }
  return out;
}

function latentTensor(data: Float32Array, shape: number[]): Tensor {
  const t = new Tensor(data, shape);
  t.binary = shape.length === 3;
  return t;
}

const handlers: { [K in Request['op']]: (r: Extract<Request, { op: K }>) => Promise<Results[K]> | Results[K] } = {
  async init({ kernels }) {
    if (kernels) setBackend(await createWasmBackend(kernels));
    return { kernels: backend().description };
  },
  load({ bytes, name }) {
    const { model: m, checkpoint } = loadModelFromBytes(new Uint8Array(bytes), name);
    if (!(m instanceof FSVAE || m instanceof AnnVAE)) throw new UserError(`${name}: a ${m.kind} checkpoint is not a generative model this page shows (FSVAE, ESVAE, TAID or the ANN VAE)`);
    model = m;
    return info(m, checkpoint.file.metadata, checkpoint.training);
  },
  sample({ n, seed, first, count }) {
    const m = loaded();
    const t0 = performance.now();
    const z = m.sampleLatent(n, new Random(seed), { first, count });
    const t1 = performance.now();
    const images = decode(m, z.data, z.shape);
    return { images, latent: z.data, latentShape: z.shape, ms: { prior: t1 - t0, decode: performance.now() - t1 } };
  },
  timeline({ latent, shape }) {
    const m = loaded();
    if (!(m instanceof FSVAE)) throw new UserError('the ANN VAE has no time steps');
    const { frames, timeWeights } = m.decodeOverTime(latentTensor(latent, shape));
    return { frames: frames.data, timeWeights: timeWeights?.data ?? null };
  },
  analyse({ image, seed }) {
    const m = loaded();
    const t0 = performance.now();
    const input = new Tensor(image, [1, ...imageShape(m)]);
    // The same draws as `spikevae reconstruct --seed`, and as the cost pass below.
    const latent = m.inferLatent(input, new Random(seed));
    const reconstruction = noGrad(() => m.decode(latent)).data;
    const timeline = m instanceof FSVAE ? m.decodeOverTime(latent) : null;
    const report = modelCost(m, input, seed);
    return {
      reconstruction,
      latent: latent.data,
      latentShape: latent.ndim === 3 ? [latent.shape[0], latent.shape[2]] : latent.shape,
      timeline: timeline && { frames: timeline.frames.data, timeWeights: timeline.timeWeights?.data ?? null },
      cost: {
        layers: report.layers.map((l) => ({ layer: l.layer, spikes: l.spikes, firingRate: l.firingRate, ac: l.ac, mac: l.mac })),
        ...report.perImage,
      },
      ms: performance.now() - t0,
    };
  },
  interpolate({ a, b, steps, seed }) {
    const m = loaded();
    const t0 = performance.now();
    const shape = [1, ...imageShape(m)];
    const images = m.interpolate(new Tensor(a, shape), new Tensor(b, shape), steps, new Random(seed)).data;
    return { images, ms: performance.now() - t0 };
  },
};

/** The buffers of every Float32Array in a result, handed over instead of copied. */
function transferables(value: unknown, out: Transferable[] = []): Transferable[] {
  if (value instanceof Float32Array) {
    if (!out.includes(value.buffer)) out.push(value.buffer);
  } else if (value && typeof value === 'object' && !(value instanceof WebAssembly.Module)) {
    for (const v of Object.values(value)) transferables(v, out);
  }
  return out;
}

/** A result array that shares its buffer with other data (a subarray) is copied, so transferring it moves nothing else. */
function ownBuffers<T>(value: T): T {
  if (value instanceof Float32Array) return (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice()) as T;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = ownBuffers(v);
    return out as T;
  }
  if (Array.isArray(value)) return value.map(ownBuffers) as T;
  return value;
}

scope.onmessage = async (e) => {
  const { id, ...request } = e.data;
  try {
    const handler = handlers[request.op] as (r: Request) => Promise<Results[Request['op']]> | Results[Request['op']];
    const result = ownBuffers(await handler(request));
    scope.postMessage({ id, ok: true, result }, transferables(result));
  } catch (err) {
    const error = err as Error;
    scope.postMessage({ id, ok: false, error: error instanceof UserError ? error.message : `${error.name}: ${error.message}\n${error.stack ?? ''}`, userError: error instanceof UserError }, []);
  }
};
