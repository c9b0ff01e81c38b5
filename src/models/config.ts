/**
 * What a model configuration may hold, checked before a model is built:
 * every key a model reads, with its type and range or its allowed values.
 * A configuration comes from a checkpoint's metadata (a file a user names)
 * or from command-line values, so a bad one is refused with one line naming
 * where it came from and the key; nothing is replaced by a default.
 */
import { UserError } from '../util/errors.js';

/** A whole number in a range, one of some values, or a real number in a range (open below with `above`); `optional` keys may be absent. */
type Rule = ({ ints: [number, number] } | { oneOf: readonly (string | number)[] } | { reals: [number, number]; above?: boolean }) & { optional?: true };

export const TIME_STEPS_RANGE: [number, number] = [2, 256];
export const K_RANGE: [number, number] = [1, 1000];
/** No upper bound of its own: the size check below bounds it together with k. */
const LATENT_RANGE: [number, number] = [1, Number.MAX_SAFE_INTEGER];

const IMAGE: Record<string, Rule> = { inChannels: { oneOf: [1, 3] }, imageSize: { oneOf: [32, 64] }, latentDim: { ints: LATENT_RANGE } };
const SPIKING: Record<string, Rule> = {
  variant: { oneOf: ['fsvae', 'fsvae-large'] },
  ...IMAGE,
  timeSteps: { ints: TIME_STEPS_RANGE },
  k: { ints: K_RANGE },
  decoding: { oneOf: ['membrane', 'taid'] },
  // A PLIF-family neuron in place of the LIF (absent: the LIF).
  neuron: { oneOf: ['lif', 'plif', 'alif'], optional: true },
  tau0: { reals: [1, Number.MAX_VALUE], above: true, optional: true },
  vth0: { reals: [-Number.MAX_VALUE, Number.MAX_VALUE], optional: true },
};
/** The TAID paper's spiking classifiers (models/classifier.ts). */
const CLASSIFIER: Record<string, Rule> = {
  network: { oneOf: ['mnist', 'cifar10'] },
  neuron: { oneOf: ['lif', 'plif', 'alif'] },
  tau0: { reals: [1, Number.MAX_VALUE], above: true },
  vth0: { reals: [-Number.MAX_VALUE, Number.MAX_VALUE] },
  timeSteps: { ints: [1, 256] },
  dropout: { reals: [0, 0.99] },
  cosineTMax: { ints: [1, 1_000_000] },
};
const SCHEMAS: Record<string, Record<string, Rule>> = {
  fsvae: SPIKING,
  esvae: SPIKING,
  'ann-vae': { variant: { oneOf: ['ann-vae', 'ann-vae-large'] }, ...IMAGE },
  'fad-ae': { variant: { oneOf: ['ae', 'ae-large'] }, ...IMAGE },
  'alif-classifier': CLASSIFIER,
};

/** Whether `kind` names a model whose configuration this file knows. */
export function isModelKind(kind: string): boolean {
  return Object.hasOwn(SCHEMAS, kind);
}

/**
 * The most fully connected weights a model may have: 512 MiB of float32
 * (the papers' models have 0.1 to 2 million; FSVAE's prior and posterior
 * grow as 8·k·latentDim²).
 */
export const MAX_LINEAR_WEIGHTS = 2 ** 27;

/**
 * The number of weights in a model's fully connected layers (its 2-D
 * parameters), the part whose size the configuration can make unbounded.
 */
export function linearWeightCount(kind: string, cfg: Record<string, number | string>): number {
  const C = Number(cfg.latentDim);
  const large = String(cfg.variant).endsWith('-large');
  // Flattened encoder output: the last stage's width at 2x2.
  const flat = (large ? 512 : 256) * 4;
  switch (kind) {
    case 'fsvae':
    case 'esvae': {
      const k = Number(cfg.k);
      // before_latent and decoder_input, prior (C→2C→4C→kC), posterior (2C→2C→4C→kC); ESVAE's sample_layer.
      return 2 * flat * C + (22 + 8 * k) * C * C + (kind === 'esvae' ? C * C : 0);
    }
    case 'ann-vae':
      return 3 * flat * C; // fc_mu, fc_var, decoder_input
    default:
      return 2 * flat * C; // latent_layer, decoder_input
  }
}

/**
 * Checks a configuration of model `kind` and returns it. `where` starts each
 * message (a file and metadata key, or the model kind for command-line values).
 */
export function validateModelConfig(kind: string, config: unknown, where: string): Record<string, number | string> {
  if (!isModelKind(kind)) throw new UserError(`${where}: configuration of unknown model '${kind}'`);
  const schema = SCHEMAS[kind];
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new UserError(`${where}: the model configuration is not a JSON object`);
  const cfg = config as Record<string, unknown>;
  for (const key of Object.keys(cfg)) {
    if (!Object.hasOwn(schema, key)) throw new UserError(`${where}: unknown key '${key}' for model ${kind} (a checkpoint of a newer spikevae?)`);
  }
  for (const [key, rule] of Object.entries(schema)) {
    const v = cfg[key];
    if (v === undefined) {
      if (rule.optional) continue;
      throw new UserError(`${where}: key '${key}' is missing`);
    }
    const inReals = (r: [number, number], above?: boolean) => typeof v === 'number' && Number.isFinite(v) && (above ? v > r[0] : v >= r[0]) && v <= r[1];
    const ok =
      'ints' in rule
        ? Number.isSafeInteger(v) && (v as number) >= rule.ints[0] && (v as number) <= rule.ints[1]
        : 'reals' in rule
          ? inReals(rule.reals, rule.above)
          : rule.oneOf.includes(v as string | number);
    if (!ok) {
      const range = (r: [number, number]) => (r[1] === Number.MAX_SAFE_INTEGER ? `of at least ${r[0]}` : `from ${r[0]} to ${r[1]}`);
      const realRange = (r: [number, number], above?: boolean) => (r[0] === -Number.MAX_VALUE ? 'a finite number' : `a number ${above ? 'above' : 'of at least'} ${r[0]}${r[1] === Number.MAX_VALUE ? '' : ` and at most ${r[1]}`}`);
      const expected = 'ints' in rule ? `a whole number ${range(rule.ints)}` : 'reals' in rule ? realRange(rule.reals, rule.above) : `one of ${rule.oneOf.map((x) => JSON.stringify(x)).join(', ')}`;
      throw new UserError(`${where}: key '${key}' is ${JSON.stringify(v) ?? String(v)}; expected ${expected}`);
    }
  }
  const valid = cfg as Record<string, number | string>;
  if (kind === 'alif-classifier') return valid; // a fixed network: its size follows from `network`
  const needSize = String(valid.variant).endsWith('-large') ? 64 : 32;
  if (valid.imageSize !== needSize) throw new UserError(`${where}: key 'imageSize' is ${valid.imageSize}; variant '${valid.variant}' needs ${needSize}`);
  const weights = linearWeightCount(kind, valid);
  if (weights > MAX_LINEAR_WEIGHTS) {
    const k = 'k' in valid ? ` and k ${valid.k}` : '';
    throw new UserError(
      `${where}: latentDim ${valid.latentDim}${k} would give ${kind} ${weights.toExponential(2)} fully connected weights; the most this tool builds is ${MAX_LINEAR_WEIGHTS} (512 MiB of float32)`,
    );
  }
  return valid;
}
