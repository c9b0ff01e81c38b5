/**
 * Our FSVAE against an independent, naive re-implementation of the official
 * PyTorch code (test/oracle/fsvae-reference.ts, time-last layout, no engine),
 * given the same state_dict and the same random choices.
 *
 * Weights, biases and inputs are dyadic (multiples of 1/64 and 1/128, small),
 * so every convolution and linear sum is exact in float32 whatever the
 * summation order: spikes must then agree exactly, and only the final
 * membrane sum and tanh may differ by float32 rounding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FSVAE, defaultFsvaeConfig } from '../src/models/fsvae.js';
import { Random } from '../src/engine/random.js';
import { Tensor, noGrad } from '../src/engine/tensor.js';
import { openDataset } from '../src/data/index.js';
import { fsvaeEvalForward, Weights } from './oracle/fsvae-reference.js';

const N = 2;
const T = 4;
const C = 8;
const K = 4;

async function setup(): Promise<{ model: FSVAE; images: Float32Array; weights: Weights }> {
  const rng = new Random(77);
  const model = new FSVAE(defaultFsvaeConfig('mnist', { latentDim: C, k: K, timeSteps: T }), rng);
  for (const [name, p] of model.namedParameters()) {
    const isBn = name.includes('.bn.');
    for (let i = 0; i < p.size; i++) {
      if (isBn && name.endsWith('weight')) p.data[i] = (48 + rng.int(33)) / 64; // 0.75 .. 1.25
      else if (isBn) p.data[i] = (rng.int(25) - 4) / 64; // -0.0625 .. 0.3125
      else p.data[i] = (rng.int(17) - 8) / 64; // -1/8 .. 1/8
    }
  }
  const ds = await openDataset('mnist', 'test', { limit: N });
  const images = new Float32Array(N * 1024);
  await ds.readBatch([0, 1], null, images);
  for (let i = 0; i < images.length; i++) images[i] = Math.round(images[i] * 128) / 128;
  // Calibrate the running statistics on these images (momentum 1: the last
  // batch statistics become the running ones), so evaluation-mode BN keeps
  // every layer firing at a useful rate.
  for (const m of model.namedModules().values()) if ('momentum' in m) (m as unknown as { momentum: number }).momentum = 1;
  model.train();
  noGrad(() => model.lossOnBatch(new Tensor(images, [N, 1, 32, 32]), new Random(1)));
  model.eval();
  const weights: Weights = new Map();
  for (const [name, p] of model.namedParameters()) weights.set(name, { shape: p.shape, data: p.data });
  for (const [name, b] of model.namedBuffers()) if (b.data) weights.set(name, { shape: b.shape, data: b.data });
  return { model, images, weights };
}

function mean(a: Float32Array): number {
  return a.reduce((s, v) => s + v, 0) / a.length;
}

test('FSVAE evaluation outputs equal an independent implementation of the official code', async () => {
  const { model, images, weights } = await setup();
  const ref = fsvaeEvalForward(weights, { inChannels: 1, latent: C, k: K, T, hidden: [32, 64, 128, 256] }, images, N, 32, new Random(5));
  const x = new Tensor(images, [N, 1, 32, 32]);
  const rng = new Random(5);
  const ours = noGrad(() => {
    const xE = model.encodeSpikes(x);
    const post = model.posteriorForward(xE, rng);
    const pZ = model.priorForward(post.sampledZ, rng);
    const image = model.decode(post.sampledZ);
    return { xE, ...post, pZ, image };
  });
  // (a) encoder spikes: ours [T, N, C] vs reference [N, C, T]
  let diff = 0;
  for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) if (ours.xE.data[(t * N + n) * C + c] !== ref.xE[(n * C + c) * T + t]) diff++;
  assert.equal(diff, 0, 'encoder spikes differ');
  assert.ok(mean(ref.xE) > 0.05 && mean(ref.xE) < 0.95, `encoder firing rate ${mean(ref.xE)} should be non-trivial`);
  // (b) posterior q_z [T, N, C, k] vs [N, C·k, T], and the sampled z
  diff = 0;
  for (let t = 0; t < T; t++)
    for (let r = 0; r < N * C; r++)
      for (let j = 0; j < K; j++) if (ours.qZ.data[(t * N * C + r) * K + j] !== ref.qZ[(r * K + j) * T + t]) diff++;
  assert.equal(diff, 0, 'posterior q_z differs');
  diff = 0;
  for (let t = 0; t < T; t++) for (let r = 0; r < N * C; r++) if (ours.sampledZ.data[t * N * C + r] !== ref.z[r * T + t]) diff++;
  assert.equal(diff, 0, 'sampled z differs');
  assert.ok(mean(ref.qZ) > 0.05 && mean(ref.qZ) < 0.95, `posterior firing rate ${mean(ref.qZ)}`);
  // (c) prior probabilities under teacher forcing
  diff = 0;
  for (let t = 0; t < T; t++)
    for (let r = 0; r < N * C; r++)
      for (let j = 0; j < K; j++) if (ours.pZ.data[(t * N * C + r) * K + j] !== ref.pZ[(r * K + j) * T + t]) diff++;
  assert.equal(diff, 0, 'prior p_z differs');
  // (d) decoded image, to float32 precision
  let maxErr = 0;
  for (let i = 0; i < ref.image.length; i++) maxErr = Math.max(maxErr, Math.abs(ours.image.data[i] - ref.image[i]));
  assert.ok(maxErr < 1e-5, `decoded image differs by ${maxErr}`);
  assert.ok(new Set(Array.from(ref.image).map((v) => Math.round(v * 100))).size > 10, 'decoded image should not be constant');
});

test('training-mode posterior updates each tdBN 16 times per call (15 prefix passes + 1 full pass)', async () => {
  const { images } = await setup();
  const cfgT16 = new FSVAE(defaultFsvaeConfig('mnist', { latentDim: C, k: K }), new Random(1));
  cfgT16.train();
  const xE = noGrad(() => cfgT16.encodeSpikes(new Tensor(images, [N, 1, 32, 32])));
  const before = cfgT16.namedBuffers().get('posterior.layers.0.bn.num_batches_tracked')!.counter!.value;
  cfgT16.posteriorForward(xE, new Random(3));
  const after = cfgT16.namedBuffers().get('posterior.layers.0.bn.num_batches_tracked')!.counter!.value;
  assert.equal(after - before, 16);
});

test('state_dict names, shapes and parameter counts are the official ones', () => {
  const m = new FSVAE(defaultFsvaeConfig('mnist'), new Random(0));
  assert.equal(m.parameterCount(), 4053601);
  assert.equal(new FSVAE(defaultFsvaeConfig('celeba'), new Random(0)).parameterCount(), 6681571);
  assert.equal(new FSVAE(defaultFsvaeConfig('cifar10'), new Random(0)).parameterCount(), 4054755);
  const shapes = new Map<string, number[]>();
  for (const [k, p] of m.namedParameters()) shapes.set(k, p.shape);
  for (const [k, b] of m.namedBuffers()) shapes.set(k, b.shape);
  const expect: Array<[string, number[]]> = [
    ['encoder.0.weight', [32, 1, 3, 3, 1]],
    ['encoder.0.bn.running_mean', [32]],
    ['encoder.0.bn.num_batches_tracked', []],
    ['encoder.3.weight', [256, 128, 3, 3, 1]],
    ['before_latent_layer.weight', [128, 1024]],
    ['before_latent_layer.bn.weight', [128]],
    ['prior.layers.0.weight', [256, 128]],
    ['prior.layers.2.weight', [2560, 512]],
    ['prior.initial_input', [1, 128, 1]],
    ['posterior.layers.0.weight', [256, 256]],
    ['posterior.initial_input', [1, 128, 1]],
    ['decoder_input.weight', [1024, 128]],
    ['decoder.0.weight', [256, 128, 3, 3, 1]],
    ['decoder.2.weight', [64, 32, 3, 3, 1]],
    ['final_layer.0.weight', [32, 32, 3, 3, 1]],
    ['final_layer.0.bn.running_var', [32]],
    ['final_layer.1.weight', [32, 1, 3, 3, 1]],
    ['final_layer.1.bias', [1]],
    ['membrane_output_layer.coef', [1, 1, 1, 1, 16]],
  ];
  for (const [k, s] of expect) assert.deepEqual(shapes.get(k), s, k);
  // 4 encoder + before_latent + 3 prior + 3 posterior + decoder_input + 3 decoder + final.0: 16 layers with
  // tdBN, 7 entries each; plus final_layer.1 weight and bias, two initial_input buffers and the coef buffer.
  assert.equal([...shapes.keys()].filter((k) => k.endsWith('num_batches_tracked')).length, 16);
  assert.equal(shapes.size, 16 * 7 + 2 + 2 + 1);
});
