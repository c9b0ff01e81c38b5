/**
 * Model checkpoints as safetensors files whose tensors are exactly the
 * official PyTorch state_dict (same names, shapes, dtypes: num_batches_tracked
 * is I64), so `model.load_state_dict(safetensors.torch.load_file(f))` works in
 * PyTorch and official weights converted with `spikevae import` load here.
 *
 * What PyTorch does not need goes in the safetensors metadata (strings):
 *   spikevae.format   "1"
 *   spikevae.model    "fsvae" | "esvae" | "ann-vae"
 *   spikevae.config   JSON of the model configuration
 *   spikevae.training JSON of the training state (epoch, step, generator state, ...)
 * Optimizer moments live in a sidecar `<name>.optimizer-<step>.safetensors`
 * so the main file stays a clean state_dict. The pair is consistent after a
 * kill at any instant: the sidecar of the new step is written (atomically)
 * before the model file is replaced, so the model file on disk always names a
 * step whose sidecar exists; older sidecars are removed only afterwards.
 * Runs from before step-named sidecars have `<name>.optimizer.safetensors`,
 * whose metadata names its step; it is still read.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Module } from '../engine/module.js';
import type { StoredTensor, TensorFile } from '../io/safetensors.js';
import { readSafetensors, writeSafetensors, toCount, toFloat32 } from '../io/safetensors.js';
import { UserError, fmtShape } from '../util/errors.js';
import { resolveCheckpointPath } from './pretrained.js';
import { cliName } from '../util/package.js';
import { isModelKind, validateModelConfig } from './config.js';

export const FORMAT_VERSION = '1';

/** The model's state_dict: parameters (F32) and buffers (F32, counters as I64). */
export function stateDict(model: Module): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [name, p] of model.namedParameters()) out.set(name, { dtype: 'F32', shape: [...p.shape], data: p.data });
  for (const [name, b] of model.namedBuffers()) {
    if (b.counter) out.set(name, { dtype: 'I64', shape: b.shape, data: BigInt64Array.of(BigInt(b.counter.value)) });
    else out.set(name, { dtype: 'F32', shape: b.shape, data: b.data! });
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function listNames(names: string[]): string {
  return names.slice(0, 4).join(', ') + (names.length > 4 ? ` and ${names.length - 4} more` : '');
}

/**
 * Copies a state_dict into the model, strictly: every tensor present, no
 * extras, every shape equal. `ignore` lists names that may be missing or extra.
 */
export function loadStateDict(model: Module, tensors: Map<string, StoredTensor>, fileName: string, ignore: (name: string) => boolean = () => false): void {
  const params = model.namedParameters();
  const buffers = model.namedBuffers();
  const expected = new Set([...params.keys(), ...buffers.keys()]);
  const missing = [...expected].filter((n) => !tensors.has(n) && !ignore(n));
  const unexpected = [...tensors.keys()].filter((n) => !expected.has(n) && !ignore(n));
  if (missing.length > 0 || unexpected.length > 0) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length} tensor(s) (${listNames(missing)})`);
    if (unexpected.length) parts.push(`has ${unexpected.length} unexpected tensor(s) (${listNames(unexpected)})`);
    throw new UserError(`${fileName}: not a checkpoint of this model: ${parts.join('; ')}`);
  }
  for (const [name, p] of params) {
    const t = tensors.get(name);
    if (!t) continue;
    if (!sameShape(t.shape, p.shape)) {
      throw new UserError(`${fileName}: tensor '${name}' has shape ${fmtShape(t.shape)}, the model needs ${fmtShape(p.shape)}`);
    }
    p.data.set(toFloat32(t, `${fileName}: tensor '${name}'`));
  }
  for (const [name, b] of buffers) {
    const t = tensors.get(name);
    if (!t) continue;
    // Counters are scalars in PyTorch ([]); some converters store them as [1].
    const counterOk = b.counter !== undefined && t.shape.reduce((x, y) => x * y, 1) === 1;
    if (!counterOk && !sameShape(t.shape, b.shape)) {
      throw new UserError(`${fileName}: buffer '${name}' has shape ${fmtShape(t.shape)}, the model needs ${fmtShape(b.shape)}`);
    }
    if (b.counter) b.counter.value = toCount(t, `${fileName}: buffer '${name}'`);
    else b.data!.set(toFloat32(t, `${fileName}: buffer '${name}'`));
  }
}

export interface CheckpointMeta {
  model: string;
  config: Record<string, unknown>;
  training?: Record<string, unknown>;
  [key: string]: unknown;
}

export function saveCheckpoint(path: string, model: Module, meta: CheckpointMeta, optimizerTensors?: Map<string, StoredTensor>): void {
  const metadata: Record<string, string> = {
    'spikevae.format': FORMAT_VERSION,
    'spikevae.model': meta.model,
    'spikevae.config': JSON.stringify(meta.config),
  };
  if (meta.training) metadata['spikevae.training'] = JSON.stringify(meta.training);
  for (const [k, v] of Object.entries(meta)) {
    if (k !== 'model' && k !== 'config' && k !== 'training') metadata[`spikevae.${k}`] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  const tensors = stateDict(model);
  const bad = firstNonFinite(tensors);
  if (bad) throw new UserError(`${path}: not written: tensor '${bad}' holds NaN or infinite values`);
  const step = Number(meta.training?.step ?? 0);
  if (optimizerTensors) {
    const badMoment = firstNonFinite(optimizerTensors);
    if (badMoment) throw new UserError(`${path}: not written: optimizer state '${badMoment}' holds NaN or infinite values`);
    writeSafetensors(optimizerPath(path, step), optimizerTensors, { 'spikevae.step': String(step) });
  }
  writeSafetensors(path, tensors, metadata);
  if (optimizerTensors) removeOtherSidecars(path, step);
}

function firstNonFinite(tensors: Map<string, StoredTensor>): string | null {
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) continue;
    const d = t.data;
    let poison = 0; // NaN exactly when an entry is NaN or infinite
    for (let i = 0; i < d.length; i++) poison += d[i] * 0;
    if (!Number.isFinite(poison)) return name;
  }
  return null;
}

/** The optimizer sidecar of a checkpoint at `step`. */
export function optimizerPath(path: string, step: number): string {
  return `${stem(path)}.optimizer-${step}.safetensors`;
}

/** The single sidecar of runs written before sidecars were named by step. */
function legacyOptimizerPath(path: string): string {
  return `${stem(path)}.optimizer.safetensors`;
}

function stem(path: string): string {
  return path.replace(/\.safetensors$/, '');
}

/** Sidecars of this checkpoint (step-named and legacy) with their steps (null: legacy, step in its metadata). */
function sidecars(path: string): Array<{ file: string; step: number | null }> {
  const dir = dirname(path);
  if (!existsSync(dir)) return [];
  const base = basename(stem(path));
  const out: Array<{ file: string; step: number | null }> = [];
  for (const f of readdirSync(dir)) {
    if (f === `${base}.optimizer.safetensors`) out.push({ file: join(dir, f), step: null });
    const m = f.startsWith(`${base}.optimizer-`) ? /^optimizer-(\d+)\.safetensors$/.exec(f.slice(base.length + 1)) : null;
    if (m) out.push({ file: join(dir, f), step: Number(m[1]) });
  }
  return out;
}

function removeOtherSidecars(path: string, step: number): void {
  for (const s of sidecars(path)) if (s.step !== step) rmSync(s.file, { force: true });
}

export interface LoadedCheckpoint {
  file: TensorFile;
  model: string;
  config: Record<string, unknown>;
  training: Record<string, unknown> | null;
}

/**
 * Reads a checkpoint file (or `pretrained:<name>`) and its spikevae metadata
 * (no model built yet): the format version, the model kind, and the model
 * configuration checked key by key (models/config.ts), so nothing a model
 * reads is unchecked.
 */
export function readCheckpoint(spec: string): LoadedCheckpoint {
  const path = resolveCheckpointPath(spec);
  if (!existsSync(path)) throw new UserError(`${path}: no such checkpoint file`);
  const file = readSafetensors(path);
  const md = file.metadata;
  const model = md['spikevae.model'];
  if (!model) {
    throw new UserError(`${path}: has no spikevae metadata (a raw state_dict?); convert it with '${cliName()} import FILE --model M --dataset D'`);
  }
  const format = md['spikevae.format'];
  if (format !== undefined && format !== FORMAT_VERSION) throw new UserError(`${path}: metadata 'spikevae.format' is '${format}'; this spikevae reads format ${FORMAT_VERSION}`);
  const parse = (key: string): Record<string, unknown> | null => {
    if (md[key] === undefined) return null;
    let v: unknown;
    try {
      v = JSON.parse(md[key]);
    } catch {
      throw new UserError(`${path}: metadata '${key}' is not valid JSON`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${path}: metadata '${key}' is not a JSON object`);
    return v as Record<string, unknown>;
  };
  const config = parse('spikevae.config');
  if (!config) throw new UserError(`${path}: has no metadata 'spikevae.config' (the model configuration)`);
  if (!isModelKind(model)) throw new UserError(`${path}: metadata 'spikevae.model' names unknown model '${model}'`);
  validateModelConfig(model, config, `${path}: metadata 'spikevae.config'`);
  return { file, model, config, training: parse('spikevae.training') };
}

/**
 * The optimizer state saved with the checkpoint's `step`. A sidecar of another
 * step (a write interrupted by an older spikevae, or files copied by hand) is
 * refused with the steps found.
 */
export function readOptimizerSidecar(path: string, step: number): TensorFile {
  const exact = optimizerPath(path, step);
  if (existsSync(exact)) return readSafetensors(exact);
  const legacy = legacyOptimizerPath(path);
  if (existsSync(legacy)) {
    const f = readSafetensors(legacy);
    if (f.metadata['spikevae.step'] === String(step)) return f;
  }
  const found = sidecars(path).map((s) => (s.step === null ? `${basename(s.file)}` : `step ${s.step}`));
  throw new UserError(
    `${path}: the optimizer state of its step ${step} is missing${found.length ? ` (found: ${found.join(', ')})` : ''}; cannot resume exactly`,
  );
}
