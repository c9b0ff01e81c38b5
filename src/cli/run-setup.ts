/**
 * What `train` and `train-ae` share: opening a run (resume an existing
 * directory, checking it belongs to this command, or create one) and the
 * one-line announcement of what is about to be trained.
 */
import { backend } from '../engine/backend/index.js';
import { Trainer, type TrainConfig } from '../train/trainer.js';
import { UserError } from '../util/errors.js';

export interface RunFlags {
  resume?: string;
  out?: string;
  maxSteps?: number;
  overwrite?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** The command that trains (and resumes) a run of this model kind. */
function commandFor(model: string): 'train' | 'train-ae' {
  return model === 'fad-ae' ? 'train-ae' : 'train';
}

/**
 * Resumes flags.resume, or creates the run that create() describes. A run is
 * resumed only by the command that made it (train-ae also exports files
 * when it finishes).
 */
export function openTrainer(flags: RunFlags, command: 'train' | 'train-ae', create: () => { cfg: TrainConfig; out: string }): Trainer {
  const opts = { maxSteps: flags.maxSteps, quiet: flags.quiet || flags.json };
  if (flags.resume) {
    if (flags.out) throw new UserError('--resume continues an existing run directory; do not give --out as well');
    const trainer = Trainer.resume(flags.resume, opts);
    const owner = commandFor(trainer.cfg.model);
    if (owner !== command) throw new UserError(`${flags.resume}: a ${trainer.cfg.model} run, made by ${owner}; continue it with spikevae ${owner} --resume ${flags.resume}`);
    return trainer;
  }
  const { cfg, out } = create();
  return Trainer.create(cfg, { out, ...opts }, flags.overwrite);
}

/** Prints what is being trained, with which kernels and where (unless --quiet or --json). */
export function announceTraining(trainer: Trainer, flags: RunFlags, what: string): void {
  if (flags.json || flags.quiet) return;
  const c = trainer.cfg;
  process.stderr.write(
    `spikevae: training ${what} on ${c.dataset} (${trainer.model.parameterCount().toLocaleString('en')} parameters), batch ${c.batchSize}, lr ${c.lr}, ` +
      `${c.epochs} epochs, kernels: ${backend().description}; run directory ${trainer.run.out}\n`,
  );
}
