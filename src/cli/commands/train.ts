/** `spikevae train`: train a model on a dataset into a run directory (or resume one). */
import type { Command } from 'commander';
import { Option } from 'commander';
import { GENERATIVE_KINDS, trainingDefaults, ModelKind } from '../../models/index.js';
import type { TrainConfig } from '../../train/trainer.js';
import { announceTraining, openTrainer } from '../run-setup.js';
import { UserError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { join } from 'node:path';
import { choiceOption, datasetOption, floatOption, intOption, printJson } from '../options.js';
import type { DatasetName } from '../../data/index.js';

interface TrainFlags {
  model: ModelKind;
  dataset: DatasetName;
  data?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  seed: number;
  maxSteps?: number;
  out?: string;
  resume?: string;
  latentDim?: number;
  timeSteps?: number;
  k?: number;
  decoding?: 'membrane' | 'taid';
  trainLimit?: number;
  testLimit?: number;
  logEvery: number;
  checkpointMinutes: number;
  samples: number;
  json?: boolean;
  quiet?: boolean;
  overwrite?: boolean;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train a spiking VAE (or the ANN baseline) and write a run directory with checkpoints, metrics and sample grids')
    .addOption(new Option('--model <name>', 'model to train').argParser(choiceOption('--model', GENERATIVE_KINDS)).default('fsvae'))
    .addOption(new Option('--dataset <name>', 'mnist, fashion, cifar10 or celeba').argParser(datasetOption).default('mnist'))
    .option('--data <dir>', 'folder holding the dataset files (default: $SPIKEVAE_DATA, then ./data; MNIST is built in)')
    .option('--epochs <n>', 'epochs (default: the paper\'s, 150 for FSVAE)', intOption('--epochs'))
    .option('--batch-size <n>', 'batch size (default 250)', intOption('--batch-size'))
    .option('--lr <x>', 'learning rate (default 1e-3)', floatOption('--lr'))
    .option('--weight-decay <x>', 'AdamW weight decay (default 1e-3)', floatOption('--weight-decay', 0, Infinity, false))
    .option('--seed <n>', 'random seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--max-steps <n>', 'stop after this many optimizer steps in total (resumable)', intOption('--max-steps'))
    .option('--out <dir>', 'run directory to create')
    .option('--resume <dir>', 'continue the run in this directory from its latest checkpoint')
    .option('--latent-dim <n>', 'latent channels (default 128)', intOption('--latent-dim'))
    .option('--time-steps <n>', 'time steps T (default 16)', intOption('--time-steps', 2, 256))
    .option('--k <n>', 'Bernoulli resolution k of the FSVAE prior/posterior (default 20)', intOption('--k', 1, 1000))
    .addOption(new Option('--decoding <kind>', 'output decoding: membrane (fixed) or taid (learned)').argParser(choiceOption('--decoding', ['membrane', 'taid'] as const)))
    .option('--train-limit <n>', 'use only the first N training images', intOption('--train-limit'))
    .option('--test-limit <n>', 'use only the first N test images', intOption('--test-limit'))
    .option('--log-every <n>', 'steps between metric lines in metrics.jsonl', intOption('--log-every'), 10)
    .option('--checkpoint-minutes <x>', 'minutes between mid-epoch checkpoints', floatOption('--checkpoint-minutes'), 10)
    .option('--samples <n>', 'images in each epoch\'s sample grid', intOption('--samples', 1, 1024), 64)
    .option('--overwrite', 'start over in an existing run directory (its checkpoints and metrics are deleted)')
    .option('--json', 'print the run summary as JSON on stdout')
    .option('--quiet', 'no progress display')
    .addHelpText(
      'after',
      `
Examples:
  spikevae train --model fsvae --dataset mnist --epochs 1 --out runs/mnist
  spikevae train --resume runs/mnist --max-steps 500

The run directory holds config.json, metrics.jsonl, checkpoint.safetensors
(latest; with checkpoint.optimizer.safetensors), best.safetensors (lowest test
loss) and samples/epoch-NNN.png. Ctrl-C writes a checkpoint before exiting.`,
    )
    .action(async (flags: TrainFlags) => {
      const trainer = openTrainer(flags, 'train', () => {
        if (!flags.out) throw new UserError('train needs --out RUN_DIR (or --resume RUN_DIR)');
        const d = trainingDefaults(flags.model, flags.dataset);
        const cfg: TrainConfig = {
          model: flags.model,
          dataset: flags.dataset,
          dataDir: flags.data,
          epochs: flags.epochs ?? d.epochs,
          batchSize: flags.batchSize ?? d.batchSize,
          lr: flags.lr ?? d.lr,
          weightDecay: flags.weightDecay ?? d.weightDecay,
          seed: flags.seed,
          latentDim: flags.latentDim,
          timeSteps: flags.timeSteps,
          k: flags.k,
          decoding: flags.decoding,
          trainLimit: flags.trainLimit,
          testLimit: flags.testLimit,
          sampleCount: flags.samples,
          logEvery: flags.logEvery,
          checkpointMinutes: flags.checkpointMinutes,
        };
        return { cfg, out: flags.out };
      });
      if (flags.resume && flags.epochs && flags.epochs !== trainer.cfg.epochs) {
        // The scheduled-sampling p depends on the epoch count: record the change so later resumes keep it.
        trainer.cfg.epochs = flags.epochs;
        writeFileAtomic(join(flags.resume, 'config.json'), JSON.stringify(trainer.cfg, null, 2) + '\n');
      }
      announceTraining(trainer, flags, trainer.cfg.model);
      const summary = await trainer.train();
      if (flags.json) printJson(summary);
      else {
        process.stderr.write(
          `spikevae: ${summary.stoppedBy === 'finished' ? 'finished' : `stopped (${summary.stoppedBy})`} after ${summary.steps} steps, ` +
            `${summary.imagesPerSecond.toFixed(1)} images/s; checkpoint ${summary.checkpoint}` +
            (summary.stoppedBy !== 'finished' ? `; continue with: spikevae train --resume ${summary.runDir}` : '') +
            '\n',
        );
      }
    });
}
