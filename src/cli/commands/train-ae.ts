/**
 * `spikevae train-ae`: trains the FSVAE repository's FAD autoencoder for a
 * dataset whose official weights are missing (CIFAR-10, CelebA), then writes
 * the files `eval --metrics fad --fad-dir RUN_DIR` reads:
 * ae_<ds>_<L>.safetensors and stats_<ds>_test_<L>.safetensors, both marked as
 * self-trained: FAD against them is not comparable with the papers' numbers.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { trainingDefaults } from '../../models/index.js';
import type { Trainer, TrainConfig } from '../../train/trainer.js';
import { announceTraining, exitStatus, openTrainer, reportStop } from '../run-setup.js';
import { datasetFlag, floatOption, intOption, printJson } from '../options.js';
import { openDataset, type DatasetName } from '../../data/index.js';
import { stateDict } from '../../models/checkpoint.js';
import { writeSafetensors } from '../../io/safetensors.js';
import { loadFadEncoder } from '../../metrics/fad.js';
import { covariance } from '../../metrics/linalg.js';
import type { FadAutoencoder } from '../../models/fadae.js';

interface Flags {
  dataset: DatasetName;
  data?: string;
  epochs?: number;
  batchSize?: number;
  latentDim?: number;
  seed: number;
  maxSteps?: number;
  maxMinutes?: number;
  out?: string;
  resume?: string;
  trainLimit?: number;
  testLimit?: number;
  overwrite?: boolean;
  json?: boolean;
  quiet?: boolean;
}

const NOTE = 'trained by spikevae train-ae, not the official FSVAE autoencoder: FAD against these files is not comparable with published numbers';

/** Writes the autoencoder weights and the test-split feature statistics next to the run's checkpoint. */
export async function exportFadAssets(trainer: Trainer): Promise<{ weights: string; stats: string; testImages: number }> {
  const model = trainer.model as FadAutoencoder;
  const ds = trainer.cfg.dataset;
  const L = model.cfg.latentDim;
  const weights = join(trainer.run.out, `ae_${ds}_${L}.safetensors`);
  const meta = { note: NOTE, comparable_with_papers: 'false', 'spikevae.dataset': ds, epochs: String(trainer.state.epoch) };
  writeSafetensors(weights, stateDict(model), meta);
  // Statistics through the exported file, exactly as eval will read it.
  const enc = loadFadEncoder(weights);
  const test = await openDataset(ds, 'test', { dataDir: trainer.cfg.dataDir, limit: trainer.cfg.testLimit, forAnn: true, evalFlip: false });
  try {
    const n = test.length;
    const per = test.channels * test.height * test.width;
    const feats = new Float32Array(n * L);
    const chunk = 500;
    const buf = new Float32Array(chunk * per);
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      await test.readBatch(Int32Array.from({ length: m }, (_, k) => i + k), null, buf);
      feats.set(enc.features(buf, m), i * L);
    }
    const { mean, cov } = covariance(feats, n, L);
    const stats = join(trainer.run.out, `stats_${ds}_test_${L}.safetensors`);
    writeSafetensors(
      stats,
      new Map([
        ['mu', { dtype: 'F32', shape: [L], data: Float32Array.from(mean) }],
        ['sigma', { dtype: 'F64', shape: [L, L], data: cov }],
      ]),
      { ...meta, images: String(n) },
    );
    return { weights, stats, testImages: n };
  } finally {
    await test.close();
  }
}

export function register(program: Command): void {
  program
    .command('train-ae')
    .description("train the FAD autoencoder (FSVAE's ann_ae: MSE, AdamW lr 1e-3 wd 0.01, 150 epochs, batch 250) and write its weights and test statistics for eval --fad-dir")
    .addOption(datasetFlag().default('cifar10'))
    .option('--data <dir>', 'folder holding the dataset files')
    .option('--epochs <n>', 'epochs (default 150, as the official files)', intOption('--epochs'))
    .option('--batch-size <n>', 'batch size (default 250)', intOption('--batch-size'))
    .option('--latent-dim <n>', 'feature size L (default 64 for MNIST/Fashion, 128 otherwise)', intOption('--latent-dim'))
    .option('--seed <n>', 'random seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--max-steps <n>', 'stop after this many optimizer steps in total (resumable)', intOption('--max-steps'))
    .option('--max-minutes <x>', 'stop with a checkpoint after this many minutes of this call (resumable)', floatOption('--max-minutes'))
    .option('--out <dir>', 'run directory to create (default runs/ae-<dataset>)')
    .option('--resume <dir>', 'continue a train-ae run from its latest checkpoint')
    .option('--train-limit <n>', 'use only the first N training images', intOption('--train-limit'))
    .option('--test-limit <n>', 'use only the first N test images (test loss and statistics)', intOption('--test-limit'))
    .option('--overwrite', 'start over in an existing run directory')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--quiet', 'no progress display')
    .addHelpText(
      'after',
      `
When training finishes, the run directory also holds ae_<dataset>_<L>.safetensors
and stats_<dataset>_test_<L>.safetensors; use them with
  spikevae eval --checkpoint MODEL --metrics fad --fad-dir RUN_DIR
FAD against a self-trained autoencoder is not comparable with the papers' numbers
(eval says so).`,
    )
    .action(async (flags: Flags) => {
      const trainer = openTrainer(flags, 'train-ae', () => {
        const d = trainingDefaults('fad-ae', flags.dataset);
        const cfg: TrainConfig = {
          model: 'fad-ae',
          dataset: flags.dataset,
          dataDir: flags.data,
          epochs: flags.epochs ?? d.epochs,
          batchSize: flags.batchSize ?? d.batchSize,
          lr: d.lr,
          weightDecay: d.weightDecay,
          seed: flags.seed,
          latentDim: flags.latentDim,
          trainLimit: flags.trainLimit,
          testLimit: flags.testLimit,
          sampleCount: 64,
          logEvery: 10,
          checkpointMinutes: 10,
          curves: false, // an autoencoder: no samples, and its test MSE is the epoch's test loss
        };
        return { cfg, out: flags.out ?? join('runs', `ae-${flags.dataset}`) };
      });
      announceTraining(trainer, flags, 'the FAD autoencoder');
      const summary = await trainer.train();
      const exported = summary.stoppedBy === 'finished' ? await exportFadAssets(trainer) : null;
      if (flags.json) printJson({ ...summary, exported });
      else if (exported) {
        process.stderr.write(
          `spikevae: finished after ${summary.steps} steps (test MSE ${summary.lastTest?.recon?.toFixed(4) ?? '?'}); wrote ${exported.weights} and ${exported.stats} (${exported.testImages} test images; not comparable with the papers' FAD)\n`,
        );
      } else reportStop(summary, 'train-ae');
      process.exitCode = exitStatus(summary);
    });
}
