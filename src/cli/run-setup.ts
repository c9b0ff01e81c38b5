/**
 * What `train` and `train-ae` share: opening a run (resume an existing
 * directory, checking it belongs to this command and that the flags agree
 * with it, or create one), the learning-curve evaluator, the one-line
 * announcement of what is about to be trained, and the closing line.
 */
import { backend } from '../engine/backend/index.js';
import { learningCurvePoint } from '../metrics/evaluate.js';
import { RESUMABLE_KEYS, Trainer, readRunConfig, type CurveEvaluator, type ResumeChanges, type TrainConfig, type TrainSummary } from '../train/trainer.js';
import { UserError } from '../util/errors.js';
import { cliName } from '../util/package.js';

export interface RunFlags {
  resume?: string;
  out?: string;
  maxSteps?: number;
  maxMinutes?: number;
  overwrite?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** The command that trains (and resumes) a run of this model kind. */
function commandFor(model: string): 'train' | 'train-ae' {
  return model === 'fad-ae' ? 'train-ae' : 'train';
}

/** Test reconstruction MSE and FAD for the learning curve, measured with the metrics package. */
export const curveEvaluator: CurveEvaluator = (model, cfg) =>
  learningCurvePoint(model, { dataset: cfg.dataset, dataDir: cfg.dataDir, fadSamples: cfg.curveFadSamples ?? 5120, testLimit: cfg.testLimit, seed: cfg.seed });

/**
 * Resumes flags.resume, or creates the run that create() describes. A run is
 * resumed only by the command that made it (train-ae also exports files
 * when it finishes). On resume, `requested` holds the settings the user gave
 * on the command line: those in RESUMABLE_KEYS are applied (a new learning
 * rate is announced), any other that differs from the run is refused.
 */
export function openTrainer(
  flags: RunFlags,
  command: 'train' | 'train-ae',
  create: () => { cfg: TrainConfig; out: string },
  requested: Partial<TrainConfig> = {},
): Trainer {
  const opts = { maxSteps: flags.maxSteps, maxMinutes: flags.maxMinutes, quiet: flags.quiet || flags.json, curveEvaluator };
  if (flags.resume) {
    if (flags.out) throw new UserError('--resume continues an existing run directory; do not give --out as well');
    const before = readRunConfig(flags.resume);
    const owner = commandFor(String(before.model));
    if (owner !== command) throw new UserError(`${flags.resume}: a ${before.model} run, made by ${owner}; continue it with ${cliName()} ${owner} --resume ${flags.resume}`);
    const changes: ResumeChanges = {};
    const fixed: string[] = [];
    for (const [key, value] of Object.entries(requested) as Array<[keyof TrainConfig, unknown]>) {
      if (value === undefined) continue;
      if ((RESUMABLE_KEYS as readonly string[]).includes(key)) (changes as Record<string, unknown>)[key] = value;
      else if (value !== before[key]) fixed.push(`${key} is ${JSON.stringify(before[key] ?? 'the default')}, not ${JSON.stringify(value)}`);
    }
    if (fixed.length > 0) {
      throw new UserError(`${flags.resume}: a resumed run keeps its settings (${fixed.join('; ')}); start a new run with --out to change them`);
    }
    const trainer = Trainer.resume(flags.resume, opts, changes);
    if (trainer.restartedFromScratch && !flags.json && !flags.quiet) {
      process.stderr.write(`spikevae: ${flags.resume} has no checkpoint yet (stopped before its first one): starting it from step 0\n`);
    }
    if (changes.lr !== undefined && changes.lr !== before.lr && !flags.json && !flags.quiet) {
      process.stderr.write(`spikevae: learning rate ${before.lr} -> ${changes.lr} from step ${trainer.state.step + 1} on (recorded in config.json)\n`);
    }
    return trainer;
  }
  const { cfg, out } = create();
  return Trainer.create(cfg, { out, ...opts }, flags.overwrite);
}

/** Prints what is being trained, with which kernels and where (unless --quiet or --json). */
export function announceTraining(trainer: Trainer, flags: RunFlags, what: string): void {
  if (flags.json || flags.quiet) return;
  const c = trainer.cfg;
  const budget = flags.maxMinutes !== undefined ? `, time budget ${flags.maxMinutes} min` : '';
  const from = trainer.state.step > 0 ? `, resuming at step ${trainer.state.step} (epoch ${trainer.state.epoch})` : '';
  process.stderr.write(
    `spikevae: training ${what} on ${c.dataset} (${trainer.model.parameterCount().toLocaleString('en')} parameters), batch ${c.batchSize}, lr ${c.lr}, ` +
      `${c.epochs} epochs${from}${budget}, kernels: ${backend().description}; run directory ${trainer.run.out}\n`,
  );
}

/** Exit status of a finished call: 0, or 128 + the signal's number after SIGINT (130) or SIGTERM (143). */
export function exitStatus(summary: TrainSummary): number {
  return summary.signal === 'SIGINT' ? 130 : summary.signal === 'SIGTERM' ? 143 : 0;
}

/** The closing line: how it ended and, when it can go on, the command that continues it. */
export function reportStop(summary: TrainSummary, command: 'train' | 'train-ae'): void {
  const why: Record<TrainSummary['stoppedBy'], string> = {
    finished: 'finished',
    'max-steps': 'stopped at --max-steps',
    'time-budget': 'stopped: the --max-minutes budget is spent',
    interrupt: `stopped by ${summary.signal ?? 'an interrupt'}`,
  };
  process.stderr.write(
    `spikevae: ${why[summary.stoppedBy]} after ${summary.steps} steps (${summary.epochsCompleted} epochs completed), ` +
      `${summary.imagesPerSecond.toFixed(1)} images/s while training; checkpoint ${summary.checkpoint}` +
      (summary.stoppedBy !== 'finished' ? `; continue with: ${cliName()} ${command} --resume ${summary.runDir}` : '') +
      '\n',
  );
}
