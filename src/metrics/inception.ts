/**
 * Inception-v3 for FID and IS, in evaluation mode only (no autodiff), on the
 * engine's kernel back-end (reference-semantics.md §5.2-5.3).
 *
 * Two variants of the same graph, with torchvision's state_dict names:
 *   - 'is':  torchvision's `inception_v3` (ImageNet classifier, 1000 logits),
 *            average pools counting the zero padding;
 *   - 'fid': the FID Inception (the TensorFlow 2015-12-05 graph ported by
 *            pytorch-fid, 1008 logits): average pools of the Mixed_5*, Mixed_6*
 *            and Mixed_7b blocks exclude the padding, Mixed_7c pools with a max.
 * Every BasicConv2d is conv (no bias) + BatchNorm(eps 1e-3, running statistics)
 * + ReLU; the BatchNorm is folded into the convolution once at load time.
 *
 * Weights are never downloaded: the user passes the published PyTorch file
 * (zip or legacy torch.save, read by io/pth.ts) or a safetensors conversion.
 */
import { backend } from '../engine/backend/index.js';
import { readPth } from '../io/pth.js';
import { readSafetensors, toFloat32, type StoredTensor } from '../io/safetensors.js';
import { UserError } from '../util/errors.js';
import { existsSync } from 'node:fs';
import type { Random } from '../engine/random.js';

export type InceptionVariant = 'fid' | 'is';

/** Where the weights are published (shown when a file is missing). */
export const INCEPTION_WEIGHTS: Record<InceptionVariant, { file: string; url: string; what: string }> = {
  fid: {
    file: 'pt_inception-2015-12-05-6726825d.pth',
    url: 'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth',
    what: 'the FID Inception weights (TensorFlow 2015-12-05 graph, as ported by pytorch-fid)',
  },
  is: {
    file: 'inception_v3_google-0cc3c7bd.pth',
    url: 'https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth',
    what: "torchvision's ImageNet Inception-v3 weights (older releases name the same weights inception_v3_google-1a9a5a14.pth)",
  },
};

/** Activations [n, c, h, w] in NCHW order. */
export interface Activation {
  n: number;
  c: number;
  h: number;
  w: number;
  data: Float32Array;
}

interface ConvSpec {
  name: string;
  inC: number;
  outC: number;
  kh: number;
  kw: number;
  stride: number;
  ph: number;
  pw: number;
}

/** A BasicConv2d with its BatchNorm folded in: y = relu(conv(x, w·s) + (β − μ·s)). */
class FoldedConv {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  constructor(readonly spec: ConvSpec, weights: WeightSource) {
    const { name, inC, outC, kh, kw } = spec;
    const w = weights.get(`${name}.conv.weight`, [outC, inC, kh, kw]);
    const gamma = weights.get(`${name}.bn.weight`, [outC]);
    const beta = weights.get(`${name}.bn.bias`, [outC]);
    const mean = weights.get(`${name}.bn.running_mean`, [outC]);
    const variance = weights.get(`${name}.bn.running_var`, [outC]);
    this.weight = new Float32Array(w.length);
    this.bias = new Float32Array(outC);
    const per = inC * kh * kw;
    for (let o = 0; o < outC; o++) {
      const scale = gamma[o] / Math.sqrt(variance[o] + 1e-3);
      for (let i = 0; i < per; i++) this.weight[o * per + i] = w[o * per + i] * scale;
      this.bias[o] = beta[o] - mean[o] * scale;
    }
  }

  outSize(x: Activation): [number, number] {
    const { kh, kw, stride, ph, pw } = this.spec;
    return [Math.floor((x.h + 2 * ph - kh) / stride) + 1, Math.floor((x.w + 2 * pw - kw) / stride) + 1];
  }

  forward(x: Activation): Activation {
    const { inC, outC, kh, kw, stride, ph, pw } = this.spec;
    if (x.c !== inC) throw new Error(`inception ${this.spec.name}: ${x.c} input channels, expected ${inC}`);
    const [oh, ow] = this.outSize(x);
    const y = new Float32Array(x.n * outC * oh * ow);
    if (kh === kw && ph === pw) {
      backend().conv2dForward(
        { batch: x.n, inChannels: inC, inHeight: x.h, inWidth: x.w, outChannels: outC, outHeight: oh, outWidth: ow, kernel: kh, stride, padding: ph },
        x.data,
        this.weight,
        this.bias,
        y,
      );
    } else {
      // Rectangular kernels (1×7, 7×1, 1×3, 3×1; stride 1): im2col + GEMM per image.
      const K = inC * kh * kw;
      const P = oh * ow;
      const col = new Float32Array(K * P);
      const plane = x.h * x.w;
      for (let img = 0; img < x.n; img++) {
        const src = x.data.subarray(img * inC * plane, (img + 1) * inC * plane);
        let r = 0;
        for (let c = 0; c < inC; c++) {
          for (let i = 0; i < kh; i++) {
            for (let j = 0; j < kw; j++, r++) {
              const row = r * P;
              for (let yy = 0; yy < oh; yy++) {
                const sy = yy * stride - ph + i;
                const dst = row + yy * ow;
                if (sy < 0 || sy >= x.h) {
                  col.fill(0, dst, dst + ow);
                  continue;
                }
                const base = c * plane + sy * x.w;
                for (let xx = 0; xx < ow; xx++) {
                  const sx = xx * stride - pw + j;
                  col[dst + xx] = sx >= 0 && sx < x.w ? src[base + sx] : 0;
                }
              }
            }
          }
        }
        const out = y.subarray(img * outC * P, (img + 1) * outC * P);
        backend().gemm(false, false, outC, P, K, this.weight, col, out, 0);
        for (let o = 0; o < outC; o++) {
          const b = this.bias[o];
          for (let p = o * P, e = p + P; p < e; p++) out[p] += b;
        }
      }
    }
    for (let i = 0; i < y.length; i++) if (!(y[i] > 0)) y[i] = 0;
    return { n: x.n, c: outC, h: oh, w: ow, data: y };
  }
}

/** 3×3 max pool (padding counts as −∞). */
export function maxPool3(x: Activation, stride: number, padding: number): Activation {
  const oh = Math.floor((x.h + 2 * padding - 3) / stride) + 1;
  const ow = Math.floor((x.w + 2 * padding - 3) / stride) + 1;
  const { h, w } = x;
  const out = new Float32Array(x.n * x.c * oh * ow);
  const planes = x.n * x.c;
  const d = x.data;
  for (let p = 0; p < planes; p++) {
    const src = p * h * w;
    const dst = p * oh * ow;
    for (let yy = 0; yy < oh; yy++) {
      const y0 = Math.max(0, yy * stride - padding);
      const y1 = Math.min(h - 1, yy * stride - padding + 2);
      for (let xx = 0; xx < ow; xx++) {
        const x0 = Math.max(0, xx * stride - padding);
        const x1 = Math.min(w - 1, xx * stride - padding + 2);
        let m = -Infinity;
        for (let sy = y0; sy <= y1; sy++) {
          const row = src + sy * w;
          for (let sx = x0; sx <= x1; sx++) if (d[row + sx] > m) m = d[row + sx];
        }
        out[dst + yy * ow + xx] = m;
      }
    }
  }
  return { n: x.n, c: x.c, h: oh, w: ow, data: out };
}

/**
 * 3×3 average pool, stride 1, padding 1; `countIncludePad` divides by 9
 * everywhere (PyTorch's default, torchvision's Inception) or by the number of
 * in-image taps (the FID Inception, as TensorFlow pools).
 */
export function avgPool3(x: Activation, countIncludePad: boolean): Activation {
  const { h, w } = x;
  const out = new Float32Array(x.data.length);
  const rows = new Float32Array(h * w);
  const planes = x.n * x.c;
  const d = x.data;
  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    // Horizontal 3-tap sums, then vertical ones.
    for (let yy = 0; yy < h; yy++) {
      const r = base + yy * w;
      for (let xx = 0; xx < w; xx++) {
        let s = d[r + xx];
        if (xx > 0) s += d[r + xx - 1];
        if (xx < w - 1) s += d[r + xx + 1];
        rows[yy * w + xx] = s;
      }
    }
    for (let yy = 0; yy < h; yy++) {
      const ny = (yy > 0 ? 1 : 0) + 1 + (yy < h - 1 ? 1 : 0);
      for (let xx = 0; xx < w; xx++) {
        let s = rows[yy * w + xx];
        if (yy > 0) s += rows[(yy - 1) * w + xx];
        if (yy < h - 1) s += rows[(yy + 1) * w + xx];
        const nx = (xx > 0 ? 1 : 0) + 1 + (xx < w - 1 ? 1 : 0);
        out[base + yy * w + xx] = s / (countIncludePad ? 9 : ny * nx);
      }
    }
  }
  return { n: x.n, c: x.c, h, w, data: out };
}

/** Concatenation along channels. */
export function concatChannels(parts: Activation[]): Activation {
  const { n, h, w } = parts[0];
  const c = parts.reduce((s, p) => s + p.c, 0);
  const out = new Float32Array(n * c * h * w);
  const plane = h * w;
  for (let img = 0; img < n; img++) {
    let off = img * c * plane;
    for (const p of parts) {
      if (p.h !== h || p.w !== w || p.n !== n) throw new Error('inception: concatenated branches differ in size');
      const len = p.c * plane;
      out.set(p.data.subarray(img * len, (img + 1) * len), off);
      off += len;
    }
  }
  return { n, c, h, w, data: out };
}

/** Reads named tensors from a state_dict and checks their shapes. */
class WeightSource {
  readonly used = new Set<string>();
  constructor(
    readonly tensors: Map<string, StoredTensor>,
    readonly file: string,
  ) {}
  get(name: string, shape: number[]): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new UserError(`${this.file}: '${name}' is missing (not Inception-v3 weights with torchvision's names?)`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${this.file}: '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    this.used.add(name);
    return toFloat32(t, `${this.file}: '${name}'`);
  }
}

type Block = (x: Activation) => Activation;

/** The convolutions of the network, in torchvision's order and names (AuxLogits excluded). */
export function inceptionConvSpecs(): ConvSpec[] {
  const specs: ConvSpec[] = [];
  const c = (name: string, inC: number, outC: number, k: number | [number, number], stride = 1, pad: number | [number, number] = 0) => {
    const [kh, kw] = typeof k === 'number' ? [k, k] : k;
    const [ph, pw] = typeof pad === 'number' ? [pad, pad] : pad;
    specs.push({ name, inC, outC, kh, kw, stride, ph, pw });
  };
  c('Conv2d_1a_3x3', 3, 32, 3, 2);
  c('Conv2d_2a_3x3', 32, 32, 3);
  c('Conv2d_2b_3x3', 32, 64, 3, 1, 1);
  c('Conv2d_3b_1x1', 64, 80, 1);
  c('Conv2d_4a_3x3', 80, 192, 3);
  const blockA = (n: string, inC: number, pool: number) => {
    c(`${n}.branch1x1`, inC, 64, 1);
    c(`${n}.branch5x5_1`, inC, 48, 1);
    c(`${n}.branch5x5_2`, 48, 64, 5, 1, 2);
    c(`${n}.branch3x3dbl_1`, inC, 64, 1);
    c(`${n}.branch3x3dbl_2`, 64, 96, 3, 1, 1);
    c(`${n}.branch3x3dbl_3`, 96, 96, 3, 1, 1);
    c(`${n}.branch_pool`, inC, pool, 1);
  };
  blockA('Mixed_5b', 192, 32);
  blockA('Mixed_5c', 256, 64);
  blockA('Mixed_5d', 288, 64);
  c('Mixed_6a.branch3x3', 288, 384, 3, 2);
  c('Mixed_6a.branch3x3dbl_1', 288, 64, 1);
  c('Mixed_6a.branch3x3dbl_2', 64, 96, 3, 1, 1);
  c('Mixed_6a.branch3x3dbl_3', 96, 96, 3, 2);
  const blockC = (n: string, c7: number) => {
    c(`${n}.branch1x1`, 768, 192, 1);
    c(`${n}.branch7x7_1`, 768, c7, 1);
    c(`${n}.branch7x7_2`, c7, c7, [1, 7], 1, [0, 3]);
    c(`${n}.branch7x7_3`, c7, 192, [7, 1], 1, [3, 0]);
    c(`${n}.branch7x7dbl_1`, 768, c7, 1);
    c(`${n}.branch7x7dbl_2`, c7, c7, [7, 1], 1, [3, 0]);
    c(`${n}.branch7x7dbl_3`, c7, c7, [1, 7], 1, [0, 3]);
    c(`${n}.branch7x7dbl_4`, c7, c7, [7, 1], 1, [3, 0]);
    c(`${n}.branch7x7dbl_5`, c7, 192, [1, 7], 1, [0, 3]);
    c(`${n}.branch_pool`, 768, 192, 1);
  };
  blockC('Mixed_6b', 128);
  blockC('Mixed_6c', 160);
  blockC('Mixed_6d', 160);
  blockC('Mixed_6e', 192);
  c('Mixed_7a.branch3x3_1', 768, 192, 1);
  c('Mixed_7a.branch3x3_2', 192, 320, 3, 2);
  c('Mixed_7a.branch7x7x3_1', 768, 192, 1);
  c('Mixed_7a.branch7x7x3_2', 192, 192, [1, 7], 1, [0, 3]);
  c('Mixed_7a.branch7x7x3_3', 192, 192, [7, 1], 1, [3, 0]);
  c('Mixed_7a.branch7x7x3_4', 192, 192, 3, 2);
  const blockE = (n: string, inC: number) => {
    c(`${n}.branch1x1`, inC, 320, 1);
    c(`${n}.branch3x3_1`, inC, 384, 1);
    c(`${n}.branch3x3_2a`, 384, 384, [1, 3], 1, [0, 1]);
    c(`${n}.branch3x3_2b`, 384, 384, [3, 1], 1, [1, 0]);
    c(`${n}.branch3x3dbl_1`, inC, 448, 1);
    c(`${n}.branch3x3dbl_2`, 448, 384, 3, 1, 1);
    c(`${n}.branch3x3dbl_3a`, 384, 384, [1, 3], 1, [0, 1]);
    c(`${n}.branch3x3dbl_3b`, 384, 384, [3, 1], 1, [1, 0]);
    c(`${n}.branch_pool`, inC, 192, 1);
  };
  blockE('Mixed_7b', 1280);
  blockE('Mixed_7c', 2048);
  return specs;
}

export interface InceptionOutput {
  /** The 2048-d pooled features [n, 2048] (FID's features). */
  pool: Float32Array;
  /** The logits [n, classes] (IS uses their softmax). */
  logits: Float32Array;
}

export class InceptionV3 {
  readonly classes: number;
  private readonly convs = new Map<string, FoldedConv>();
  private readonly fcWeight: Float32Array;
  private readonly fcBias: Float32Array;

  constructor(
    readonly variant: InceptionVariant,
    tensors: Map<string, StoredTensor>,
    readonly file = 'weights',
  ) {
    const src = new WeightSource(tensors, file);
    for (const spec of inceptionConvSpecs()) this.convs.set(spec.name, new FoldedConv(spec, src));
    const fc = tensors.get('fc.weight');
    if (!fc) throw new UserError(`${file}: 'fc.weight' is missing (not Inception-v3 weights with torchvision's names?)`);
    this.classes = fc.shape[0];
    const expected = variant === 'fid' ? 1008 : 1000;
    if (this.classes !== expected) {
      const other = variant === 'fid' ? 'is' : 'fid';
      throw new UserError(
        `${file}: has ${this.classes} output classes; ${INCEPTION_WEIGHTS[variant].what} have ${expected}` +
          (fc.shape[0] === (other === 'fid' ? 1008 : 1000) ? ` (this looks like the ${other.toUpperCase()} network's file)` : ''),
      );
    }
    this.fcWeight = src.get('fc.weight', [this.classes, 2048]);
    this.fcBias = src.get('fc.bias', [this.classes]);
  }

  private conv(name: string, x: Activation): Activation {
    return this.convs.get(name)!.forward(x);
  }

  private pool(x: Activation, block: 'A' | 'C' | 'E1' | 'E2'): Activation {
    if (this.variant === 'is') return avgPool3(x, true);
    return block === 'E2' ? maxPool3(x, 1, 1) : avgPool3(x, false);
  }

  private blockA(n: string, x: Activation): Activation {
    const b1 = this.conv(`${n}.branch1x1`, x);
    const b5 = this.conv(`${n}.branch5x5_2`, this.conv(`${n}.branch5x5_1`, x));
    const b3 = this.conv(`${n}.branch3x3dbl_3`, this.conv(`${n}.branch3x3dbl_2`, this.conv(`${n}.branch3x3dbl_1`, x)));
    const bp = this.conv(`${n}.branch_pool`, this.pool(x, 'A'));
    return concatChannels([b1, b5, b3, bp]);
  }

  private blockC(n: string, x: Activation): Activation {
    const b1 = this.conv(`${n}.branch1x1`, x);
    let b7 = this.conv(`${n}.branch7x7_1`, x);
    b7 = this.conv(`${n}.branch7x7_3`, this.conv(`${n}.branch7x7_2`, b7));
    let bd = this.conv(`${n}.branch7x7dbl_1`, x);
    for (const s of ['2', '3', '4', '5']) bd = this.conv(`${n}.branch7x7dbl_${s}`, bd);
    const bp = this.conv(`${n}.branch_pool`, this.pool(x, 'C'));
    return concatChannels([b1, b7, bd, bp]);
  }

  private blockE(n: string, x: Activation, pool: 'E1' | 'E2'): Activation {
    const b1 = this.conv(`${n}.branch1x1`, x);
    const t = this.conv(`${n}.branch3x3_1`, x);
    const b3 = concatChannels([this.conv(`${n}.branch3x3_2a`, t), this.conv(`${n}.branch3x3_2b`, t)]);
    const d = this.conv(`${n}.branch3x3dbl_2`, this.conv(`${n}.branch3x3dbl_1`, x));
    const bd = concatChannels([this.conv(`${n}.branch3x3dbl_3a`, d), this.conv(`${n}.branch3x3dbl_3b`, d)]);
    const bp = this.conv(`${n}.branch_pool`, this.pool(x, pool));
    return concatChannels([b1, b3, bd, bp]);
  }

  /** Runs images [n, 3, H, W] (already resized and scaled as the variant expects). */
  forward(images: Float32Array, n: number, height = 299, width = 299): InceptionOutput {
    if (images.length !== n * 3 * height * width) throw new Error(`inception: ${images.length} values are not ${n} images of 3×${height}×${width}`);
    if (height < 75 || width < 75) throw new UserError(`Inception-v3 needs images of at least 75×75, got ${height}×${width}`);
    let x: Activation = { n, c: 3, h: height, w: width, data: images };
    x = this.conv('Conv2d_1a_3x3', x);
    x = this.conv('Conv2d_2a_3x3', x);
    x = this.conv('Conv2d_2b_3x3', x);
    x = maxPool3(x, 2, 0);
    x = this.conv('Conv2d_3b_1x1', x);
    x = this.conv('Conv2d_4a_3x3', x);
    x = maxPool3(x, 2, 0);
    x = this.blockA('Mixed_5b', x);
    x = this.blockA('Mixed_5c', x);
    x = this.blockA('Mixed_5d', x);
    {
      const b3 = this.conv('Mixed_6a.branch3x3', x);
      const bd = this.conv('Mixed_6a.branch3x3dbl_3', this.conv('Mixed_6a.branch3x3dbl_2', this.conv('Mixed_6a.branch3x3dbl_1', x)));
      x = concatChannels([b3, bd, maxPool3(x, 2, 0)]);
    }
    for (const b of ['Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e']) x = this.blockC(b, x);
    {
      const b3 = this.conv('Mixed_7a.branch3x3_2', this.conv('Mixed_7a.branch3x3_1', x));
      let b7 = this.conv('Mixed_7a.branch7x7x3_1', x);
      for (const s of ['2', '3', '4']) b7 = this.conv(`Mixed_7a.branch7x7x3_${s}`, b7);
      x = concatChannels([b3, b7, maxPool3(x, 2, 0)]);
    }
    x = this.blockE('Mixed_7b', x, 'E1');
    x = this.blockE('Mixed_7c', x, 'E2');
    // Global average pool (adaptive to 1×1), then the classifier (dropout is off in eval).
    const plane = x.h * x.w;
    const pool = new Float32Array(n * x.c);
    for (let i = 0; i < n * x.c; i++) {
      let s = 0;
      for (let p = i * plane, e = p + plane; p < e; p++) s += x.data[p];
      pool[i] = s / plane;
    }
    const logits = new Float32Array(n * this.classes);
    backend().gemm(false, true, n, this.classes, 2048, pool, this.fcWeight, logits, 0);
    for (let i = 0; i < n; i++) for (let k = 0; k < this.classes; k++) logits[i * this.classes + k] += this.fcBias[k];
    return { pool, logits };
  }
}

/** Loads Inception-v3 weights from a .pth (zip or legacy) or .safetensors file. */
export function loadInception(path: string, variant: InceptionVariant): InceptionV3 {
  if (!existsSync(path)) {
    const w = INCEPTION_WEIGHTS[variant];
    throw new UserError(`${path}: not found; ${variant.toUpperCase()} needs ${w.what}: ${w.file}, published at ${w.url}`);
  }
  const tensors = path.endsWith('.safetensors') ? readSafetensors(path).tensors : readPth(path).stateDict;
  return new InceptionV3(variant, tensors, path);
}

/**
 * Random weights of the right names and shapes (He-normal convolutions, unit
 * BatchNorm statistics): for tests and benchmarks, which cannot download the
 * published files.
 */
export function syntheticInceptionWeights(variant: InceptionVariant, rng: Random): Map<string, StoredTensor> {
  const m = new Map<string, StoredTensor>();
  const f32 = (shape: number[], gen: () => number): StoredTensor => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = gen();
    return { dtype: 'F32', shape, data };
  };
  for (const s of inceptionConvSpecs()) {
    const std = Math.sqrt(2 / (s.inC * s.kh * s.kw));
    m.set(`${s.name}.conv.weight`, f32([s.outC, s.inC, s.kh, s.kw], () => rng.normal() * std));
    m.set(`${s.name}.bn.weight`, f32([s.outC], () => 0.8 + 0.4 * rng.uniform()));
    m.set(`${s.name}.bn.bias`, f32([s.outC], () => 0.1 * rng.normal()));
    m.set(`${s.name}.bn.running_mean`, f32([s.outC], () => 0.1 * rng.normal()));
    m.set(`${s.name}.bn.running_var`, f32([s.outC], () => 0.5 + rng.uniform()));
  }
  const classes = variant === 'fid' ? 1008 : 1000;
  m.set('fc.weight', f32([classes, 2048], () => rng.normal() * Math.sqrt(1 / 2048)));
  m.set('fc.bias', f32([classes], () => 0.01 * rng.normal()));
  return m;
}
