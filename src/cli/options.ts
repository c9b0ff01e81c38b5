/** Parsing and validation of option values shared by the commands. */
import { InvalidArgumentError, Option } from 'commander';
import { UserError } from '../util/errors.js';

export function intOption(name: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` of at least ${min}`}, got '${value}'`);
    }
    return n;
  };
}

export function floatOption(name: string, min = 0, max = Infinity, exclusiveMin = true) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (exclusiveMin ? n <= min : n < min) || n > max) {
      throw new InvalidArgumentError(`${name} must be a number ${exclusiveMin ? 'above' : 'of at least'} ${min}${Number.isFinite(max) ? ` and at most ${max}` : ''}, got '${value}'`);
    }
    return n;
  };
}

export function choiceOption<T extends string>(name: string, choices: readonly T[], aliases: Record<string, T> = {}) {
  return (value: string): T => {
    const v = (aliases[value.toLowerCase()] ?? value.toLowerCase()) as T;
    if (!choices.includes(v)) throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}, got '${value}'`);
    return v;
  };
}

/**
 * An option with a fixed set of values whose help lists them (with their
 * aliases), e.g. "model to train: fsvae, esvae or ann-vae"; `note` follows
 * the list ("default: the checkpoint's"). Values are accepted in any case.
 */
export function choiceFlag<T extends string>(flags: string, what: string, choices: readonly T[], opts: { aliases?: Record<string, T>; note?: string } = {}): Option {
  const aliases = opts.aliases ?? {};
  const shown = choices.map((c) => {
    const alt = Object.keys(aliases).filter((a) => aliases[a] === c);
    return alt.length ? `${c} (or ${alt.join(', ')})` : c;
  });
  const list = shown.length > 1 ? `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}` : shown[0];
  const name = flags.split(/[ ,]/).find((f) => f.startsWith('--')) ?? flags;
  return new Option(flags, `${what}: ${list}${opts.note ? `; ${opts.note}` : ''}`).argParser(choiceOption(name, choices, aliases));
}

export const DATASETS = ['mnist', 'fashion', 'cifar10', 'celeba'] as const;
export const DATASET_ALIASES: Record<string, (typeof DATASETS)[number]> = {
  'fashion-mnist': 'fashion',
  fashionmnist: 'fashion',
  'cifar-10': 'cifar10',
};
export const datasetOption = choiceOption('--dataset', DATASETS, DATASET_ALIASES);

/** --dataset with its choices in the help. */
export function datasetFlag(what = 'dataset', note?: string): Option {
  return choiceFlag('--dataset <name>', what, DATASETS, { aliases: DATASET_ALIASES, note });
}

/** The --dataset flag, else the dataset a checkpoint records (checked, naming the file). */
export function checkpointDataset(flag: (typeof DATASETS)[number] | undefined, metadata: Record<string, string>, file: string): (typeof DATASETS)[number] {
  if (flag) return flag;
  const recorded = metadata['spikevae.dataset'];
  if (recorded === undefined) throw new UserError(`${file}: does not record its dataset; pass --dataset`);
  if (!(DATASETS as readonly string[]).includes(recorded)) {
    throw new UserError(`${file}: metadata 'spikevae.dataset' is ${JSON.stringify(recorded)}, not one of ${DATASETS.join(', ')}; pass --dataset`);
  }
  return recorded as (typeof DATASETS)[number];
}

/** Prints a result as JSON to stdout (for --json). */
export function printJson(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj, null, 2) + '\n');
}
