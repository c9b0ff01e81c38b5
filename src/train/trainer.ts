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
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AdamW } from '../engine/optim.js';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { backend } from '../engine/backend/index.js';
import { DataLoader, Dataset, openDataset, defaultDropLast, DatasetName } from '../data/index.js';
import { writeImageGrid } from '../io/image.js';
import type { StoredTensor } from '../io/safetensors.js';
import { toFloat32 } from '../io/safetensors.js';
import { readCheckpoint, saveCheckpoint, loadStateDict, readOptimizerSidecar } from '../models/checkpoint.js';
import { createModel, modelNotes, ModelKind } from '../models/index.js';
import type { GenerativeModel } from '../models/types.js';
import { betweenTrainingSteps, trainingStep } from './step.js';
import { Progress } from '../cli/progress.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';

export interface TrainConfig {
  model: ModelKind;
  dataset: DatasetName;
  dataDir?: string;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  seed: number;
  latentDim?: number;
  timeSteps?: number;
  k?: number;
  decoding?: 'membrane' | 'taid';
  /** Use only the first N training / test images (quick runs, tests). */
  trainLimit?: number;
  testLimit?: number;
  /** Images in each epoch's sample grid. */
  sampleCount: number;
  /** Steps between logged metric lines. */
  logEvery: number;
  /** Minutes between mid-epoch checkpoints. */
  checkpointMinutes: number;
}

export interface RunOptions {
  out: string;
  /** Stop after this many optimizer steps in total (the run can be resumed). */
  maxSteps?: number;
  quiet?: boolean;
  /** Called after every step (tests use it to interrupt). */
  onStep?: (step: number) => void;
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
}

export interface TrainSummary {
  runDir: string;
  steps: number;
  epochsCompleted: number;
  stoppedBy: 'finished' | 'max-steps' | 'interrupt';
  lastLoss: Record<string, number> | null;
  lastTest: Record<string, number> | null;
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

export class Trainer {
  readonly model: GenerativeModel;
  readonly optimizer: AdamW;
  readonly rng: Random;
  state: TrainingState;
  private stopRequested = false;
  private trainBatchesPerEpoch = 1;

  constructor(readonly cfg: TrainConfig, readonly run: RunOptions) {
    this.model = createModel(cfg.model, cfg.dataset, cfg, cfg.seed);
    this.optimizer = new AdamW(this.model.paramGroups(cfg.lr, cfg.weightDecay));
    this.rng = new Random(cfg.seed ^ 0x5bd1e995);
    this.state = { epoch: 0, batchInEpoch: 0, step: 0, rng: this.rng.getState(), bestTestLoss: null, elapsedSeconds: 0 };
  }

  get checkpointPath(): string {
    return join(this.run.out, 'checkpoint.safetensors');
  }

  /** Starts a new run directory (refusing to overwrite another run). */
  static create(cfg: TrainConfig, run: RunOptions, overwrite = false): Trainer {
    if (existsSync(join(run.out, 'checkpoint.safetensors')) || existsSync(join(run.out, 'config.json'))) {
      if (!overwrite) {
        throw new UserError(`${run.out}: already holds a run; use --resume ${run.out} to continue it, --overwrite to start over, or choose another --out`);
      }
      // Only a run directory's own files are removed.
      for (const f of ['checkpoint.safetensors', 'checkpoint.optimizer.safetensors', 'best.safetensors', 'metrics.jsonl', 'config.json']) {
        rmSync(join(run.out, f), { force: true });
      }
      rmSync(join(run.out, 'samples'), { recursive: true, force: true });
    }
    mkdirSync(join(run.out, 'samples'), { recursive: true });
    writeFileAtomic(join(run.out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    return new Trainer(cfg, run);
  }

  /** Reopens a run directory at its latest checkpoint. */
  static resume(runDir: string, overrides: Partial<RunOptions> = {}): Trainer {
    const cfgPath = join(runDir, 'config.json');
    if (!existsSync(cfgPath)) throw new UserError(`${runDir}: not a run directory (no config.json)`);
    let cfg: TrainConfig;
    try {
      cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as TrainConfig;
    } catch (e) {
      throw new UserError(`${cfgPath}: not valid JSON (${(e as Error).message})`);
    }
    const t = new Trainer(cfg, { out: runDir, ...overrides });
    const ckPath = t.checkpointPath;
    const ck = readCheckpoint(ckPath);
    if (ck.model !== cfg.model) throw new UserError(`${ckPath}: checkpoint of model '${ck.model}' but the run is '${cfg.model}'`);
    loadStateDict(t.model, ck.file.tensors, ckPath);
    if (!ck.training) throw new UserError(`${ckPath}: has no training state; cannot resume`);
    t.state = ck.training as unknown as TrainingState;
    t.rng.setState(t.state.rng);
    const side = readOptimizerSidecar(ckPath);
    if (!side) throw new UserError(`${ckPath}: optimizer state file is missing; cannot resume exactly`);
    if (side.metadata['spikevae.step'] !== String(t.state.step)) {
      throw new UserError(`${ckPath}: optimizer state is from step ${side.metadata['spikevae.step']}, the model from step ${t.state.step} (interrupted write?)`);
    }
    const n = t.optimizer.params.length;
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (let i = 0; i < n; i++) {
      const a = side.tensors.get(`exp_avg.${i}`);
      const b = side.tensors.get(`exp_avg_sq.${i}`);
      if (!a || !b) throw new UserError(`${ckPath}: optimizer state lacks parameter ${i}`);
      m.push(toFloat32(a));
      v.push(toFloat32(b));
    }
    t.optimizer.setState({ step: t.state.step, m, v });
    t.trimMetrics();
    return t;
  }

  /** Drops metric lines written after the checkpoint (they will be redone). */
  private trimMetrics(): void {
    const p = join(this.run.out, 'metrics.jsonl');
    if (!existsSync(p)) return;
    const keep = readFileSync(p, 'utf8')
      .split('\n')
      .filter((line) => {
        if (!line.trim()) return false;
        try {
          const o = JSON.parse(line) as { step?: number };
          return (o.step ?? 0) <= this.state.step;
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
    saveCheckpoint(
      path,
      this.model,
      { model: this.model.kind, config: this.model.config, training: { ...this.state }, dataset: this.cfg.dataset, ...modelNotes(this.model.kind) },
      path === this.checkpointPath ? optimizerTensors(this.optimizer) : undefined,
    );
  }

  requestStop(): void {
    this.stopRequested = true;
  }

  async evaluate(test: Dataset, epoch: number): Promise<Record<string, number>> {
    const loader = new DataLoader(test, { batchSize: this.cfg.batchSize, shuffle: false, dropLast: defaultDropLast(this.cfg.dataset) });
    const rng = epochGenerator(this.cfg.seed, epoch, STREAM_TEST);
    // The reference's test loss weights the ANN VAE's KL term by 1/len(testloader).
    this.model.setBatchesPerEpoch?.(loader.batchesPerEpoch);
    this.model.eval();
    const sums: Record<string, number> = {};
    let batches = 0;
    for await (const b of loader.epoch(rng)) {
      const images = new Tensor(b.images.subarray(0, b.size * test.channels * test.height * test.width), [b.size, test.channels, test.height, test.width]);
      const res = noGrad(() => this.model.lossOnBatch(images, rng));
      // The reference averages batch means (AverageMeter with n = 1).
      for (const [k, v] of Object.entries(res.terms)) sums[k] = (sums[k] ?? 0) + v;
      batches++;
    }
    this.model.train();
    this.model.setBatchesPerEpoch?.(this.trainBatchesPerEpoch);
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(sums)) out[k] = v / Math.max(1, batches);
    return out;
  }

  writeSamples(epoch: number, dataset: Dataset): string {
    const rng = epochGenerator(this.cfg.seed, 0, STREAM_SAMPLE); // same latents every epoch: progress is visible
    this.model.eval();
    const { images } = this.model.sample(this.cfg.sampleCount, rng);
    this.model.train();
    const path = join(this.run.out, 'samples', `epoch-${String(epoch).padStart(3, '0')}.png`);
    writeImageGrid(path, images.data, this.cfg.sampleCount, dataset.channels, dataset.height, dataset.width);
    return path;
  }

  async train(): Promise<TrainSummary> {
    const cfg = this.cfg;
    // The conventional networks use the reference's ANN loader (no CIFAR-10 flip).
    const forAnn = cfg.model === 'ann-vae' || cfg.model === 'fad-ae';
    const train = await openDataset(cfg.dataset, 'train', { dataDir: cfg.dataDir, limit: cfg.trainLimit, forAnn });
    const test = await openDataset(cfg.dataset, 'test', { dataDir: cfg.dataDir, limit: cfg.testLimit });
    const loader = new DataLoader(train, { batchSize: cfg.batchSize, shuffle: true, dropLast: defaultDropLast(cfg.dataset) });
    const perEpoch = loader.batchesPerEpoch;
    this.trainBatchesPerEpoch = perEpoch;
    this.model.setBatchesPerEpoch?.(perEpoch);
    if (perEpoch === 0) throw new UserError(`${train.source}: ${train.length} images are fewer than one batch of ${cfg.batchSize}`);
    const totalSteps = Math.min(cfg.epochs * perEpoch, this.run.maxSteps ?? Infinity);
    const progress = new Progress({ total: totalSteps, label: `${cfg.model}/${cfg.dataset}`, quiet: this.run.quiet }, this.state.step);
    const onSigint = () => {
      if (this.stopRequested) process.exit(130);
      this.stopRequested = true;
      progress.log('spikevae: interrupt received; finishing this step and writing a checkpoint (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    this.model.train();
    let stoppedBy: TrainSummary['stoppedBy'] = 'finished';
    let lastTerms: Record<string, number> | null = null;
    let lastTest: Record<string, number> | null = null;
    const imagesShape = [train.channels, train.height, train.width];
    const imageSize = train.channels * train.height * train.width;
    let windowStart = Date.now();
    let windowImages = 0;
    let lastCheckpointTime = Date.now();
    const runStart = Date.now();
    const elapsedBefore = this.state.elapsedSeconds;
    let imagesThisSession = 0;
    let ips = 0;
    try {
      outer: while (this.state.epoch < cfg.epochs) {
        const epoch = this.state.epoch;
        this.model.beginEpoch(epoch, cfg.epochs);
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
              throw new UserError(
                `step ${this.state.step + 1} (epoch ${epoch}): loss is not finite (${terms}); training stopped, the last good checkpoint ${this.checkpointPath} is kept`,
              );
            }
          });
          this.state.step++;
          this.state.batchInEpoch++;
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
          if (this.stopRequested) {
            stoppedBy = 'interrupt';
            break outer;
          }
          if (now - lastCheckpointTime > cfg.checkpointMinutes * 60_000) {
            this.state.elapsedSeconds = elapsedBefore + (now - runStart) / 1000;
            this.saveCheckpoint();
            lastCheckpointTime = now;
          }
        }
        // End of epoch: test loss, sample grid, checkpoint.
        const trainMeans: Record<string, number> = {};
        for (const [k, v] of Object.entries(sums)) trainMeans[k] = v / Math.max(1, count);
        progress.log(`epoch ${epoch}: train ${fmtTerms(trainMeans)}; evaluating on ${test.length} test images...`);
        lastTest = await this.evaluate(test, epoch);
        const samplePath = this.writeSamples(epoch, train);
        this.state.epoch++;
        this.state.batchInEpoch = 0;
        this.state.epochTermSums = {};
        this.state.elapsedSeconds = elapsedBefore + (Date.now() - runStart) / 1000;
        const isBest = this.state.bestTestLoss === null || lastTest.loss < this.state.bestTestLoss;
        if (isBest) this.state.bestTestLoss = lastTest.loss;
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
        this.saveCheckpoint();
        if (isBest) this.saveCheckpoint(join(this.run.out, 'best.safetensors'));
        lastCheckpointTime = Date.now();
        progress.log(`epoch ${epoch}: test ${fmtTerms(lastTest)}${isBest ? ' (best)' : ''}; samples ${samplePath}`);
      }
      if (stoppedBy !== 'finished' || this.state.batchInEpoch > 0) {
        this.state.elapsedSeconds = elapsedBefore + (Date.now() - runStart) / 1000;
        this.saveCheckpoint();
      }
    } finally {
      progress.finish();
      process.off('SIGINT', onSigint);
      await train.close();
      await test.close();
    }
    const seconds = (Date.now() - runStart) / 1000;
    return {
      runDir: this.run.out,
      steps: this.state.step,
      epochsCompleted: this.state.epoch,
      stoppedBy,
      lastLoss: lastTerms,
      lastTest,
      imagesPerSecond: imagesThisSession / Math.max(1e-9, seconds),
      checkpoint: this.checkpointPath,
    };
  }
}

export function fmtTerms(t: Record<string, number>): string {
  return Object.entries(t)
    .map(([k, v]) => `${k} ${v.toPrecision(4)}`)
    .join(', ');
}

export function backendName(): string {
  return backend().description;
}
