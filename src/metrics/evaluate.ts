/**
 * Evaluation of a trained model with the reference's procedures
 * (reference-semantics.md §5): test reconstruction MSE on the [-1, 1] scale
 * averaged over batch means (AverageMeter with n = 1), and FAD of
 * ceil(5000/batch)·batch generated images against the official statistics.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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
import { cliName, packagePath } from '../util/package.js';
import { histogram } from './plots.js';
import { FSVAE } from '../models/fsvae.js';
import { ESVAE } from '../models/esvae.js';
import { latents, trainClassifier, type ClassifyResult } from './classify.js';
import { INCEPTION_WEIGHTS, loadInception, type InceptionVariant } from './inception.js';
import { featureStats, fidFeatures, fidFromFeatures, inceptionScore, isProbabilities, loadFidStats } from './fid.js';
import { writeSafetensors } from '../io/safetensors.js';
import { releasingScope } from '../engine/alloc.js';

export const METRICS = ['recon', 'fad', 'fid', 'is', 'cost', 'robustness', 'classify', 'rates'] as const;
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

/** The official FSVAE autoencoders and statistics shipped with the package (assets/fad/README.md). */
export const OFFICIAL_FAD_DIR = packagePath('assets', 'fad');

/** --fad-dir alone when given; otherwise $SPIKEVAE_FAD, ./fad, then the package's official files. */
export function fadSearchDirs(fadDir?: string): string[] {
  if (fadDir) return [resolve(fadDir)];
  const dirs = [resolve('fad'), OFFICIAL_FAD_DIR];
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
  const official = existsSync(join(OFFICIAL_FAD_DIR, want.weights));
  throw new UserError(
    `FAD for ${ds} needs ${want.weights} and ${want.stats} in one folder; looked in ${dirs.join(', ')}` +
      (official
        ? ` (the official files ship in ${OFFICIAL_FAD_DIR}; drop --fad-dir or $SPIKEVAE_FAD to use them)`
        : `; the official autoencoder for ${ds} was never published: train one with '${cliName()} train-ae --dataset ${ds}' and pass its run folder with --fad-dir (FAD then is not comparable with the papers)`),
  );
}

/** Whether the official FAD files for this dataset can be found (learning curves skip FAD, with a note, when not). */
export function fadAvailable(ds: DatasetName, fadDir?: string): { ok: true } | { ok: false; why: string } {
  try {
    findFadAssets(ds, fadDir);
    return { ok: true };
  } catch (e) {
    if (e instanceof UserError) return { ok: false, why: e.message };
    throw e;
  }
}

/**
 * One learning-curve point as the trainer records it: test reconstruction
 * MSE over the whole test split (batch 250, the reference's) and FAD of
 * `fadSamples` prior samples (5120 by default, the reference's count), with
 * fixed seeds so points differ only by the weights.
 */
export async function learningCurvePoint(
  model: GenerativeModel,
  opts: { dataset: DatasetName; dataDir?: string; fadDir?: string; fadSamples: number; testLimit?: number; seed?: number },
): Promise<{ reconMse: number; testImages: number; fad?: number; fadSamples?: number; note?: string }> {
  const base: EvalOptions = { dataset: opts.dataset, dataDir: opts.dataDir, batchSize: 250, seed: opts.seed ?? 0, fadDir: opts.fadDir, fadSamples: opts.fadSamples, testLimit: opts.testLimit };
  const recon = await reconstructionMse(model, base);
  const out: { reconMse: number; testImages: number; fad?: number; fadSamples?: number; note?: string } = { reconMse: recon.mse, testImages: recon.images };
  if (opts.fadSamples > 0) {
    const avail = fadAvailable(opts.dataset, opts.fadDir);
    if (avail.ok) {
      const f = fad(model, base);
      out.fad = f.fad;
      out.fadSamples = f.samples;
    } else out.note = `no FAD: ${avail.why}`;
  }
  return out;
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

export function fad(model: GenerativeModel, opts: EvalOptions): { fad: number; samples: number; weights: string; stats: string; comparableWithPapers: boolean } {
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
    // Each batch's arrays go back to the pool before the next one.
    releasingScope(() => {
      const { images } = model.sample(batch, rng);
      feats.set(enc.features(images.data, batch), i * stats.dim);
    });
    opts.onProgress?.('fad', i / batch + 1, total / batch);
  }
  return { fad: fadFromFeatures(feats, total, stats), samples: total, weights: assets.weights, stats: assets.stats, comparableWithPapers: stats.comparableWithPapers };
}

/** The reference's FID statistics names (FSVAE metrics/clean_fid.py): CelebA uses its *valid* split. */
export const FID_REFERENCE: Record<DatasetName, { name: string; split: 'test' | 'valid' }> = {
  mnist: { name: 'mnist_test', split: 'test' },
  fashion: { name: 'fashion_test', split: 'test' },
  cifar10: { name: 'cifar10_test', split: 'test' },
  celeba: { name: 'celeba_valid', split: 'valid' },
};

function weightDirs(): string[] {
  return [resolve('weights'), resolve('..', 'shared', 'weights')];
}

/** The Inception weights file: the flag, then $SPIKEVAE_FID_WEIGHTS / $SPIKEVAE_IS_WEIGHTS, then ./weights/<published name>. */
export function findInceptionWeights(variant: InceptionVariant, given?: string): string {
  if (given) return given;
  const env = process.env[variant === 'fid' ? 'SPIKEVAE_FID_WEIGHTS' : 'SPIKEVAE_IS_WEIGHTS'];
  if (env) return env;
  const w = INCEPTION_WEIGHTS[variant];
  const names = variant === 'is' ? [w.file, 'inception_v3_google-1a9a5a14.pth'] : [w.file];
  for (const d of weightDirs()) for (const n of names) for (const ext of ['', '.safetensors']) if (existsSync(join(d, n + ext))) return join(d, n + ext);
  const flag = variant === 'fid' ? '--fid-weights' : '--is-weights';
  throw new UserError(
    `${variant.toUpperCase()} needs ${w.what}: the file ${w.file}, published at ${w.url} (this machine cannot download it). Pass it with ${flag} FILE, set $SPIKEVAE_${variant.toUpperCase()}_WEIGHTS, or put it in ./weights/`,
  );
}

/** The reference statistics: the flag, else <name>_clean_custom_na.npz or fid_stats_<name>.safetensors in ./fid or $SPIKEVAE_FID_STATS. */
export function findFidStats(dataset: DatasetName, given?: string): string {
  if (given) return given;
  const ref = FID_REFERENCE[dataset];
  const dirs = [resolve('fid'), resolve('..', 'shared', 'fid')];
  if (process.env.SPIKEVAE_FID_STATS) dirs.unshift(resolve(process.env.SPIKEVAE_FID_STATS));
  const names = [`${ref.name}_clean_custom_na.npz`, `fid_stats_${ref.name}.safetensors`];
  for (const d of dirs) for (const n of names) if (existsSync(join(d, n))) return join(d, n);
  throw new UserError(
    `FID for ${dataset} needs reference statistics: the FSVAE repository's metrics/stats_fid/${names[0]} (what the papers used; pass --fid-stats FILE or put it in ./fid/), ` +
      `or statistics computed here from the ${ref.split} split with '${cliName()} fid-stats --dataset ${dataset}' (not identical to the papers' files, whose preprocessing is undocumented)`,
  );
}

export interface FidResult {
  fid: number;
  samples: number;
  weights: string;
  stats: string;
  statsNote: string;
}

/**
 * FID as FSVAE computes it: ceil(samples/256)·256 generated images (all of
 * them kept, as clean-fid 0.1.13 did), clean resizing, FID Inception features.
 */
export function fid(model: GenerativeModel, opts: EvalOptions & { fidWeights?: string; fidStats?: string; fidSamples: number }): FidResult {
  const statsPath = findFidStats(opts.dataset, opts.fidStats);
  const stats = loadFidStats(statsPath);
  const weights = findInceptionWeights('fid', opts.fidWeights);
  const net = loadInception(weights, 'fid');
  const c = Number(model.config.inChannels);
  const s = Number(model.config.imageSize);
  const batch = 256;
  const total = Math.ceil(opts.fidSamples / batch) * batch;
  const rng = new Random(opts.seed + 2);
  const feats = new Float32Array(total * 2048);
  model.eval();
  for (let i = 0; i < total; i += batch) {
    const images = releasingScope(() => model.sample(batch, rng).images.data.slice());
    for (let j = 0; j < batch; j += 16) {
      feats.set(fidFeatures(net, images.subarray(j * c * s * s, (j + 16) * c * s * s), 16, c, s, s), (i + j) * 2048);
      opts.onProgress?.('fid', i + j + 16, total);
    }
  }
  return { fid: fidFromFeatures(feats, total, stats), samples: total, weights, stats: statsPath, statsNote: stats.note };
}

export interface IsResult {
  mean: number;
  std: number;
  splits: number;
  samples: number;
  weights: string;
}

/** Inception Score as FSVAE computes it: `splits` generated batches of `batchSize`, one split per batch. */
export function inceptionScoreEval(model: GenerativeModel, opts: EvalOptions & { isWeights?: string; isBatchSize: number; isSplits: number }): IsResult {
  const weights = findInceptionWeights('is', opts.isWeights);
  const net = loadInception(weights, 'is');
  const c = Number(model.config.inChannels);
  const s = Number(model.config.imageSize);
  const total = opts.isBatchSize * opts.isSplits;
  const probs = new Float64Array(total * net.classes);
  const rng = new Random(opts.seed + 3);
  model.eval();
  for (let b = 0; b < opts.isSplits; b++) {
    const images = releasingScope(() => model.sample(opts.isBatchSize, rng).images.data.slice());
    for (let j = 0; j < opts.isBatchSize; j += 16) {
      const m = Math.min(16, opts.isBatchSize - j);
      probs.set(isProbabilities(net, images.subarray(j * c * s * s, (j + m) * c * s * s), m, c, s, s), (b * opts.isBatchSize + j) * net.classes);
      opts.onProgress?.('is', b * opts.isBatchSize + j + m, total);
    }
  }
  const r = inceptionScore(probs, total, net.classes, opts.isSplits);
  return { mean: r.mean, std: r.std, splits: opts.isSplits, samples: total, weights };
}

/**
 * FID reference statistics of real images (the test split; CelebA: valid)
 * through the same pipeline as generated ones, written as safetensors with μ
 * and Σ in float64. The papers' files were made by a script that is not
 * published, so FIDs against these are not comparable with the papers'.
 */
export async function writeFidStats(opts: { dataset: DatasetName; dataDir?: string; weights?: string; out: string; limit?: number; onProgress?: (done: number, total: number) => void }): Promise<{ out: string; images: number }> {
  const weights = findInceptionWeights('fid', opts.weights);
  const net = loadInception(weights, 'fid');
  const split = FID_REFERENCE[opts.dataset].split;
  const ds = await openDataset(opts.dataset, split, { dataDir: opts.dataDir, limit: opts.limit, evalFlip: false });
  try {
    const n = Math.min(opts.limit ?? ds.length, ds.length);
    const per = ds.channels * ds.height * ds.width;
    const feats = new Float32Array(n * 2048);
    const chunk = 16;
    const buf = new Float32Array(chunk * per);
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      await ds.readBatch(Int32Array.from({ length: m }, (_, k) => i + k), null, buf);
      feats.set(fidFeatures(net, buf.subarray(0, m * per), m, ds.channels, ds.height, ds.width), i * 2048);
      opts.onProgress?.(i + m, n);
    }
    const { mu, sigma } = featureStats(feats, n);
    // The output folder is made only now, so a failed start leaves nothing behind.
    mkdirSync(dirname(resolve(opts.out)), { recursive: true });
    writeSafetensors(
      opts.out,
      new Map([
        ['mu', { dtype: 'F64', shape: [2048], data: mu }],
        ['sigma', { dtype: 'F64', shape: [2048, 2048], data: sigma }],
      ]),
      {
        note: `computed by spikevae from ${n} ${opts.dataset} ${split} images (resized as the loader does, (x+1)/2*255, gray repeated, clean bicubic resize to 299); not the papers' statistics, so FIDs are not comparable with published numbers`,
        comparable_with_papers: 'false',
        weights,
      },
    );
    return { out: opts.out, images: n };
  } finally {
    await ds.close();
  }
}
