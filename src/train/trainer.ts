/**
 * The training loop shared by every model: epochs over a shuffled loader,
 * AdamW, per-step and per-epoch metrics, test loss, sample grids, atomic
 * checkpoints, bit-exact resume and a clean stop on Ctrl-C.
 *
 * Reproducibility: the model's own random draws (posterior indices,
 * scheduled-sampling coins, noise) come from one generator whose state is
 * checkpointed; the data order and flips of epoch e come from a generator
 * seeded by (seed, e), so a resumed run re-derives them and skips the batches
 * already done. Test evaluation and sample grids use their own derived
 * generators so they never perturb training.
 *
 * Safety: nothing is written until the data are found and the model is
 * built; a run directory is locked while a trainer uses it; parameters and
 * optimizer moments are checked for NaN/Inf after every step (in the
 * optimizer's own pass), and a non-finite state is never checkpointed;
 * SIGINT and SIGTERM checkpoint before exiting; a time budget (--max-minutes)
 * ends a run cleanly at a step boundary.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdamW } from '../engine/optim.js';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { backend } from '../engine/backend/index.js';
import { DataLoader, Dataset, openDataset, defaultDropLast, DatasetName } from '../data/index.js';
import { writeImageGrid } from '../io/image.js';
import type { StoredTensor } from '../io/safetensors.js';
import { toFloat32 } from '../io/safetensors.js';
import { readCheckpoint, saveCheckpoint, loadStateDict } from '../models/checkpoint.js';
import { resolveCheckpointPath } from '../models/pretrained.js';
import { readOptimizerSidecar, saveTrainingCheckpoint } from './checkpoint-files.js';
import { createTrainableModel, modelNotes, ModelKind, MODEL_KINDS, NEURON_CHOICES, type ModelOptions } from '../models/index.js';
import type { GenerativeModel, TrainableModel } from '../models/types.js';
import { betweenTrainingSteps, trainingStep } from './step.js';
import { Progress } from '../util/progress.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';

/** The model's options (ModelOptions) are stored as given; decay0 is turned into tau0 before a run starts. */
export interface TrainConfig extends Omit<ModelOptions, 'decay0'> {
  model: ModelKind;
  dataset: DatasetName;
  dataDir?: string;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  seed: number;
  /** Use only the first N training / test images (quick runs, tests). */
  trainLimit?: number;
  testLimit?: number;
  /** Images in each epoch's sample grid. */
  sampleCount: number;
  /** Steps between logged metric lines. */
  logEvery: number;
  /** Minutes between mid-epoch checkpoints. */
  checkpointMinutes: number;
  /** Learning-curve evaluations at the epochs isCurveEpoch picks (default true). */
  curves?: boolean;
  /** Generated images for each learning-curve FAD (default 5120, the reference's; 0: no FAD). */
  curveFadSamples?: number;
  /**
   * Weights to start from (a checkpoint or pretrained:NAME): the run continues
   * that model's training at its epoch and step, with fresh optimizer moments
   * (a run folder that was lost goes on from its published weights).
   */
  initFrom?: string;
}

/** One learning-curve measurement (test reconstruction MSE, FAD) of the model as it stands. */
export interface CurvePoint {
  reconMse: number;
  testImages: number;
  fad?: number;
  fadSamples?: number;
  /** Why a metric is missing (e.g. no FAD autoencoder for this dataset). */
  note?: string;
}

/**
 * Measures a learning-curve point. The command line supplies one built on the
 * metrics package, so training does not depend on the evaluation code.
 */
export type CurveEvaluator = (model: GenerativeModel, cfg: TrainConfig) => Promise<CurvePoint>;

/** Epochs (counted as completed) at which the learning curve is measured: 1, 2, 5, 10, 20, 30, ... and the last. */
export function isCurveEpoch(completed: number, total: number): boolean {
  return completed === 1 || completed === 2 || completed === 5 || completed % 10 === 0 || completed === total;
}

export interface RunOptions {
  out: string;
  /** Stop after this many optimizer steps in total (the run can be resumed). */
  maxSteps?: number;
  /** Stop (with a checkpoint) once this call to train() has run this many minutes. */
  maxMinutes?: number;
  quiet?: boolean;
  /** Called after every step (tests use it to interrupt). */
  onStep?: (step: number) => void;
  curveEvaluator?: CurveEvaluator;
}

export interface TrainingState {
  epoch: number;
  batchInEpoch: number;
  step: number;
  rng: number[];
  bestTestLoss: number | null;
  elapsedSeconds: number;
  /** Sums of the loss terms over this epoch's finished batches, so a resumed epoch reports the whole epoch's means. */
  epochTermSums?: Record<string, number>;
  /** AdamW's own step count when it differs from `step` (a run started --init-from: its moments start afresh). */
  optimizerStep?: number;
}

export interface TrainSummary {
  runDir: string;
  steps: number;
  epochsCompleted: number;
  stoppedBy: 'finished' | 'max-steps' | 'time-budget' | 'interrupt';
  /** The signal that interrupted the run (the command exits with 128 + its number). */
  signal?: 'SIGINT' | 'SIGTERM';
  lastLoss: Record<string, number> | null;
  lastTest: Record<string, number> | null;
  /** Training images per second of this call, end-of-epoch evaluation excluded. */
  imagesPerSecond: number;
  checkpoint: string;
}

export function epochGenerator(seed: number, epoch: number, stream: number): Random {
  // Distinct, reproducible streams per (seed, epoch, purpose).
  return new Random((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0);
}

const STREAM_DATA = 0;
const STREAM_TEST = 1;
const STREAM_SAMPLE = 2;

function optimizerTensors(opt: AdamW): Map<string, StoredTensor> {
  const s = opt.getState();
  const out = new Map<string, StoredTensor>();
  s.m.forEach((a, i) => out.set(`exp_avg.${i}`, { dtype: 'F32', shape: [a.length], data: a }));
  s.v.forEach((a, i) => out.set(`exp_avg_sq.${i}`, { dtype: 'F32', shape: [a.length], data: a }));
  return out;
}

/**
 * Settings a resumed run may change: a new epoch count (the scheduled-sampling
 * p follows it), learning rate, bookkeeping, where the data are. Everything
 * else (model, data set, batch size, seed, ...) would make a different run.
 */
export const RESUMABLE_KEYS = ['epochs', 'lr', 'logEvery', 'checkpointMinutes', 'sampleCount', 'dataDir', 'curves', 'curveFadSamples'] as const;
export type ResumeChanges = Partial<Pick<TrainConfig, (typeof RESUMABLE_KEYS)[number]>>;

/** Run-directory files that belong to a run (removed by --overwrite). */
const RUN_FILES = ['checkpoint.safetensors', 'best.safetensors', 'metrics.jsonl', 'config.json'];
/** The sample grids the trainer writes into RUN_DIR/samples at the end of each epoch (epoch-NNN.png). */
export const SAMPLE_GRID = /^epoch-\d{3,}\.png$/;
const LOCK_FILE = 'run.lock';

export class Trainer {
  readonly model: TrainableModel;
  readonly optimizer: AdamW;
  readonly rng: Random;
  state: TrainingState;
  private stopSignal: 'SIGINT' | 'SIGTERM' | null = null;
  private trainBatchesPerEpoch = 1;
  /** What train() must do to the run directory before the first write (a new run, or a resumed config that changed). */
  private pendingSetup: { fresh: boolean; overwrite: boolean; configChanged: boolean };
  /** A resumed run that had no checkpoint yet and starts from step 0. */
  restartedFromScratch = false;
  /** Step of the newest checkpoint on disk (named in the non-finite message). */
  private checkpointStep: number | null = null;

  constructor(readonly cfg: TrainConfig, readonly run: RunOptions) {
    this.model = createTrainableModel(cfg.model, cfg.dataset, cfg, cfg.seed);
    this.optimizer = new AdamW(this.model.paramGroups(cfg.lr, cfg.weightDecay));
    this.rng = new Random(cfg.seed ^ 0x5bd1e995);
    this.state = { epoch: 0, batchInEpoch: 0, step: 0, rng: this.rng.getState(), bestTestLoss: null, elapsedSeconds: 0 };
    this.pendingSetup = { fresh: true, overwrite: false, configChanged: false };
  }

  get checkpointPath(): string {
    return join(this.run.out, 'checkpoint.safetensors');
  }

  /**
   * A new run in run.out (refusing to overwrite another run unless asked).
   * Nothing is written here: train() creates the directory once the data
   * are found.
   */
  static create(cfg: TrainConfig, run: RunOptions, overwrite = false): Trainer {
    validateTrainConfig(cfg, 'the training options');
    if (!overwrite && RUN_FILES.some((f) => existsSync(join(run.out, f)))) {
      throw new UserError(`${run.out}: already holds a run; use --resume ${run.out} to continue it, --overwrite to start over, or choose another --out`);
    }
    const t = new Trainer(cfg, run);
    if (cfg.initFrom) t.startFrom(cfg.initFrom);
    t.pendingSetup = { fresh: true, overwrite, configChanged: false };
    return t;
  }

  /**
   * Takes the weights, epoch and step of another checkpoint (--init-from);
   * the optimizer moments and the model's generator start afresh, so this is
   * a continuation of the schedules, not an exact resume.
   */
  private startFrom(spec: string): void {
    const ck = readCheckpoint(spec);
    const file = resolveCheckpointPath(spec);
    if (ck.model !== this.cfg.model) throw new UserError(`${file}: a ${ck.model} checkpoint; --init-from needs one of the run's model, ${this.cfg.model}`);
    const mine = JSON.stringify(sortedKeys(this.model.config));
    if (JSON.stringify(sortedKeys(ck.config)) !== mine) {
      throw new UserError(`${file}: its model configuration ${JSON.stringify(ck.config)} differs from the run's ${mine}; give the run the same --latent-dim, --time-steps, --k, --decoding and --neuron`);
    }
    if (ck.file.metadata['spikevae.dataset'] !== undefined && ck.file.metadata['spikevae.dataset'] !== this.cfg.dataset) {
      throw new UserError(`${file}: trained on ${ck.file.metadata['spikevae.dataset']}, not ${this.cfg.dataset}`);
    }
    loadStateDict(this.model, ck.file.tensors, file);
    const done = ck.training as { epoch?: unknown; step?: unknown; batchInEpoch?: unknown } | null;
    const whole = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0);
    this.state.epoch = whole(done?.epoch);
    this.state.step = whole(done?.step);
    this.state.batchInEpoch = whole(done?.batchInEpoch);
    this.state.optimizerStep = 0;
  }

  /**
   * Reopens a run directory at its latest checkpoint. `changes` are settings
   * a resumed run may change (RESUMABLE_KEYS; the caller refuses the others);
   * they are recorded in config.json so later resumes keep them.
   */
  static resume(runDir: string, overrides: Partial<RunOptions> = {}, changes: ResumeChanges = {}): Trainer {
    const cfg = readRunConfig(runDir);
    let configChanged = false;
    for (const key of RESUMABLE_KEYS) {
      const v = changes[key];
      if (v !== undefined && v !== cfg[key]) {
        (cfg as unknown as Record<string, unknown>)[key] = v;
        configChanged = true;
      }
    }
    validateTrainConfig(cfg, join(runDir, 'config.json'));
    const t = new Trainer(cfg, { out: runDir, ...overrides });
    const ckPath = t.checkpointPath;
    if (!existsSync(ckPath)) {
      // Stopped (killed) before its first checkpoint: the run starts over from
      // step 0, which is what it would have done (everything is seeded).
      t.pendingSetup = { fresh: false, overwrite: false, configChanged: true };
      t.restartedFromScratch = true;
      return t;
    }
    const ck = readCheckpoint(ckPath);
    if (ck.model !== cfg.model) throw new UserError(`${ckPath}: checkpoint of model '${ck.model}' but the run is '${cfg.model}'`);
    loadStateDict(t.model, ck.file.tensors, ckPath);
    if (!ck.training) throw new UserError(`${ckPath}: has no training state; cannot resume`);
    t.state = checkTrainingState(ck.training, ckPath);
    t.rng.setState(t.state.rng);
    const side = readOptimizerSidecar(ckPath, t.state.step);
    const n = t.optimizer.params.length;
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (let i = 0; i < n; i++) {
      const a = side.tensors.get(`exp_avg.${i}`);
      const b = side.tensors.get(`exp_avg_sq.${i}`);
      const size = t.optimizer.params[i].size;
      if (!a || !b) throw new UserError(`${ckPath}: optimizer state lacks parameter ${i}`);
      if (a.data.length !== size || b.data.length !== size) throw new UserError(`${ckPath}: optimizer state of parameter ${i} has the wrong size`);
      m.push(toFloat32(a, `${ckPath}: optimizer state 'exp_avg.${i}'`));
      v.push(toFloat32(b, `${ckPath}: optimizer state 'exp_avg_sq.${i}'`));
    }
    t.optimizer.setState({ step: t.state.optimizerStep ?? t.state.step, m, v });
    t.checkpointStep = t.state.step;
    t.pendingSetup = { fresh: false, overwrite: false, configChanged };
    return t;
  }

  /**
   * Drops metric lines written after the checkpoint (they will be redone):
   * step lines past its step, and epoch or curve lines of epochs it has not
   * completed (an epoch's end can be written at the step of a mid-epoch
   * checkpoint).
   */
  private trimMetrics(): void {
    const p = join(this.run.out, 'metrics.jsonl');
    if (!existsSync(p)) return;
    const keep = readFileSync(p, 'utf8')
      .split('\n')
      .filter((line) => {
        if (!line.trim()) return false;
        try {
          const o = JSON.parse(line) as { step?: number; kind?: string; epoch?: number };
          if ((o.step ?? 0) > this.state.step) return false;
          if (o.kind === 'epoch' && (o.epoch ?? 0) >= this.state.epoch) return false;
          if (o.kind === 'curve' && (o.epoch ?? 0) > this.state.epoch) return false;
          return true;
        } catch {
          return false;
        }
      });
    writeFileAtomic(p, keep.map((l) => l + '\n').join(''));
  }

  private logMetrics(obj: Record<string, unknown>): void {
    appendFileSync(join(this.run.out, 'metrics.jsonl'), JSON.stringify(obj) + '\n');
  }

  saveCheckpoint(path = this.checkpointPath): void {
    this.state.rng = this.rng.getState();
    if (this.state.optimizerStep !== undefined) this.state.optimizerStep = this.optimizer.stepCount;
    const meta = { model: this.model.kind, config: this.model.config, training: { ...this.state }, dataset: this.cfg.dataset, ...modelNotes(this.model.kind) };
    if (path !== this.checkpointPath) return saveCheckpoint(path, this.model, meta);
    saveTrainingCheckpoint(path, this.model, meta, optimizerTensors(this.optimizer));
    this.checkpointStep = this.state.step;
  }

  /** Asks the loop to stop after the current step, with a checkpoint (as SIGINT does). */
  requestStop(signal: 'SIGINT' | 'SIGTERM' = 'SIGINT'): void {
    this.stopSignal ??= signal;
  }

  async evaluate(test: Dataset, epoch: number): Promise<Record<string, number>> {
    // The classifiers' train.py tests every image (drop_last=False).
    const loader = new DataLoader(test, { batchSize: this.cfg.batchSize, shuffle: false, dropLast: this.model.supervised ? false : defaultDropLast(this.cfg.dataset) });
    const rng = epochGenerator(this.cfg.seed, epoch, STREAM_TEST);
    // The reference's test loss weights the ANN VAE's KL term by 1/len(testloader).
    this.model.setBatchesPerEpoch?.(loader.batchesPerEpoch);
    this.model.eval();
    const sums: Record<string, number> = {};
    let batches = 0;
    let images = 0;
    // The VAE references average batch means (AverageMeter with n = 1); a classifier counts images (correct / total).
    const perImage = this.model.supervised === true;
    for await (const b of loader.epoch(rng)) {
      const x = new Tensor(b.images.subarray(0, b.size * test.channels * test.height * test.width), [b.size, test.channels, test.height, test.width]);
      const res = noGrad(() => this.model.lossOnBatch(x, rng, b.labels));
      for (const [k, v] of Object.entries(res.terms)) sums[k] = (sums[k] ?? 0) + v * (perImage ? b.size : 1);
      batches++;
      images += b.size;
    }
    this.model.train();
    this.model.setBatchesPerEpoch?.(this.trainBatchesPerEpoch);
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(sums)) out[k] = v / Math.max(1, perImage ? images : batches);
    return out;
  }

  /** The epoch's sample grid (a classifier has none: null). */
  writeSamples(epoch: number, dataset: Dataset): string | null {
    if (this.model.supervised) return null;
    const rng = epochGenerator(this.cfg.seed, 0, STREAM_SAMPLE); // same latents every epoch: progress is visible
    this.model.eval();
    const { images } = (this.model as GenerativeModel).sample(this.cfg.sampleCount, rng);
    this.model.train();
    const path = join(this.run.out, 'samples', `epoch-${String(epoch).padStart(3, '0')}.png`);
    writeImageGrid(path, images.data, this.cfg.sampleCount, dataset.channels, dataset.height, dataset.width);
    return path;
  }

  /**
   * The first writes of this call: the run directory (a new run), its lock,
   * config.json; stale temporary files of an earlier, killed writer go.
   */
  private prepareRunDirectory(): void {
    const dir = this.run.out;
    const { fresh, overwrite, configChanged } = this.pendingSetup;
    if (fresh) {
      if (!overwrite && RUN_FILES.some((f) => existsSync(join(dir, f)))) {
        throw new UserError(`${dir}: already holds a run; use --resume ${dir} to continue it, --overwrite to start over, or choose another --out`);
      }
      mkdirSync(dir, { recursive: true });
    }
    acquireLock(dir);
    for (const f of readdirSync(dir)) if (f.startsWith('.tmp-')) rmSync(join(dir, f), { force: true });
    if (fresh) {
      if (overwrite) {
        // Only a run directory's own files are removed.
        for (const f of readdirSync(dir)) {
          if (RUN_FILES.includes(f) || /^checkpoint\.optimizer(-\d+)?\.safetensors$/.test(f)) rmSync(join(dir, f), { force: true });
        }
        // Only the trainer's own sample grids: --out . must not take a user's samples/ folder with it.
        const samples = join(dir, 'samples');
        if (existsSync(samples)) {
          for (const f of readdirSync(samples)) if (SAMPLE_GRID.test(f)) rmSync(join(samples, f), { force: true });
        }
      }
      mkdirSync(join(dir, 'samples'), { recursive: true });
    }
    if (fresh || configChanged) writeFileAtomic(join(dir, 'config.json'), JSON.stringify(this.cfg, null, 2) + '\n');
    if (!fresh) this.trimMetrics();
    this.pendingSetup = { fresh: false, overwrite: false, configChanged: false };
  }

  /** Throws (without checkpointing) when the last step left the model or optimizer non-finite. */
  private checkFinite(parametersFinite: boolean, epoch: number): void {
    let bad: string | null = parametersFinite ? null : 'a parameter or optimizer moment';
    if (!bad) {
      for (const [name, b] of this.model.namedBuffers()) {
        if (b.data && !allFinite(b.data)) {
          bad = `buffer '${name}'`;
          break;
        }
      }
    }
    if (!bad) return;
    const kept =
      this.checkpointStep === null
        ? 'no checkpoint had been written'
        : `the last checkpoint ${this.checkpointPath} (step ${this.checkpointStep}) is finite and kept`;
    throw new UserError(
      `step ${this.state.step} (epoch ${epoch}): ${bad} became NaN or infinite (learning rate ${this.cfg.lr} too high?); training stopped without saving it; ${kept}`,
    );
  }

  async train(): Promise<TrainSummary> {
    const cfg = this.cfg;
    // The conventional networks use the reference's ANN loader (no CIFAR-10 flip).
    const forAnn = cfg.model === 'ann-vae' || cfg.model === 'fad-ae';
    // The classifiers have their own resolution, normalisation and augmentation.
    const preprocessing = this.model.supervised ? 'classifier' : 'vae';
    const train = await openDataset(cfg.dataset, 'train', { dataDir: cfg.dataDir, limit: cfg.trainLimit, forAnn, preprocessing });
    let test: Dataset;
    try {
      test = await openDataset(cfg.dataset, 'test', { dataDir: cfg.dataDir, limit: cfg.testLimit, preprocessing });
    } catch (e) {
      await train.close();
      throw e;
    }
    // ... and trains on whole batches (drop_last=True) on every dataset.
    const dropLast = this.model.supervised ? true : defaultDropLast(cfg.dataset);
    const loader = new DataLoader(train, { batchSize: cfg.batchSize, shuffle: true, dropLast });
    const perEpoch = loader.batchesPerEpoch;
    if (perEpoch === 0) {
      await train.close();
      await test.close();
      throw new UserError(`${train.source}: ${train.length} images are fewer than one batch of ${cfg.batchSize}`);
    }
    this.prepareRunDirectory();
    this.trainBatchesPerEpoch = perEpoch;
    this.model.setBatchesPerEpoch?.(perEpoch);
    const imagesPerEpoch = dropLast ? perEpoch * cfg.batchSize : train.length;
    const totalSteps = Math.min(cfg.epochs * perEpoch, this.run.maxSteps ?? Infinity);
    const runStart = Date.now();
    const deadline = this.run.maxMinutes === undefined ? undefined : runStart + this.run.maxMinutes * 60_000;
    const progress = new Progress({ total: totalSteps, label: `${cfg.model}/${cfg.dataset}`, quiet: this.run.quiet, deadline }, this.state.step);
    const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
      if (this.stopSignal === 'SIGINT' && signal === 'SIGINT') process.exit(130);
      this.requestStop(signal);
      progress.log(
        `spikevae: ${signal} received; finishing this step and writing a checkpoint` + (signal === 'SIGINT' ? ' (Ctrl-C again to quit at once)' : ''),
      );
    };
    const onSigint = () => onSignal('SIGINT');
    const onSigterm = () => onSignal('SIGTERM');
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    this.model.train();
    let stoppedBy: TrainSummary['stoppedBy'] = 'finished';
    let lastTerms: Record<string, number> | null = null;
    let lastTest: Record<string, number> | null = null;
    const imagesShape = [train.channels, train.height, train.width];
    const imageSize = train.channels * train.height * train.width;
    let windowStart = Date.now();
    let windowImages = 0;
    let lastCheckpointTime = Date.now();
    const elapsedBefore = this.state.elapsedSeconds;
    let imagesThisSession = 0;
    let ips = 0;
    let evaluationMs = 0;
    let failed = false;
    try {
      outer: while (this.state.epoch < cfg.epochs) {
        const epoch = this.state.epoch;
        this.model.beginEpoch(epoch, cfg.epochs);
        if (this.model.learningRateFactor) this.optimizer.setLearningRateFactor(this.model.learningRateFactor(epoch));
        const epochStart = Date.now();
        // A run resumed mid-epoch continues the epoch's sums from its checkpoint.
        const resumedSums = this.state.batchInEpoch > 0 ? this.state.epochTermSums : undefined;
        const sums: Record<string, number> = resumedSums ? { ...resumedSums } : {};
        let count = resumedSums ? this.state.batchInEpoch : 0;
        this.state.epochTermSums = sums;
        for await (const b of loader.epoch(epochGenerator(cfg.seed, epoch, STREAM_DATA), this.state.batchInEpoch)) {
          if (this.state.step >= (this.run.maxSteps ?? Infinity)) {
            stoppedBy = 'max-steps';
            break outer;
          }
          const images = new Tensor(b.images.subarray(0, b.size * imageSize), [b.size, ...imagesShape]);
          const res = trainingStep(this.model, this.optimizer, images, this.rng, (r) => {
            const bad = Object.entries(r.terms).filter(([, v]) => !Number.isFinite(v));
            if (bad.length > 0) {
              const terms = Object.entries(r.terms).map(([k, v]) => `${k}=${v}`).join(', ');
              const kept = this.checkpointStep === null ? 'no checkpoint had been written' : `the last checkpoint ${this.checkpointPath} (step ${this.checkpointStep}) is kept`;
              throw new UserError(`step ${this.state.step + 1} (epoch ${epoch}): loss is not finite (${terms}); training stopped; ${kept}`);
            }
          }, b.labels);
          this.state.step++;
          this.state.batchInEpoch++;
          this.checkFinite(res.parametersFinite, epoch);
          lastTerms = res.terms;
          for (const [k, v] of Object.entries(res.terms)) sums[k] = (sums[k] ?? 0) + v;
          count++;
          windowImages += b.size;
          imagesThisSession += b.size;
          const now = Date.now();
          if (this.state.step % cfg.logEvery === 0) {
            ips = (windowImages * 1000) / Math.max(1, now - windowStart);
            this.logMetrics({ kind: 'step', step: this.state.step, epoch, ...res.terms, imagesPerSec: ips, rates: res.rates, time: new Date().toISOString() });
            windowStart = now;
            windowImages = 0;
          }
          const curIps = ips || (windowImages * 1000) / Math.max(1, now - windowStart);
          progress.update(Math.min(this.state.step, totalSteps), { epoch, loss: res.terms.loss, 'img/s': curIps });
          this.run.onStep?.(this.state.step);
          // In-memory batches resolve as microtasks; without a macrotask turn
          // here, signal handlers (Ctrl-C) would not run until the epoch ends.
          // The same turn lets the buffer pool take this step's arrays back.
          await betweenTrainingSteps();
          if (this.stopSignal) {
            stoppedBy = 'interrupt';
            break outer;
          }
          if (deadline !== undefined && Date.now() >= deadline) {
            // The epoch's end (test loss, curve, samples) is done on resume if this was its last batch.
            stoppedBy = 'time-budget';
            break outer;
          }
          if (now - lastCheckpointTime > cfg.checkpointMinutes * 60_000) {
            this.state.elapsedSeconds = elapsedBefore + (now - runStart) / 1000;
            this.saveCheckpoint();
            lastCheckpointTime = now;
          }
        }
        // End of epoch: test loss, learning-curve point, sample grid, checkpoint.
        const epochEndStart = Date.now();
        const trainMeans: Record<string, number> = {};
        for (const [k, v] of Object.entries(sums)) trainMeans[k] = v / Math.max(1, count);
        progress.log(`epoch ${epoch}: train ${fmtTerms(trainMeans)}; evaluating on ${test.length} test images...`);
        lastTest = await this.evaluate(test, epoch);
        const completed = epoch + 1;
        let curve: Record<string, unknown> | null = null;
        // A classifier's learning curve is its per-epoch test accuracy (the epoch records).
        if (cfg.curves !== false && this.run.curveEvaluator && !this.model.supervised && isCurveEpoch(completed, cfg.epochs)) {
          progress.log(`epoch ${epoch}: learning-curve point (test reconstruction MSE, FAD of ${cfg.curveFadSamples ?? 5120} samples)...`);
          const t0 = Date.now();
          const point = await this.run.curveEvaluator(this.model as GenerativeModel, cfg);
          this.model.train();
          curve = { kind: 'curve', epoch: completed, step: this.state.step, images: completed * imagesPerEpoch, ...point, seconds: (Date.now() - t0) / 1000, time: new Date().toISOString() };
        }
        const samplePath = this.writeSamples(epoch, train);
        this.state.epoch++;
        this.state.batchInEpoch = 0;
        this.state.epochTermSums = {};
        this.state.elapsedSeconds = elapsedBefore + (Date.now() - runStart) / 1000;
        // bestTestLoss holds the best value of the selection term: the lowest test loss, or a classifier's highest accuracy.
        const selected = this.model.supervised ? -lastTest.accuracy : lastTest.loss;
        const isBest = this.state.bestTestLoss === null || selected < this.state.bestTestLoss;
        if (isBest) this.state.bestTestLoss = selected;
        this.logMetrics({
          kind: 'epoch',
          step: this.state.step,
          epoch,
          train: trainMeans,
          test: lastTest,
          epochSeconds: (Date.now() - epochStart) / 1000,
          samples: samplePath,
          best: isBest,
        });
        if (curve) this.logMetrics(curve);
        this.saveCheckpoint();
        if (isBest) this.saveCheckpoint(join(this.run.out, 'best.safetensors'));
        lastCheckpointTime = Date.now();
        // Images/s measure training: the next window starts after the evaluation.
        windowStart = lastCheckpointTime;
        windowImages = 0;
        evaluationMs += lastCheckpointTime - epochEndStart;
        const curveText = curve ? `; curve: recon MSE ${fmtNum(curve.reconMse)}${curve.fad !== undefined ? `, FAD ${fmtNum(curve.fad)}` : ''}` : '';
        progress.log(`epoch ${epoch}: test ${fmtTerms(lastTest)}${isBest ? ' (best)' : ''}${curveText}${samplePath ? `; samples ${samplePath}` : ''}`);
      }
      if (stoppedBy !== 'finished' || this.state.batchInEpoch > 0) {
        this.state.elapsedSeconds = elapsedBefore + (Date.now() - runStart) / 1000;
        this.saveCheckpoint();
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      progress.finish();
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      releaseLock(this.run.out);
      await train.close();
      await test.close();
      if (failed) this.model.train();
    }
    const trainingSeconds = (Date.now() - runStart - evaluationMs) / 1000;
    return {
      runDir: this.run.out,
      steps: this.state.step,
      epochsCompleted: this.state.epoch,
      stoppedBy,
      ...(stoppedBy === 'interrupt' && this.stopSignal ? { signal: this.stopSignal } : {}),
      lastLoss: lastTerms,
      lastTest,
      imagesPerSecond: imagesThisSession / Math.max(1e-9, trainingSeconds),
      checkpoint: this.checkpointPath,
    };
  }
}

/** A configuration's set keys in a fixed order, for comparing two of them. */
function sortedKeys(o: Record<string, unknown>): Array<[string, unknown]> {
  return Object.entries(o)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

function fmtNum(v: unknown): string {
  return typeof v === 'number' ? v.toPrecision(4) : String(v);
}

function allFinite(d: Float32Array): boolean {
  let poison = 0;
  for (let i = 0; i < d.length; i++) poison += d[i] * 0;
  return Number.isFinite(poison);
}

/** Takes the run directory's lock, refusing when a live process holds it. */
function acquireLock(dir: string): void {
  const p = join(dir, LOCK_FILE);
  if (existsSync(p)) {
    const pid = Number.parseInt(readFileSync(p, 'utf8'), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new UserError(`${dir}: in use by another training process (pid ${pid}); wait for it to stop, or delete ${p} if that process is not spikevae`);
    }
  }
  writeFileSync(p, `${process.pid}\n`);
}

function releaseLock(dir: string): void {
  const p = join(dir, LOCK_FILE);
  try {
    if (Number.parseInt(readFileSync(p, 'utf8'), 10) === process.pid) rmSync(p, { force: true });
  } catch {
    // no lock (the directory was never prepared)
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads RUN_DIR/config.json with one-line errors. */
export function readRunConfig(runDir: string): TrainConfig {
  const cfgPath = join(runDir, 'config.json');
  if (!existsSync(cfgPath)) throw new UserError(`${runDir}: not a run directory (no config.json)`);
  try {
    return JSON.parse(readFileSync(cfgPath, 'utf8')) as TrainConfig;
  } catch (e) {
    throw new UserError(`${cfgPath}: not valid JSON (${(e as Error).message})`);
  }
}

/** Refuses a training configuration (typed by hand, or a damaged config.json) that would train nonsense. */
export function validateTrainConfig(cfg: TrainConfig, source: string): void {
  const c = cfg as unknown as Record<string, unknown>;
  if (typeof c !== 'object' || c === null) throw new UserError(`${source}: not a training configuration`);
  const fail = (key: string, want: string) => {
    throw new UserError(`${source}: '${key}' must be ${want}, got ${JSON.stringify(c[key])}`);
  };
  const int = (key: string, lo: number, hi: number, optional = false) => {
    const v = c[key];
    if (v === undefined && optional) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(key, `a whole number from ${lo} to ${hi}`);
  };
  const real = (key: string, lo: number, hi: number, lowOpen: boolean) => {
    const v = c[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v > hi || v < lo || (lowOpen && v === lo)) fail(key, `a number ${lowOpen ? 'above' : 'from'} ${lo}${Number.isFinite(hi) ? ` up to ${hi}` : ''}`);
  };
  if (!(MODEL_KINDS as string[]).includes(c.model as string)) fail('model', `one of ${MODEL_KINDS.join(', ')}`);
  if (!['mnist', 'fashion', 'cifar10', 'celeba'].includes(c.dataset as string)) fail('dataset', 'one of mnist, fashion, cifar10, celeba');
  int('epochs', 1, 1_000_000);
  int('batchSize', 1, 65_536);
  real('lr', 0, Infinity, true);
  real('weightDecay', 0, Infinity, false);
  int('seed', 0, 2 ** 32 - 1);
  int('latentDim', 1, 65_536, true);
  int('timeSteps', 1, 256, true);
  int('k', 1, 1000, true);
  if (c.decoding !== undefined && c.decoding !== 'membrane' && c.decoding !== 'taid') fail('decoding', "'membrane' or 'taid'");
  if (c.neuron !== undefined && !(NEURON_CHOICES as string[]).includes(c.neuron as string)) fail('neuron', `one of ${NEURON_CHOICES.join(', ')}`);
  if (c.tau0 !== undefined && !(typeof c.tau0 === 'number' && c.tau0 > 1 && Number.isFinite(c.tau0))) fail('tau0', 'a number above 1');
  if (c.vth0 !== undefined && !(typeof c.vth0 === 'number' && Number.isFinite(c.vth0))) fail('vth0', 'a finite number');
  int('trainLimit', 1, 1e9, true);
  int('testLimit', 1, 1e9, true);
  int('sampleCount', 1, 1024);
  int('logEvery', 1, 1e9);
  real('checkpointMinutes', 0, Infinity, true);
  if (c.curves !== undefined && typeof c.curves !== 'boolean') fail('curves', 'true or false');
  int('curveFadSamples', 0, 1_000_000, true);
  if (c.initFrom !== undefined && (typeof c.initFrom !== 'string' || c.initFrom === '')) fail('initFrom', 'a checkpoint file or pretrained:NAME');
}

/** The training state of a checkpoint, checked before the loop trusts it. */
function checkTrainingState(raw: Record<string, unknown>, file: string): TrainingState {
  const bad = (key: string) => {
    throw new UserError(`${file}: training state '${key}' is invalid (${JSON.stringify(raw[key])})`);
  };
  for (const key of ['epoch', 'batchInEpoch', 'step']) {
    const v = raw[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) bad(key);
  }
  // Four 32-bit words, then the cached normal deviate (null when there is none).
  const rng = raw.rng;
  const word = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 32;
  if (!Array.isArray(rng) || rng.length < 4 || rng.length > 5 || !rng.slice(0, 4).every(word)) bad('rng');
  if (Array.isArray(rng) && rng.length === 5 && rng[4] !== null && !(typeof rng[4] === 'number' && Number.isFinite(rng[4]))) bad('rng');
  return raw as unknown as TrainingState;
}

export function fmtTerms(t: Record<string, number>): string {
  return Object.entries(t)
    .map(([k, v]) => `${k} ${v.toPrecision(4)}`)
    .join(', ');
}

export function backendName(): string {
  return backend().description;
}
