/**
 * What `spikevae eval` reports for the spiking classifiers: test accuracy
 * (correct / total, as train.py counts it), per-class accuracy, the confusion
 * matrix (also as a PNG), per-layer firing rates over the test set, the
 * learned time constant and threshold of every neuron layer, and the spike
 * cost per image (synaptic operations and energy, counted as cost.ts counts
 * the VAEs': an input of spikes costs one AC per spike and reached output, a
 * real-valued input one MAC per tap; a neuron-step one MAC unless it was reset).
 */
import { writeFileAtomic } from '../util/atomic.js';
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { DataLoader, openDataset } from '../data/index.js';
import { encodePng } from '../io/image.js';
import { AlifClassifier, CLASSES, predictions, type ClassifierTrace } from '../models/classifier.js';
import { learnedNeurons, type NeuronReport } from '../snn/plif.js';
import { energy, fanOut, lifMacs, spikeMap, sumOf, validTaps, type CostReport, type LayerCost } from './cost.js';

export interface ClassifierEvaluation {
  testImages: number;
  accuracy: number;
  perClass: Array<{ class: number; images: number; accuracy: number }>;
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  /** Mean firing rate of each neuron layer over the test images (evaluation mode). */
  firingRates: Record<string, number>;
  neurons: NeuronReport[];
}

export async function evaluateClassifier(
  model: AlifClassifier,
  opts: { dataset: string; dataDir?: string; batchSize: number; testLimit?: number; onProgress?: (done: number, total: number) => void },
): Promise<ClassifierEvaluation> {
  const test = await openDataset(opts.dataset, 'test', { dataDir: opts.dataDir, limit: opts.testLimit, preprocessing: 'classifier' });
  try {
    model.checkImages(new Tensor(new Float32Array(test.channels * test.height * test.width), [1, test.channels, test.height, test.width]));
    const loader = new DataLoader(test, { batchSize: opts.batchSize, shuffle: false, dropLast: false });
    const confusion = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
    const spikes: Record<string, number> = {};
    const neuronSteps: Record<string, number> = {};
    model.eval();
    let done = 0;
    for await (const b of loader.epoch(new Random(0))) {
      const x = new Tensor(b.images, [b.size, test.channels, test.height, test.width]);
      const trace: ClassifierTrace[] = [];
      const counts = noGrad(() => model.forward(x, new Random(0), trace));
      const pred = predictions(counts);
      for (let i = 0; i < b.size; i++) confusion[b.labels[i]][pred[i]]++;
      for (const t of trace) {
        spikes[t.neuron] = (spikes[t.neuron] ?? 0) + sumOf(t.spikes.data);
        neuronSteps[t.neuron] = (neuronSteps[t.neuron] ?? 0) + t.spikes.size;
      }
      done += b.size;
      opts.onProgress?.(done, test.length);
    }
    const perClass = confusion.map((row, c) => {
      const images = row.reduce((a, v) => a + v, 0);
      return { class: c, images, accuracy: images ? row[c] / images : 0 };
    });
    const correct = confusion.reduce((a, row, c) => a + row[c], 0);
    const firingRates: Record<string, number> = {};
    for (const k of Object.keys(spikes)) firingRates[k] = spikes[k] / neuronSteps[k];
    return { testImages: done, accuracy: correct / Math.max(1, done), perClass, confusion, firingRates, neurons: learnedNeurons(model) };
  } finally {
    await test.close();
  }
}

/** Spike cost per image of classifying `images` (evaluation mode). */
export function classifierCost(model: AlifClassifier, images: Tensor): CostReport {
  model.eval();
  const trace: ClassifierTrace[] = [];
  noGrad(() => model.forward(images, new Random(0), trace));
  const n = images.shape[0];
  const T = model.cfg.timeSteps;
  const layers: LayerCost[] = trace.map((t) => {
    const { input, layer, kind, name } = t.synapse;
    let ac = 0;
    let mac = 0;
    if (kind === 'linear') {
      const outF = (layer as { outFeatures: number }).outFeatures;
      if (input.binary) ac += sumOf(input.data) * outF;
      else mac += input.size * outF;
    } else {
      const conv = layer as { kernel: number; stride: number; padding: number; outChannels: number; inChannels: number };
      const [H, W] = input.shape.slice(-2);
      const OH = Math.floor((H + 2 * conv.padding - conv.kernel) / conv.stride) + 1;
      const OW = Math.floor((W + 2 * conv.padding - conv.kernel) / conv.stride) + 1;
      if (input.binary) {
        const fh = fanOut(H, OH, conv.kernel, conv.stride, conv.padding);
        const fw = fanOut(W, OW, conv.kernel, conv.stride, conv.padding);
        const m = spikeMap(input);
        for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) ac += m[h * W + w] * fh[h] * fw[w] * conv.outChannels;
      } else {
        // The static convolution: real-valued pixels, run once per image (not per step).
        const taps = validTaps(OH, H, conv.kernel, conv.stride, conv.padding).reduce((a, b) => a + b, 0) * validTaps(OW, W, conv.kernel, conv.stride, conv.padding).reduce((a, b) => a + b, 0);
        mac += n * taps * conv.inChannels * conv.outChannels;
      }
    }
    mac += lifMacs(t.spikes);
    const spikes = sumOf(t.spikes.data);
    return { layer: `${name} → ${t.neuron}`, kind, spikes: spikes / n, neuronSteps: t.spikes.size / n, firingRate: spikes / t.spikes.size, ac: ac / n, mac: mac / n };
  });
  // Voting: 100 output spike trains added into 10 class counts, T steps.
  layers.push({ layer: 'vote', kind: 'sum', spikes: 0, neuronSteps: 0, firingRate: null, ac: T * CLASSES * 10, mac: 0 });
  const ac = layers.reduce((s, l) => s + l.ac, 0);
  const mac = layers.reduce((s, l) => s + l.mac, 0);
  const total = { ac, mac, energyMicroJoule: energy(ac, mac) };
  return { model: model.kind, counting: 'correct', images: n, layers, total, perImage: total };
}

// ---------------------------------------------------------------- confusion-matrix picture

/** 3×5 bitmaps of the digits, rows top to bottom, 3 bits each (MSB left). */
const DIGITS = [
  [7, 5, 5, 5, 7], [2, 6, 2, 2, 7], [7, 1, 7, 4, 7], [7, 1, 3, 1, 7], [5, 5, 7, 1, 1],
  [7, 4, 7, 1, 7], [7, 4, 7, 5, 7], [7, 1, 1, 2, 2], [7, 5, 7, 5, 7], [7, 5, 7, 1, 7],
];

/**
 * The confusion matrix as a PNG: rows are the true classes, columns the
 * predicted ones, each cell shaded by its share of the row (white 0 → dark
 * blue 1) with its count written in it; class digits along the top and left.
 */
export function confusionPng(confusion: number[][]): Uint8Array {
  const K = confusion.length;
  const cell = 36;
  const scale = 2; // font pixels per bitmap pixel
  const margin = 24;
  const size = margin + K * cell + 2;
  const rgba = new Uint8Array(size * size * 4).fill(255);
  const put = (x: number, y: number, [r, g, b]: number[]) => {
    const i = (y * size + x) * 4;
    rgba[i] = r;
    rgba[i + 1] = g;
    rgba[i + 2] = b;
  };
  const text = (s: string, cx: number, cy: number, color: number[]) => {
    const w = s.length * 4 * scale - scale;
    let x0 = Math.round(cx - w / 2);
    const y0 = Math.round(cy - (5 * scale) / 2);
    for (const ch of s) {
      const bits = DIGITS[Number(ch)];
      for (let r = 0; r < 5; r++) for (let c = 0; c < 3; c++) {
        if (!((bits[r] >> (2 - c)) & 1)) continue;
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) put(x0 + c * scale + dx, y0 + r * scale + dy, color);
      }
      x0 += 4 * scale;
    }
  };
  for (let t = 0; t < K; t++) {
    const total = confusion[t].reduce((a, v) => a + v, 0);
    for (let p = 0; p < K; p++) {
      const share = total ? confusion[t][p] / total : 0;
      const color = [255, 255, 255].map((v, i) => Math.round(v + ([8, 48, 107][i] - v) * share));
      const x0 = margin + p * cell;
      const y0 = margin + t * cell;
      for (let y = 1; y < cell; y++) for (let x = 1; x < cell; x++) put(x0 + x, y0 + y, color);
      if (confusion[t][p] > 0) text(String(confusion[t][p]), x0 + cell / 2, y0 + cell / 2, share > 0.5 ? [255, 255, 255] : [0, 0, 0]);
    }
    text(String(t), margin / 2, margin + t * cell + cell / 2, [0, 0, 0]);
    text(String(t), margin + t * cell + cell / 2, margin / 2, [0, 0, 0]);
  }
  return encodePng(rgba, size, size);
}

export function writeConfusionPng(path: string, confusion: number[][]): void {
  writeFileAtomic(path, confusionPng(confusion));
}
