/**
 * Training runs under the faults a long run meets (issue 15's training half,
 * issue 20's time budget and learning curves): kills at the instant a
 * checkpoint is being written, SIGTERM, a time budget, a diverging learning
 * rate, a start that fails before any data are found, a resume that asks to
 * change the run, a second trainer on the same directory, and the
 * learning-curve records checked against `spikevae eval` of the same weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, watch, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Trainer, TrainConfig, isCurveEpoch } from '../src/train/trainer.js';
import { readMetrics, sameTensors, tinyConfig, tmp as tmpDir } from './train-helpers.js';

const tmp = () => tmpDir('rel');
import { curveEvaluator } from '../src/cli/run-setup.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { UserError } from '../src/util/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.js');

/** A tiny FSVAE (T = 4, 16 latents, k = 4) on 24 MNIST images: 3 steps an epoch. */
const TINY = ['--dataset', 'mnist', '--batch-size', '8', '--train-limit', '24', '--test-limit', '8', '--time-steps', '4', '--latent-dim', '16', '--k', '4', '--samples', '4', '--seed', '5'];

const config = (o: Partial<TrainConfig> = {}) => tinyConfig({ seed: 5, ...o });

function runCli(args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, SPIKEVAE_QUIET: '1' } });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('learning-curve epochs: 1, 2, 5, 10, 20, 30, ... and the last', () => {
  const picked = Array.from({ length: 45 }, (_, i) => i + 1).filter((e) => isCurveEpoch(e, 45));
  assert.deepEqual(picked, [1, 2, 5, 10, 20, 30, 40, 45]);
  assert.deepEqual([1, 2, 3].filter((e) => isCurveEpoch(e, 3)), [1, 2, 3]);
});

test('learning-curve records equal `spikevae eval` of the same weights', async () => {
  const dir = tmp();
  try {
    const t = Trainer.create(config({ epochs: 3, curveFadSamples: 256 }), { out: dir, quiet: true, curveEvaluator });
    await t.train();
    const curve = readMetrics(dir).filter((m) => m.kind === 'curve');
    assert.deepEqual(curve.map((c) => c.epoch), [1, 2, 3]);
    assert.deepEqual(curve.map((c) => c.step), [3, 6, 9]);
    assert.deepEqual(curve.map((c) => c.images), [24, 48, 72]);
    for (const c of curve) {
      assert.equal(c.testImages, 8);
      assert.equal(c.fadSamples, 256);
      assert.ok(Number.isFinite(c.reconMse) && Number.isFinite(c.fad), JSON.stringify(c));
    }
    // The last point was measured on the final weights: eval must give the same numbers.
    const r = runCli(['eval', '--checkpoint', join(dir, 'checkpoint.safetensors'), '--metrics', 'recon,fad', '--test-limit', '8', '--fad-samples', '256', '--seed', '5', '--json', '-']);
    assert.equal(r.status, 0, r.stderr);
    const ev = JSON.parse(r.stdout) as { recon: { mse: number }; fad: { fad: number } };
    assert.equal(curve[2].reconMse, ev.recon.mse);
    assert.equal(curve[2].fad, ev.fad.fad);
    assert.ok((curve[0].reconMse as number) !== (curve[2].reconMse as number), 'points of different weights should differ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--max-minutes stops at a step boundary with a checkpoint, and the run continues exactly', async () => {
  const a = tmp();
  const b = tmp();
  try {
    await Trainer.create(config({ epochs: 2 }), { out: a, quiet: true }).train();
    // A budget shorter than one step: it is spent after the first.
    const s1 = await Trainer.create(config({ epochs: 2 }), { out: b, quiet: true, maxMinutes: 1e-5 }).train();
    assert.equal(s1.stoppedBy, 'time-budget');
    assert.equal(s1.steps, 1);
    // Each call makes one step; the last one only does the epoch's end (test loss, samples) its predecessor left.
    let last = s1;
    for (let i = 0; i < 10 && last.stoppedBy !== 'finished'; i++) last = await Trainer.resume(b, { quiet: true, maxMinutes: 1e-5 }).train();
    assert.equal(last.stoppedBy, 'finished');
    assert.equal(last.steps, 6);
    sameTensors(join(a, 'checkpoint.safetensors'), join(b, 'checkpoint.safetensors'));
    assert.deepEqual(
      readMetrics(b).filter((m) => m.kind === 'epoch').map((m) => m.test),
      readMetrics(a).filter((m) => m.kind === 'epoch').map((m) => m.test),
    );
    // From the command line: a clear closing line with the command that continues.
    const r = runCli(['train', '--resume', b, '--epochs', '3', '--max-minutes', '0.00001']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /--max-minutes budget is spent after 7 steps .*continue with: (spikevae|npx spikevae|node \S+main\.js) train --resume /);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test('a diverging learning rate stops at the step that made the weights non-finite; every checkpoint on disk is finite', async () => {
  const dir = tmp();
  try {
    // lr 1e6 with weight decay 1e-3 multiplies every weight by -999 per step: float32 overflows in ~13 steps,
    // while NaN membranes never spike, so the loss can stay finite (the 4 million NaN checkpoint values).
    const t = Trainer.create(config({ epochs: 20, lr: 1e6, checkpointMinutes: 1e-9 }), { out: dir, quiet: true });
    let message = '';
    await assert.rejects(t.train(), (e: Error) => {
      assert.ok(e instanceof UserError, String(e));
      message = e.message;
      return true;
    });
    assert.match(message, /^step (\d+) \(epoch \d+\): .*became NaN or infinite .*the last checkpoint .* \(step (\d+)\) is finite and kept/);
    const [, failed, kept] = /^step (\d+).*\(step (\d+)\)/.exec(message)!;
    assert.equal(Number(kept), Number(failed) - 1);
    const f = readSafetensors(join(dir, 'checkpoint.safetensors'));
    assert.equal((JSON.parse(f.metadata['spikevae.training']) as { step: number }).step, Number(kept));
    for (const [name, tensor] of f.tensors) {
      if (tensor.data instanceof Float32Array) assert.ok(tensor.data.every(Number.isFinite), `${name} is not finite`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run killed at the instant a checkpoint file appears resumes to the weights of an uninterrupted run', async () => {
  const ref = tmp();
  const dir = tmp();
  try {
    const total = 9;
    assert.equal(runCli(['train', ...TINY, '--epochs', '3', '--out', ref]).status, 0);
    // Checkpoint after every step; SIGKILL the moment the n-th temporary checkpoint file shows up.
    let killedAt = 0;
    for (const nth of [1, 4, 3, 6]) {
      const args = existsSync(join(dir, 'config.json')) ? ['train', '--resume', dir] : ['train', ...TINY, '--epochs', '3', '--checkpoint-minutes', '0.000001', '--out', dir];
      const child = spawn(process.execPath, [cli, ...args], { stdio: 'ignore', env: { ...process.env, SPIKEVAE_QUIET: '1' } });
      const seen = new Set<string>();
      const watcher = watch(dir, (_event, name) => {
        if (!name || !String(name).startsWith('.tmp-') || seen.has(String(name))) return;
        seen.add(String(name));
        if (seen.size === nth && child.exitCode === null) {
          child.kill('SIGKILL');
          killedAt++;
        }
      });
      await new Promise((resolve) => child.on('close', resolve));
      watcher.close();
    }
    assert.ok(killedAt >= 3, `only ${killedAt} kills landed`);
    const r = runCli(['train', '--resume', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!readdirSync(dir).some((f) => f.startsWith('.tmp-')), 'stale temporary files are cleaned');
    const sidecars = readdirSync(dir).filter((f) => f.startsWith('checkpoint.optimizer'));
    assert.deepEqual(sidecars, [`checkpoint.optimizer-${total}.safetensors`]);
    sameTensors(join(ref, 'checkpoint.safetensors'), join(dir, 'checkpoint.safetensors'));
    sameTensors(join(ref, `checkpoint.optimizer-${total}.safetensors`), join(dir, `checkpoint.optimizer-${total}.safetensors`));
  } finally {
    rmSync(ref, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM checkpoints and exits with status 143', async () => {
  const dir = tmp();
  try {
    const child = spawn(process.execPath, [cli, 'train', ...TINY, '--train-limit', '400', '--epochs', '1', '--out', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SPIKEVAE_QUIET: '1' },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/fsvae\/mnist \d+\/50/.test(err) && !child.killed) child.kill('SIGTERM');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 143, err);
    assert.match(err, /SIGTERM received/);
    assert.match(err, /stopped by SIGTERM .*continue with: (spikevae|npx spikevae|node \S+main\.js) train --resume/);
    const state = JSON.parse(readSafetensors(join(dir, 'checkpoint.safetensors')).metadata['spikevae.training']) as { step: number };
    assert.ok(state.step >= 1 && state.step < 50);
    assert.ok(existsSync(join(dir, `checkpoint.optimizer-${state.step}.safetensors`)));
    assert.ok(!existsSync(join(dir, 'run.lock')), 'the lock is released');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a start that fails before the data are found leaves nothing behind, so the same command can be rerun', () => {
  const parent = tmp();
  try {
    const out = join(parent, 'run');
    for (let i = 0; i < 2; i++) {
      const r = runCli(['train', '--dataset', 'cifar10', '--data', join(parent, 'nowhere'), '--out', out]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^spikevae: .*cifar/i);
      assert.doesNotMatch(r.stderr, /already holds a run/);
      assert.ok(!existsSync(out), 'no run directory is created');
    }
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('--resume applies the settings a run may change and refuses the others', async () => {
  const dir = tmp();
  try {
    assert.equal(runCli(['train', ...TINY, '--epochs', '1', '--max-steps', '1', '--out', dir]).status, 0);
    const refused = runCli(['train', '--resume', dir, '--batch-size', '16', '--seed', '9']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /a resumed run keeps its settings \(batchSize is 8, not 16; seed is 5, not 9\)/);
    // The same values as the run's are not a change.
    assert.equal(runCli(['train', '--resume', dir, '--batch-size', '8', '--max-steps', '2']).status, 0);
    const lr = runCli(['train', '--resume', dir, '--lr', '0.0005', '--max-steps', '3']);
    assert.equal(lr.status, 0, lr.stderr);
    assert.match(lr.stderr, /learning rate 0\.001 -> 0\.0005 from step 3 on/);
    assert.equal((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as TrainConfig).lr, 0.0005);
    // A damaged config.json is refused by name, not trained on.
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, batchSize: -16 }));
    const bad = runCli(['train', '--resume', dir]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /config\.json: 'batchSize' must be a whole number from 1 to 65536, got -16/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run directory in use by a live process is refused; a stale lock is taken over', async () => {
  const dir = tmp();
  const sleeper = spawn('sleep', ['30']);
  try {
    assert.equal(runCli(['train', ...TINY, '--epochs', '1', '--max-steps', '1', '--out', dir]).status, 0);
    writeFileSync(join(dir, 'run.lock'), `${sleeper.pid}\n`);
    const busy = runCli(['train', '--resume', dir, '--max-steps', '2']);
    assert.equal(busy.status, 1);
    assert.match(busy.stderr, new RegExp(`in use by another training process \\(pid ${sleeper.pid}\\)`));
    sleeper.kill();
    await new Promise((resolve) => sleeper.on('close', resolve));
    assert.equal(runCli(['train', '--resume', dir, '--max-steps', '2']).status, 0);
  } finally {
    sleeper.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runs from before step-named optimizer files still resume; a mismatched one is refused with the steps found', async () => {
  const dir = tmp();
  try {
    await Trainer.create(config({ epochs: 1 }), { out: dir, quiet: true, maxSteps: 2 }).train();
    // The old layout: one checkpoint.optimizer.safetensors whose metadata names its step.
    renameSync(join(dir, 'checkpoint.optimizer-2.safetensors'), join(dir, 'checkpoint.optimizer.safetensors'));
    const s = await Trainer.resume(dir, { quiet: true, maxSteps: 3 }).train();
    assert.equal(s.steps, 3);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('checkpoint.optimizer')), ['checkpoint.optimizer-3.safetensors']);
    // A model file whose step has no optimizer state (files copied by hand).
    copyFileSync(join(dir, 'checkpoint.optimizer-3.safetensors'), join(dir, 'checkpoint.optimizer-2.safetensors'));
    rmSync(join(dir, 'checkpoint.optimizer-3.safetensors'));
    assert.throws(
      () => Trainer.resume(dir, { quiet: true }),
      (e: Error) => e instanceof UserError && /the optimizer state of its step 3 is missing \(found: step 2\)/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--init-from continues another run\'s weights at its epoch and step with fresh optimizer moments; such a run resumes exactly', async () => {
  const source = tmp();
  const whole = tmp();
  const split = tmp();
  try {
    // The source stops at the end of its second epoch (3 steps an epoch).
    await Trainer.create(config({ epochs: 4 }), { out: source, quiet: true, maxSteps: 6 }).train();
    const from = join(source, 'checkpoint.safetensors');
    const started = Trainer.create(config({ epochs: 4, initFrom: from }), { out: whole, quiet: true });
    assert.deepEqual([started.state.epoch, started.state.step, started.optimizer.stepCount], [2, 6, 0]);
    const want = readSafetensors(from).tensors;
    for (const [name, p] of started.model.namedParameters()) assert.deepEqual(p.data, want.get(name)!.data, name);
    const s = await started.train();
    assert.equal(s.steps, 12);
    assert.deepEqual(readMetrics(whole).filter((m) => m.kind === 'epoch').map((m) => m.epoch), [2, 3]);
    const state = JSON.parse(readSafetensors(join(whole, 'checkpoint.safetensors')).metadata['spikevae.training']) as { optimizerStep: number };
    assert.equal(state.optimizerStep, 6, 'AdamW counts its own 6 updates, not the source run\'s');
    // Stopped mid-way and resumed, it ends where the uninterrupted one did.
    await Trainer.create(config({ epochs: 4, initFrom: from }), { out: split, quiet: true, maxSteps: 8 }).train();
    await Trainer.resume(split, { quiet: true }).train();
    sameTensors(join(whole, 'checkpoint.safetensors'), join(split, 'checkpoint.safetensors'));
    sameTensors(join(whole, 'checkpoint.optimizer-12.safetensors'), join(split, 'checkpoint.optimizer-12.safetensors'));
    // Weights of another configuration are refused by name.
    assert.throws(
      () => Trainer.create(config({ epochs: 4, latentDim: 8, initFrom: from }), { out: join(source, 'other'), quiet: true }),
      (e: Error) => e instanceof UserError && e.message.startsWith(`${from}: its model configuration`),
    );
  } finally {
    for (const d of [source, whole, split]) rmSync(d, { recursive: true, force: true });
  }
});

test('--overwrite starts over in a folder that holds a run, removing only the run\'s own files', () => {
  const out = tmp();
  try {
    // Someone's own files beside the run, including a samples/ folder of theirs.
    mkdirSync(join(out, 'samples'));
    writeFileSync(join(out, 'samples', 'mine.png'), 'not the trainer\'s');
    writeFileSync(join(out, 'notes.txt'), 'keep me');
    let r = runCli(['train', ...TINY, '--max-steps', '3', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(out, 'samples', 'epoch-000.png')));
    r = runCli(['train', ...TINY, '--max-steps', '3', '--out', out]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /already holds a run; use --resume .* --overwrite to start over/);
    r = runCli(['train', ...TINY, '--max-steps', '2', '--log-every', '1', '--out', out, '--overwrite']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(out, 'samples', 'mine.png'), 'utf8'), 'not the trainer\'s');
    assert.equal(readFileSync(join(out, 'notes.txt'), 'utf8'), 'keep me');
    assert.ok(!existsSync(join(out, 'samples', 'epoch-000.png')), 'the old run\'s grid is gone (2 steps end no epoch)');
    const steps = readMetrics(out).filter((m) => m.kind === 'step').map((m) => m.step);
    assert.deepEqual(steps, [1, 2], 'the metrics start over');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
