/**
 * A second, deliberately naive implementation of the FSVAE forward pass in
 * evaluation mode, written from the official PyTorch code
 * (kamata1729/FullySpikingVAE fsvae_models/*.py) in its own layout — time
 * LAST: [N, C, H, W, T] and [N, C, T] — with plain loops and no use of the
 * engine (no Tensor, ops or kernels). Every elementwise step is rounded to
 * float32 in the order PyTorch evaluates it. Weights are read by their
 * official state_dict names and shapes.
 */
import type { Random } from '../../src/engine/random.js';

export type Weights = Map<string, { shape: number[]; data: Float32Array }>;
const f = Math.fround;

export interface RefConfig {
  inChannels: number;
  latent: number;
  k: number;
  T: number;
  hidden: number[];
}

/** [N, C, H, W, T] tensor. */
interface Map5 {
  n: number;
  c: number;
  h: number;
  w: number;
  t: number;
  d: Float32Array;
}
const at5 = (m: Map5, n: number, c: number, h: number, w: number, t: number) => (((n * m.c + c) * m.h + h) * m.w + w) * m.t + t;

function W(ws: Weights, name: string): Float32Array {
  const v = ws.get(name);
  if (!v) throw new Error(`oracle: missing weight ${name}`);
  return v.data;
}

/** Conv3d with kernel (k,k,1), stride (s,s,1), padding (p,p,0). */
function conv3d(x: Map5, w: Float32Array, b: Float32Array, O: number, k: number, s: number, p: number): Map5 {
  const OH = Math.floor((x.h + 2 * p - k) / s) + 1;
  const OW = Math.floor((x.w + 2 * p - k) / s) + 1;
  const y: Map5 = { n: x.n, c: O, h: OH, w: OW, t: x.t, d: new Float32Array(x.n * O * OH * OW * x.t) };
  for (let n = 0; n < x.n; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++)
          for (let t = 0; t < x.t; t++) {
            let acc = 0;
            for (let c = 0; c < x.c; c++)
              for (let kh = 0; kh < k; kh++)
                for (let kw = 0; kw < k; kw++) {
                  const ih = oh * s - p + kh;
                  const iw = ow * s - p + kw;
                  if (ih < 0 || iw < 0 || ih >= x.h || iw >= x.w) continue;
                  acc += w[((o * x.c + c) * k + kh) * k + kw] * x.d[at5(x, n, c, ih, iw, t)];
                }
            y.d[at5(y, n, o, oh, ow, t)] = f(acc + b[o]);
          }
  return y;
}

/** ConvTranspose3d with weight [Cin, Cout, k, k, 1]: every input scatters its weighted kernel. */
function convT3d(x: Map5, w: Float32Array, b: Float32Array, O: number, k: number, s: number, p: number, op: number): Map5 {
  const OH = (x.h - 1) * s - 2 * p + k + op;
  const OW = (x.w - 1) * s - 2 * p + k + op;
  const acc = new Float64Array(x.n * O * OH * OW * x.t);
  const y: Map5 = { n: x.n, c: O, h: OH, w: OW, t: x.t, d: new Float32Array(acc.length) };
  for (let n = 0; n < x.n; n++)
    for (let c = 0; c < x.c; c++)
      for (let ih = 0; ih < x.h; ih++)
        for (let iw = 0; iw < x.w; iw++)
          for (let t = 0; t < x.t; t++) {
            const v = x.d[at5(x, n, c, ih, iw, t)];
            if (v === 0) continue;
            for (let o = 0; o < O; o++)
              for (let kh = 0; kh < k; kh++)
                for (let kw = 0; kw < k; kw++) {
                  const oh = ih * s - p + kh;
                  const ow = iw * s - p + kw;
                  if (oh < 0 || ow < 0 || oh >= OH || ow >= OW) continue;
                  acc[at5(y, n, o, oh, ow, t)] += v * w[((c * O + o) * k + kh) * k + kw];
                }
          }
  for (let n = 0; n < x.n; n++)
    for (let o = 0; o < O; o++)
      for (let q = 0; q < OH * OW * x.t; q++) {
        const i = (n * O + o) * OH * OW * x.t + q;
        y.d[i] = f(acc[i] + b[o]);
      }
  return y;
}

/** tdBatchNorm in eval mode: alpha·Vth·(x − mean)/sqrt(var + eps)·weight + bias, op by op in float32. */
function tdbnEval(x: Map5, ws: Weights, prefix: string, alpha: number): Map5 {
  const rm = W(ws, `${prefix}.running_mean`);
  const rv = W(ws, `${prefix}.running_var`);
  const g = W(ws, `${prefix}.weight`);
  const b = W(ws, `${prefix}.bias`);
  const y = { ...x, d: new Float32Array(x.d.length) };
  const per = x.h * x.w * x.t;
  const av = f(alpha * 0.2);
  for (let n = 0; n < x.n; n++)
    for (let c = 0; c < x.c; c++) {
      const den = f(Math.sqrt(f(rv[c] + f(1e-5))));
      for (let q = 0; q < per; q++) {
        const i = (n * x.c + c) * per + q;
        const z = f(f(av * f(x.d[i] - rm[c])) / den);
        y.d[i] = f(f(z * g[c]) + b[c]);
      }
    }
  return y;
}

/** LIFSpike over the last axis: u = tau·u·(1 − o) + x, o = u > Vth (float32 throughout). */
function lif(x: Map5): Map5 {
  const y = { ...x, d: new Float32Array(x.d.length) };
  const rows = x.d.length / x.t;
  for (let r = 0; r < rows; r++) {
    let u = 0;
    let o = 0;
    for (let t = 0; t < x.t; t++) {
      u = f(f(f(f(0.25) * u) * f(1 - o)) + x.d[r * x.t + t]);
      o = u > f(0.2) ? 1 : 0;
      y.d[r * x.t + t] = o;
    }
  }
  return y;
}

/** tdLinear on [N, C, T] stored as Map5 with h = w = 1. */
function linearT(x: Map5, w: Float32Array, b: Float32Array, O: number): Map5 {
  const y: Map5 = { n: x.n, c: O, h: 1, w: 1, t: x.t, d: new Float32Array(x.n * O * x.t) };
  for (let n = 0; n < x.n; n++)
    for (let o = 0; o < O; o++)
      for (let t = 0; t < x.t; t++) {
        let acc = 0;
        for (let c = 0; c < x.c; c++) acc += w[o * x.c + c] * x.d[(n * x.c + c) * x.t + t];
        y.d[(n * O + o) * x.t + t] = f(acc + b[o]);
      }
  return y;
}

function tdLinearBlock(x: Map5, ws: Weights, prefix: string, O: number, alpha: number): Map5 {
  return lif(tdbnEval(linearT(x, W(ws, `${prefix}.weight`), W(ws, `${prefix}.bias`), O), ws, `${prefix}.bn`, alpha));
}

function layersOf(x: Map5, ws: Weights, prefix: string, C: number, k: number): Map5 {
  let h = tdLinearBlock(x, ws, `${prefix}.layers.0`, 2 * C, 2);
  h = tdLinearBlock(h, ws, `${prefix}.layers.1`, 4 * C, 2);
  return tdLinearBlock(h, ws, `${prefix}.layers.2`, k * C, 2);
}

/** Concatenates [N, C1, T] and [N, C2, T] along channels. */
function catC(a: Map5, b: Map5): Map5 {
  const y: Map5 = { n: a.n, c: a.c + b.c, h: 1, w: 1, t: a.t, d: new Float32Array(a.n * (a.c + b.c) * a.t) };
  for (let n = 0; n < a.n; n++) {
    y.d.set(a.d.subarray(n * a.c * a.t, (n + 1) * a.c * a.t), n * y.c * a.t);
    y.d.set(b.d.subarray(n * b.c * b.t, (n + 1) * b.c * b.t), (n * y.c + a.c) * a.t);
  }
  return y;
}

/** x[..., :len] of a [N, C, T] map. */
function prefixT(x: Map5, len: number): Map5 {
  const y: Map5 = { ...x, t: len, d: new Float32Array(x.n * x.c * len) };
  for (let r = 0; r < x.n * x.c; r++) for (let t = 0; t < len; t++) y.d[r * len + t] = x.d[r * x.t + t];
  return y;
}

export interface RefOutputs {
  /** Encoder spikes x^E [N, C, T]. */
  xE: Float32Array;
  /** q_z [N, C, k, T]. */
  qZ: Float32Array;
  /** sampled z [N, C, T]. */
  z: Float32Array;
  /** p_z [N, C, k, T] (teacher forcing). */
  pZ: Float32Array;
  /** decoded image [N, Cimg, H, W]. */
  image: Float32Array;
}

/** The whole evaluation-mode forward of FSVAE.forward(x, scheduled=True) for images [N, Cimg, H, W]. */
export function fsvaeEvalForward(ws: Weights, cfg: RefConfig, images: Float32Array, n: number, size: number, rng: Random): RefOutputs {
  const { T, latent: C, k } = cfg;
  // Direct input: the image repeated over T.
  let h: Map5 = { n, c: cfg.inChannels, h: size, w: size, t: T, d: new Float32Array(images.length * T) };
  for (let i = 0; i < images.length; i++) for (let t = 0; t < T; t++) h.d[i * T + t] = images[i];
  cfg.hidden.forEach((hd, i) => {
    h = lif(tdbnEval(conv3d(h, W(ws, `encoder.${i}.weight`), W(ws, `encoder.${i}.bias`), hd, 3, 2, 1), ws, `encoder.${i}.bn`, 1));
  });
  // flatten(start_dim=1, end_dim=3): [N, C·H·W, T] in (c, h, w) order — the memory layout already is.
  const flat: Map5 = { n, c: h.c * h.h * h.w, h: 1, w: 1, t: T, d: h.d };
  const xE = tdLinearBlock(flat, ws, 'before_latent_layer', C, 1);

  // Posterior: no-grad prefix passes drawing z one step at a time, then the full pass re-picking the same indices.
  let zHist: Map5 = { n, c: C, h: 1, w: 1, t: 1, d: new Float32Array(n * C) };
  const indices: Int32Array[] = [];
  const draw = () => Int32Array.from({ length: n * C }, () => rng.int(k));
  for (let t = 0; t < T - 1; t++) {
    const out = layersOf(catC(prefixT(xE, t + 1), zHist), ws, 'posterior', C, k);
    const idx = draw();
    indices.push(idx);
    const next: Map5 = { n, c: C, h: 1, w: 1, t: t + 2, d: new Float32Array(n * C * (t + 2)) };
    for (let r = 0; r < n * C; r++) {
      for (let s = 0; s <= t; s++) next.d[r * (t + 2) + s] = zHist.d[r * (t + 1) + s];
      next.d[r * (t + 2) + t + 1] = out.d[(r * k + idx[r]) * (t + 1) + t];
    }
    zHist = next;
  }
  const q = layersOf(catC(xE, zHist), ws, 'posterior', C, k); // [N, C·k, T]
  indices.push(draw());
  const z = new Float32Array(n * C * T);
  for (let r = 0; r < n * C; r++) for (let t = 0; t < T; t++) z[r * T + t] = q.d[(r * k + indices[t][r]) * T + t];

  // Prior, evaluation mode with scheduled=True: teacher forcing on [0, z_0..z_{T-2}].
  const shifted: Map5 = { n, c: C, h: 1, w: 1, t: T, d: new Float32Array(n * C * T) };
  for (let r = 0; r < n * C; r++) for (let t = 1; t < T; t++) shifted.d[r * T + t] = z[r * T + t - 1];
  const p = layersOf(shifted, ws, 'prior', C, k);

  // Decoder.
  const zMap: Map5 = { n, c: C, h: 1, w: 1, t: T, d: z };
  const last = cfg.hidden[cfg.hidden.length - 1];
  const di = tdLinearBlock(zMap, ws, 'decoder_input', last * 4, 1);
  let dec: Map5 = { n, c: last, h: 2, w: 2, t: T, d: di.d };
  const rev = [...cfg.hidden].reverse();
  for (let i = 0; i < rev.length - 1; i++) {
    dec = lif(tdbnEval(convT3d(dec, W(ws, `decoder.${i}.weight`), W(ws, `decoder.${i}.bias`), rev[i + 1], 3, 2, 1, 1), ws, `decoder.${i}.bn`, 1));
  }
  const c0 = rev[rev.length - 1];
  dec = lif(tdbnEval(convT3d(dec, W(ws, 'final_layer.0.weight'), W(ws, 'final_layer.0.bias'), c0, 3, 2, 1, 1), ws, 'final_layer.0.bn', 1));
  dec = convT3d(dec, W(ws, 'final_layer.1.weight'), W(ws, 'final_layer.1.bias'), cfg.inChannels, 3, 1, 1, 0);
  // MembraneOutputLayer: sum over t of x·0.8^(T−1−t), then tanh.
  const image = new Float32Array(n * cfg.inChannels * dec.h * dec.w);
  for (let i = 0; i < image.length; i++) {
    let s = 0;
    for (let t = 0; t < T; t++) s += dec.d[i * T + t] * f(Math.pow(0.8, T - 1 - t));
    image[i] = f(Math.tanh(s));
  }
  return { xE: xE.d, qZ: q.d, z, pZ: p.d, image };
}
