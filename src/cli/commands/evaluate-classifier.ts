/**
 * `spikevae eval` on a classifier checkpoint: test accuracy, per-class
 * accuracy, a confusion-matrix PNG, per-layer firing rates, the learned τ
 * and V_th of every layer, and the spike cost (metrics/classifier.ts).
 */
import { dirname, join, resolve } from 'node:path';
import { Tensor } from '../../engine/tensor.js';
import { openDataset, type DatasetName } from '../../data/index.js';
import { loadClassifier } from '../../models/index.js';
import { PRETRAINED_PREFIX } from '../../models/pretrained.js';
import { classifierCost, evaluateClassifier, writeConfusionPng } from '../../metrics/classifier.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { UserError } from '../../util/errors.js';
import { Progress } from '../../util/progress.js';
import type { NeuronReport } from '../../snn/plif.js';

export const CLASSIFIER_METRICS = ['accuracy', 'cost'] as const;

export interface ClassifierEvalFlags {
  checkpoint: string;
  dataset?: DatasetName;
  data?: string;
  /** Metrics the user asked for, or undefined for the classifier's defaults (all). */
  metrics?: string[];
  batchSize?: number;
  testLimit?: number;
  costImages: number;
  confusion?: string;
  json?: string;
  quiet?: boolean;
}

/**
 * `keep` stores the results where eval keeps a run's (RUN_DIR/eval.json when
 * the checkpoint lies in a run folder) and returns that file, or null.
 */
export async function evaluateClassifierCommand(flags: ClassifierEvalFlags, keep: (results: Record<string, unknown>) => string | null): Promise<void> {
  const metrics = flags.metrics ?? [...CLASSIFIER_METRICS];
  for (const m of metrics) {
    if (!(CLASSIFIER_METRICS as readonly string[]).includes(m)) {
      throw new UserError(`--metrics: '${m}' does not apply to a classifier checkpoint (available: ${CLASSIFIER_METRICS.join(', ')})`);
    }
  }
  const { model, checkpoint } = loadClassifier(flags.checkpoint);
  const dataset = flags.dataset ?? (checkpoint.file.metadata['spikevae.dataset'] as DatasetName | undefined);
  if (!dataset) throw new UserError(`${flags.checkpoint}: does not record its dataset; pass --dataset`);
  const quiet = flags.quiet || flags.json === '-';
  const step = typeof checkpoint.training?.step === 'number' ? checkpoint.training.step : null;
  const results: Record<string, unknown> = { checkpoint: flags.checkpoint, model: model.kind, dataset, step, time: new Date().toISOString(), neuron: model.cfg.neuron, timeSteps: model.cfg.timeSteps };
  if (metrics.includes('accuracy')) {
    let progress: Progress | null = null;
    const r = await evaluateClassifier(model, {
      dataset,
      dataDir: flags.data,
      batchSize: flags.batchSize ?? 128,
      testLimit: flags.testLimit,
      onProgress: (done, total) => {
        if (quiet) return;
        progress ??= new Progress({ total, label: 'eval accuracy' });
        progress.update(done);
      },
    });
    (progress as Progress | null)?.finish();
    const png = flags.confusion ?? (flags.checkpoint.startsWith(PRETRAINED_PREFIX) ? 'confusion.png' : join(dirname(flags.checkpoint), 'confusion.png'));
    writeConfusionPng(png, r.confusion);
    results.accuracy = { ...r, confusionPng: png };
  }
  if (metrics.includes('cost')) {
    const test = await openDataset(dataset, 'test', { dataDir: flags.data, limit: flags.costImages, preprocessing: 'classifier' });
    const n = Math.min(flags.costImages, test.length);
    const x = new Float32Array(n * test.channels * test.height * test.width);
    await test.readBatch(Array.from({ length: n }, (_, i) => i), null, x);
    await test.close();
    results.cost = classifierCost(model, new Tensor(x, [n, test.channels, test.height, test.width]));
  }
  const text = JSON.stringify(results, null, 2) + '\n';
  const runFile = keep(results);
  if (flags.json && flags.json !== '-' && (!runFile || resolve(flags.json) !== runFile)) writeFileAtomic(flags.json, text);
  if (flags.json === '-') {
    process.stdout.write(text);
    return;
  }
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const acc = results.accuracy as Awaited<ReturnType<typeof evaluateClassifier>> & { confusionPng: string } | undefined;
  if (acc) {
    process.stderr.write(`test accuracy ${pct(acc.accuracy)} over ${acc.testImages} test images (${model.cfg.neuron}, T = ${model.cfg.timeSteps})\n`);
    process.stderr.write(`per class: ${acc.perClass.map((c) => `${c.class}: ${pct(c.accuracy)}`).join('  ')}\n`);
    process.stderr.write(`confusion matrix (rows: true class, columns: predicted): ${acc.confusionPng}\n`);
    writeNeuronTable(acc.neurons, acc.firingRates);
  }
  const c = results.cost as ReturnType<typeof classifierCost> | undefined;
  if (c) {
    process.stderr.write(`spike cost per image (${c.images} test images): ${(c.perImage.ac / 1e6).toFixed(2)} M AC, ${(c.perImage.mac / 1e6).toFixed(2)} M MAC, ${c.perImage.energyMicroJoule.toFixed(2)} µJ at 0.9 pJ/AC and 4.6 pJ/MAC\n`);
    for (const l of c.layers) {
      process.stderr.write(`  ${l.layer.padEnd(22)} rate ${l.firingRate === null ? '   -  ' : l.firingRate.toFixed(3)}  AC ${(l.ac / 1e6).toFixed(3).padStart(9)} M  MAC ${(l.mac / 1e6).toFixed(3).padStart(9)} M\n`);
    }
  }
  if (runFile) process.stderr.write(`spikevae: results kept in ${runFile}\n`);
}

/** The learned neurons as a table on stderr (firing rates where measured). */
export function writeNeuronTable(neurons: NeuronReport[], firingRates: Record<string, number> = {}): void {
  const width = Math.max(10, ...neurons.map((n) => n.layer.length));
  process.stderr.write(`${'layer'.padEnd(width + 2)} firing rate   tau      k       V_th    learns\n`);
  for (const n of neurons) {
    const rate = firingRates[n.layer];
    process.stderr.write(
      `  ${n.layer.padEnd(width)} ${rate === undefined ? '   -   ' : rate.toFixed(4).padStart(7)}   ${n.tau.toFixed(4).padStart(7)}  ${n.k.toFixed(4)}  ${n.threshold.toFixed(4).padStart(7)}  ${n.learns.join(', ') || '-'}\n`,
    );
  }
}
