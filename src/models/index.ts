/**
 * Model registry: builds a model from a kind and a dataset (with the
 * reference's defaults), or from a checkpoint file's metadata.
 */
import { Random } from '../engine/random.js';
import { UserError } from '../util/errors.js';
import { FSVAE, FsvaeConfig, defaultFsvaeConfig } from './fsvae.js';
import { loadStateDict, parseCheckpoint, readCheckpoint, LoadedCheckpoint } from './checkpoint.js';
import type { GenerativeModel, TrainingDefaults } from './types.js';
import { ESVAE, defaultEsvaeConfig, esvaeTrainingDefaults, UNUSED_PREFIXES } from './esvae.js';
import { AnnVAE, AnnVaeConfig, annVaeTrainingDefaults, defaultAnnVaeConfig } from './annvae.js';
import { FadAutoencoder, FadAeConfig, defaultFadAeConfig, fadAeTrainingDefaults } from './fadae.js';

export type ModelKind = 'fsvae' | 'esvae' | 'ann-vae' | 'fad-ae';
/** 'fad-ae' is the FAD feature autoencoder (see `spikevae train-ae`), not a generative model. */
export const MODEL_KINDS: ModelKind[] = ['fsvae', 'esvae', 'ann-vae', 'fad-ae'];
/** What `spikevae train --model` offers; the FAD autoencoder is trained with `spikevae train-ae`, which also exports its files. */
export const GENERATIVE_KINDS: ModelKind[] = ['fsvae', 'esvae', 'ann-vae'];

export interface ModelOptions {
  latentDim?: number;
  timeSteps?: number;
  k?: number;
  decoding?: 'membrane' | 'taid';
}

export function checkModelKind(kind: string): ModelKind {
  if (!(MODEL_KINDS as string[]).includes(kind)) {
    throw new UserError(`unknown model '${kind}' (available: ${MODEL_KINDS.join(', ')})`);
  }
  return kind as ModelKind;
}

/** The official training hyper-parameters per model (reference-semantics §2.5). */
export function trainingDefaults(kind: ModelKind, dataset: string): TrainingDefaults {
  switch (kind) {
    case 'esvae':
      return esvaeTrainingDefaults(dataset);
    case 'ann-vae':
      return annVaeTrainingDefaults;
    case 'fad-ae':
      return fadAeTrainingDefaults;
    case 'fsvae':
    default:
      return { lr: 1e-3, weightDecay: 1e-3, batchSize: 250, epochs: 150 };
  }
}

/** Checkpoint metadata worth recording per model (ESVAE's unused FSVAE prior/posterior). */
export function modelNotes(kind: string): Record<string, string> {
  return kind === 'esvae' ? { unused_tensors: `${UNUSED_PREFIXES.join('*, ')}* (FSVAE prior/posterior kept for state_dict compatibility; never used)` } : {};
}

export function createModel(kind: ModelKind, dataset: string, opts: ModelOptions, seed: number): GenerativeModel {
  const rng = new Random(seed);
  const overrides: Partial<FsvaeConfig> = {};
  if (opts.latentDim !== undefined) overrides.latentDim = opts.latentDim;
  if (opts.timeSteps !== undefined) overrides.timeSteps = opts.timeSteps;
  if (opts.k !== undefined) overrides.k = opts.k;
  if (opts.decoding !== undefined) overrides.decoding = opts.decoding;
  switch (kind) {
    case 'fsvae':
      return new FSVAE(defaultFsvaeConfig(dataset, overrides), rng);
    case 'esvae':
      return new ESVAE(defaultEsvaeConfig(dataset, overrides), rng);
    case 'ann-vae': {
      const o: Partial<AnnVaeConfig> = {};
      if (opts.latentDim !== undefined) o.latentDim = opts.latentDim;
      return new AnnVAE(defaultAnnVaeConfig(dataset, o), rng);
    }
    case 'fad-ae': {
      const o: Partial<FadAeConfig> = {};
      if (opts.latentDim !== undefined) o.latentDim = opts.latentDim;
      return new FadAutoencoder(defaultFadAeConfig(dataset, o), rng);
    }
    default:
      throw new UserError(`model '${kind}' is not available yet`);
  }
}

/** Builds a model from a config object saved in a checkpoint. */
export function modelFromConfig(kind: string, config: Record<string, unknown>, fileName: string): GenerativeModel {
  switch (kind) {
    case 'fsvae':
      return new FSVAE({ ...defaultFsvaeConfig('mnist'), ...(config as Partial<FsvaeConfig>) }, new Random(0));
    case 'esvae':
      return new ESVAE({ ...defaultEsvaeConfig('mnist'), ...(config as Partial<FsvaeConfig>) }, new Random(0));
    case 'ann-vae':
      return new AnnVAE({ ...defaultAnnVaeConfig('mnist'), ...(config as Partial<AnnVaeConfig>) }, new Random(0));
    case 'fad-ae':
      return new FadAutoencoder({ ...defaultFadAeConfig('mnist'), ...(config as Partial<FadAeConfig>) }, new Random(0));
    default:
      throw new UserError(`${fileName}: checkpoint of unknown model '${kind}'`);
  }
}

/** Loads a model (weights and buffers) from a spikevae checkpoint. */
export function loadModel(path: string): { model: GenerativeModel; checkpoint: LoadedCheckpoint } {
  return modelFromCheckpoint(readCheckpoint(path), path);
}

/** loadModel for a checkpoint file's bytes (the web page's); `fileName` names it in errors. */
export function loadModelFromBytes(bytes: Uint8Array, fileName: string): { model: GenerativeModel; checkpoint: LoadedCheckpoint } {
  return modelFromCheckpoint(parseCheckpoint(bytes, fileName), fileName);
}

function modelFromCheckpoint(checkpoint: LoadedCheckpoint, fileName: string): { model: GenerativeModel; checkpoint: LoadedCheckpoint } {
  const model = modelFromConfig(checkpoint.model, checkpoint.config, fileName);
  loadStateDict(model, checkpoint.file.tensors, fileName);
  model.eval();
  return { model, checkpoint };
}
