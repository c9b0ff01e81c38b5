/** `spikevae train`: train a model on a dataset into a run directory (or resume one). */
import type { Command } from 'commander';
import { GENERATIVE_KINDS, trainingDefaults, ModelKind } from '../../models/index.js';
import type { TrainConfig } from '../../train/trainer.js';
import { announceTraining, exitStatus, openTrainer, reportStop } from '../run-setup.js';
import { UserError } from '../../util/errors.js';
import { choiceFlag, datasetFlag, floatOption, intOption, printJson } from '../options.js';
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
  maxMinutes?: number;
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
  curves: boolean;
  curveFadSamples: number;
  json?: boolean;
  quiet?: boolean;
  overwrite?: boolean;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train a spiking VAE (or the ANN baseline) and write a run directory with checkpoints, metrics and sample grids')
    .addOption(choiceFlag('--model <name>', 'model to train', GENERATIVE_KINDS, { note: 'TAID is --model fsvae --decoding taid' }).default('fsvae'))
    .addOption(datasetFlag().default('mnist'))
    .option('--data <dir>', 'folder holding the dataset files (default: $SPIKEVAE_DATA, then ./data; MNIST is built in)')
    .option('--epochs <n>', 'epochs (default: the paper\'s, 150 for FSVAE)', intOption('--epochs'))
    .option('--batch-size <n>', 'batch size (default 250)', intOption('--batch-size'))
    .option('--lr <x>', 'learning rate (default 1e-3)', floatOption('--lr'))
    .option('--weight-decay <x>', 'AdamW weight decay (default 1e-3)', floatOption('--weight-decay', 0, Infinity, false))
    .option('--seed <n>', 'random seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--max-steps <n>', 'stop after this many optimizer steps in total (resumable)', intOption('--max-steps'))
    .option('--max-minutes <x>', 'stop with a checkpoint after this many minutes of this call (resumable; for long runs in stretches)', floatOption('--max-minutes'))
    .option('--out <dir>', 'run directory to create')
    .option('--resume <dir>', 'continue the run in this directory from its latest checkpoint')
    .option('--latent-dim <n>', 'latent channels (default 128)', intOption('--latent-dim'))
    .option('--time-steps <n>', 'time steps T (default 16)', intOption('--time-steps', 2, 256))
    .option('--k <n>', 'Bernoulli resolution k of the FSVAE prior/posterior (default 20)', intOption('--k', 1, 1000))
    .addOption(choiceFlag('--decoding <kind>', 'output decoding: membrane (fixed, the default) or taid (learned)', ['membrane', 'taid'] as const))
    .option('--train-limit <n>', 'use only the first N training images', intOption('--train-limit'))
    .option('--test-limit <n>', 'use only the first N test images', intOption('--test-limit'))
    .option('--log-every <n>', 'steps between metric lines in metrics.jsonl', intOption('--log-every'), 10)
    .option('--checkpoint-minutes <x>', 'minutes between mid-epoch checkpoints', floatOption('--checkpoint-minutes'), 10)
    .option('--samples <n>', 'images in each epoch\'s sample grid', intOption('--samples', 1, 1024), 64)
    .option('--no-curves', 'skip the learning-curve points (test reconstruction MSE and FAD at epochs 1, 2, 5, 10, 20, 30, ... and the last)')
    .option('--curve-fad-samples <n>', 'generated images per learning-curve FAD (0: MSE only)', intOption('--curve-fad-samples', 0, 1_000_000), 5120)
    .option('--overwrite', 'start over in an existing run directory (its checkpoints and metrics are deleted)')
    .option('--json', 'print the run summary as JSON on stdout')
    .option('--quiet', 'no progress display')
    .addHelpText(
      'after',
      `
Examples:
  spikevae train --model fsvae --dataset mnist --epochs 1 --out runs/mnist
  spikevae train --resume runs/mnist --max-steps 500
  spikevae train --resume runs/mnist --max-minutes 120     # train for two hours, then checkpoint and stop

The run directory holds config.json, metrics.jsonl (step, epoch and
learning-curve records), checkpoint.safetensors (latest; its optimizer state
in checkpoint.optimizer-STEP.safetensors), best.safetensors (lowest test
loss) and samples/epoch-NNN.png. Ctrl-C or SIGTERM writes a checkpoint
before exiting (status 130 or 143); a kill at any instant leaves the last
checkpoint resumable. --resume accepts --epochs, --lr, --max-steps,
--max-minutes, --log-every, --checkpoint-minutes, --samples, --data and the
curve flags; other settings belong to the run and cannot change.`,
    )
    .action(async (flags: TrainFlags, cmd: Command) => {
      const given = (key: keyof TrainFlags) => cmd.getOptionValueSource(key) === 'cli';
      const requested: Partial<TrainConfig> = {};
      const map: Array<[keyof TrainFlags, keyof TrainConfig]> = [
        ['model', 'model'], ['dataset', 'dataset'], ['data', 'dataDir'], ['epochs', 'epochs'], ['batchSize', 'batchSize'], ['lr', 'lr'],
        ['weightDecay', 'weightDecay'], ['seed', 'seed'], ['latentDim', 'latentDim'], ['timeSteps', 'timeSteps'], ['k', 'k'],
        ['decoding', 'decoding'], ['trainLimit', 'trainLimit'], ['testLimit', 'testLimit'], ['logEvery', 'logEvery'],
        ['checkpointMinutes', 'checkpointMinutes'], ['samples', 'sampleCount'], ['curves', 'curves'], ['curveFadSamples', 'curveFadSamples'],
      ];
      for (const [flag, key] of map) if (given(flag)) (requested as Record<string, unknown>)[key] = flags[flag];
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
          curves: flags.curves,
          curveFadSamples: flags.curveFadSamples,
        };
        return { cfg, out: flags.out };
      }, requested);
      announceTraining(trainer, flags, trainer.cfg.model);
      const summary = await trainer.train();
      if (flags.json) printJson(summary);
      else reportStop(summary, 'train');
      process.exitCode = exitStatus(summary);
    });
}
