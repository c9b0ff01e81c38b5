/**
 * Where the JavaScript of a training step goes: a sampling CPU profile
 * (100 µs) of --steps steady-state training steps (after two warm-ups, as
 * `spikevae train` runs them: trainingStep, then betweenTrainingSteps),
 * reduced to self time per function and step. Native kernel calls are left
 * out (their time is bench/profile.ts's); V8's collections are kept, as
 * "(garbage collector)". --micro adds pieces timed on their own (medians): a
 * mean over k as FSVAE's loss computes it, with backward, and a step's index
 * draws; then the classifier's dropout masks (drawn, and applied over 8 steps
 * with backward), leakyRelu on 4 M values on each back-end and ESVAE's MMD
 * at batch 256 with backward.
 * Usage: node --expose-gc dist/bench/js-profile.js [--batch 64] [--model fsvae] [--steps 6] [--top 20] [--micro] [--decoding taid]
 * Prints JSON lines.
 */
import { Session } from 'node:inspector';
import { parseArgs } from 'node:util';
import * as ops from '../src/engine/ops.js';
import { backend, getNativeBackend, setBackend, typescriptBackend } from '../src/engine/backend/index.js';
import { maskEveryStep } from '../src/models/classifier.js';
import { mmdRbf } from '../src/snn/sampling.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { betweenTrainingSteps, trainingStep } from '../src/train/step.js';
import { warmTrainingStep } from './warm-step.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' },
    model: { type: 'string', default: 'fsvae' },
    steps: { type: 'string', default: '6' },
    top: { type: 'string', default: '20' },
    micro: { type: 'boolean', default: false },
    decoding: { type: 'string' },
  },
});
const batch = Number(values.batch);
const steps = Number(values.steps);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const session = new Session();
session.connect();
const post = <T>(method: string, params?: object) =>
  new Promise<T>((resolve, reject) => session.post(method, params ?? {}, (e, r) => (e ? reject(e) : resolve(r as T))));

const { model, opt, x, rng, labels } = await warmTrainingStep(values.model!, batch, values.decoding);
await post('Profiler.enable');
await post('Profiler.setSamplingInterval', { interval: 100 });
await post('Profiler.start');
const t0 = performance.now();
for (let i = 0; i < steps; i++) {
  trainingStep(model, opt, x, rng, undefined, labels);
  await betweenTrainingSteps();
}
const stepMs = (performance.now() - t0) / steps;
const { profile } = await post<{ profile: CpuProfile }>('Profiler.stop');

// Self time per function. JavaScript frames carry the script's URL; the
// addon's functions and V8 builtins have none, and the garbage collector is
// a frame of its own.
const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
const self = new Map<string, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const f = byId.get(profile.samples[i])!;
  const isGc = f.functionName === '(garbage collector)';
  if (!isGc && !f.url.startsWith('file:')) continue;
  const key = isGc ? f.functionName : `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/dist\//, '')}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + profile.timeDeltas[i] / 1000);
}
const jsMs = [...self.values()].reduce((s, v) => s + v, 0) / steps;
console.log(JSON.stringify({ bench: 'js-profile', model: values.model, batch, steps, stepMs, javascriptMsPerStep: jsMs }));
for (const [fn, ms] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
  console.log(JSON.stringify({ bench: 'js-profile-function', function: fn, msPerStep: ms / steps }));
}

if (values.micro) {
  const median = (f: () => void) => {
    const t: number[] = [];
    for (let i = 0; i < 60; i++) {
      const s = performance.now();
      f();
      t.push(performance.now() - s);
    }
    return t.slice(10).sort((a, b) => a - b)[25];
  };
  const q = new Tensor(new Random(1).fillNormal(new Float32Array(16 * batch * 128 * 20)), [16, batch, 128, 20], true);
  const meanMs = median(() => {
    q.grad = null;
    ops.mean(ops.square(ops.mean(q, [3]))).backward();
  });
  const draws = new Int32Array(batch * 128);
  const r = new Random(2);
  const drawMs = median(() => {
    for (let t = 0; t < 16; t++) r.fillInt(draws, 20);
  });
  console.log(JSON.stringify({ bench: 'js-profile-micro', meanOverKWithBackwardMs: meanMs, indexDrawsPerStepMs: drawMs, shape: [16, batch, 128, 20] }));

  // The pieces the ninth session's changes were measured on (docs/performance.md,
  // "Fourth round" and "The other models"), each forward and backward where it has one.
  const pieces: Record<string, number> = {};
  const u = new Float32Array(133_120); // the MNIST classifier's two dropout masks at batch 16
  pieces.fillUniform133kMs = median(() => r.fillUniform(u));
  const act = new Tensor(new Random(3).fillNormal(new Float32Array(4 << 20)), [4 << 20], true); // signs at random, as after a batch norm
  const actGrad = new Float32Array(4 << 20).fill(1);
  for (const [name, be] of [['native', getNativeBackend()], ['typescript', typescriptBackend]] as const) {
    if (!be) continue;
    const prev = backend();
    setBackend(be);
    pieces[`leakyRelu4M_${name}_forwardMs`] = median(() => ops.leakyRelu(act, 0.01));
    pieces[`leakyRelu4M_${name}_withBackwardMs`] = median(() => {
      act.grad = null;
      ops.leakyRelu(act, 0.01).backward(actGrad);
    });
    setBackend(prev);
  }
  const spikes = new Tensor(new Random(4).fillUniform(new Float32Array(8 * 16 * 6272)).map((v) => (v < 0.05 ? 1 : 0)), [8, 16 * 6272], true);
  const mask = new Random(5).fillUniform(new Float32Array(16 * 6272)).map((v) => (v < 0.5 ? 0 : 2));
  pieces.dropoutMask800kWithBackwardMs = median(() => {
    spikes.grad = null;
    maskEveryStep(spikes, mask).backward(new Float32Array(spikes.size).fill(1));
  });
  const rq = new Tensor(new Random(6).fillUniform(new Float32Array(256 * 32)).map((v) => Math.floor(v * 17) / 16), [256, 32], true);
  const rp = new Tensor(new Random(7).fillUniform(new Float32Array(256 * 32)), [256, 32], true);
  pieces.mmd256x32WithBackwardMs = median(() => {
    rq.grad = rp.grad = null;
    mmdRbf(rq, rp).backward();
  });
  console.log(JSON.stringify({ bench: 'js-profile-micro-pieces', ...pieces }));
}
