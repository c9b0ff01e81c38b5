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
 *   spikevae.int8     JSON list of tensors stored as int8 (shipped models only; see quantizeInt8)
 * A checkpoint with NaN or infinite values is never written. Training adds
 * the optimizer state in a sidecar file (src/train/checkpoint-files.ts).
 *
 * This module runs in the web page too: files are reached through
 * util/files.ts, which the page's bundle replaces.
 */
import type { Module } from '../engine/module.js';
import type { StoredTensor, TensorFile } from '../io/safetensors.js';
import { parseSafetensors, writeSafetensors, toCount, toFloat32 } from '../io/safetensors.js';
import { UserError, fmtShape } from '../util/errors.js';
import { fileExists, readFileOrFail } from '../util/files.js';
import { cliName } from '../util/package.js';
import { resolveCheckpointPath } from './pretrained.js';
import { isModelKind, validateModelConfig } from './config.js';

export const FORMAT_VERSION = '1';

/** Metadata key listing the tensors stored as int8 rows with float32 scales. */
export const INT8_METADATA_KEY = 'spikevae.int8';
/** Suffix of the tensor holding an int8 tensor's per-row scales. */
export const INT8_SCALE_SUFFIX = '.int8_scale';

/**
 * Stores the named float32 tensors as int8 with one float32 scale per row
 * (the first dimension), symmetric: q = round(w / s), s = max|w_row| / 127,
 * so each weight moves by at most s / 2. This exists for one purpose: a
 * shipped model whose float32 weights would not fit pretrained/'s size
 * budget (the ALIF classifier's 2048 × 6272 layer is 51 MB). It is lossy, so
 * the model card's metrics must be measured on the stored file; reading
 * (parseCheckpoint) turns the tensors back into float32, so every consumer
 * sees an ordinary state_dict. Returns new maps; the inputs are untouched.
 */
export function quantizeInt8(tensors: Map<string, StoredTensor>, metadata: Record<string, string>, names: readonly string[]): TensorFile {
  const out = new Map(tensors);
  for (const name of names) {
    const t = tensors.get(name);
    if (!t) throw new UserError(`quantizeInt8: no tensor '${name}'`);
    if (t.dtype !== 'F32' || t.shape.length < 2) throw new UserError(`quantizeInt8: tensor '${name}' is ${t.dtype} ${fmtShape(t.shape)}; only float32 tensors of two or more dimensions are quantized`);
    const rows = t.shape[0];
    const cols = t.data.length / rows;
    const w = t.data as Float32Array;
    const q = new Int8Array(w.length);
    const scales = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      let max = 0;
      for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(w[r * cols + c]));
      const s = Math.fround(max / 127);
      scales[r] = s;
      if (s === 0) continue;
      for (let c = 0; c < cols; c++) q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(w[r * cols + c] / s)));
    }
    out.set(name, { dtype: 'I8', shape: [...t.shape], data: q });
    out.set(name + INT8_SCALE_SUFFIX, { dtype: 'F32', shape: [rows], data: scales });
  }
  const md: Record<string, string> = { ...metadata };
  if (names.length > 0) md[INT8_METADATA_KEY] = JSON.stringify([...names]);
  return { tensors: out, metadata: md };
}

/**
 * Undoes quantizeInt8 in place: each listed int8 tensor becomes float32
 * (q · scale of its row) and its scale tensor goes. Anything inconsistent is
 * one line naming the file and the tensor.
 */
export function dequantizeInt8(file: TensorFile, path: string): void {
  const listed = file.metadata[INT8_METADATA_KEY];
  if (listed === undefined) return;
  let names: unknown;
  try {
    names = JSON.parse(listed);
  } catch {
    names = null;
  }
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
    throw new UserError(`${path}: metadata '${INT8_METADATA_KEY}' is not a JSON list of tensor names`);
  }
  for (const name of names as string[]) {
    const q = file.tensors.get(name);
    const s = file.tensors.get(name + INT8_SCALE_SUFFIX);
    if (!q || q.dtype !== 'I8' || q.shape.length < 2) throw new UserError(`${path}: tensor '${name}' is listed as int8 but is ${q ? `${q.dtype} ${fmtShape(q.shape)}` : 'missing'}`);
    const rows = q.shape[0];
    if (!s || s.dtype !== 'F32' || s.data.length !== rows) {
      throw new UserError(`${path}: tensor '${name}${INT8_SCALE_SUFFIX}' must hold ${rows} float32 row scales, but is ${s ? `${s.dtype} ${fmtShape(s.shape)}` : 'missing'}`);
    }
    const scales = s.data as Float32Array;
    if (!scales.every((v) => Number.isFinite(v) && v >= 0)) throw new UserError(`${path}: tensor '${name}${INT8_SCALE_SUFFIX}' holds negative, NaN or infinite scales`);
    const cols = q.data.length / rows;
    const src = q.data as Int8Array;
    const w = new Float32Array(src.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) w[r * cols + c] = src[r * cols + c] * scales[r];
    file.tensors.set(name, { dtype: 'F32', shape: q.shape, data: w });
    file.tensors.delete(name + INT8_SCALE_SUFFIX);
  }
  delete file.metadata[INT8_METADATA_KEY];
}

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

/** The safetensors metadata of a checkpoint (strings; JSON for objects). */
export function checkpointMetadata(meta: CheckpointMeta): Record<string, string> {
  const metadata: Record<string, string> = {
    'spikevae.format': FORMAT_VERSION,
    'spikevae.model': meta.model,
    'spikevae.config': JSON.stringify(meta.config),
  };
  if (meta.training) metadata['spikevae.training'] = JSON.stringify(meta.training);
  for (const [k, v] of Object.entries(meta)) {
    if (k !== 'model' && k !== 'config' && k !== 'training') metadata[`spikevae.${k}`] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return metadata;
}

/** Writes the model's state_dict and metadata atomically; refuses (writing nothing) if a value is NaN or infinite. */
export function saveCheckpoint(path: string, model: Module, meta: CheckpointMeta): void {
  const tensors = stateDict(model);
  assertFinite(tensors, path, 'tensor');
  writeSafetensors(path, tensors, checkpointMetadata(meta));
}

/** Refuses tensors holding NaN or infinite values: `${file}: not written: ${what} 'name' ...`. */
export function assertFinite(tensors: Map<string, StoredTensor>, file: string, what: string): void {
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) continue;
    const d = t.data;
    let poison = 0; // NaN exactly when an entry is NaN or infinite
    for (let i = 0; i < d.length; i++) poison += d[i] * 0;
    if (!Number.isFinite(poison)) throw new UserError(`${file}: not written: ${what} '${name}' holds NaN or infinite values`);
  }
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
  if (!fileExists(path)) throw new UserError(`${path}: no such checkpoint file`);
  return parseCheckpoint(readFileOrFail(path), path);
}

/** A checkpoint file's bytes (a web page's upload, say) and its spikevae metadata; `path` names it in errors. */
export function parseCheckpoint(bytes: Uint8Array, path: string): LoadedCheckpoint {
  const file = parseSafetensors(bytes, path);
  dequantizeInt8(file, path);
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
