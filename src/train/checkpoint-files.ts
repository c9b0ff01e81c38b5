/**
 * A training run's checkpoint on disk: the model file (a clean state_dict,
 * models/checkpoint.ts) and its optimizer moments in a sidecar
 * `<name>.optimizer-<step>.safetensors`. The pair is consistent after a kill
 * at any instant: the sidecar of the new step is written (atomically) before
 * the model file is replaced, so the model file on disk always names a step
 * whose sidecar exists; older sidecars are removed only afterwards. Runs from
 * before step-named sidecars have one `<name>.optimizer.safetensors` whose
 * metadata names its step; it is still read.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Module } from '../engine/module.js';
import type { StoredTensor, TensorFile } from '../io/safetensors.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { assertFinite, saveCheckpoint, type CheckpointMeta } from '../models/checkpoint.js';
import { UserError } from '../util/errors.js';

/** Writes the optimizer sidecar of meta.training.step, then the model file, then drops other steps' sidecars. */
export function saveTrainingCheckpoint(path: string, model: Module, meta: CheckpointMeta, optimizerTensors: Map<string, StoredTensor>): void {
  const step = Number(meta.training?.step ?? 0);
  assertFinite(optimizerTensors, path, 'optimizer state');
  writeSafetensors(optimizerPath(path, step), optimizerTensors, { 'spikevae.step': String(step) });
  saveCheckpoint(path, model, meta);
  for (const s of sidecars(path)) if (s.step !== step) rmSync(s.file, { force: true });
}

/** The optimizer sidecar of a checkpoint at `step`. */
export function optimizerPath(path: string, step: number): string {
  return `${stem(path)}.optimizer-${step}.safetensors`;
}

function stem(path: string): string {
  return path.replace(/\.safetensors$/, '');
}

/** Sidecars of this checkpoint (step-named, and the legacy one with step null: its step is in its metadata). */
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

/**
 * The optimizer state saved with the checkpoint's `step`. A sidecar of another
 * step (a write interrupted by an older spikevae, or files copied by hand) is
 * refused with the steps found.
 */
export function readOptimizerSidecar(path: string, step: number): TensorFile {
  const exact = optimizerPath(path, step);
  if (existsSync(exact)) return readSafetensors(exact);
  const legacy = `${stem(path)}.optimizer.safetensors`;
  if (existsSync(legacy)) {
    const f = readSafetensors(legacy);
    if (f.metadata['spikevae.step'] === String(step)) return f;
  }
  const found = sidecars(path).map((s) => (s.step === null ? basename(s.file) : `step ${s.step}`));
  throw new UserError(`${path}: the optimizer state of its step ${step} is missing${found.length ? ` (found: ${found.join(', ')})` : ''}; cannot resume exactly`);
}
