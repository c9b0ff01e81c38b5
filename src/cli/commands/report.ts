/**
 * `spikevae report RUN_DIR...`: one self-contained HTML page (images and plots
 * embedded) and a Markdown twin (with the plots as SVG files beside it),
 * comparing runs with the papers' published numbers: how far each run has
 * trained, its test metrics (RUN_DIR/eval.json, which `spikevae eval` keeps
 * for a checkpoint in the run folder), the trainer's images/s, the learning
 * curves it recorded (metrics.jsonl 'curve' records) against the paper's
 * value, loss curves and captioned pictures. It says which files it read.
 * Runs of the spiking classifier get their own kind of report: test accuracy
 * per epoch against the TAID paper's, the learned neurons and the confusion
 * matrix.
 */
import type { Command } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';
import { UserError } from '../../util/errors.js';
import { cliName } from '../../util/package.js';
import { readFileOrFail, readJsonFile, readJsonLines } from '../../util/files.js';
import { lineChart, SERIES_COLORS, type Reference, type Series } from '../../metrics/plots.js';
import { readCheckpoint } from '../../models/checkpoint.js';
import { stepsPerEpoch, type DatasetName } from '../../data/index.js';
import { CLASSIFIER_PAPERS, PAPERS, paperModelName } from '../../metrics/papers.js';
import { SAMPLE_GRID } from '../../train/trainer.js';

/** The papers' name for a run's model (FSVAE with TAID decoding is the TAID paper's model). */
export function paperModel(config: Record<string, unknown>): string {
  return paperModelName(String(config.model), config.decoding);
}

/** One learning-curve point the trainer appends to metrics.jsonl (epoch = epochs completed). */
export interface CurvePoint {
  epoch: number;
  step: number;
  images?: number;
  reconMse?: number;
  fad?: number;
  fadSamples?: number;
  testImages?: number;
  seconds?: number;
}

interface EvalResult {
  checkpoint?: string;
  step?: number | null;
  time?: string;
  recon?: { mse: number; images: number };
  fad?: { fad: number; samples: number; comparableWithPapers?: boolean };
  fid?: { fid: number };
  is?: { mean: number };
  cost?: { perImage: { energyMicroJoule: number } };
  classify?: { testAccuracy: number };
  /** A classifier's (evaluate-classifier.ts). */
  accuracy?: {
    accuracy: number;
    testImages: number;
    firingRates?: Record<string, number>;
    neurons?: Array<{ layer: string; neuron: string; tau: number; threshold: number }>;
  };
}

interface Picture {
  path: string;
  caption: string;
}

export interface Run {
  dir: string;
  name: string;
  config: Record<string, unknown>;
  steps: Array<Record<string, number>>;
  epochs: Array<Record<string, unknown>>;
  curve: CurvePoint[];
  /** Optimizer steps done and their value in epochs. */
  progress: { steps: number; epochs: number; plannedEpochs: number | null; from: string };
  /** The trainer's training throughput over its logged windows, stalls left out, or null. */
  trainerRate: TrainerRate | null;
  evalFile: string | null;
  evalResult: EvalResult | null;
  pictures: Picture[];
  svgs: Picture[];
  /** What was read, one line per file. */
  sources: string[];
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

function readJson(path: string): Record<string, unknown> {
  return asObject(readJsonFile(path), path);
}

function readRecords(path: string): Array<Record<string, unknown>> {
  if (!existsSync(path)) return [];
  return readJsonLines(path).map((o, i) => asObject(o, `${path}: line ${i + 1}`));
}

/** A logged window that took this many times the median window is a stall, not training. */
export const STALL_FACTOR = 20;

/** The trainer's throughput, and the stalled windows left out of it. */
export interface TrainerRate {
  imagesPerSec: number;
  stalledWindows: number;
  stalledSeconds: number;
}

/**
 * Training throughput as the trainer measured it: its step records each give
 * images/s over the window since the previous record, so the run's rate is
 * the images of all windows over their summed time. Windows that took over
 * STALL_FACTOR times the median window are left out and counted: a process
 * paused with Ctrl-Z or SIGSTOP, or a machine that slept, puts hours into one
 * window, and that time says nothing about the training speed (a 69-minute
 * SIGSTOP and four short stalls had taken a campaign run's rate from 76 to
 * 56 images/s).
 */
export function trainerImagesPerSec(steps: Array<Record<string, number>>, batchSize: number, logEvery: number): TrainerRate | null {
  const windows: Array<{ images: number; seconds: number }> = [];
  let prev: number | null = null;
  for (const s of steps) {
    const windowSteps = prev === null || s.step <= prev ? logEvery : Math.min(logEvery, s.step - prev);
    prev = s.step;
    if (!(s.imagesPerSec > 0)) continue;
    windows.push({ images: windowSteps * batchSize, seconds: (windowSteps * batchSize) / s.imagesPerSec });
  }
  if (!windows.length) return null;
  const sorted = windows.map((w) => w.seconds).sort((a, b) => a - b);
  const limit = STALL_FACTOR * sorted[(sorted.length - 1) >> 1];
  const rate: TrainerRate = { imagesPerSec: 0, stalledWindows: 0, stalledSeconds: 0 };
  let images = 0;
  let seconds = 0;
  for (const w of windows) {
    if (w.seconds > limit) {
      rate.stalledWindows++;
      rate.stalledSeconds += w.seconds;
    } else {
      images += w.images;
      seconds += w.seconds;
    }
  }
  rate.imagesPerSec = images / seconds;
  return rate;
}

/** Says which stalled windows a run's images/s leaves out, when there were any. */
function stallNote(r: Run, notes: string[]): void {
  const t = r.trainerRate;
  if (!t?.stalledWindows) return;
  const minutes = t.stalledSeconds / 60;
  const span = minutes >= 90 ? `${(minutes / 60).toFixed(1)} h` : `${minutes.toFixed(minutes < 10 ? 1 : 0)} min`;
  notes.push(
    `${r.name}: train images/s leaves out ${t.stalledWindows} logged window${t.stalledWindows === 1 ? '' : 's'} that took over ${STALL_FACTOR} times the median window (${span} in all: a paused process or a sleeping machine)`,
  );
}

const CAPTIONS: Array<[RegExp, string]> = [
  [/confusion/i, 'Confusion matrix of the test set (rows: true class, columns: predicted)'],
  [/interp/i, 'Interpolation: each row decodes a path between the latents of two test images (the first and last columns are the inputs)'],
  [/recon/i, 'Reconstructions: each test image is followed by its reconstruction'],
  [/robust/i, 'Robustness: rows are the input, its reconstruction, time-shuffled latents, then flip noise a = 0.05 ... 0.30'],
  [/posterior/i, 'Latent spike counts per dimension, test-image posteriors'],
  [/prior/i, 'Latent spike counts per dimension, prior samples'],
  [/sample/i, 'Images generated from the prior'],
];

function caption(file: string, runName: string): string {
  const what = CAPTIONS.find(([re]) => re.test(basename(file)))?.[1] ?? 'Picture';
  return `${what} (${runName}/${basename(file)})`;
}

export function readRun(dir: string): Run {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new UserError(`${dir}: not a run directory (no config.json)`);
  const config = readJson(cfgPath) as Record<string, unknown>;
  const name = basename(dir.replace(/\/+$/, '')) || dir;
  const sources = [`${cfgPath}: ${String(config.model)}${config.decoding === 'taid' ? ' (TAID decoding)' : ''} on ${String(config.dataset)}, batch ${String(config.batchSize)}`];
  const metricsPath = join(dir, 'metrics.jsonl');
  const records = readRecords(metricsPath);
  const steps = records.filter((o) => o.kind === 'step') as Array<Record<string, number>>;
  const epochs = records.filter((o) => o.kind === 'epoch');
  const curve = (records.filter((o) => o.kind === 'curve') as unknown as CurvePoint[]).sort((a, b) => a.epoch - b.epoch);
  sources.push(
    existsSync(metricsPath)
      ? `${metricsPath}: ${steps.length} step, ${epochs.length} epoch and ${curve.length} learning-curve records`
      : `${metricsPath}: missing (no training records)`,
  );

  // How far it has trained: the checkpoint's own step count, else the last record.
  const ckPath = join(dir, 'checkpoint.safetensors');
  let done: number | null = null;
  let from = 'metrics.jsonl';
  if (existsSync(ckPath)) {
    const training = readCheckpoint(ckPath).training as { step?: number } | null;
    if (typeof training?.step === 'number') {
      done = training.step;
      from = 'checkpoint.safetensors';
      sources.push(`${ckPath}: step ${done}`);
    }
  }
  done ??= Math.max(0, ...records.map((o) => (typeof o.step === 'number' ? o.step : 0)));
  const batchSize = Number(config.batchSize);
  // The first epoch record holds the exact steps of an epoch; without one, count them as the loader does.
  const firstEpoch = epochs.find((e) => e.epoch === 0 && typeof e.step === 'number');
  const perEpoch = firstEpoch ? Number(firstEpoch.step) : stepsPerEpoch(config.dataset as DatasetName, batchSize, config.trainLimit as number | undefined);
  const plannedEpochs = typeof config.epochs === 'number' ? config.epochs : null;

  const evalPath = join(dir, 'eval.json');
  let evalResult: EvalResult | null = null;
  if (existsSync(evalPath)) {
    evalResult = readJson(evalPath) as EvalResult;
    const metrics = ['recon', 'fad', 'fid', 'is', 'cost', 'classify', 'robustness', 'rates', 'accuracy'].filter((k) => k in evalResult!);
    const of = evalResult.checkpoint ? `${basename(evalResult.checkpoint)}${typeof evalResult.step === 'number' ? ` at step ${evalResult.step}` : ''}` : 'an unnamed checkpoint';
    const stale = typeof evalResult.step === 'number' && evalResult.step !== done ? ` (the run is now at step ${done}: evaluate again for current numbers)` : '';
    sources.push(`${evalPath}: ${metrics.join(', ') || 'no metrics'} of ${of}${evalResult.time ? `, ${evalResult.time}` : ''}${stale}`);
  } else {
    sources.push(`${evalPath}: none yet; '${cliName()} eval --checkpoint ${join(dir, 'checkpoint.safetensors')}' writes it`);
  }

  const sampleDir = join(dir, 'samples');
  const sampleFiles = existsSync(sampleDir) ? readdirSync(sampleDir).filter((f) => SAMPLE_GRID.test(f)).sort() : [];
  const pictures: Picture[] = [];
  if (sampleFiles.length) {
    const last = sampleFiles[sampleFiles.length - 1];
    const n = Number(/\d+/.exec(last)![0]) + 1;
    pictures.push({ path: join(sampleDir, last), caption: `Samples from the prior written by the trainer after ${n} epoch${n === 1 ? '' : 's'} (${name}/samples/${last}; the same latents every epoch)` });
  }
  const files = readdirSync(dir).sort();
  for (const f of files.filter((f) => f.endsWith('.png'))) pictures.push({ path: join(dir, f), caption: caption(f, name) });
  const svgs = files.filter((f) => f.endsWith('.svg')).map((f) => ({ path: join(dir, f), caption: caption(f, name) }));
  return {
    dir,
    name,
    config,
    steps,
    epochs,
    curve,
    progress: { steps: done, epochs: perEpoch > 0 ? done / perEpoch : 0, plannedEpochs, from },
    trainerRate: trainerImagesPerSec(steps, batchSize, Number(config.logEvery) || 10),
    evalFile: evalResult ? evalPath : null,
    evalResult,
    pictures,
    svgs,
    sources,
  };
}

const fmt = (v: unknown, d = 4) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '–');

/** "250 steps (0.27 of 150 epochs)". */
export function trainedText(p: Run['progress']): string {
  return `${p.steps.toLocaleString('en')} steps (${p.epochs.toFixed(2)}${p.plannedEpochs ? ` of ${p.plannedEpochs}` : ''} epochs)`;
}

interface Chart {
  file: string;
  svg: string;
  caption: string;
}

/** Learning-curve charts (test MSE and FAD against epochs, log scale) with each paper value as a dashed line. */
function curveCharts(rs: Run[], dataset: string): Chart[] {
  const withCurve = rs.filter((r) => r.curve.length > 0);
  if (withCurve.length === 0) return [];
  const charts: Chart[] = [];
  const metrics = [
    { key: 'reconMse', paperKey: 'recon', file: 'recon-mse', title: 'Test reconstruction MSE', yLabel: 'MSE, [−1, 1] scale (log)' },
    { key: 'fad', paperKey: 'fad', file: 'fad', title: 'FAD (official autoencoder)', yLabel: 'FAD (log)' },
  ] as const;
  for (const m of metrics) {
    const series: Series[] = [];
    const refs: Reference[] = [];
    rs.forEach((r, i) => {
      const pts = r.curve.filter((c) => typeof c[m.key] === 'number' && Number.isFinite(c[m.key]));
      const color = SERIES_COLORS[i % SERIES_COLORS.length];
      if (pts.length) series.push({ label: `${r.name} (ours)`, x: pts.map((c) => c.epoch), y: pts.map((c) => c[m.key] as number), color, markers: true });
      const model = paperModel(r.config);
      const v = PAPERS[dataset]?.[model]?.[m.paperKey];
      if (pts.length && v !== undefined && !refs.some((x) => x.label.startsWith(`${model} paper`))) refs.push({ label: `${model} paper: ${v}`, y: v, color });
    });
    if (series.length === 0) continue;
    charts.push({
      file: m.file,
      svg: lineChart(series, { title: `${m.title} during training`, xLabel: 'epochs completed', yLabel: m.yLabel, logY: true, references: refs, legend: 'top-right' }),
      caption:
        `${m.title} measured by the trainer at chosen epochs (metrics.jsonl 'curve' records), against epochs completed, log scale; ` +
        (refs.length ? `dashed: the paper's value after full training (${refs.map((r) => r.label).join('; ')})` : 'no published value for this model and dataset'),
    });
  }
  return charts;
}

function curveTable(r: Run): { header: string[]; rows: string[][] } {
  return {
    header: ['epochs', 'step', 'images seen', 'test MSE', 'FAD', 'FAD samples', 'test images', 'eval seconds'],
    rows: r.curve.map((c) => [
      String(c.epoch),
      String(c.step),
      c.images !== undefined ? c.images.toLocaleString('en') : '–',
      fmt(c.reconMse),
      fmt(c.fad, 2),
      c.fadSamples !== undefined ? String(c.fadSamples) : '–',
      c.testImages !== undefined ? String(c.testImages) : '–',
      fmt(c.seconds, 1),
    ]),
  };
}


interface TableData {
  title: string;
  header: string[];
  rows: string[][];
}

/** What a report says, apart from the loss curves, pictures and files read (which every kind shares). */
interface ReportContent {
  header: string[];
  rows: string[][];
  notes: string[];
  /** What the main table's numbers are. */
  about: string;
  paperHeader: string[];
  paper: string[][];
  paperAbout: string;
  curves: Chart[];
  curveTables: TableData[];
  /** The heading over the runs' pictures. */
  picturesTitle: string;
}

/**
 * Marks the main table's eval.json cells (‡) when eval.json measured an
 * earlier step than the run has reached since, with a note saying which step
 * and how to measure again: a resumed run's old numbers must not read as its
 * current ones. Returns the marker function for the row's cells.
 */
function staleEvalMarker(r: Run, notes: string[]): (cell: string) => string {
  const step = r.evalResult?.step;
  if (typeof step !== 'number' || step === r.progress.steps) return (cell) => cell;
  notes.push(
    `‡ ${r.name}: eval.json measured step ${step.toLocaleString('en-US')}; the run is now at step ${r.progress.steps.toLocaleString('en-US')} ('${cliName()} eval --checkpoint ${join(r.dir, 'checkpoint.safetensors')}' measures it again)`,
  );
  return (cell) => (cell === '–' ? cell : `${cell}‡`);
}

function generativeContent(rs: Run[], dataset: string): ReportContent {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const r of rs) {
    const ev = r.evalResult;
    const lastEpoch = r.epochs[r.epochs.length - 1] as { epoch?: number; test?: { recon?: number } } | undefined;
    // Counts are shown where they differ from the papers' protocol (full test set, 5,120 FAD samples).
    let recon = ev?.recon ? `${fmt(ev.recon.mse)}${ev.recon.images < 10000 ? ` (${ev.recon.images} images)` : ''}` : '–';
    if (!ev?.recon && typeof lastEpoch?.test?.recon === 'number') {
      recon = `${fmt(lastEpoch.test.recon)}†`;
      notes.push(`† ${r.name}: the recon term of the trainer's test loss after epoch ${(lastEpoch.epoch ?? 0) + 1} (no eval.json with recon)`);
    }
    const stale = staleEvalMarker(r, notes);
    stallNote(r, notes);
    rows.push([
      r.name,
      paperModel(r.config),
      trainedText(r.progress),
      ev?.recon ? stale(recon) : recon,
      stale(ev?.fad ? `${fmt(ev.fad.fad, 2)}${ev.fad.samples < 5120 ? ` (${ev.fad.samples} samples)` : ''}${ev.fad.comparableWithPapers === false ? ' (own autoencoder)' : ''}` : '–'),
      stale(fmt(ev?.is?.mean, 3)),
      stale(fmt(ev?.fid?.fid, 1)),
      stale(ev?.classify ? `${(100 * ev.classify.testAccuracy).toFixed(1)}%` : '–'),
      stale(ev?.cost ? ev.cost.perImage.energyMicroJoule.toFixed(2) : '–'),
      r.trainerRate ? r.trainerRate.imagesPerSec.toFixed(1) : '–',
    ]);
  }
  const published = (v?: number) => (v === undefined ? '–' : String(v)); // as printed in the papers
  return {
    header: ['run', 'model', 'trained', 'recon MSE ↓', 'FAD ↓', 'IS ↑', 'FID ↓', 'latent class. acc.', 'energy µJ/image', 'train images/s'],
    rows,
    notes,
    about: `Metrics come from each run's eval.json (see "Files read"; ‡ where it measured an earlier step than the run has reached); "train images/s" is the trainer's own rate over its logged windows (metrics.jsonl), evaluation time and stalls (a window over ${STALL_FACTOR} times the median) left out.`,
    paperHeader: ['model', 'recon', 'FAD', 'IS', 'FID'],
    paper: Object.entries(PAPERS[dataset] ?? {}).map(([m, v]) => [m, published(v.recon), published(v.fad), published(v.is), published(v.fid)]),
    paperAbout: 'Reconstruction MSE on the [−1, 1] scale; FAD with the official FSVAE autoencoder and statistics. The papers train 150 (FSVAE, TAID) or 300 (ESVAE) epochs.',
    curves: curveCharts(rs, dataset),
    curveTables: rs.filter((r) => r.curve.length).map((r) => ({ title: r.name, ...curveTable(r) })),
    picturesTitle: 'Samples, reconstructions and analyses',
  };
}

interface EpochRecord {
  epoch: number;
  train?: { loss?: number; accuracy?: number };
  test?: { loss?: number; accuracy?: number };
  epochSeconds?: number;
}

const pct = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? `${(100 * v).toFixed(2)} %` : '–');

/** The classifier report: test accuracy (eval.json, else the trainer's last test pass), its curve as test error against the paper's, the learned neurons. */
function classifierContent(rs: Run[], dataset: string): ReportContent {
  const rows: string[][] = [];
  const notes: string[] = [];
  const curveTables: TableData[] = [];
  for (const r of rs) {
    const ev = r.evalResult;
    const epochs = r.epochs as unknown as EpochRecord[];
    const last = epochs[epochs.length - 1];
    let accuracy = ev?.accuracy ? `${pct(ev.accuracy.accuracy)}${ev.accuracy.testImages < 10000 ? ` (${ev.accuracy.testImages} images)` : ''}` : '–';
    if (!ev?.accuracy && typeof last?.test?.accuracy === 'number') {
      accuracy = `${pct(last.test.accuracy)}†`;
      notes.push(`† ${r.name}: the trainer's test pass after epoch ${last.epoch + 1} (no eval.json with accuracy)`);
    }
    const best = epochs.reduce<EpochRecord | null>((b, e) => (typeof e.test?.accuracy === 'number' && (!b || e.test.accuracy > b.test!.accuracy!) ? e : b), null);
    const stale = staleEvalMarker(r, notes);
    stallNote(r, notes);
    rows.push([
      r.name,
      String(r.config.neuron ?? 'alif'),
      trainedText(r.progress),
      ev?.accuracy ? stale(accuracy) : accuracy,
      best ? `${pct(best.test!.accuracy)} (epoch ${best.epoch + 1})` : '–',
      stale(ev?.cost ? ev.cost.perImage.energyMicroJoule.toFixed(2) : '–'),
      r.trainerRate ? r.trainerRate.imagesPerSec.toFixed(1) : '–',
    ]);
    if (epochs.length) {
      curveTables.push({
        title: `${r.name}: after each epoch`,
        header: ['epoch', 'train accuracy (augmented, dropout)', 'test accuracy', 'test loss', 'minutes'],
        rows: epochs.map((e) => [String(e.epoch + 1), pct(e.train?.accuracy), pct(e.test?.accuracy), fmt(e.test?.loss, 5), fmt((e.epochSeconds ?? NaN) / 60, 1)]),
      });
    }
    if (ev?.accuracy?.neurons?.length) {
      curveTables.push({
        title: `${r.name}: learned neurons${typeof ev.step === 'number' ? ` (eval.json, step ${ev.step})` : ''}`,
        header: ['layer', 'neuron', 'τ', 'V_th', 'test firing rate'],
        rows: ev.accuracy.neurons.map((n) => [n.layer, n.neuron, fmt(n.tau), fmt(n.threshold), fmt(ev.accuracy!.firingRates?.[n.layer])]),
      });
    }
  }
  const published = CLASSIFIER_PAPERS[dataset];
  const series: Series[] = [];
  rs.forEach((r, i) => {
    const pts = (r.epochs as unknown as EpochRecord[]).filter((e) => typeof e.test?.accuracy === 'number');
    if (pts.length) series.push({ label: `${r.name} (${String(r.config.neuron ?? 'alif')})`, x: pts.map((e) => e.epoch + 1), y: pts.map((e) => 100 * (1 - e.test!.accuracy!)), color: SERIES_COLORS[i % SERIES_COLORS.length], markers: true });
  });
  const refs: Reference[] = published ? [{ label: `TAID paper (ALIF, 1000 epochs): ${(100 - published.accuracy).toFixed(2)} %`, y: 100 - published.accuracy }] : [];
  const curves: Chart[] = series.length
    ? [
        {
          file: 'test-error',
          svg: lineChart(series, { title: 'Test error during training', xLabel: 'epochs completed', yLabel: 'test error, % (log)', logY: true, references: refs, legend: 'top-right' }),
          caption:
            "Test error (100 % − accuracy) after each epoch (metrics.jsonl 'epoch' records), log scale; " +
            (published ? `dashed: the TAID paper's ${published.table} (${published.accuracy} % accuracy)` : 'no published value for this dataset'),
        },
      ]
    : [];
  return {
    header: ['run', 'neuron', 'trained', 'test accuracy ↑', 'best epoch', 'energy µJ/image', 'train images/s'],
    rows,
    notes,
    about: `Test accuracy comes from each run's eval.json (spikevae eval keeps it in the run folder; see "Files read"), else from the trainer's own test pass (†); ‡ marks an eval.json of an earlier step than the run has reached; "best epoch" is the trainer's, whose weights best.safetensors keeps; "train images/s" is the trainer's own rate over its logged windows, evaluation time and stalls (a window over ${STALL_FACTOR} times the median) left out.`,
    paperHeader: ['model', 'test accuracy', 'source'],
    paper: published
      ? [
          ['TAID paper: ALIF, T = 8, 1000 epochs', `${published.accuracy} %`, `${published.table} of arXiv 2406.03046`],
          ['PLIF (Fang et al. 2021), T = 8', `${published.plifAccuracy} %`, `Fang et al.'s own figure, quoted in the same table`],
        ]
      : [],
    paperAbout: 'The TAID paper trains 1000 epochs with the network, loss and augmentation of the PLIF paper, which it follows.',
    curves,
    curveTables,
    picturesTitle: 'Pictures (the confusion matrix that spikevae eval writes beside the checkpoint)',
  };
}

export function register(program: Command): void {
  program
    .command('report')
    .description("write a self-contained HTML (and Markdown) report comparing runs with the papers' numbers")
    .argument('<runs...>', 'run directories (from spikevae train)')
    .option('--out <file>', 'HTML file to write (the Markdown goes next to it as .md, its plots as .svg files)', 'report.html')
    .addHelpText(
      'after',
      `
Per run it reads config.json, metrics.jsonl (training records and the
learning curves), checkpoint.safetensors (the step reached) and eval.json,
which 'spikevae eval --checkpoint RUN_DIR/checkpoint.safetensors' keeps in
the run folder; the report lists each file it read.`,
    )
    .action((runs: string[], flags: { out: string }) => {
      const rs = runs.map(readRun);
      const dataset = String(rs[0].config.dataset);
      const classifiers = rs.filter((r) => r.config.model === 'alif-classifier');
      if (classifiers.length > 0 && classifiers.length < rs.length) {
        throw new UserError(`report: ${classifiers[0].name} is a classifier run and ${rs.find((r) => r.config.model !== 'alif-classifier')!.name} a generative one; report each kind on its own`);
      }
      const content = classifiers.length ? classifierContent(rs, dataset) : generativeContent(rs, dataset);
      const { header, rows, notes, paperHeader, paper, curves, curveTables } = content;
      // Generative runs' learning curves, or a classifier's accuracy per epoch.
      const hasCurves = curves.length > 0 || curveTables.length > 0;
      const loss: Chart = {
        file: 'loss',
        svg: lineChart(
          rs.map((r, i) => ({ label: `${r.name} loss`, x: r.steps.map((s) => s.step), y: r.steps.map((s) => s.loss), color: SERIES_COLORS[i % SERIES_COLORS.length] })),
          { title: 'Training loss', xLabel: 'step', yLabel: 'loss (log)', logY: true, legend: 'top-right' },
        ),
        caption: "Training loss against optimizer steps (metrics.jsonl 'step' records, each a single batch), log scale",
      };
      const mdPath = flags.out.replace(/\.html?$/, '') + '.md';
      const chartPath = (c: Chart) => `${mdPath.replace(/\.md$/, '')}-${c.file}.svg`;

      const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
      const figure = (inner: string, cap: string) => `<figure>${inner}<figcaption>${esc(cap)}</figcaption></figure>`;
      const img = (p: Picture) => figure(`<img src="data:image/png;base64,${readFileOrFail(p.path).toString('base64')}" alt="${esc(p.caption)}">`, p.caption);
      const table = (h: string[], body: string[][]) =>
        `<table><tr>${h.map((c) => `<th>${c}</th>`).join('')}</tr>${body.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</table>`;
      const sourcesHtml = rs.map((r) => `<h3>${esc(r.name)}</h3><ul>${r.sources.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>`).join('');
      const curvesHtml = hasCurves
        ? `<h2>Learning curves</h2>${curves.map((c) => figure(c.svg, c.caption)).join('')}` +
          curveTables.map((t) => `<h3>${esc(t.title)}</h3>${table(t.header, t.rows)}`).join('')
        : '';
      const html = `<!doctype html><html><head><meta charset="utf-8"><title>spikevae report: ${dataset}</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:24px auto;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}figure{display:inline-block;vertical-align:top;margin:6px;max-width:560px}figure img{max-width:420px}figcaption{font-size:13px;color:#444;margin-top:4px}</style></head><body>
<h1>spikevae report — ${dataset}</h1>
<p>Generated ${new Date().toISOString()} from ${rs.map((r) => esc(r.dir)).join(', ')}.</p>
<h2>Our runs</h2>${table(header, rows)}
${notes.map((n) => `<p>${esc(n)}</p>`).join('')}
<p>${esc(content.about)}</p>
<h2>Published numbers (full training)</h2>${table(paperHeader, paper)}
<p>${esc(content.paperAbout)}</p>
${curvesHtml}
<h2>Loss curves</h2>${figure(loss.svg, loss.caption)}
<h2>${content.picturesTitle}</h2>
${rs.map((r) => `<h3>${esc(r.name)}</h3>${r.pictures.map(img).join('')}${r.svgs.map((f) => figure(readFileOrFail(f.path).toString('utf8'), f.caption)).join('')}`).join('\n')}
<h2>Files read</h2>${sourcesHtml}
</body></html>`;
      writeFileAtomic(flags.out, html);

      const charts = [...curves, loss];
      for (const c of charts) writeFileAtomic(chartPath(c), c.svg + '\n');
      const mdTable = (h: string[], body: string[][]) => [`| ${h.join(' | ')} |`, `|${h.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
      const rel = (p: string) => relative(dirname(mdPath), p) || basename(p);
      const mdFigure = (path: string, cap: string) => [`![${cap}](${rel(path)})`, '', `*${cap}*`, ''];
      const md = [
        `# spikevae report — ${dataset}`,
        '',
        '## Our runs',
        '',
        mdTable(header, rows),
        '',
        ...notes.flatMap((n) => [n, '']),
        content.about,
        '',
        '## Published numbers (full training)',
        '',
        mdTable(paperHeader, paper),
        '',
        content.paperAbout,
        '',
        ...(hasCurves
          ? [
              '## Learning curves',
              '',
              ...curves.flatMap((c) => mdFigure(chartPath(c), c.caption)),
              ...curveTables.flatMap((t) => [`### ${t.title}`, '', mdTable(t.header, t.rows), '']),
            ]
          : []),
        '## Loss curves',
        '',
        ...mdFigure(chartPath(loss), loss.caption),
        `## ${content.picturesTitle}`,
        '',
        ...rs.flatMap((r) => [`### ${r.name}`, '', ...[...r.pictures, ...r.svgs].flatMap((p) => mdFigure(p.path, p.caption))]),
        '## Files read',
        '',
        ...rs.flatMap((r) => [`### ${r.name}`, '', ...r.sources.map((s) => `- ${s}`), '']),
      ].join('\n');
      writeFileAtomic(mdPath, md + '\n');
      for (const r of rs) {
        process.stderr.write(`spikevae: ${r.name}: ${trainedText(r.progress)}; metrics from ${r.evalFile ?? "the trainer's records (no eval.json)"}\n`);
      }
      process.stderr.write(`spikevae: wrote ${flags.out} and ${mdPath} (plots: ${charts.map(chartPath).join(', ')})\n`);
    });
}
