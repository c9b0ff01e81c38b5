/** `spikevae import` and `spikevae export`: checkpoints to and from PyTorch. */
import type { Command } from 'commander';
import { readPth, writePth } from '../../io/pth.js';
import { loadStateDict, saveCheckpoint, stateDict } from '../../models/checkpoint.js';
import { createModel, loadModel, modelNotes, MODEL_KINDS, ModelKind } from '../../models/index.js';
import { choiceFlag, datasetFlag, intOption, printJson } from '../options.js';
import type { DatasetName } from '../../data/index.js';

export function register(program: Command): void {
  program
    .command('import')
    .description('convert a checkpoint saved by the official PyTorch code (a state_dict .pth) into a spikevae checkpoint')
    .argument('<file>', 'the .pth file (torch.save of model.state_dict(), or a dict holding one)')
    .addOption(choiceFlag('--model <name>', 'model the weights belong to', MODEL_KINDS).default('fsvae'))
    .addOption(datasetFlag('dataset the model was trained on (sets channels and size)').makeOptionMandatory())
    .option('--latent-dim <n>', 'latent channels (default 128)', intOption('--latent-dim'))
    .option('--time-steps <n>', 'time steps T (default 16)', intOption('--time-steps', 2, 256))
    .option('--k <n>', 'Bernoulli resolution k (default 20)', intOption('--k', 1, 1000))
    .requiredOption('--out <file>', 'spikevae checkpoint to write (.safetensors)')
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      `
Only the pickle opcodes and classes a state_dict needs are accepted (like
torch.load(weights_only=True)); a file naming anything else is refused and
nothing in it is executed.`,
    )
    .action((file: string, flags: { model: ModelKind; dataset: DatasetName; latentDim?: number; timeSteps?: number; k?: number; out: string; json?: boolean }) => {
      const pth = readPth(file);
      const model = createModel(flags.model, flags.dataset, { latentDim: flags.latentDim, timeSteps: flags.timeSteps, k: flags.k }, 0);
      loadStateDict(model, pth.stateDict, file);
      saveCheckpoint(flags.out, model, { model: model.kind, config: model.config, dataset: flags.dataset, source: file, ...modelNotes(model.kind) });
      const summary = { from: file, to: flags.out, model: model.kind, dataset: flags.dataset, tensors: pth.stateDict.size, extra: pth.extra };
      if (flags.json) printJson(summary);
      else process.stderr.write(`spikevae: converted ${pth.stateDict.size} tensors of ${file} into ${flags.out}\n`);
    });

  program
    .command('export')
    .description('write a spikevae checkpoint as a PyTorch state_dict .pth (for torch.load + load_state_dict)')
    .argument('<checkpoint>', 'spikevae checkpoint (.safetensors)')
    .requiredOption('--out <file>', '.pth file to write')
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      `
In PyTorch:  model.load_state_dict(torch.load('model.pth', weights_only=True))
The .safetensors checkpoint itself also loads directly:
  model.load_state_dict(safetensors.torch.load_file('checkpoint.safetensors'))`,
    )
    .action((checkpoint: string, flags: { out: string; json?: boolean }) => {
      const { model } = loadModel(checkpoint);
      const sd = stateDict(model);
      writePth(flags.out, sd);
      if (flags.json) printJson({ from: checkpoint, to: flags.out, tensors: sd.size });
      else process.stderr.write(`spikevae: wrote ${sd.size} tensors to ${flags.out}\n`);
    });
}
