/**
 * Spike and synaptic-operation counting, per image and per layer, for the
 * reconstruction path (encode → latent → decode) in evaluation mode.
 *
 * Correct counting (default):
 *   - a layer whose input is spikes does accumulates only (AC): each input
 *     spike adds one weight into every output it reaches — exactly, with
 *     borders and strides taken into account (fan-out per position);
 *   - a layer with real-valued input does multiply-accumulates (MAC): one per
 *     (output, valid tap, input channel);
 *   - a bias is one AC per output; batch norm is folded into the preceding
 *     weights at inference and costs nothing;
 *   - a LIF neuron-step costs one MAC (u·τ + x) unless the neuron spiked at
 *     the previous step (hard reset: u = x, no operation) or t = 0;
 *   - FSVAE's membrane output costs T MACs per pixel.
 *   The posterior and prior are counted as evaluated here (stepped, O(T)).
 *
 * `reference: true` reproduces the official counter (reference-semantics.md
 * §2.6): Conv3d adds sum(in)·k²·C_out/s² + numel(out) (the first conv:
 * mul = numel(in)·k²·C_out/s², add = mul + numel(in); FSVAE-Large never marks
 * its first conv), Linear adds sum(in)·out + numel(out), ConvTranspose3d adds
 * sum(in)·k²·C_out·s² + numel(out), LIFSpike adds numel(in) and multiplies
 * sum(1 − out); the posterior's O(T²) prefix passes are included; totals are
 * per batch as the reference logs them.
 */
import { Random } from '../engine/random.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import type { Module } from '../engine/module.js';
import { setLayerObserver, type LayerEvent, type SpikingLayer, TdConv, TdConvTranspose } from '../snn/layers.js';
import { FSVAE } from '../models/fsvae.js';
import { AnnVAE } from '../models/annvae.js';
import type { GenerativeModel } from '../models/types.js';

export const PJ_PER_AC = 0.9;
export const PJ_PER_MAC = 4.6;

export interface LayerCost {
  layer: string;
  kind: string;
  /** Spikes emitted by the layer's neurons (per image). */
  spikes: number;
  /** Neuron-steps of the layer (per image); firing rate = spikes / neuronSteps. */
  neuronSteps: number;
  firingRate: number | null;
  ac: number;
  mac: number;
}

export interface CostReport {
  model: string;
  counting: 'correct' | 'reference';
  images: number;
  layers: LayerCost[];
  /** Per image (correct counting) or per batch (reference counting). */
  total: { ac: number; mac: number; energyMicroJoule: number };
  perImage: { ac: number; mac: number; energyMicroJoule: number };
}

/** Number of kernel taps k with 0 ≤ o·s − p + k < size, for each output index o. */
export function validTaps(outSize: number, inSize: number, k: number, s: number, p: number): number[] {
  return Array.from({ length: outSize }, (_, o) => {
    let n = 0;
    for (let kk = 0; kk < k; kk++) {
      const i = o * s - p + kk;
      if (i >= 0 && i < inSize) n++;
    }
    return n;
  });
}

/** For a conv, how many (output, tap) pairs each input index feeds. */
export function fanOut(inSize: number, outSize: number, k: number, s: number, p: number): number[] {
  const f = new Array<number>(inSize).fill(0);
  for (let o = 0; o < outSize; o++)
    for (let kk = 0; kk < k; kk++) {
      const i = o * s - p + kk;
      if (i >= 0 && i < inSize) f[i]++;
    }
  return f;
}

export function sumOf(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** Spatial-sum of spikes per (h, w) position over time, batch and channels, for [T, N, C, H, W]. */
export function spikeMap(x: Tensor): Float64Array {
  const [, , , H, W] = x.shape;
  const m = new Float64Array(H * W);
  const plane = H * W;
  for (let i = 0; i < x.size; i++) if (x.data[i] !== 0) m[i % plane] += x.data[i];
  return m;
}

export function lifMacs(spikes: Tensor): number {
  // One MAC per neuron-step t ≥ 1 whose neuron did not spike at t − 1.
  const T = spikes.shape[0];
  const per = spikes.size / T;
  let macs = 0;
  for (let t = 1; t < T; t++) {
    let fired = 0;
    for (let i = 0; i < per; i++) fired += spikes.data[(t - 1) * per + i];
    macs += per - fired;
  }
  return macs;
}

function layerNames(model: Module): Map<Module, string> {
  const names = new Map<Module, string>();
  for (const [name, m] of model.namedModules()) names.set(m, name);
  return names;
}

export function correctCost(e: LayerEvent): { ac: number; mac: number } {
  const x = e.input;
  const y = e.preActivation;
  let ac = y.size; // bias adds
  let mac = 0;
  if (e.kind === 'linear') {
    const inF = x.shape[x.ndim - 1];
    const outF = y.shape[y.ndim - 1];
    if (x.binary) ac += sumOf(x.data) * outF;
    else mac += (x.size / inF) * inF * outF;
  } else {
    const layer = e.layer as TdConv | TdConvTranspose;
    const conv = layer.conv;
    const [T, N, C, H, W] = x.shape;
    const [, , O, OH, OW] = y.shape;
    const k = conv.kernel;
    const s = conv.stride;
    const p = conv.padding;
    if (e.kind === 'conv') {
      if (x.binary) {
        const fh = fanOut(H, OH, k, s, p);
        const fw = fanOut(W, OW, k, s, p);
        const m = spikeMap(x);
        for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) ac += m[h * W + w] * fh[h] * fw[w] * O;
      } else {
        const vh = validTaps(OH, H, k, s, p);
        const vw = validTaps(OW, W, k, s, p);
        const taps = vh.reduce((a, b) => a + b, 0) * vw.reduce((a, b) => a + b, 0);
        mac += T * N * taps * C * O;
      }
    } else {
      // Transposed: input position i scatters to outputs o = i·s − p + kk inside the output.
      const th = validTaps(H, OH, k, s, p);
      const tw = validTaps(W, OW, k, s, p);
      if (x.binary) {
        const m = spikeMap(x);
        for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) ac += m[h * W + w] * th[h] * tw[w] * O;
      } else {
        mac += T * N * C * O * th.reduce((a, b) => a + b, 0) * tw.reduce((a, b) => a + b, 0);
      }
    }
  }
  if (e.spikes) mac += lifMacs(e.spikes);
  return { ac, mac };
}

function referenceCost(e: LayerEvent, firstConv: boolean): { ac: number; mac: number } {
  const x = e.input;
  const y = e.preActivation;
  let ac = 0;
  let mac = 0;
  if (e.kind === 'linear') {
    ac += sumOf(x.data) * y.shape[y.ndim - 1] + y.size;
  } else {
    const conv = (e.layer as TdConv | TdConvTranspose).conv;
    const k2 = conv.kernel * conv.kernel;
    const O = y.shape[2];
    const s2 = conv.stride * conv.stride;
    if (e.kind === 'conv') {
      if (firstConv) {
        mac += (x.size * k2 * O) / s2;
        ac += mac + x.size;
      } else ac += (sumOf(x.data) * k2 * O) / s2 + y.size;
    } else ac += sumOf(x.data) * k2 * O * s2 + y.size;
  }
  if (e.spikes) {
    ac += e.spikes.size;
    mac += e.spikes.size - sumOf(e.spikes.data);
  }
  return { ac, mac };
}

export function energy(ac: number, mac: number): number {
  return (ac * PJ_PER_AC + mac * PJ_PER_MAC) / 1e6;
}

/** Spike cost of reconstructing `images` with a spiking model (FSVAE or ESVAE). */
export function spikingCost(model: FSVAE, images: Tensor, seed = 0, reference = false): CostReport {
  const names = layerNames(model);
  const rows = new Map<string, LayerCost>();
  const n = images.shape[0];
  const firstConv = model.encoderLayers[0];
  const prevExact = model.exactPrefixPasses;
  model.eval();
  model.exactPrefixPasses = reference;
  setLayerObserver((e) => {
    const name = names.get(e.layer as unknown as Module) ?? '?';
    const c = reference ? referenceCost(e, e.layer === (firstConv as SpikingLayer) && model.cfg.variant === 'fsvae') : correctCost(e);
    const r = rows.get(name) ?? { layer: name, kind: e.kind, spikes: 0, neuronSteps: 0, firingRate: null, ac: 0, mac: 0 };
    r.ac += c.ac;
    r.mac += c.mac;
    if (e.spikes) {
      r.spikes += sumOf(e.spikes.data);
      r.neuronSteps += e.spikes.size;
    }
    rows.set(name, r);
  });
  try {
    noGrad(() => model.reconstruct(images, new Random(seed)));
  } finally {
    setLayerObserver(null);
    model.exactPrefixPasses = prevExact;
  }
  const layers = [...rows.values()];
  if (!reference && model.coef) {
    const pixels = images.size; // membrane output: T MACs per output pixel
    layers.push({ layer: 'membrane_output_layer', kind: 'membrane', spikes: 0, neuronSteps: 0, firingRate: null, ac: 0, mac: pixels * model.cfg.timeSteps });
  }
  for (const l of layers) {
    l.firingRate = l.neuronSteps > 0 ? l.spikes / l.neuronSteps : null;
    if (!reference) {
      l.spikes /= n;
      l.neuronSteps /= n;
      l.ac /= n;
      l.mac /= n;
    }
  }
  const ac = layers.reduce((s, l) => s + l.ac, 0);
  const mac = layers.reduce((s, l) => s + l.mac, 0);
  const per = reference ? { ac: ac / n, mac: mac / n } : { ac, mac };
  return {
    model: model.kind,
    counting: reference ? 'reference' : 'correct',
    images: n,
    layers,
    total: { ac, mac, energyMicroJoule: energy(ac, mac) },
    perImage: { ...per, energyMicroJoule: energy(per.ac, per.mac) },
  };
}

/** MACs of the ANN VAE's reconstruction path per image (dense, borders exact). */
export function annCost(model: AnnVAE): CostReport {
  const layers: LayerCost[] = [];
  const add = (layer: string, kind: string, mac: number, bias: number) => layers.push({ layer, kind, spikes: 0, neuronSteps: 0, firingRate: null, ac: bias, mac });
  let size = model.cfg.imageSize;
  model.stack.encoderBlocks.forEach((b, i) => {
    const c = b.layer as unknown as { inChannels: number; outChannels: number; kernel: number; stride: number; padding: number };
    const out = Math.floor((size + 2 * c.padding - c.kernel) / c.stride) + 1;
    const v = validTaps(out, size, c.kernel, c.stride, c.padding).reduce((a, x) => a + x, 0);
    add(`encoder.${i}`, 'conv', v * v * c.inChannels * c.outChannels, out * out * c.outChannels);
    size = out;
  });
  const flat = model.fcMu.inFeatures;
  add('fc_mu', 'linear', flat * model.cfg.latentDim, model.cfg.latentDim);
  add('fc_var', 'linear', flat * model.cfg.latentDim, model.cfg.latentDim);
  add('decoder_input', 'linear', model.cfg.latentDim * flat, flat);
  const deconvs = [...model.stack.decoderBlocks.map((b) => b.layer), model.stack.finalBlock.layer, model.stack.finalConv] as unknown as Array<{
    inChannels: number;
    outChannels: number;
    kernel: number;
    stride: number;
    padding: number;
    outputPadding: number;
  }>;
  size = 2;
  deconvs.forEach((c, i) => {
    const out = (size - 1) * c.stride - 2 * c.padding + c.kernel + c.outputPadding;
    const t = validTaps(size, out, c.kernel, c.stride, c.padding).reduce((a, x) => a + x, 0);
    add(i < model.stack.decoderBlocks.length ? `decoder.${i}` : i === deconvs.length - 1 ? 'final_layer.3' : 'final_layer.0', 'convTranspose', t * t * c.inChannels * c.outChannels, out * out * c.outChannels);
    size = out;
  });
  const ac = layers.reduce((s, l) => s + l.ac, 0);
  const mac = layers.reduce((s, l) => s + l.mac, 0);
  const total = { ac, mac, energyMicroJoule: energy(ac, mac) };
  return { model: model.kind, counting: 'correct', images: 1, layers, total, perImage: total };
}

export function modelCost(model: GenerativeModel, images: Tensor, seed = 0, reference = false): CostReport {
  if (model instanceof AnnVAE) return annCost(model);
  if (model instanceof FSVAE) return spikingCost(model, images, seed, reference);
  throw new Error(`no cost counter for model '${model.kind}'`);
}

