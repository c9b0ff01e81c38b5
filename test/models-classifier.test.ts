/**
 * The spiking classifiers (models/classifier.ts): the official state_dict
 * names and shapes, the forward pass's shapes and statistics, the loss by
 * hand, and a few training steps that fit one batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlifClassifier, defaultClassifierConfig, firingRate, maskEveryStep, predictions } from '../src/models/classifier.js';
import * as ops from '../src/engine/ops.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { AdamW } from '../src/engine/optim.js';
import { openDataset } from '../src/data/index.js';
import { trainingStep } from '../src/train/step.js';
import { learnedNeurons } from '../src/snn/plif.js';

const neuronParams = (prefix: string) => [`${prefix}.w []`, `${prefix}.v_threshold []`];

test('state_dict names and shapes are those of the official MNISTNet and Cifar10Net (models.py)', () => {
  const names = (dataset: string, neuron: 'alif' | 'plif' | 'lif' = 'alif') => {
    const m = new AlifClassifier(defaultClassifierConfig(dataset, { neuron }), new Random(0));
    return [...m.namedParameters()].map(([k, v]) => `${k} ${JSON.stringify(v.shape)}`.replace(/,/g, ', ').replace(/\[\]/, '[]'));
  };
  const bn = (p: string) => [`${p}.weight [128]`, `${p}.bias [128]`];
  assert.deepEqual(names('mnist'), [
    'static_conv.0.weight [128, 1, 3, 3]',
    ...bn('static_conv.1'),
    ...neuronParams('conv.0'),
    'conv.2.weight [128, 128, 3, 3]',
    ...bn('conv.3'),
    ...neuronParams('conv.4'),
    'fc.2.weight [2048, 6272]',
    ...neuronParams('fc.3'),
    'fc.5.weight [100, 2048]',
    ...neuronParams('fc.6'),
  ]);
  assert.deepEqual(names('mnist', 'plif').filter((n) => n.includes('.w ') || n.includes('v_threshold')), ['conv.0.w []', 'conv.4.w []', 'fc.3.w []', 'fc.6.w []']);
  assert.deepEqual(names('mnist', 'lif').filter((n) => n.includes('.w ') || n.includes('v_threshold')), []);
  const cifar = names('cifar10');
  const convs = cifar.filter((n) => /^conv\.\d+\.weight \[256, 256/.test(n)).map((n) => n.split('.')[1]);
  assert.deepEqual(convs, ['1', '4', '8', '11', '14']);
  const neurons = cifar.filter((n) => n.includes('v_threshold')).map((n) => n.split('.v_')[0]);
  assert.deepEqual(neurons, ['conv.0', 'conv.3', 'conv.6', 'conv.10', 'conv.13', 'conv.16', 'fc.3', 'fc.5']);
  assert.ok(cifar.includes('static_conv.0.weight [256, 3, 3, 3]') && cifar.includes('fc.2.weight [2048, 16384]') && cifar.includes('fc.4.weight [100, 2048]'));
});

test('forward: counts per class in [0, T]; one step reaches every parameter; the spiking BatchNorm2d updates once per step, the static one once', async () => {
  const m = new AlifClassifier(defaultClassifierConfig('mnist'), new Random(0));
  const data = await openDataset('mnist', 'test', { preprocessing: 'classifier', limit: 4 });
  const x = new Float32Array(4 * 784);
  const labels = new Int32Array(4);
  await data.readBatch([0, 1, 2, 3], null, x, labels);
  const images = new Tensor(x, [4, 1, 28, 28]);
  const r = m.lossOnBatch(images, new Random(1), labels);
  r.loss.backward();
  for (const [name, p] of m.namedParameters()) assert.ok(p.grad && p.grad.some((v) => v !== 0), `${name} has no gradient`);
  assert.deepEqual(Object.keys(r.rates), ['conv.0', 'conv.4', 'fc.3', 'fc.6']);
  assert.equal(m.staticBn.numBatchesTracked.counter!.value, 1);
  const stage = m.stages.find((s) => s.kind === 'conv')!;
  assert.equal(stage.kind === 'conv' && stage.bn.numBatchesTracked.counter!.value, 8);
  m.eval();
  const counts = m.forward(images, new Random(2));
  assert.deepEqual(counts.shape, [4, 10]);
  for (const v of counts.data) assert.ok(v >= 0 && v <= 8 && Math.abs(v * 10 - Math.round(v * 10)) < 1e-5, `count ${v}`);
  // Evaluation has no dropout: the generator is not used and the result repeats.
  assert.deepEqual(m.forward(images, new Random(99)).data, counts.data);
});

test('neurons that pool their own spikes: the forward and every gradient of the separate batch norm, neuron and max pooling', async () => {
  const m = new AlifClassifier(defaultClassifierConfig('mnist'), new Random(0));
  const data = await openDataset('mnist', 'test', { preprocessing: 'classifier', limit: 3 });
  const x = new Float32Array(3 * 784);
  const labels = new Int32Array(3);
  await data.readBatch([0, 1, 2], null, x, labels);
  const images = new Tensor(x, [3, 1, 28, 28]);
  const [T, N] = [m.cfg.timeSteps, 3];
  const params = [...m.namedParameters()];
  const takeGrads = () => params.map(([name, p]) => {
    const g = p.grad!.slice();
    p.grad = null;
    return [name, g] as const;
  });
  const fused = m.lossOnBatch(images, new Random(1), labels);
  fused.loss.backward();
  const got = takeGrads();
  // The same network from separate ops (the dropout masks drawn in the model's order).
  const rng = new Random(1);
  const mask = (size: number) => Float32Array.from({ length: size }, () => (rng.uniform() < 0.5 ? 0 : 2));
  const pool = (t: Tensor) => {
    const [, , C, H, W] = t.shape;
    const p = ops.maxPool2d(ops.reshape(t, [T * N, C, H, W]), 2);
    return ops.reshape(p, [T, N, ...p.shape.slice(1)]);
  };
  const y0 = m.staticConv.forward(images);
  let h = pool(m.staticBn.forwardNeuron(ops.reshape(y0, [1, ...y0.shape]), 2, m.firstNeuron.fused(), { repeat: T }));
  const st = m.stages.find((s) => s.kind === 'conv')!;
  assert.ok(st.kind === 'conv');
  const y = st.conv.forward(ops.reshape(h, [T * N, ...h.shape.slice(2)]));
  h = pool(st.bn.forwardNeuron(ops.reshape(y, [T, N, ...y.shape.slice(1)]), 2, st.neuron.fused(), { perStep: true }));
  const v = ops.reshape(h, [T, N, -1]);
  const s1 = m.fc1Neuron.forward(m.fc1.forward(maskEveryStep(v, mask(v.size / T))));
  const s2 = m.fc2Neuron.forward(m.fc2.forward(maskEveryStep(s1, mask(s1.size / T))));
  const counts = ops.sum(ops.mean(ops.reshape(s2, [T, N, 10, 10]), [3]), [0]);
  const separate = m.loss(counts, labels).loss;
  assert.equal(fused.loss.item(), separate.item());
  separate.backward();
  const want = takeGrads();
  for (let i = 0; i < got.length; i++) {
    const [name, g] = got[i];
    assert.ok(want[i][1].some((v) => v !== 0), `${name}: no gradient`);
    // dL/dw and dL/dV_th of the pooling neurons are float64 sums over other blocks (summed in another order).
    if (/^conv\.[04]\.(w|v_threshold)$/.test(name)) assert.ok(Math.abs(g[0] - want[i][1][0]) <= 1e-6 * Math.abs(want[i][1][0]), `${name}: ${g[0]} vs ${want[i][1][0]}`);
    else assert.deepEqual(g, want[i][1], name);
  }
});

test('dropout over time: one mask multiplies every step, its gradient is the output gradient times the mask (written, or added to one already there)', () => {
  const x = new Tensor(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 1, 3], true);
  const mask = Float32Array.of(0, 2, 2);
  const y = maskEveryStep(x, mask);
  assert.deepEqual(Array.from(y.data), [0, 4, 6, 0, 10, 12]);
  const w = new Tensor(Float32Array.of(1, -1, 3, 0.5, 2, -2), [2, 1, 3]);
  ops.sum(ops.mul(y, w)).backward();
  assert.deepEqual(Array.from(x.grad!), [0, -2, 6, 0, 4, -4]);
  // Used twice: the second gradient is added to the first whichever comes first.
  const x2 = new Tensor(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 1, 3], true);
  ops.sum(ops.add(ops.mul(maskEveryStep(x2, mask), w), ops.mul(maskEveryStep(x2, Float32Array.of(2, 0, 2)), w))).backward();
  assert.deepEqual(Array.from(x2.grad!), [2, -2, 12, 1, 4, -8]);
  assert.throws(() => maskEveryStep(x, Float32Array.of(1, 1)), /does not fit/);
});

test('firing rate: the mean of a spike tensor, counted exactly', () => {
  const spikes = new Float32Array(2 * 3 * 7);
  for (const i of [0, 5, 6, 20, 41]) spikes[i] = 1;
  assert.equal(firingRate(new Tensor(spikes, [2, 3, 7])), 5 / 42);
  assert.equal(firingRate(new Tensor(new Float32Array(8), [2, 4])), 0);
});

test('loss: MSE(count / T, one-hot) by hand; predictions take the first of tied counts', () => {
  const m = new AlifClassifier(defaultClassifierConfig('mnist'), new Random(0));
  const counts = new Tensor(Float32Array.from({ length: 20 }, (_, i) => (i === 3 ? 8 : i === 12 ? 4 : 0)), [2, 10]);
  // Image 0, label 3: frequency 1 at the label, 0 elsewhere → 0. Image 1, label 5: 0.5 at class 2, 0 at 5 → 0.25 + 1.
  const { loss, correct } = m.loss(counts, Int32Array.of(3, 5));
  assert.ok(Math.abs(loss.item() - 1.25 / 20) < 1e-7);
  assert.equal(correct, 1);
  assert.deepEqual(Array.from(predictions(new Tensor(Float32Array.of(0, 2, 2, 1), [1, 4]))), [1]);
});

test('a few Adam steps on one MNIST batch: the loss falls and the batch is classified well above chance', async () => {
  const m = new AlifClassifier(defaultClassifierConfig('mnist'), new Random(0));
  const data = await openDataset('mnist', 'test', { preprocessing: 'classifier', limit: 16 });
  const x = new Float32Array(16 * 784);
  const labels = new Int32Array(16);
  await data.readBatch(Array.from({ length: 16 }, (_, i) => i), null, x, labels);
  const images = new Tensor(x, [16, 1, 28, 28]);
  const opt = new AdamW(m.paramGroups(1e-3, 0));
  const rng = new Random(1);
  const losses: number[] = [];
  let accuracy = 0;
  for (let i = 0; i < 8; i++) {
    const r = trainingStep(m, opt, images, rng, undefined, labels);
    losses.push(r.terms.loss);
    accuracy = r.terms.accuracy;
  }
  assert.ok(losses[7] < 0.75 * losses[0], `loss ${losses.map((v) => v.toFixed(4)).join(' ')}`);
  assert.ok(accuracy >= 0.5, `accuracy ${accuracy} after 8 steps`);
  // The learnable neuron parameters moved.
  const learned = learnedNeurons(m);
  assert.deepEqual(learned.map((n) => n.layer), ['conv.0', 'conv.4', 'fc.3', 'fc.6']);
  assert.ok(learned.every((n) => n.k !== 0.5 && n.threshold !== Math.fround(0.5) && n.learns.join() === 'tau,threshold'), JSON.stringify(learned));
});

test('FSVAE and ESVAE with --neuron alif: a learnable decay and threshold in every spiking layer, trained by the loss; the default LIF adds nothing', async () => {
  const { FSVAE, defaultFsvaeConfig } = await import('../src/models/fsvae.js');
  const { createModel } = await import('../src/models/index.js');
  const lif = new FSVAE(defaultFsvaeConfig('mnist'), new Random(0));
  assert.ok(![...lif.namedParameters().keys()].some((n) => n.includes('neuron')));
  assert.deepEqual(learnedNeurons(lif), []);
  const m = createModel('fsvae', 'mnist', { neuron: 'alif', latentDim: 16, k: 4, timeSteps: 6 }, 0) as InstanceType<typeof FSVAE>;
  const neurons = [...m.namedParameters().keys()].filter((n) => n.includes('.neuron.'));
  // 4 encoder convs, before_latent, 3 + 3 prior/posterior, decoder_input, 3 decoder deconvs, final_layer.0: 16 layers.
  assert.equal(neurons.length, 32);
  assert.ok(neurons.includes('encoder.0.neuron.w') && neurons.includes('posterior.layers.2.neuron.v_threshold') && neurons.includes('final_layer.0.neuron.w'));
  assert.ok(!neurons.some((n) => n.startsWith('final_layer.1')));
  // What eval reports: every layer by its state_dict prefix, at the VAEs' initial τ0 = 4/3 (k = sigmoid(ln 3) = 3/4) and V_th0 = 0.2.
  const report = learnedNeurons(m);
  assert.equal(report.length, 16);
  assert.deepEqual([report[0].layer, report[4].layer, report[15].layer], ['encoder.0', 'before_latent_layer', 'final_layer.0']);
  for (const n of report) {
    assert.equal(n.neuron, 'alif');
    assert.ok(Math.abs(n.k - 0.75) < 1e-6 && Math.abs(n.tau - 4 / 3) < 1e-6 && n.threshold === Math.fround(0.2), JSON.stringify(n));
  }
  const images = new Tensor(new Random(1).fillUniform(new Float32Array(2 * 1024)).map((v) => v * 2 - 1), [2, 1, 32, 32]);
  const r = m.lossOnBatch(images, new Random(2));
  r.loss.backward();
  const g = m.namedParameters().get('encoder.0.neuron.v_threshold')!.grad;
  assert.ok(g && g[0] !== 0 && Number.isFinite(r.terms.loss));
  assert.ok(r.rates.encoder > 0.01, `encoder firing rate ${r.rates.encoder}`);
  const es = createModel('esvae', 'mnist', { neuron: 'plif', decay0: 0.5 }, 0);
  const w = es.namedParameters().get('encoder.0.neuron.w')!;
  assert.ok(w.data[0] === 0); // decay 0.5: τ0 = 2, w0 = −ln 1 = 0
  assert.throws(() => createModel('ann-vae', 'mnist', { neuron: 'alif' }, 0), /only the spiking models/);
});
