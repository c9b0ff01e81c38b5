/**
 * Differentiable operations. Each op checks its shapes (naming itself and the
 * shapes on a mismatch), computes the forward result with the current kernel
 * back-end or plain loops, and, when gradients are needed, records a closure
 * that accumulates the input gradients.
 */
import { allocFloat32, allocFloat32Output, releaseFloat32 } from './alloc.js';
import { ShapeError, fmtShape } from '../util/errors.js';
import { backend } from './backend/index.js';
import type { Conv2dGeometry, GradSums, NeuronAffine } from './backend/types.js';
import { Shape, Tensor, makeResult, sizeOf } from './tensor.js';

// ---------------------------------------------------------------- helpers

function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) throw new ShapeError(op, `axis ${axis} out of range for ${ndim}-d tensor`);
  return a;
}

function broadcastShape(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(op, `shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of `shape` seen inside `outShape`, 0 along broadcast dimensions. */
function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const s = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((d, i) => {
    const j = i - off;
    if (j < 0) return 0;
    return shape[j] === 1 && d !== 1 ? 0 : s[j];
  });
}

/**
 * Walks outShape in row-major order, one row of its last axis at a time:
 * row(i, ia, ib, len, la, lb) covers out elements i .. i + len − 1, whose
 * operands start at ia and ib and advance by la and lb. Adjacent axes along
 * which both operands step uniformly (contiguous, or both broadcast) are
 * merged first, so rows are as long as the layouts allow (TAID's per-channel
 * weights times a [T, N, C, H, W] tensor: rows of H·W). Callers loop over a
 * row themselves: a callback per element, as this walk once made, cost a
 * megamorphic call for every value. The elements are visited in the same
 * order either way, so every sum is added in the same order.
 */
function forEachRow(
  outShape: Shape,
  sa: number[],
  sb: number[],
  row: (i: number, ia: number, ib: number, len: number, la: number, lb: number) => void,
): void {
  if (sizeOf(outShape) === 0) return;
  const shape: number[] = [];
  const A: number[] = [];
  const B: number[] = [];
  for (let d = 0; d < outShape.length; d++) {
    const n = outShape[d];
    if (n === 1) continue; // its index is always 0
    const k = shape.length - 1;
    if (k >= 0 && A[k] === sa[d] * n && B[k] === sb[d] * n) {
      shape[k] *= n;
      A[k] = sa[d];
      B[k] = sb[d];
    } else {
      shape.push(n);
      A.push(sa[d]);
      B.push(sb[d]);
    }
  }
  const nd = shape.length;
  if (nd === 0) {
    row(0, 0, 0, 1, 0, 0);
    return;
  }
  const last = shape[nd - 1];
  const la = A[nd - 1];
  const lb = B[nd - 1];
  const total = sizeOf(shape);
  const idx = new Array<number>(nd).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < total; i += last) {
    row(i, ia, ib, last, la, lb);
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      ia += A[d];
      ib += B[d];
      if (idx[d] < shape[d]) break;
      ia -= A[d] * shape[d];
      ib -= B[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/** Sums g (of outShape) down to inShape (reverse of broadcasting), each sum rounded to float32 after every add, in order. */
function reduceToShape(g: Float32Array, outShape: Shape, inShape: Shape): Float32Array {
  if (outShape.length === inShape.length && outShape.every((d, i) => d === inShape[i])) return g;
  const r = allocFloat32(sizeOf(inShape));
  const si = broadcastStrides(inShape, outShape);
  forEachRow(outShape, si, si, (i, ia, _ib, len, la) => {
    if (la === 0) {
      let acc = r[ia];
      for (let j = 0; j < len; j++) acc = Math.fround(acc + g[i + j]);
      r[ia] = acc;
    } else for (let j = 0; j < len; j++) r[ia + j * la] += g[i + j];
  });
  return r;
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// ---------------------------------------------------------------- elementwise binary

type BinaryKind = 'add' | 'sub' | 'mul' | 'div';

function binary(kind: BinaryKind, a: Tensor, b: Tensor): Tensor {
  const outShape = broadcastShape(kind, a.shape, b.shape);
  const n = sizeOf(outShape);
  const out = allocFloat32Output(n);
  const ad = a.data;
  const bd = b.data;
  if (sameShape(a.shape, b.shape)) {
    if (kind === 'add') for (let i = 0; i < n; i++) out[i] = ad[i] + bd[i];
    else if (kind === 'sub') for (let i = 0; i < n; i++) out[i] = ad[i] - bd[i];
    else if (kind === 'mul') for (let i = 0; i < n; i++) out[i] = ad[i] * bd[i];
    else for (let i = 0; i < n; i++) out[i] = ad[i] / bd[i];
  } else {
    const sa = broadcastStrides(a.shape, outShape);
    const sb = broadcastStrides(b.shape, outShape);
    if (kind === 'add')
      forEachRow(outShape, sa, sb, (i, ia, ib, len, la, lb) => {
        for (let j = 0; j < len; j++) out[i + j] = ad[ia + j * la] + bd[ib + j * lb];
      });
    else if (kind === 'sub')
      forEachRow(outShape, sa, sb, (i, ia, ib, len, la, lb) => {
        for (let j = 0; j < len; j++) out[i + j] = ad[ia + j * la] - bd[ib + j * lb];
      });
    else if (kind === 'mul')
      forEachRow(outShape, sa, sb, (i, ia, ib, len, la, lb) => {
        for (let j = 0; j < len; j++) out[i + j] = ad[ia + j * la] * bd[ib + j * lb];
      });
    else
      forEachRow(outShape, sa, sb, (i, ia, ib, len, la, lb) => {
        for (let j = 0; j < len; j++) out[i + j] = ad[ia + j * la] / bd[ib + j * lb];
      });
  }
  const result = makeResult(kind, out, outShape, [a, b], (g) => {
    if (a.requiresGrad) {
      let ga: Float32Array;
      if (kind === 'add' || kind === 'sub') ga = g;
      else {
        ga = allocFloat32(n);
        const sb = broadcastStrides(b.shape, outShape);
        if (kind === 'mul')
          forEachRow(outShape, sb, sb, (i, ib, _, len, lb) => {
            for (let j = 0; j < len; j++) ga[i + j] = g[i + j] * bd[ib + j * lb];
          });
        else
          forEachRow(outShape, sb, sb, (i, ib, _, len, lb) => {
            for (let j = 0; j < len; j++) ga[i + j] = g[i + j] / bd[ib + j * lb];
          });
      }
      a.accumulateGrad(reduceToShape(ga, outShape, a.shape));
    }
    if (b.requiresGrad) {
      let gb: Float32Array;
      if (kind === 'add') gb = g;
      else {
        gb = allocFloat32(n);
        const sa = broadcastStrides(a.shape, outShape);
        const sbb = broadcastStrides(b.shape, outShape);
        if (kind === 'sub') for (let i = 0; i < n; i++) gb[i] = -g[i];
        else if (kind === 'mul')
          forEachRow(outShape, sa, sa, (i, ia, _, len, la) => {
            for (let j = 0; j < len; j++) gb[i + j] = g[i + j] * ad[ia + j * la];
          });
        else
          forEachRow(outShape, sa, sbb, (i, ia, ib, len, la, lb) => {
            for (let j = 0; j < len; j++) gb[i + j] = (-g[i + j] * ad[ia + j * la]) / (bd[ib + j * lb] * bd[ib + j * lb]);
          });
      }
      b.accumulateGrad(reduceToShape(gb, outShape, b.shape));
    }
  });
  result.binary = kind === 'mul' && a.binary && b.binary;
  return result;
}

export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binary('div', a, b);

// ---------------------------------------------------------------- elementwise unary

/**
 * Unary op helper: f computes outputs; df(x, y) is the local derivative,
 * given the input and output values.
 */
function unary(op: string, x: Tensor, f: (v: number) => number, df: (v: number, y: number) => number): Tensor {
  const n = x.size;
  const out = allocFloat32Output(n);
  const xd = x.data;
  for (let i = 0; i < n; i++) out[i] = f(xd[i]);
  return makeResult(op, out, x.shape, [x], (g) => {
    const gx = x.gradBuffer();
    for (let i = 0; i < n; i++) gx[i] += g[i] * df(xd[i], out[i]);
  });
}

/**
 * x·c with its own loops rather than unary's: every mean is a scale (FSVAE's
 * means over k, 2 × 131,072 elements a step at batch 64), and unary's shared
 * loop calls f and df through a megamorphic call site that V8 cannot inline,
 * so it boxes every product as a heap number (scale's share: about 6 of the
 * 39 MB of JavaScript heap an FSVAE step at batch 64 allocated). The first
 * gradient is written as 0 + g·c, what adding to a cleared buffer gives (−0
 * included), without clearing the buffer first.
 */
export function scale(x: Tensor, c: number): Tensor {
  const n = x.size;
  const out = allocFloat32Output(n);
  const xd = x.data;
  for (let i = 0; i < n; i++) out[i] = xd[i] * c;
  return makeResult('scale', out, x.shape, [x], (g) => {
    x.addGradWith((gx, accumulate) => {
      if (accumulate) for (let i = 0; i < n; i++) gx[i] += g[i] * c;
      else for (let i = 0; i < n; i++) gx[i] = 0 + g[i] * c;
    });
  });
}

export function addScalar(x: Tensor, c: number): Tensor {
  return unary('addScalar', x, (v) => v + c, () => 1);
}

export function neg(x: Tensor): Tensor {
  return unary('neg', x, (v) => -v, () => -1);
}

// tanh and square have loops of their own, as scale does, and leakyRelu a
// kernel of the back-end: through unary's shared loop (f and df called at a
// megamorphic site, every value boxed) they took most of an ANN VAE step
// (leakyRelu after each of its batch norms: 105 of 171 ms at batch 64). Each
// computes exactly unary's expressions, in float64 and rounded once, and
// writes its first gradient as 0 + g·f'(x), what adding to a cleared buffer
// gives.

export function tanh(x: Tensor): Tensor {
  const n = x.size;
  const out = allocFloat32Output(n);
  const xd = x.data;
  for (let i = 0; i < n; i++) out[i] = Math.tanh(xd[i]);
  return makeResult('tanh', out, x.shape, [x], (g) => {
    x.addGradWith((gx, accumulate) => {
      if (accumulate) for (let i = 0; i < n; i++) gx[i] += g[i] * (1 - out[i] * out[i]);
      else for (let i = 0; i < n; i++) gx[i] = 0 + g[i] * (1 - out[i] * out[i]);
    });
  });
}

export function sigmoid(x: Tensor): Tensor {
  return unary(
    'sigmoid',
    x,
    (v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v))),
    (_v, y) => y * (1 - y),
  );
}

export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  const n = x.size;
  const out = allocFloat32Output(n);
  const xd = x.data;
  const be = backend();
  be.leakyRelu(n, xd, out, slope);
  return makeResult('leakyRelu', out, x.shape, [x], (g) => {
    x.addGradWith((gx, accumulate) => be.leakyReluBackward(n, xd, g, gx, slope, accumulate));
  });
}

export function relu(x: Tensor): Tensor {
  return unary('relu', x, (v) => (v > 0 ? v : 0), (v) => (v > 0 ? 1 : 0));
}

export function exp(x: Tensor): Tensor {
  return unary('exp', x, Math.exp, (_v, y) => y);
}

export function log(x: Tensor): Tensor {
  return unary('log', x, Math.log, (v) => 1 / v);
}

export function square(x: Tensor): Tensor {
  const n = x.size;
  const out = allocFloat32Output(n);
  const xd = x.data;
  for (let i = 0; i < n; i++) out[i] = xd[i] * xd[i];
  return makeResult('square', out, x.shape, [x], (g) => {
    x.addGradWith((gx, accumulate) => {
      if (accumulate) for (let i = 0; i < n; i++) gx[i] += g[i] * (2 * xd[i]);
      else for (let i = 0; i < n; i++) gx[i] = 0 + g[i] * (2 * xd[i]);
    });
  });
}

// ---------------------------------------------------------------- reductions

/** Sum over the given axes (all axes when omitted). */
export function sum(x: Tensor, axes?: number[], keepDims = false): Tensor {
  const nd = x.ndim;
  const ax = new Set((axes ?? x.shape.map((_, i) => i)).map((a) => normAxis('sum', a, nd)));
  const keptShape = x.shape.map((d, i) => (ax.has(i) ? 1 : d));
  const outShape = keepDims ? keptShape : x.shape.filter((_, i) => !ax.has(i));
  const out = new Float64Array(sizeOf(keptShape));
  const xd = x.data;
  // Reducing trailing axes (FSVAE's mean over k, whole-tensor sums) is a sum
  // of contiguous runs: the same additions in the same order as the general
  // walk below, without a callback per element.
  let suffix = true;
  for (let i = 0; i < nd; i++) if (ax.has(i) !== (i >= nd - ax.size)) suffix = false;
  if (suffix) {
    const inner = x.size / Math.max(out.length, 1);
    sumRuns(xd, out, inner);
    return makeResult('sum', new Float32Array(out), outShape, [x], (g) => {
      x.addGradWith((gx, accumulate) => spreadRuns(g, gx, out.length, inner, accumulate));
    });
  }
  const so = broadcastStrides(keptShape, x.shape);
  forEachRow(x.shape, so, so, (i, io, _, len, lo) => {
    if (lo === 0) {
      let acc = out[io];
      for (let j = 0; j < len; j++) acc += xd[i + j];
      out[io] = acc;
    } else for (let j = 0; j < len; j++) out[io + j * lo] += xd[i + j];
  });
  return makeResult('sum', Float32Array.from(out), outShape, [x], (g) => {
    const gx = x.gradBuffer();
    forEachRow(x.shape, so, so, (i, io, _, len, lo) => {
      for (let j = 0; j < len; j++) gx[i + j] += g[io + j * lo];
    });
  });
}

/**
 * out[o] = Σ_j x[o·inner + j], each run added in order in float64 from 0.
 * Four runs at a time: a single run's adds wait on each other's latency
 * (FSVAE's mean over k sums 131,072 runs of 20 per call), four independent
 * chains do not. Every run's additions are the same, in the same order.
 */
function sumRuns(x: Float32Array, out: Float64Array, inner: number): void {
  const n = out.length;
  let o = 0;
  for (; o + 4 <= n; o += 4) {
    const b0 = o * inner;
    const b1 = b0 + inner;
    const b2 = b1 + inner;
    const b3 = b2 + inner;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let j = 0; j < inner; j++) {
      a0 += x[b0 + j];
      a1 += x[b1 + j];
      a2 += x[b2 + j];
      a3 += x[b3 + j];
    }
    out[o] = a0;
    out[o + 1] = a1;
    out[o + 2] = a2;
    out[o + 3] = a3;
  }
  for (; o < n; o++) {
    const b = o * inner;
    let a = 0;
    for (let j = 0; j < inner; j++) a += x[b + j];
    out[o] = a;
  }
}

/**
 * sumRuns' backward: g[o] into every element of run o, added to gx or, for
 * the first gradient, written as 0 + g[o] (what adding to a cleared buffer
 * gives, −0 included) without clearing the buffer first.
 */
function spreadRuns(g: Float32Array, gx: Float32Array, n: number, inner: number, accumulate: boolean): void {
  for (let o = 0; o < n; o++) {
    const b = o * inner;
    const gv = g[o];
    if (accumulate) for (let j = 0; j < inner; j++) gx[b + j] += gv;
    else {
      const v = 0 + gv;
      for (let j = 0; j < inner; j++) gx[b + j] = v;
    }
  }
}

export function mean(x: Tensor, axes?: number[], keepDims = false): Tensor {
  const nd = x.ndim;
  const ax = (axes ?? x.shape.map((_, i) => i)).map((a) => normAxis('mean', a, nd));
  let count = 1;
  for (const a of new Set(ax)) count *= x.shape[a];
  return scale(sum(x, ax, keepDims), 1 / count);
}

// ---------------------------------------------------------------- shape ops

export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const inferred = s.indexOf(-1);
  if (inferred >= 0) {
    const rest = sizeOf(s.filter((_, i) => i !== inferred));
    s[inferred] = rest === 0 ? 0 : x.size / rest;
  }
  if (sizeOf(s) !== x.size || s.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError('reshape', `cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  // The output's gradient is handed over: the engine drops it once propagated.
  const r = makeResult('reshape', x.data, s, [x], (g) => x.takeGrad(g));
  r.binary = x.binary;
  return r;
}

/** General axis permutation (numpy transpose). */
export function permute(x: Tensor, perm: number[]): Tensor {
  const nd = x.ndim;
  if (perm.length !== nd || new Set(perm.map((p) => normAxis('permute', p, nd))).size !== nd) {
    throw new ShapeError('permute', `invalid permutation [${perm.join(', ')}] for shape ${fmtShape(x.shape)}`);
  }
  const p = perm.map((a) => normAxis('permute', a, nd));
  const outShape = p.map((a) => x.shape[a]);
  const sx = stridesOf(x.shape);
  const srcStrides = p.map((a) => sx[a]);
  const out = allocFloat32(x.size);
  const xd = x.data;
  forEachRow(outShape, srcStrides, srcStrides, (i, is, _, len, ls) => {
    for (let j = 0; j < len; j++) out[i + j] = xd[is + j * ls];
  });
  const r = makeResult('permute', out, outShape, [x], (g) => {
    const gx = x.gradBuffer();
    forEachRow(outShape, srcStrides, srcStrides, (i, is, _, len, ls) => {
      for (let j = 0; j < len; j++) gx[is + j * ls] += g[i + j];
    });
  });
  r.binary = x.binary;
  return r;
}

export function transpose(x: Tensor, a0: number, a1: number): Tensor {
  const perm = x.shape.map((_, i) => i);
  const i0 = normAxis('transpose', a0, x.ndim);
  const i1 = normAxis('transpose', a1, x.ndim);
  perm[i0] = i1;
  perm[i1] = i0;
  return permute(x, perm);
}

/** Concatenation along one axis. */
export function concat(xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ShapeError('concat', 'no tensors given');
  const nd = xs[0].ndim;
  const ax = normAxis('concat', axis, nd);
  for (const t of xs) {
    if (t.ndim !== nd || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new ShapeError('concat', `shapes ${xs.map((u) => fmtShape(u.shape)).join(' and ')} differ outside axis ${ax}`);
    }
  }
  const outer = sizeOf(xs[0].shape.slice(0, ax));
  const inner = sizeOf(xs[0].shape.slice(ax + 1));
  const total = xs.reduce((s, t) => s + t.shape[ax], 0);
  const outShape = [...xs[0].shape];
  outShape[ax] = total;
  const out = allocFloat32(sizeOf(outShape));
  const rowOut = total * inner;
  let off = 0;
  const offsets: number[] = [];
  for (const t of xs) {
    offsets.push(off);
    const len = t.shape[ax] * inner;
    for (let o = 0; o < outer; o++) out.set(t.data.subarray(o * len, (o + 1) * len), o * rowOut + off);
    off += len;
  }
  const r = makeResult('concat', out, outShape, xs, (g) => {
    xs.forEach((t, k) => {
      if (!t.requiresGrad) return;
      const len = t.shape[ax] * inner;
      const gx = t.gradBuffer();
      for (let o = 0; o < outer; o++) {
        const src = o * rowOut + offsets[k];
        const dst = o * len;
        for (let i = 0; i < len; i++) gx[dst + i] += g[src + i];
      }
    });
  });
  r.binary = xs.every((t) => t.binary);
  return r;
}

/** x[..., start:end, ...] along one axis. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = normAxis('slice', axis, x.ndim);
  const d = x.shape[ax];
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end <= d && start <= end)) {
    throw new ShapeError('slice', `range ${start}:${end} out of bounds for axis ${ax} of ${fmtShape(x.shape)}`);
  }
  const outer = sizeOf(x.shape.slice(0, ax));
  const inner = sizeOf(x.shape.slice(ax + 1));
  const outShape = [...x.shape];
  outShape[ax] = end - start;
  const len = (end - start) * inner;
  const out = allocFloat32(outer * len);
  if (ax === 0) out.set(x.data.subarray(start * inner, end * inner));
  else for (let o = 0; o < outer; o++) out.set(x.data.subarray(o * d * inner + start * inner, o * d * inner + end * inner), o * len);
  const r = makeResult('slice', out, outShape, [x], (g) => {
    const gx = x.gradBuffer();
    for (let o = 0; o < outer; o++) {
      const dst = o * d * inner + start * inner;
      const src = o * len;
      for (let i = 0; i < len; i++) gx[dst + i] += g[src + i];
    }
  });
  r.binary = x.binary;
  return r;
}

/**
 * out[i] = x[i, index[i]] with x viewed as [rows, k] (the last axis) and
 * index of length rows: picks one element per row. Used for the FSVAE's
 * random one-of-k selection. The output drops the last axis.
 */
export function pickLastAxis(x: Tensor, index: Int32Array): Tensor {
  const k = x.shape[x.ndim - 1];
  const rows = x.size / k;
  if (index.length !== rows) {
    throw new ShapeError('pickLastAxis', `index has ${index.length} entries but ${fmtShape(x.shape)} has ${rows} rows`);
  }
  const out = allocFloat32(rows);
  const xd = x.data;
  for (let i = 0; i < rows; i++) {
    const j = index[i];
    if (!(j >= 0 && j < k)) throw new ShapeError('pickLastAxis', `index ${j} out of range [0, ${k})`);
    out[i] = xd[i * k + j];
  }
  const r = makeResult('pickLastAxis', out, x.shape.slice(0, -1), [x], (g) => {
    const gx = x.gradBuffer();
    for (let i = 0; i < rows; i++) gx[i * k + index[i]] += g[i];
  });
  r.binary = x.binary;
  return r;
}

// ---------------------------------------------------------------- dense layers

/** y = x W^T + b with x [..., in], W [out, in], b [out]. */
export function linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  if (w.ndim !== 2 || x.shape[x.ndim - 1] !== w.shape[1] || (b && (b.ndim !== 1 || b.shape[0] !== w.shape[0]))) {
    throw new ShapeError(
      'linear',
      `input ${fmtShape(x.shape)} does not match weight ${fmtShape(w.shape)}${b ? ` and bias ${fmtShape(b.shape)}` : ''}`,
    );
  }
  const [outF, inF] = w.shape;
  const m = x.size / inF;
  const y = allocFloat32Output(m * outF);
  const be = backend();
  be.gemm(false, true, m, outF, inF, x.data, w.data, y, 0, x.binary);
  if (b) addChannelBias(y, b.data, m, outF, 1);
  return makeResult('linear', y, [...x.shape.slice(0, -1), outF], b ? [x, w, b] : [x, w], (g) => {
    if (x.requiresGrad) {
      // gx = g W : [m, out] x [out, in]
      const gx = x.gradBuffer();
      be.gemm(false, false, m, inF, outF, g, w.data, gx, 1);
    }
    if (w.requiresGrad) {
      // gW += g^T x : [out, m] x [m, in]
      be.gemm(true, false, outF, inF, m, g, x.data, w.gradBuffer(), 1);
    }
    if (b && b.requiresGrad) channelBiasGrad(g, b.gradBuffer(), m, outF, 1);
  });
}

/** y[n, c, :] += bias[c] in place (as 1·y + bias, which rounds exactly like the add). */
function addChannelBias(y: Float32Array, bias: Float32Array, batch: number, channels: number, plane: number): void {
  backend().channelAffine(batch, channels, plane, y, onesOf(channels), bias, y);
}

/** gb[c] += Σ_{n, i} g[n, c, i], summed in float64. */
function channelBiasGrad(g: Float32Array, gb: Float32Array, batch: number, channels: number, plane: number): void {
  const sums = new Float64Array(channels);
  backend().channelSums(batch, channels, plane, g, sums);
  for (let c = 0; c < channels; c++) gb[c] += sums[c];
}

const ones = new Map<number, Float32Array>();
function onesOf(n: number): Float32Array {
  let a = ones.get(n);
  if (!a) ones.set(n, (a = new Float32Array(n).fill(1)));
  return a;
}

function accumulateInto(dst: Float32Array, src: Float32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

/** 2-D convolution: x [N, C, H, W], w [O, C, k, k] (a trailing 1 of a Conv3d weight is allowed), b [O]. */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | null, stride: number, padding: number): Tensor {
  const wk = w.shape;
  const okW = (wk.length === 4 || (wk.length === 5 && wk[4] === 1)) && wk[2] === wk[3];
  if (x.ndim !== 4 || !okW || x.shape[1] !== wk[1] || (b && b.size !== wk[0])) {
    throw new ShapeError('conv2d', `input ${fmtShape(x.shape)} does not match weight ${fmtShape(wk)}${b ? ` and bias ${fmtShape(b.shape)}` : ''}`);
  }
  const [N, C, H, W] = x.shape;
  const [O, , K] = wk;
  const OH = Math.floor((H + 2 * padding - K) / stride) + 1;
  const OW = Math.floor((W + 2 * padding - K) / stride) + 1;
  if (OH < 1 || OW < 1) throw new ShapeError('conv2d', `input ${fmtShape(x.shape)} is smaller than kernel ${K} with padding ${padding}`);
  const geo: Conv2dGeometry = { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernel: K, stride, padding };
  const be = backend();
  const y = allocFloat32Output(N * O * OH * OW);
  be.conv2dForward(geo, x.data, w.data, b ? b.data : null, y, x.binary);
  return makeResult('conv2d', y, [N, O, OH, OW], b ? [x, w, b] : [x, w], (g) => {
    if (x.requiresGrad) x.addGradWith((gx, accumulate) => be.conv2dBackwardData(geo, g, w.data, gx, accumulate));
    if (w.requiresGrad) be.conv2dBackwardWeight(geo, x.data, g, w.gradBuffer(), true, x.binary);
    if (b && b.requiresGrad) channelBiasGrad(g, b.gradBuffer(), N, O, OH * OW);
  });
}

/**
 * Transposed 2-D convolution (PyTorch ConvTranspose2d): x [N, Ci, H, W],
 * w [Ci, Co, k, k] (trailing 1 allowed), b [Co].
 * Output size (H-1)*stride - 2*padding + k + outputPadding.
 */
export function convTranspose2d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  stride: number,
  padding: number,
  outputPadding = 0,
): Tensor {
  const wk = w.shape;
  const okW = (wk.length === 4 || (wk.length === 5 && wk[4] === 1)) && wk[2] === wk[3];
  if (x.ndim !== 4 || !okW || x.shape[1] !== wk[0] || (b && b.size !== wk[1])) {
    throw new ShapeError('convTranspose2d', `input ${fmtShape(x.shape)} does not match weight ${fmtShape(wk)}${b ? ` and bias ${fmtShape(b.shape)}` : ''}`);
  }
  if (outputPadding >= stride && outputPadding > 0) {
    throw new ShapeError('convTranspose2d', `output padding ${outputPadding} must be smaller than stride ${stride}`);
  }
  const [N, Ci, H, W] = x.shape;
  const [, Co, K] = wk;
  const OH = (H - 1) * stride - 2 * padding + K + outputPadding;
  const OW = (W - 1) * stride - 2 * padding + K + outputPadding;
  // Seen from the forward-conv side: its input is our output, its output our input.
  const geo: Conv2dGeometry = { batch: N, inChannels: Co, inHeight: OH, inWidth: OW, outChannels: Ci, outHeight: H, outWidth: W, kernel: K, stride, padding };
  const be = backend();
  const y = allocFloat32Output(N * Co * OH * OW);
  be.conv2dBackwardData(geo, x.data, w.data, y, false, x.binary);
  if (b) addChannelBias(y, b.data, N, Co, OH * OW);
  return makeResult('convTranspose2d', y, [N, Co, OH, OW], b ? [x, w, b] : [x, w], (g) => {
    if (x.requiresGrad) {
      // conv2dForward only writes: a later gradient goes through a temporary.
      x.addGradWith((gx, accumulate) => {
        if (!accumulate) return be.conv2dForward(geo, g, w.data, null, gx);
        const tmp = allocFloat32Output(x.size);
        be.conv2dForward(geo, g, w.data, null, tmp);
        accumulateInto(gx, tmp);
        releaseFloat32(tmp);
      });
    }
    if (w.requiresGrad) be.conv2dBackwardWeight(geo, g, x.data, w.gradBuffer(), true);
    if (b && b.requiresGrad) channelBiasGrad(g, b.gradBuffer(), N, Co, OH * OW);
  });
}

/**
 * Max pooling over k×k windows with stride s (no padding, floor mode):
 * x [N, C, H, W] → [N, C, ⌊(H − k)/s⌋ + 1, ⌊(W − k)/s⌋ + 1]. The gradient goes
 * to the first maximum of each window in row-major order, as PyTorch's CPU
 * kernel picks it (strict >, starting from −∞): with spikes, a window of ties
 * (all 0 or several 1) sends it to its first element or its first spike.
 */
export function maxPool2d(x: Tensor, k: number, s = k): Tensor {
  if (x.ndim !== 4) throw new ShapeError('maxPool2d', `expects [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [N, C, H, W] = x.shape;
  if (!(k >= 1 && k <= 15 && s >= 1) || H < k || W < k) throw new ShapeError('maxPool2d', `window ${k} stride ${s} does not fit ${fmtShape(x.shape)}`);
  if (k === 2 && s === 2 && H % 2 === 0 && W % 2 === 0) return maxPool2x2(x);
  const OH = Math.floor((H - k) / s) + 1;
  const OW = Math.floor((W - k) / s) + 1;
  const planes = N * C;
  const y = allocFloat32Output(planes * OH * OW);
  // The winning tap (kh·k + kw) of every output, for the backward.
  const arg = new Uint8Array(planes * OH * OW);
  const xd = x.data;
  for (let p = 0; p < planes; p++) {
    const xo = p * H * W;
    const yo = p * OH * OW;
    for (let oh = 0; oh < OH; oh++) {
      const row = xo + oh * s * W;
      const out = yo + oh * OW;
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity;
        let at = 0;
        for (let kh = 0; kh < k; kh++) {
          const r = row + kh * W + ow * s;
          for (let kw = 0; kw < k; kw++) {
            const v = xd[r + kw];
            if (v > best || v !== v) {
              best = v;
              at = kh * k + kw;
            }
          }
        }
        y[out + ow] = best;
        arg[out + ow] = at;
      }
    }
  }
  const out = makeResult('maxPool2d', y, [N, C, OH, OW], [x], (g) => {
    const gx = x.gradBuffer();
    for (let p = 0; p < planes; p++) {
      const xo = p * H * W;
      const yo = p * OH * OW;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const i = yo + oh * OW + ow;
          const a = arg[i];
          gx[xo + (oh * s + ((a / k) | 0)) * W + ow * s + (a % k)] += g[i];
        }
      }
    }
  });
  out.binary = x.binary;
  return out;
}

/**
 * The networks' 2×2 stride-2 pooling over even sizes (the windows tile the
 * input), in the back-end: the same winners as maxPool2d's loop, and a
 * backward that writes every input element once (its gradient or 0), so it
 * needs no zeroed buffer. The backward finds the winners again from x, which
 * is alive until its own producer's backward.
 */
function maxPool2x2(x: Tensor): Tensor {
  const [N, C, H, W] = x.shape;
  const planes = N * C;
  const be = backend();
  const y = allocFloat32Output(x.size / 4);
  be.maxPool2x2Forward(planes, H, W, x.data, y);
  const out = makeResult('maxPool2d', y, [N, C, H / 2, W / 2], [x], (g) => {
    x.addGradWith((gx, accumulate) => be.maxPool2x2Backward(planes, H, W, x.data, g, gx, accumulate));
  });
  out.binary = x.binary;
  return out;
}

// ---------------------------------------------------------------- normalisation

export interface BatchNormState {
  runningMean: Float32Array;
  runningVar: Float32Array;
  /** num_batches_tracked, kept as a JS number (saved as I64). */
  numBatchesTracked: { value: number };
}

export interface BatchNormOptions {
  /** The channel axis of x; statistics are over every other axis. */
  axis: number;
  training: boolean;
  momentum?: number;
  eps?: number;
  /** Multiplies the normalised value (tdBN: alpha * Vth). */
  scale?: number;
  /** When false in training, running statistics are left alone. */
  updateStats?: boolean;
  /**
   * Statistics per index of axis 0 (the time axis): each time step is
   * normalised as a batch of its own, as a BatchNorm2d called once per step
   * of a step-by-step network does (the running statistics are then updated
   * once per step, in step order). Not with `lif`, whose tdBN normalises over
   * time.
   */
  perStep?: boolean;
  /**
   * Fuse a LIF neuron over the leading (time) axis after the normalisation:
   * the output is spikes, and the normalised values are never kept (the LIF
   * membrane overwrites them in place), which saves one activation-sized
   * buffer per spiking layer.
   */
  lif?: FusedLifOptions;
  /**
   * Fuse another neuron (one with parameters of its own, snn/plif.ts) after
   * the normalisation in the same way: only its spikes are kept.
   */
  neuron?: FusedNeuron;
  /**
   * With `neuron`: x holds a single time step ([1, ...]) that is the same at
   * every one of `repeat` steps, as FusedLifOptions.repeat describes.
   */
  repeat?: number;
}

export interface FusedLifOptions {
  decay: number;
  threshold: number;
  halfWidth: number;
  height: number;
  /**
   * x holds a single time step ([1, ...]) that is the same at every one of
   * `repeat` steps (an image repeated over time): the output is [repeat, ...]
   * spikes, equal to normalising the repeated input (its statistics are those
   * of one copy; the running variance's n/(n−1) counts every step), while the
   * normalisation and its backward run on one step. x's gradient is the sum
   * of the repeated copies' gradients, as the repeat's backward gives it.
   */
  repeat?: number;
  /**
   * The output is not the spikes o_t but their weighted sum over time
   * Σ_t timeSum[t]·o_t (shape x.shape without its time axis): what
   * membraneOutput of the spikes gives, bit for bit, for a layer whose spikes
   * feed nothing else (the decoder's last spiking layer). The spikes are
   * never stored, which saves writing and twice reading an activation-sized
   * array (and the backward replays them). Not with `repeat`.
   */
  timeSum?: Float32Array;
}

/**
 * A neuron run over time on the output y = a_c·x + b_c of a batch norm,
 * without y ever being stored (the kernels take x and the coefficients).
 */
export interface FusedNeuron {
  /** The neuron's own tensors that may need gradients (inputs of the fused op). */
  readonly params: Tensor[];
  /** Spikes [steps, size] of the neuron driven by y. */
  forward(steps: number, size: number, x: Float32Array, affine: NeuronAffine, repeated: boolean): Float32Array;
  /**
   * The shape of what `forward` returns, when that is not the spikes [steps,
   * ...x's other axes] (a neuron that pools its spikes); `backward` then gets
   * the gradient of that output as go.
   */
  outputShape?(spikeShape: number[]): number[];
  /**
   * Writes dL/dy into gy ([steps, size], which may be go itself; [size] summed
   * over the steps when repeated) and adds the gradients of `params`.
   */
  backward(steps: number, size: number, x: Float32Array, o: Float32Array, go: Float32Array, gy: Float32Array, affine: NeuronAffine, repeated: boolean): void;
}

/**
 * Batch normalisation over every axis but `axis`:
 * y = scale * (x - mean) / sqrt(var + eps) * weight + bias. In training the
 * batch statistics (biased variance) are used and the running statistics
 * updated with momentum and the unbiased correction n/(n-1), as PyTorch does.
 */
export function batchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, state: BatchNormState | null, opts: BatchNormOptions): Tensor {
  const ax = normAxis('batchNorm', opts.axis, x.ndim);
  const C = x.shape[ax];
  if ((weight && weight.size !== C) || (bias && bias.size !== C) || (state && state.runningMean.length !== C)) {
    throw new ShapeError('batchNorm', `input ${fmtShape(x.shape)} has ${C} channels on axis ${ax} but the parameters have ${weight?.size ?? bias?.size ?? state?.runningMean.length}`);
  }
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum ?? 0.1;
  const sc = opts.scale ?? 1;
  const outer = sizeOf(x.shape.slice(0, ax));
  const inner = sizeOf(x.shape.slice(ax + 1));
  const repeat = opts.lif?.repeat ?? opts.repeat ?? 1;
  if (repeat !== 1 && (x.shape[0] !== 1 || ax === 0 || !Number.isInteger(repeat) || repeat < 1)) {
    throw new ShapeError('batchNorm', `a neuron over ${repeat} repeated steps needs one time step on axis 0, got ${fmtShape(x.shape)}`);
  }
  if (opts.perStep && (ax === 0 || opts.lif)) {
    throw new ShapeError('batchNorm', ax === 0 ? 'statistics per step need the time axis (0) before the channel axis' : 'a fused LIF (tdBN) normalises over time, not per step');
  }
  if (opts.lif && opts.neuron) throw new ShapeError('batchNorm', 'fuses one neuron, not a LIF and another');
  // Statistics groups: every step of axis 0 on its own (perStep), or the whole input.
  const groups = opts.perStep ? x.shape[0] : 1;
  const gOuter = outer / groups;
  const gSize = gOuter * C * inner;
  const count = gOuter * inner;
  const be = backend();
  const meanC = new Float64Array(groups * C);
  const invStd = new Float64Array(groups * C);
  const useBatch = opts.training || !state;
  if (useBatch) {
    const varC = new Float64Array(groups * C);
    for (let g = 0; g < groups; g++) {
      const mean = meanC.subarray(g * C, (g + 1) * C);
      const variance = varC.subarray(g * C, (g + 1) * C);
      be.channelMeanVar(gOuter, C, inner, x.data.subarray(g * gSize, (g + 1) * gSize), mean, variance);
      for (let c = 0; c < C; c++) invStd[g * C + c] = 1 / Math.sqrt(variance[c] + eps);
      if (state && opts.training && opts.updateStats !== false) {
        const n = count * repeat;
        const unbias = n > 1 ? n / (n - 1) : 1;
        for (let c = 0; c < C; c++) {
          state.runningMean[c] = momentum * mean[c] + (1 - momentum) * state.runningMean[c];
          state.runningVar[c] = momentum * variance[c] * unbias + (1 - momentum) * state.runningVar[c];
        }
        state.numBatchesTracked.value += 1;
      }
    }
  } else {
    for (let i = 0; i < groups * C; i++) {
      meanC[i] = state!.runningMean[i % C];
      invStd[i] = 1 / Math.sqrt(state!.runningVar[i % C] + eps);
    }
  }
  const wd = weight?.data;
  const bd = bias?.data;
  // y = a_c * x + b_c with a_c = sc * w_c * invStd_c, b_c = bias_c - a_c * mean_c.
  const aC = allocFloat32(groups * C);
  const bC = allocFloat32(groups * C);
  for (let i = 0; i < groups * C; i++) {
    const c = i % C;
    aC[i] = sc * (wd ? wd[c] : 1) * invStd[i];
    bC[i] = (bd ? bd[c] : 0) - aC[i] * meanC[i];
  }
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const lifOpts = opts.lif;
  const neuron = opts.neuron;
  if (lifOpts || neuron) {
    if (ax === 0) throw new ShapeError('batchNorm', 'a fused neuron needs the time axis (0) before the channel axis');
    const repeated = repeat !== 1;
    const steps = repeated ? repeat : x.shape[0];
    const size = repeated ? x.size : x.size / steps;
    const shape = [steps, ...x.shape.slice(1)];
    if (neuron) {
      const affine: NeuronAffine = { channels: C, inner, a: aC, b: bC, perStep: groups > 1 };
      const o = neuron.forward(steps, size, x.data, affine, repeated);
      const out = makeResult('batchNormNeuron', o, neuron.outputShape?.(shape) ?? shape, [...inputs, ...neuron.params], (g) => {
        // As with the LIF: g is this output's own buffer, overwritten in place
        // with dL/dy when it has y's size (a repeated input's gradient is one
        // step, summed; a pooling neuron's output is smaller).
        const inPlace = !repeated && g.length === steps * size;
        const gy = inPlace ? g : allocFloat32Output(repeated ? size : steps * size);
        neuron.backward(steps, size, x.data, o, g, gy, affine, repeated);
        if (!normBackward(gy) && !inPlace) releaseFloat32(gy);
      });
      out.binary = true;
      return out;
    }
    const lo = lifOpts!;
    if (lo.timeSum) {
      const coef = lo.timeSum;
      if (repeated || coef.length !== steps) throw new ShapeError('batchNorm', repeated ? 'a time sum of a repeated input is not supported' : `${coef.length} time-sum coefficients for ${steps} time steps`);
      const summed = allocFloat32Output(size);
      be.affineLifTimeSum(steps, size, C, inner, x.data, aC, bC, coef, summed, lo.decay, lo.threshold);
      return makeResult('batchNormLifTimeSum', summed, x.shape.slice(1), inputs, (g) => {
        const gy = allocFloat32Output(steps * size);
        const sums = gradSums();
        be.lifBackwardTimeSum(steps, size, C, inner, x.data, aC, bC, coef, g, gy, lo.decay, lo.threshold, lo.halfWidth, lo.height, sums);
        if (!normBackward(gy, sums)) releaseFloat32(gy);
      });
    }
    // Only the spikes are kept: the backward replays the membrane from x and
    // the spikes, which saves an activation-sized buffer per spiking layer
    // between forward and backward (and the normalised values never exist).
    const o = allocFloat32Output(steps * size);
    be.affineLifForward(steps, size, C, inner, x.data, aC, bC, o, lo.decay, lo.threshold, repeated);
    const out = makeResult('batchNormLif', o, shape, inputs, (g) => {
      if (!repeated) {
        // g is this output's own gradient buffer (the engine drops it after
        // this call), and the LIF backward reads and writes each element once
        // at the same index, so it can run in place.
        const sums = gradSums();
        be.lifBackwardRecompute(steps, size, C, inner, x.data, aC, bC, o, g, g, lo.decay, lo.halfWidth, lo.height, false, sums);
        normBackward(g, sums);
        return;
      }
      // The normalisation's backward is linear in its output gradient, and x̂
      // is the same at every step: summing the steps' gradients first and
      // normalising once equals normalising each step and summing.
      const gSum = allocFloat32Output(size);
      const sums = gradSums();
      be.lifBackwardRecompute(steps, size, C, inner, x.data, aC, bC, o, g, gSum, lo.decay, lo.halfWidth, lo.height, true, sums);
      if (!normBackward(gSum, sums)) releaseFloat32(gSum);
    });
    out.binary = true;
    return out;
  }
  const y = allocFloat32Output(x.size);
  for (let g = 0; g < groups; g++) {
    const step = g * gSize;
    be.channelAffine(gOuter, C, inner, x.data.subarray(step, step + gSize), aC.subarray(g * C, (g + 1) * C), bC.subarray(g * C, (g + 1) * C), y.subarray(step, step + gSize));
  }
  return makeResult('batchNorm', y, x.shape, inputs, (g) => {
    normBackward(g);
  });

  function gradSums(): GradSums {
    return { mean: meanC, invStd, sumG: new Float64Array(groups * C), sumGX: new Float64Array(groups * C) };
  }

  /**
   * The normalisation's backward; `sums` when the LIF backward has already
   * computed them. g is disposable in every caller (the output's own gradient
   * buffer, which the engine drops afterwards, or a temporary of this op).
   * Returns true when x adopted g as its gradient (so it must not be released).
   */
  function normBackward(g: Float32Array, sums?: GradSums): boolean {
    const { sumG, sumGX } = sums ?? gradSums();
    const group = (a: Float64Array, k: number) => a.subarray(k * C, (k + 1) * C);
    if (!sums) {
      for (let k = 0; k < groups; k++) {
        be.channelGradSums(gOuter, C, inner, g.subarray(k * gSize, (k + 1) * gSize), x.data.subarray(k * gSize, (k + 1) * gSize), group(meanC, k), group(invStd, k), group(sumG, k), group(sumGX, k));
      }
    }
    if (weight && weight.requiresGrad) {
      const gw = weight.gradBuffer();
      for (let i = 0; i < groups * C; i++) gw[i % C] += sc * sumGX[i];
    }
    if (bias && bias.requiresGrad) {
      const gb = bias.gradBuffer();
      for (let i = 0; i < groups * C; i++) gb[i % C] += sumG[i];
    }
    if (!x.requiresGrad) return false;
    const write = (gx: Float32Array, accumulate: boolean) => {
      for (let k = 0; k < groups; k++) {
        const at = (a: Float32Array) => a.subarray(k * gSize, (k + 1) * gSize);
        be.channelNormBackward(gOuter, C, inner, at(g), at(x.data), aC.subarray(k * C, (k + 1) * C), group(meanC, k), group(invStd, k), group(sumG, k), group(sumGX, k), useBatch, at(gx), accumulate);
      }
    };
    if (x.grad === null && g.length === x.data.length) {
      // x's first gradient is written over g (each element is read and
      // written once, at the same index) and x adopts it: one activation-sized
      // buffer less at the peak of the backward (final_layer.0's is 524 MB at
      // batch 250).
      write(g, false);
      x.takeGrad(g);
      return true;
    }
    x.addGradWith(write);
    return false;
  }
}

// ---------------------------------------------------------------- losses

/** Mean squared error (PyTorch F.mse_loss with mean reduction). */
export function mseLoss(a: Tensor, b: Tensor): Tensor {
  if (!sameShape(a.shape, b.shape)) throw new ShapeError('mseLoss', `shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} differ`);
  const n = a.size;
  let s = 0;
  const ad = a.data;
  const bd = b.data;
  for (let i = 0; i < n; i++) {
    const d = ad[i] - bd[i];
    s += d * d;
  }
  return makeResult('mseLoss', new Float32Array([s / n]), [], [a, b], (g) => {
    const k = (2 * g[0]) / n;
    if (a.requiresGrad) {
      const ga = a.gradBuffer();
      for (let i = 0; i < n; i++) ga[i] += k * (ad[i] - bd[i]);
    }
    if (b.requiresGrad) {
      const gb = b.gradBuffer();
      for (let i = 0; i < n; i++) gb[i] -= k * (ad[i] - bd[i]);
    }
  });
}

/** Mean softmax cross-entropy of logits [N, K] against integer labels (PyTorch F.cross_entropy). */
export function crossEntropy(logits: Tensor, labels: ArrayLike<number>): Tensor {
  if (logits.ndim !== 2 || logits.shape[0] !== labels.length) {
    throw new ShapeError('crossEntropy', `logits ${fmtShape(logits.shape)} do not match ${labels.length} labels`);
  }
  const [n, k] = logits.shape;
  const probs = new Float64Array(n * k);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits.data[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += (probs[i * k + j] = Math.exp(logits.data[i * k + j] - m));
    for (let j = 0; j < k; j++) probs[i * k + j] /= s;
    const y = labels[i];
    if (!(y >= 0 && y < k)) throw new ShapeError('crossEntropy', `label ${y} outside [0, ${k})`);
    loss -= Math.log(Math.max(probs[i * k + y], 1e-300));
  }
  return makeResult('crossEntropy', new Float32Array([loss / n]), [], [logits], (g) => {
    const gl = logits.gradBuffer();
    const c = g[0] / n;
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) gl[i * k + j] += c * (probs[i * k + j] - (j === labels[i] ? 1 : 0));
  });
}
