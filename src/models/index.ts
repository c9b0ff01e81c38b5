/**
 * Model registry: builds a model from a kind and a dataset (with the
 * reference's defaults), or from a checkpoint file's metadata.
 */
import { Random } from '../engine/random.js';
import { UserError } from '../util/errors.js';
import { FSVAE, FsvaeConfig, defaultFsvaeConfig } from './fsvae.js';
import { loadStateDict, parseCheckpoint, readCheckpoint, LoadedCheckpoint } from './checkpoint.js';
import { pretrainedPath, resolveCheckpointPath } from './pretrained.js';
import { validateModelConfig } from './config.js';
import type { GenerativeModel, TrainableModel, TrainingDefaults } from './types.js';
import { AlifClassifier, ClassifierConfig, classifierTrainingDefaults, defaultClassifierConfig, resolveTau0 } from './classifier.js';
import { ESVAE, defaultEsvaeConfig, esvaeTrainingDefaults, UNUSED_PREFIXES } from './esvae.js';
import { AnnVAE, AnnVaeConfig, annVaeTrainingDefaults, defaultAnnVaeConfig } from './annvae.js';
import { FadAutoencoder, FadAeConfig, defaultFadAeConfig, fadAeTrainingDefaults } from './fadae.js';

export type ModelKind = 'fsvae' | 'esvae' | 'ann-vae' | 'fad-ae' | 'alif-classifier';
/** 'fad-ae' is the FAD feature autoencoder (see `spikevae train-ae`), not a generative model; 'alif-classifier' the TAID paper's spiking classifiers. */
export const MODEL_KINDS: ModelKind[] = ['fsvae', 'esvae', 'ann-vae', 'fad-ae', 'alif-classifier'];
/** The generative models `spikevae train --model` offers; the FAD autoencoder is trained with `spikevae train-ae`, which also exports its files. */
export const GENERATIVE_KINDS: ModelKind[] = ['fsvae', 'esvae', 'ann-vae'];
/** Everything `spikevae train --model` offers. */
export const TRAIN_KINDS: ModelKind[] = [...GENERATIVE_KINDS, 'alif-classifier'];

/** The neuron of the spiking layers: the model's own LIF (default) or a PLIF-family neuron (snn/plif.ts). */
export type NeuronChoice = 'lif' | 'plif' | 'alif';
export const NEURON_CHOICES: NeuronChoice[] = ['lif', 'plif', 'alif'];

export interface ModelOptions {
  latentDim?: number;
  timeSteps?: number;
  k?: number;
  decoding?: 'membrane' | 'taid';
  neuron?: NeuronChoice;
  /** Initial PLIF/ALIF time constant (> 1), or decay0 = 1 − 1/τ0 (the paper's Table 7 "init τ"), and threshold. */
  tau0?: number;
  decay0?: number;
  vth0?: number;
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
    case 'alif-classifier':
      return classifierTrainingDefaults;
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
  const overrides: Partial<FsvaeConfig> = {};
  if (opts.latentDim !== undefined) overrides.latentDim = opts.latentDim;
  if (opts.timeSteps !== undefined) overrides.timeSteps = opts.timeSteps;
  if (opts.k !== undefined) overrides.k = opts.k;
  if (opts.decoding !== undefined) overrides.decoding = opts.decoding;
  const neuron = opts.neuron ?? 'lif';
  if (neuron !== 'lif') {
    if (kind !== 'fsvae' && kind !== 'esvae') throw new UserError(`--neuron ${neuron}: only the spiking models (fsvae, esvae, the classifier) have neurons to choose`);
    overrides.neuron = neuron;
    if (opts.tau0 !== undefined || opts.decay0 !== undefined) overrides.tau0 = resolveTau0(opts, 0);
    if (opts.vth0 !== undefined) overrides.vth0 = opts.vth0;
  }
  const { latentDim } = overrides;
  let config: object;
  switch (kind) {
    case 'fsvae':
      config = defaultFsvaeConfig(dataset, overrides);
      break;
    case 'esvae':
      config = defaultEsvaeConfig(dataset, overrides);
      break;
    case 'ann-vae':
      config = defaultAnnVaeConfig(dataset, latentDim === undefined ? {} : { latentDim });
      break;
    case 'fad-ae':
      config = defaultFadAeConfig(dataset, latentDim === undefined ? {} : { latentDim });
      break;
    default:
      throw new UserError(`model '${kind}' is not a generative model`);
  }
  return buildModel(kind, validateModelConfig(kind, config, kind), new Random(seed)) as GenerativeModel;
}

/** Any model `spikevae train` trains: a generative model or the spiking classifier. */
export function createTrainableModel(kind: ModelKind, dataset: string, opts: ModelOptions, seed: number): TrainableModel {
  if (kind !== 'alif-classifier') return createModel(kind, dataset, opts, seed);
  return buildModel(kind, validateModelConfig(kind, defaultClassifierConfig(dataset, opts), kind), new Random(seed));
}

function buildModel(kind: ModelKind, config: Record<string, unknown>, rng: Random): TrainableModel {
  switch (kind) {
    case 'alif-classifier':
      return new AlifClassifier(config as unknown as ClassifierConfig, rng);
    case 'fsvae':
      return new FSVAE(config as unknown as FsvaeConfig, rng);
    case 'esvae':
      return new ESVAE(config as unknown as FsvaeConfig, rng);
    case 'ann-vae':
      return new AnnVAE(config as unknown as AnnVaeConfig, rng);
    case 'fad-ae':
      return new FadAutoencoder(config as unknown as FadAeConfig, rng);
  }
}

/**
 * Builds a model from a config object saved in a checkpoint, after checking
 * every key (types, ranges, allowed values, the model's size).
 */
export function trainableFromConfig(kind: string, config: Record<string, unknown>, fileName: string): TrainableModel {
  if (!(MODEL_KINDS as string[]).includes(kind)) throw new UserError(`${fileName}: checkpoint of unknown model '${kind}'`);
  return buildModel(kind as ModelKind, validateModelConfig(kind, config, `${fileName}: metadata 'spikevae.config'`), new Random(0));
}

/** A generative model from a config saved in a checkpoint (checked as trainableFromConfig checks it). */
export function modelFromConfig(kind: string, config: Record<string, unknown>, fileName: string): GenerativeModel {
  if (kind === 'alif-classifier') throw new UserError(`${fileName}: a checkpoint of the spiking classifier, which generates nothing; measure it with spikevae eval`);
  return trainableFromConfig(kind, config, fileName) as GenerativeModel;
}

/** Loads a classifier (weights and buffers) from a spikevae checkpoint file or `pretrained:<name>`, in evaluation mode. */
export function loadClassifier(spec: string): { model: AlifClassifier; checkpoint: LoadedCheckpoint } {
  const path = resolveCheckpointPath(spec);
  const checkpoint = readCheckpoint(path);
  if (checkpoint.model !== 'alif-classifier') throw new UserError(`${path}: a checkpoint of '${checkpoint.model}', not of the spiking classifier`);
  const model = trainableFromConfig(checkpoint.model, checkpoint.config, path) as AlifClassifier;
  loadStateDict(model, checkpoint.file.tensors, path);
  model.eval();
  return { model, checkpoint };
}

/** Loads a generative model (weights and buffers) from a spikevae checkpoint file or `pretrained:<name>`. */
export function loadModel(spec: string): { model: GenerativeModel; checkpoint: LoadedCheckpoint } {
  const path = resolveCheckpointPath(spec);
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

/** A shipped pretrained model by name (see pretrained/*.md), ready for sampling and evaluation. */
export function loadPretrained(name: string): { model: GenerativeModel; checkpoint: LoadedCheckpoint } {
  return loadModel(pretrainedPath(name));
}

/** A shipped pretrained classifier by name (alif-mnist, say), in evaluation mode. */
export function loadPretrainedClassifier(name: string): { model: AlifClassifier; checkpoint: LoadedCheckpoint } {
  return loadClassifier(pretrainedPath(name));
}
