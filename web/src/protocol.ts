/**
 * Messages between the page (main.ts, through engine.ts) and the engine
 * workers (worker.ts). Arrays travel as Float32Arrays whose buffers are
 * transferred, not copied.
 */

/** What the page knows about a loaded model. */
export interface ModelInfo {
  /** 'fsvae', 'esvae' or 'ann-vae' */
  kind: string;
  /** 'membrane' or 'taid' for the spiking models, null for the ANN VAE */
  decoding: string | null;
  dataset: string | null;
  spiking: boolean;
  timeSteps: number | null;
  latentDim: number;
  inChannels: number;
  imageSize: number;
  parameters: number;
  trainingStep: number | null;
}

/** One layer's row of the CLI's spike-cost report (metrics/cost.ts), per image. */
export interface LayerCostRow {
  layer: string;
  spikes: number;
  firingRate: number | null;
  ac: number;
  mac: number;
}

export interface CostSummary {
  layers: LayerCostRow[];
  ac: number;
  mac: number;
  energyMicroJoule: number;
}

/** A reconstruction and what the model did to produce it. */
export interface Analysis {
  /** [C, H, W] in [-1, 1] */
  reconstruction: Float32Array;
  /** Posterior latent: spikes [T, C] (spiking models) or values [1, L] */
  latent: Float32Array;
  latentShape: number[];
  timeline: Timeline | null;
  cost: CostSummary;
  ms: number;
}

/** The decoded image forming over time: frames [T, C, H, W] and TAID's weights [T, C] (null with the fixed output). */
export interface Timeline {
  frames: Float32Array;
  timeWeights: Float32Array | null;
}

export type Request =
  | { op: 'init'; kernels: WebAssembly.Module | null }
  | { op: 'load'; bytes: ArrayBuffer; name: string }
  /** Images [first, first + count) of model.sample(n, new Random(seed)). */
  | { op: 'sample'; n: number; seed: number; first: number; count: number }
  | { op: 'timeline'; latent: Float32Array; shape: number[] }
  | { op: 'analyse'; image: Float32Array; seed: number }
  | { op: 'interpolate'; a: Float32Array; b: Float32Array; steps: number; seed: number };

export interface Results {
  init: { kernels: string };
  load: ModelInfo;
  sample: { images: Float32Array; latent: Float32Array; latentShape: number[]; ms: { prior: number; decode: number } };
  timeline: Timeline;
  analyse: Analysis;
  interpolate: { images: Float32Array; ms: number };
}

export type Op = Request['op'];

export type Response =
  | { id: number; ok: true; result: Results[Op] }
  /** userError: a message for the person (a bad checkpoint file), not a bug. */
  | { id: number; ok: false; error: string; userError: boolean };
