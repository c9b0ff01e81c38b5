/** `spikevae eval`: the papers' metrics for a checkpoint. */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';
import { UserError } from '../../util/errors.js';
import { cliName } from '../../util/package.js';
import { loadModel } from '../../models/index.js';
import { readCheckpoint } from '../../models/checkpoint.js';
import { resolveCheckpointPath } from '../../models/pretrained.js';
import { CLASSIFIER_METRICS, evaluateClassifierCommand, writeNeuronTable } from './evaluate-classifier.js';
import { learnedNeurons } from '../../snn/plif.js';
import { METRICS, Metric, classifyEval, cost, fad, fid, inceptionScoreEval, ratesEval, reconstructionMse, robustnessEval, writeFidStats, FID_REFERENCE } from '../../metrics/evaluate.js';
import { Progress } from '../../util/progress.js';
import { checkpointDataset, datasetFlag, intOption, printJson } from '../options.js';
import type { DatasetName } from '../../data/index.js';
import type { CostReport } from '../../metrics/cost.js';

interface EvalFlags {
  checkpoint: string;
  dataset?: DatasetName;
  data?: string;
  metrics: string;
  batchSize: number;
  seed: number;
  fadDir?: string;
  fadSamples: number;
  fidWeights?: string;
  fidStats?: string;
  fidSamples: number;
  isWeights?: string;
  isBatchSize: number;
  isSplits: number;
  testLimit?: number;
  costImages: number;
  confusion?: string;
  referenceCounting?: boolean;
  robustnessImages: number;
  classifyTrain: number;
  histograms?: string;
  figure?: string;
  json?: string;
  quiet?: boolean;
}

/** RUN_DIR/eval.json when the checkpoint file lies in a run folder (a folder with config.json), else null. */
export function runEvalFile(checkpoint: string): string | null {
  const path = resolve(checkpoint);
  if (!existsSync(path)) return null;
  const dir = dirname(path);
  return existsSync(join(dir, 'config.json')) ? join(dir, 'eval.json') : null;
}

/**
 * The run's eval.json after this evaluation: earlier metrics of the same
 * checkpoint at the same step are kept (eval --metrics fad after eval
 * --metrics recon shows both); results of another checkpoint or step are
 * replaced, never mixed.
 */
function mergeRunResults(file: string, results: Record<string, unknown>): Record<string, unknown> {
  if (!existsSync(file)) return results;
  let old: Record<string, unknown>;
  try {
    old = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return results; // an unreadable file is replaced
  }
  // Both checkpoints lie in the run folder: the file name identifies them.
  const same = typeof old.checkpoint === 'string' && basename(old.checkpoint) === basename(results.checkpoint as string) && old.step === results.step && old.dataset === results.dataset;
  return same ? { ...old, ...results } : results;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('measure a checkpoint with the papers\' metrics: reconstruction MSE, FAD, FID, IS, robustness, latent classification, spike cost, firing rates')
    .requiredOption('--checkpoint <file>', 'model checkpoint (.safetensors), or pretrained:NAME for a shipped model (list: spikevae pretrained)')
    .addOption(datasetFlag('dataset', "default: the checkpoint's"))
    .option('--data <dir>', 'folder holding the dataset files')
    .option('--metrics <list>', `comma-separated: ${METRICS.join(', ')}; for a classifier: ${CLASSIFIER_METRICS.join(', ')} (default: both)`, 'recon,fad,cost')
    .option('--batch-size <n>', 'test batch size (the reference: 250)', intOption('--batch-size'), 250)
    .option('--seed <n>', 'random seed (latents are sampled)', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--fad-dir <dir>', 'folder with the FAD autoencoder weights and statistics (default: $SPIKEVAE_FAD, then ./fad, then the official MNIST and Fashion-MNIST files shipped in the package\'s assets/fad)')
    .option('--fad-samples <n>', 'generated images for FAD (rounded up to batches of 256)', intOption('--fad-samples'), 5000)
    .option('--fid-weights <file>', 'FID Inception weights pt_inception-2015-12-05-6726825d.pth (or .safetensors; default: $SPIKEVAE_FID_WEIGHTS, ./weights/)')
    .option('--fid-stats <file>', 'FID reference statistics: clean-fid <name>_clean_custom_na.npz or a spikevae fid-stats file (default: searched in $SPIKEVAE_FID_STATS, ./fid/)')
    .option('--fid-samples <n>', 'generated images for FID (rounded up to batches of 256: 5120, as FSVAE)', intOption('--fid-samples'), 5000)
    .option('--is-weights <file>', "torchvision's Inception-v3 ImageNet weights inception_v3_google-0cc3c7bd.pth (default: $SPIKEVAE_IS_WEIGHTS, ./weights/)")
    .option('--is-batch-size <n>', 'generated images per IS split (FSVAE: 256)', intOption('--is-batch-size'), 256)
    .option('--is-splits <n>', 'IS splits, one generated batch each (FSVAE: 10 on its final epoch)', intOption('--is-splits', 1, 1000), 10)
    .option('--test-limit <n>', 'use only the first N test images', intOption('--test-limit'))
    .option('--cost-images <n>', 'test images the spike cost is averaged over', intOption('--cost-images', 1, 10000), 64)
    .option('--robustness-images <n>', 'test images for the robustness analysis', intOption('--robustness-images', 1, 10000), 256)
    .option('--classify-train <n>', 'training images whose latents train the classifier', intOption('--classify-train', 100, 1000000), 10000)
    .option('--histograms <prefix>', 'write latent spike-count histograms to PREFIX-posterior.svg and PREFIX-prior.svg (metric rates)')
    .option('--figure <file>', 'robustness image grid (rows: input, reconstructed, time shuffled, noised a = 0.05 ... 0.30)')
    .option('--reference-counting', "count operations as the official counter does (per batch, x4 transposed convs, O(T^2) prefix passes)")
    .option('--confusion <file>', "a classifier's confusion-matrix PNG (default: confusion.png beside the checkpoint)")
    .option('--json <file>', 'also write the results as JSON to this file ("-" for stdout)')
    .option('--quiet', 'no progress display')
    .addHelpText(
      'after',
      `
When the checkpoint lies in a run folder (one with config.json, as train
writes), the results are also kept in RUN_DIR/eval.json, which report reads:
metrics measured on the same checkpoint at the same step are merged there, a
different checkpoint replaces the file. --json writes this run's results
wherever you ask as well. A classifier checkpoint (alif-classifier) gets its
own metrics: accuracy (with per-class accuracy, the confusion matrix and its
PNG, firing rates and each layer's learned tau and V_th) and cost. A VAE
trained with --neuron plif or alif also gets each layer's learned tau and
V_th, whatever the metrics (JSON: neurons).`,
    )
    .action(async (flags: EvalFlags, cmd: Command) => {
      if (readCheckpoint(resolveCheckpointPath(flags.checkpoint)).model === 'alif-classifier') {
        const given = (key: string) => cmd.getOptionValueSource(key) === 'cli';
        const keep = (results: Record<string, unknown>) => {
          const runFile = runEvalFile(flags.checkpoint);
          if (runFile) writeFileAtomic(runFile, JSON.stringify(mergeRunResults(runFile, results), null, 2) + '\n');
          return runFile;
        };
        return evaluateClassifierCommand(
          {
            ...flags,
            metrics: given('metrics') ? flags.metrics.split(',').map((m) => m.trim()).filter(Boolean) : undefined,
            batchSize: given('batchSize') ? flags.batchSize : undefined,
          },
          keep,
        );
      }
      const requested = flags.metrics.split(',').map((m) => m.trim()).filter(Boolean);
      for (const m of requested) {
        if (!(METRICS as readonly string[]).includes(m)) throw new UserError(`--metrics: unknown metric '${m}' (available: ${METRICS.join(', ')})`);
      }
      const { model, checkpoint } = loadModel(flags.checkpoint);
      const dataset = checkpointDataset(flags.dataset, checkpoint.file.metadata, flags.checkpoint);
      let progress: Progress | null = null;
      let current = '';
      const opts = {
        dataset,
        dataDir: flags.data,
        batchSize: flags.batchSize,
        seed: flags.seed,
        fadDir: flags.fadDir,
        fadSamples: flags.fadSamples,
        testLimit: flags.testLimit,
        onProgress: (what: string, done: number, total: number) => {
          if (flags.quiet || flags.json === '-') return;
          if (what !== current) {
            progress?.finish();
            progress = new Progress({ total, label: `eval ${what}` });
            current = what;
          }
          progress!.update(done);
        },
      };
      const step = typeof checkpoint.training?.step === 'number' ? checkpoint.training.step : null;
      const results: Record<string, unknown> = { checkpoint: flags.checkpoint, model: model.kind, dataset, step, time: new Date().toISOString() };
      // A model built with --neuron plif|alif: its learned decays and thresholds, whatever the metrics.
      const neurons = learnedNeurons(model);
      if (neurons.length > 0) results.neurons = neurons;
      for (const m of requested as Metric[]) {
        if (m === 'recon') results.recon = await reconstructionMse(model, opts);
        if (m === 'fad') results.fad = fad(model, opts);
        if (m === 'fid') results.fid = fid(model, { ...opts, fidWeights: flags.fidWeights, fidStats: flags.fidStats, fidSamples: flags.fidSamples });
        if (m === 'is') results.is = inceptionScoreEval(model, { ...opts, isWeights: flags.isWeights, isBatchSize: flags.isBatchSize, isSplits: flags.isSplits });
        if (m === 'rates') results.rates = await ratesEval(model, { ...opts, ratesImages: flags.robustnessImages, histogramPrefix: flags.histograms });
        if (m === 'classify') results.classify = await classifyEval(model, { ...opts, classifyTrain: flags.classifyTrain });
        if (m === 'robustness') results.robustness = await robustnessEval(model, { ...opts, robustnessImages: flags.robustnessImages, figure: flags.figure });
        if (m === 'cost') results.cost = await cost(model, { ...opts, costImages: flags.costImages, referenceCounting: Boolean(flags.referenceCounting) });
      }
      (progress as Progress | null)?.finish();
      const text = JSON.stringify(results, null, 2) + '\n';
      const runFile = runEvalFile(flags.checkpoint);
      if (runFile) writeFileAtomic(runFile, JSON.stringify(mergeRunResults(runFile, results), null, 2) + '\n');
      if (flags.json && flags.json !== '-' && (!runFile || resolve(flags.json) !== runFile)) writeFileAtomic(flags.json, text);
      if (flags.json === '-') process.stdout.write(text);
      else {
        const r = results as { recon?: { mse: number; images: number }; fad?: { fad: number; samples: number; comparableWithPapers: boolean } };
        if (r.recon) process.stderr.write(`reconstruction MSE ([-1, 1] scale): ${r.recon.mse.toFixed(4)} over ${r.recon.images} test images\n`);
        if (r.fad) process.stderr.write(`FAD: ${r.fad.fad.toFixed(2)} over ${r.fad.samples} generated images${r.fad.comparableWithPapers ? '' : ' (self-trained autoencoder from spikevae train-ae: not comparable with the papers)'}\n`);
        const fr = (results as { fid?: { fid: number; samples: number; statsNote: string } }).fid;
        if (fr) process.stderr.write(`FID: ${fr.fid.toFixed(2)} over ${fr.samples} generated images${fr.statsNote.includes('not comparable') ? ' (against statistics computed here: not comparable with the papers)' : ''}\n`);
        const ir = (results as { is?: { mean: number; std: number; splits: number; samples: number } }).is;
        if (ir) process.stderr.write(`IS: ${ir.mean.toFixed(3)} ± ${ir.std.toFixed(3)} over ${ir.splits} splits of ${ir.samples / ir.splits} generated images (the reference's unnormalised input; not standard IS)\n`);
        const cl = (results as { classify?: { testAccuracy: number; trainImages: number } }).classify;
        if (cl) process.stderr.write(`latent classification: test accuracy ${(100 * cl.testAccuracy).toFixed(2)}% (MLP trained on the latents of ${cl.trainImages} training images)\n`);
        const rb = (results as { robustness?: { rows: Array<{ perturbation: string; mseToOriginal: number; mseToVanilla: number }> } }).robustness;
        if (rb) {
          process.stderr.write('robustness (MSE on the [-1, 1] scale):  vs original   vs vanilla reconstruction\n');
          for (const r of rb.rows) process.stderr.write(`  ${r.perturbation.padEnd(16)} ${r.mseToOriginal.toFixed(4).padStart(12)} ${r.mseToVanilla.toFixed(4).padStart(14)}\n`);
        }
        const c = (results as { cost?: CostReport }).cost;
        if (c) {
          process.stderr.write(`spike cost (${c.counting} counting, per image): ${(c.perImage.ac / 1e6).toFixed(2)} M AC, ${(c.perImage.mac / 1e6).toFixed(2)} M MAC, ${c.perImage.energyMicroJoule.toFixed(2)} µJ at 0.9 pJ/AC and 4.6 pJ/MAC\n`);
          for (const l of c.layers) {
            process.stderr.write(`  ${l.layer.padEnd(24)} rate ${l.firingRate === null ? '   -  ' : l.firingRate.toFixed(3)}  AC ${(l.ac / 1e6).toFixed(3).padStart(9)} M  MAC ${(l.mac / 1e6).toFixed(3).padStart(9)} M\n`);
          }
        }
        if (neurons.length > 0) writeNeuronTable(neurons);
        if (runFile) {
          const runDir = dirname(flags.checkpoint);
          process.stderr.write(`spikevae: results kept in ${join(runDir, 'eval.json')}; '${cliName()} report ${runDir}' shows them beside the papers' numbers\n`);
        }
      }
    });

  program
    .command('fid-stats')
    .description('compute FID reference statistics (mu, sigma of FID Inception features) of real images, for datasets whose official clean-fid statistics you do not have')
    .addOption(datasetFlag('dataset', 'its test split is used (CelebA: valid, as the reference)').default('mnist'))
    .option('--data <dir>', 'folder holding the dataset files')
    .option('--fid-weights <file>', 'FID Inception weights pt_inception-2015-12-05-6726825d.pth (default: $SPIKEVAE_FID_WEIGHTS, ./weights/)')
    .option('--limit <n>', 'use only the first N images', intOption('--limit'))
    .option('--out <file>', 'output file (default: fid/fid_stats_<name>.safetensors, where eval looks)')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress display')
    .action(async (flags: { dataset: DatasetName; data?: string; fidWeights?: string; limit?: number; out?: string; json?: boolean; quiet?: boolean }) => {
      const out = flags.out ?? join('fid', `fid_stats_${FID_REFERENCE[flags.dataset].name}.safetensors`);
      let progress: Progress | null = null;
      const r = await writeFidStats({
        dataset: flags.dataset,
        dataDir: flags.data,
        weights: flags.fidWeights,
        out,
        limit: flags.limit,
        onProgress: (done, total) => {
          if (flags.quiet || flags.json) return;
          progress ??= new Progress({ total, label: 'fid-stats' });
          progress.update(done);
        },
      });
      (progress as Progress | null)?.finish();
      if (flags.json) printJson(r);
      else process.stderr.write(`wrote ${r.out} (FID statistics of ${r.images} ${flags.dataset} images; not the papers' statistics)\n`);
    });
}
