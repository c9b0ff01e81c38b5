/** What the training tests share (not a test file itself): a tiny FSVAE run, temp folders, metrics and checkpoint comparison. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainConfig } from '../src/train/trainer.js';
import { readSafetensors } from '../src/io/safetensors.js';

/** A tiny FSVAE (T = 4, 16 latents, k = 4) on 24 MNIST images: 3 steps of 8 an epoch. */
export function tinyConfig(overrides: Partial<TrainConfig> = {}): TrainConfig {
  return {
    model: 'fsvae',
    dataset: 'mnist',
    epochs: 3,
    batchSize: 8,
    lr: 1e-3,
    weightDecay: 1e-3,
    seed: 11,
    timeSteps: 4,
    latentDim: 16,
    k: 4,
    trainLimit: 24,
    testLimit: 8,
    sampleCount: 4,
    logEvery: 1,
    checkpointMinutes: 60,
    ...overrides,
  };
}

export function tmp(prefix = 'train'): string {
  return mkdtempSync(join(tmpdir(), `spikevae-${prefix}-`));
}

export function readMetrics(dir: string): Array<Record<string, unknown>> {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Two safetensors files hold the same tensors, bit for bit. */
export function sameTensors(a: string, b: string): void {
  const fa = readSafetensors(a);
  const fb = readSafetensors(b);
  assert.deepEqual([...fa.tensors.keys()].sort(), [...fb.tensors.keys()].sort());
  for (const [name, t] of fa.tensors) {
    const u = fb.tensors.get(name)!;
    assert.deepEqual(u.shape, t.shape, name);
    const bytes = (x: typeof t) => Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength);
    assert.ok(bytes(t).equals(bytes(u)), `tensor ${name} differs`);
  }
}
