/** `spikevae train`: train a model on a dataset into a run directory (or resume one). */
import type { Command } from 'commander';
import { NEURON_CHOICES, TRAIN_KINDS, trainingDefaults, ModelKind, type ModelOptions } from '../../models/index.js';
import { resolveTau0 } from '../../models/classifier.js';
import type { TrainConfig } from '../../train/trainer.js';
import { announceTraining, exitStatus, openTrainer, reportStop } from '../run-setup.js';
import { UserError } from '../../util/errors.js';
import { choiceFlag, datasetFlag, floatOption, intOption, printJson } from '../options.js';
import type { DatasetName } from '../../data/index.js';

/** The model options (latent size, neuron, ...) come straight from the flags of the same names. */
interface TrainFlags extends ModelOptions {
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
  trainLimit?: number;
  testLimit?: number;
  logEvery: number;
  checkpointMinutes: number;
  samples: number;
  curves: boolean;
  curveFadSamples: number;
  initFrom?: string;
  json?: boolean;
  quiet?: boolean;
  overwrite?: boolean;
}

export function register(program: Command): void {
  program
    .command('train')
    .description("train a spiking VAE (or the ANN baseline), or the TAID paper's spiking classifier, and write a run directory with checkpoints, metrics and sample grids")
    .addOption(choiceFlag('--model <name>', 'model to train', TRAIN_KINDS, { note: 'TAID is --model fsvae --decoding taid' }).default('fsvae'))
    .addOption(datasetFlag().default('mnist'))
    .option('--data <dir>', 'folder holding the dataset files (default: $SPIKEVAE_DATA, then ./data; MNIST is built in)')
    .option('--epochs <n>', 'epochs (default: the paper\'s, 150 for FSVAE, 1000 for the classifier)', intOption('--epochs'))
    .option('--batch-size <n>', 'batch size (default 250; the classifier 16)', intOption('--batch-size'))
    .option('--lr <x>', 'learning rate (default 1e-3; the classifier: 1e-3 with cosine annealing, T_max 64 epochs)', floatOption('--lr'))
    .option('--weight-decay <x>', 'AdamW weight decay (default 1e-3; the classifier 0, i.e. Adam)', floatOption('--weight-decay', 0, Infinity, false))
    .option('--seed <n>', 'random seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--max-steps <n>', 'stop after this many optimizer steps in total (resumable)', intOption('--max-steps'))
    .option('--max-minutes <x>', 'stop with a checkpoint after this many minutes of this call (resumable; for long runs in stretches)', floatOption('--max-minutes'))
    .option('--out <dir>', 'run directory to create')
    .option('--resume <dir>', 'continue the run in this directory from its latest checkpoint')
    .option('--latent-dim <n>', 'latent channels (default 128)', intOption('--latent-dim'))
    .option('--time-steps <n>', 'time steps T (default 16; the classifier 8)', intOption('--time-steps', 2, 256))
    .option('--k <n>', 'Bernoulli resolution k of the FSVAE prior/posterior (default 20)', intOption('--k', 1, 1000))
    .addOption(choiceFlag('--decoding <kind>', 'output decoding: membrane (fixed, the default) or taid (learned)', ['membrane', 'taid'] as const))
    .addOption(
      choiceFlag('--neuron <kind>', 'spiking neuron of fsvae, esvae and alif-classifier', NEURON_CHOICES, {
        note: "lif (the model's own; default), plif (learnable decay), alif (learnable decay and threshold)",
      }),
    )
    .option('--tau0 <x>', 'initial PLIF/ALIF time constant, above 1 (default: the classifier 2, the VAEs 4/3)', floatOption('--tau0', 1))
    .option('--decay0 <x>', 'initial decay 1 − 1/tau0 instead, as the paper\'s Table 7 gives it (0.25, 0.5)', floatOption('--decay0', 0, 1))
    .option('--v-th0 <x>', 'initial threshold (default: the classifier 0.5, the VAEs 0.2)', floatOption('--v-th0', -Infinity, Infinity, false))
    .option('--train-limit <n>', 'use only the first N training images', intOption('--train-limit'))
    .option('--test-limit <n>', 'use only the first N test images', intOption('--test-limit'))
    .option('--log-every <n>', 'steps between metric lines in metrics.jsonl', intOption('--log-every'), 10)
    .option('--checkpoint-minutes <x>', 'minutes between mid-epoch checkpoints', floatOption('--checkpoint-minutes'), 10)
    .option('--samples <n>', 'images in each epoch\'s sample grid', intOption('--samples', 1, 1024), 64)
    .option('--no-curves', 'skip the learning-curve points (test reconstruction MSE and FAD at epochs 1, 2, 5, 10, 20, 30, ... and the last)')
    .option('--curve-fad-samples <n>', 'generated images per learning-curve FAD (0: MSE only)', intOption('--curve-fad-samples', 0, 1_000_000), 5120)
    .option('--init-from <checkpoint>', 'start from these weights (a checkpoint or pretrained:NAME) at their epoch and step, with fresh optimizer moments')
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
  spikevae train --init-from pretrained:fsvae-mnist --out runs/more   # go on from the shipped weights
  spikevae train --model alif-classifier --dataset mnist --neuron alif --out runs/alif-mnist
  spikevae train --model fsvae --neuron alif --dataset mnist --out runs/fsvae-alif

The run directory holds config.json, metrics.jsonl (step, epoch and
learning-curve records), checkpoint.safetensors (latest; its optimizer state
in checkpoint.optimizer-STEP.safetensors), best.safetensors (lowest test
loss; a classifier's: highest test accuracy) and samples/epoch-NNN.png (the
VAEs). Ctrl-C or SIGTERM writes a checkpoint
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
        ['initFrom', 'initFrom'],
        ['neuron', 'neuron'], ['vth0', 'vth0'],
      ];
      for (const [flag, key] of map) if (given(flag)) (requested as Record<string, unknown>)[key] = flags[flag];
      const tau0 = flags.tau0 !== undefined || flags.decay0 !== undefined ? resolveTau0(flags, 2) : undefined;
      if (tau0 !== undefined) requested.tau0 = tau0;
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
          neuron: flags.neuron,
          tau0,
          vth0: flags.vth0,
          trainLimit: flags.trainLimit,
          testLimit: flags.testLimit,
          sampleCount: flags.samples,
          logEvery: flags.logEvery,
          checkpointMinutes: flags.checkpointMinutes,
          curves: flags.curves,
          curveFadSamples: flags.curveFadSamples,
          initFrom: flags.initFrom,
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
