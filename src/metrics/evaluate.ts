/**
 * Evaluation of a trained model with the reference's procedures
 * (reference-semantics.md §5): test reconstruction MSE on the [-1, 1] scale
 * averaged over batch means (AverageMeter with n = 1), and FAD of
 * ceil(5000/batch)·batch generated images against the official statistics.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { DataLoader, defaultDropLast, openDataset, DatasetName } from '../data/index.js';
import type { GenerativeModel } from '../models/types.js';
import { UserError } from '../util/errors.js';
import { fadFromFeatures, loadFadEncoder, loadFadStats } from './fad.js';
import { modelCost, type CostReport } from './cost.js';
import { robustness, type RobustnessRow } from './robustness.js';
import { writeImageGrid } from '../io/image.js';
import { writeFileAtomic } from '../util/atomic.js';
import { histogram } from './plots.js';
import { FSVAE } from '../models/fsvae.js';
import { ESVAE } from '../models/esvae.js';
import { latents, trainClassifier, type ClassifyResult } from './classify.js';

export const METRICS = ['recon', 'fad', 'cost', 'robustness', 'classify', 'rates'] as const;
export const PLANNED_METRICS = ['fid', 'is'] as const;
export type Metric = (typeof METRICS)[number];

export interface EvalOptions {
  dataset: DatasetName;
  dataDir?: string;
  batchSize: number;
  seed: number;
  /** Folder with ae_<ds>_<L>.safetensors and stats_<ds>_test_<L>.safetensors. */
  fadDir?: string;
  /** Generated images for FAD (the reference: ceil(5000/256)·256 = 5120). */
  fadSamples: number;
  testLimit?: number;
  onProgress?: (what: string, done: number, total: number) => void;
}

const FAD_FILES: Record<DatasetName, { weights: string; stats: string }> = {
  mnist: { weights: 'ae_mnist_64.safetensors', stats: 'stats_mnist_test_64.safetensors' },
  fashion: { weights: 'ae_fashion_64.safetensors', stats: 'stats_fashion_test_64.safetensors' },
  cifar10: { weights: 'ae_cifar10_128.safetensors', stats: 'stats_cifar10_test_128.safetensors' },
  celeba: { weights: 'ae_celeba_128.safetensors', stats: 'stats_celeba_test_128.safetensors' },
};

export function fadSearchDirs(fadDir?: string): string[] {
  if (fadDir) return [resolve(fadDir)];
  const dirs = [resolve('fad'), resolve('..', 'shared', 'fad')];
  if (process.env.SPIKEVAE_FAD) dirs.unshift(resolve(process.env.SPIKEVAE_FAD));
  return dirs;
}

function findFadAssets(ds: DatasetName, fadDir?: string): { weights: string; stats: string } {
  const want = FAD_FILES[ds];
  const dirs = fadSearchDirs(fadDir);
  for (const d of dirs) {
    const w = join(d, want.weights);
    const s = join(d, want.stats);
    if (existsSync(w) && existsSync(s)) return { weights: w, stats: s };
  }
  throw new UserError(
    `FAD for ${ds} needs ${want.weights} and ${want.stats} (the official FSVAE autoencoder weights and statistics, converted to safetensors) in one of: ${dirs.join(', ')} (use --fad-dir)`,
  );
}

export async function reconstructionMse(model: GenerativeModel, opts: EvalOptions): Promise<{ mse: number; images: number }> {
  const test = await openDataset(opts.dataset, 'test', { dataDir: opts.dataDir, limit: opts.testLimit });
  try {
    const loader = new DataLoader(test, { batchSize: opts.batchSize, shuffle: false, dropLast: defaultDropLast(opts.dataset) });
    const rng = new Random(opts.seed);
    let sum = 0;
    let batches = 0;
    let images = 0;
    model.eval();
    for await (const b of loader.epoch(rng)) {
      const x = new Tensor(b.images, [b.size, test.channels, test.height, test.width]);
      const recon = noGrad(() => model.reconstruct(x, rng));
      let se = 0;
      for (let i = 0; i < b.images.length; i++) se += (recon.data[i] - b.images[i]) ** 2;
      sum += se / b.images.length;
      batches++;
      images += b.size;
      opts.onProgress?.('recon', batches, loader.batchesPerEpoch);
    }
    return { mse: sum / Math.max(1, batches), images };
  } finally {
    await test.close();
  }
}

/** Spike and operation counts per image on the first `images` test images. */
export async function cost(model: GenerativeModel, opts: EvalOptions & { costImages: number; referenceCounting: boolean }): Promise<CostReport> {
  const test = await openDataset(opts.dataset, 'test', { dataDir: opts.dataDir, limit: opts.costImages });
  try {
    const n = Math.min(opts.costImages, test.length);
    const buf = new Float32Array(n * test.channels * test.height * test.width);
    await test.readBatch(Int32Array.from({ length: n }, (_, i) => i), null, buf);
    return modelCost(model, new Tensor(buf, [n, test.channels, test.height, test.width]), opts.seed, opts.referenceCounting);
  } finally {
    await test.close();
  }
}

/** Robustness table on the first `images` test images, and a figure (rows: input, vanilla, shuffled, noised). */
export async function robustnessEval(
  model: GenerativeModel,
  opts: EvalOptions & { robustnessImages: number; figure?: string },
): Promise<{ rows: RobustnessRow[]; images: number; figure: string | null }> {
  const test = await openDataset(opts.dataset, 'test', { dataDir: opts.dataDir, limit: opts.robustnessImages });
  try {
    const n = Math.min(opts.robustnessImages, test.length);
    const per = test.channels * test.height * test.width;
    const buf = new Float32Array(n * per);
    await test.readBatch(Int32Array.from({ length: n }, (_, i) => i), null, buf);
    const r = robustness(model, new Tensor(buf, [n, test.channels, test.height, test.width]), opts.seed);
    if (opts.figure) {
      const cols = Math.min(n, 8);
      const grid = new Float32Array(r.panels.length * cols * per);
      r.panels.forEach((p, row) => grid.set(p.images.subarray(0, cols * per), row * cols * per));
      writeImageGrid(opts.figure, grid, r.panels.length * cols, test.channels, test.height, test.width, { columns: cols });
    }
    return { rows: r.rows, images: n, figure: opts.figure ?? null };
  } finally {
    await test.close();
  }
}

/** Latent classification: MLP on encoder latents of `trainImages` training images, accuracy on the test set. */
export async function classifyEval(model: GenerativeModel, opts: EvalOptions & { classifyTrain: number }): Promise<ClassifyResult> {
  const train = await openDataset(opts.dataset, 'train', { dataDir: opts.dataDir });
  const test = await openDataset(opts.dataset, 'test', { dataDir: opts.dataDir });
  try {
    if (train.numClasses !== 10) throw new UserError(`${opts.dataset}: latent classification needs class labels`);
    const tr = await latents(model, train, opts.classifyTrain);
    opts.onProgress?.('classify', 1, 3);
    const te = await latents(model, test, opts.testLimit ?? test.length);
    opts.onProgress?.('classify', 2, 3);
    const r = trainClassifier(tr, te, opts.seed);
    opts.onProgress?.('classify', 3, 3);
    return r;
  } finally {
    await train.close();
    await test.close();
  }
}

/**
 * Latent firing-rate distributions as ESVAE logs them: per latent dimension,
 * the spike count over T averaged over the batch (mean_over_batch(z).sum(T)),
 * for test posteriors and for prior samples; histograms written as SVG.
 */
export async function ratesEval(model: GenerativeModel, opts: EvalOptions & { ratesImages: number; histogramPrefix?: string }): Promise<Record<string, unknown>> {
  const spiking = model as unknown as FSVAE;
  if (!(model instanceof FSVAE)) throw new UserError(`latent firing rates apply to spiking models, not to '${model.kind}'`);
  const test = await openDataset(opts.dataset, 'test', { dataDir: opts.dataDir, limit: opts.ratesImages });
  try {
    const n = Math.min(opts.ratesImages, test.length);
    const buf = new Float32Array(n * test.channels * test.height * test.width);
    await test.readBatch(Int32Array.from({ length: n }, (_, i) => i), null, buf);
    const rng = new Random(opts.seed);
    const x = new Tensor(buf, [n, test.channels, test.height, test.width]);
    model.eval();
    const zq = noGrad(() => (model instanceof ESVAE ? model.encodeLatent(x, rng).z : spiking.posteriorForward(spiking.encodeSpikes(x), rng).sampledZ));
    const zp = model.sample(n, rng).z;
    const counts = (z: Tensor) => {
      const [T, N, C] = z.shape;
      const c = new Float64Array(C);
      for (let t = 0; t < T; t++) for (let b = 0; b < N; b++) for (let k = 0; k < C; k++) c[k] += z.data[(t * N + b) * C + k];
      return Array.from(c, (v) => v / N);
    };
    const q = counts(zq);
    const p = counts(zp);
    const T = zq.shape[0];
    const out: Record<string, unknown> = { images: n, timeSteps: T, posteriorCounts: q, priorCounts: p };
    if (opts.histogramPrefix) {
      const files: string[] = [];
      for (const [name, v, what] of [['posterior', q, 'test posterior'], ['prior', p, 'prior samples']] as const) {
        const f = `${opts.histogramPrefix}-${name}.svg`;
        writeFileAtomic(f, histogram(v, { title: `Latent spike counts per dimension (${what}, ${model.kind})`, xLabel: `mean spikes over ${T} steps`, bins: T, lo: 0, hi: T }));
        files.push(f);
      }
      out.histograms = files;
    }
    return out;
  } finally {
    await test.close();
  }
}

export function fad(model: GenerativeModel, opts: EvalOptions): { fad: number; samples: number; weights: string; stats: string } {
  const assets = findFadAssets(opts.dataset, opts.fadDir);
  const enc = loadFadEncoder(assets.weights);
  const stats = loadFadStats(assets.stats);
  const c = Number(model.config.inChannels);
  const s = Number(model.config.imageSize);
  if (enc.inChannels !== c || enc.imageSize !== s) {
    throw new UserError(`${assets.weights}: autoencoder takes ${enc.inChannels}x${enc.imageSize}x${enc.imageSize} images, the model makes ${c}x${s}x${s}`);
  }
  const batch = 256;
  const total = Math.ceil(opts.fadSamples / batch) * batch;
  const rng = new Random(opts.seed + 1);
  const feats = new Float32Array(total * stats.dim);
  model.eval();
  for (let i = 0; i < total; i += batch) {
    const { images } = model.sample(batch, rng);
    feats.set(enc.features(images.data, batch), i * stats.dim);
    opts.onProgress?.('fad', i / batch + 1, total / batch);
  }
  return { fad: fadFromFeatures(feats, total, stats), samples: total, weights: assets.weights, stats: assets.stats };
}
