/**
 * Pillow's resampling for 8-bit images, reproduced exactly (src/libImaging/
 * Resample.c): separable filters whose support widens when downscaling
 * (antialiasing), coefficients normalised then converted to fixed point with
 * 22 fraction bits, a horizontal pass into an 8-bit intermediate, then a
 * vertical pass, each output rounded by adding half and shifting. torchvision's
 * Resize on a PIL image calls exactly this, so MNIST's 28→32 resize matches
 * the reference byte for byte.
 */

const PRECISION_BITS = 32 - 8 - 2;

export type Filter = 'bilinear' | 'bicubic';

function bilinear(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

function bicubic(x: number): number {
  // Pillow uses a = -0.5.
  const a = -0.5;
  const ax = Math.abs(x);
  if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
  if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
  return 0;
}

const FILTERS: Record<Filter, { fn: (x: number) => number; support: number }> = {
  bilinear: { fn: bilinear, support: 1 },
  bicubic: { fn: bicubic, support: 2 },
};

export interface Coefficients {
  ksize: number;
  /** Per output pixel: first input index and count. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output pixel. */
  weights: Int32Array;
  /** The same weights before fixed-point conversion (for tests). */
  exact: Float64Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis over the box [in0, in1). */
export function resampleCoefficients(inSize: number, outSize: number, filter: Filter = 'bilinear', in0 = 0, in1 = inSize): Coefficients {
  const f = FILTERS[filter];
  const scale = (in1 - in0) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const exact = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    // C's (int) cast truncates toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = f.fn((x + xmin - center + 0.5) * ss);
      exact[xx * ksize + x] = w;
      ww += w;
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) exact[xx * ksize + x] /= ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const weights = new Int32Array(exact.length);
  const one = 1 << PRECISION_BITS;
  for (let i = 0; i < exact.length; i++) weights[i] = Math.trunc(exact[i] < 0 ? -0.5 + exact[i] * one : 0.5 + exact[i] * one);
  return { ksize, bounds, weights, exact };
}

function clip8(v: number): number {
  if (v >= 1 << PRECISION_BITS << 8) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * A resize of fixed geometry, with Pillow's coefficients computed once: the
 * datasets resize tens of thousands of same-sized planes.
 */
export class PlaneResizer {
  private readonly ch: Coefficients;
  private readonly cv: Coefficients;
  private readonly needH: boolean;
  private readonly needV: boolean;
  private readonly yFirst: number;
  private readonly tmp: Uint8Array;

  constructor(
    readonly inW: number,
    readonly inH: number,
    readonly outW: number,
    readonly outH: number,
    filter: Filter = 'bilinear',
    box: [number, number, number, number] = [0, 0, inW, inH],
  ) {
    // Pillow skips a pass whose axis keeps its size and box (ImagingResampleInner).
    this.needH = outW !== inW || box[0] !== 0 || box[2] !== outW;
    this.needV = outH !== inH || box[1] !== 0 || box[3] !== outH;
    this.ch = resampleCoefficients(inW, outW, filter, box[0], box[2]);
    this.cv = resampleCoefficients(inH, outH, filter, box[1], box[3]);
    // Only the source rows the vertical pass reads go through the horizontal pass.
    this.yFirst = this.needV && this.needH ? this.cv.bounds[0] : 0;
    const yLast = this.needV ? this.cv.bounds[(outH - 1) * 2] + this.cv.bounds[(outH - 1) * 2 + 1] : inH;
    this.tmp = new Uint8Array(this.needH ? (yLast - this.yFirst) * outW : 0);
  }

  /** src: [inH, inW] plane (row stride inW); writes [outH, outW] into out at outOffset. */
  resize(src: Uint8Array, out: Uint8Array = new Uint8Array(this.outW * this.outH), outOffset = 0): Uint8Array {
    const { inW, outW, outH, ch, cv } = this;
    let tmp: Uint8Array;
    let tmpW: number;
    if (this.needH) {
      tmp = this.needV ? this.tmp : out.subarray(outOffset, outOffset + outW * outH);
      const rows = this.needV ? this.tmp.length / outW : outH;
      for (let y = 0; y < rows; y++) {
        const srow = (y + this.yFirst) * inW;
        for (let xx = 0; xx < outW; xx++) {
          const xmin = ch.bounds[xx * 2];
          const xmax = ch.bounds[xx * 2 + 1];
          const k = xx * ch.ksize;
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) ss += src[srow + x + xmin] * ch.weights[k + x];
          tmp[y * outW + xx] = clip8(ss);
        }
      }
      if (!this.needV) return out;
      tmpW = outW;
    } else {
      if (!this.needV) {
        out.set(src.subarray(0, outW * outH), outOffset);
        return out;
      }
      tmp = src;
      tmpW = inW;
    }
    for (let yy = 0; yy < outH; yy++) {
      const ymin = cv.bounds[yy * 2] - this.yFirst;
      const ymax = cv.bounds[yy * 2 + 1];
      const k = yy * cv.ksize;
      const o = outOffset + yy * tmpW;
      for (let xx = 0; xx < tmpW; xx++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) ss += tmp[(y + ymin) * tmpW + xx] * cv.weights[k + y];
        out[o + xx] = clip8(ss);
      }
    }
    return out;
  }
}

/**
 * Resizes one 8-bit channel plane [inH, inW] → [outH, outW] like
 * PIL Image.resize((outW, outH), filter) (box = whole image unless given).
 */
export function resizePlane8(
  src: Uint8Array,
  inW: number,
  inH: number,
  outW: number,
  outH: number,
  filter: Filter = 'bilinear',
  box: [number, number, number, number] = [0, 0, inW, inH],
): Uint8Array {
  return new PlaneResizer(inW, inH, outW, outH, filter, box).resize(src);
}

/**
 * Pillow's resize of a 32-bit float plane (mode 'F'; ImagingResampleHorizontal/
 * Vertical_32bpc): the same normalised coefficients as above, but kept in
 * double precision, accumulated in double and stored as float32 after each
 * pass, with no clipping or rounding. clean-fid's "clean" resize calls this
 * per channel (then clips to [0, 255]).
 */
export class FloatPlaneResizer {
  private readonly ch: Coefficients;
  private readonly cv: Coefficients;
  private readonly tmp: Float32Array;

  constructor(
    readonly inW: number,
    readonly inH: number,
    readonly outW: number,
    readonly outH: number,
    filter: Filter = 'bicubic',
  ) {
    this.ch = resampleCoefficients(inW, outW, filter);
    this.cv = resampleCoefficients(inH, outH, filter);
    this.tmp = new Float32Array(inH * outW);
  }

  /** src: [inH, inW]; writes [outH, outW] into out at outOffset. */
  resize(src: Float32Array, out: Float32Array = new Float32Array(this.outW * this.outH), outOffset = 0): Float32Array {
    const { inW, inH, outW, outH, ch, cv } = this;
    const needH = outW !== inW;
    const needV = outH !== inH;
    let tmp: Float32Array = src;
    if (needH) {
      tmp = this.tmp;
      for (let y = 0; y < inH; y++) {
        for (let xx = 0; xx < outW; xx++) {
          const xmin = ch.bounds[xx * 2];
          const xmax = ch.bounds[xx * 2 + 1];
          const k = xx * ch.ksize;
          let ss = 0;
          for (let x = 0; x < xmax; x++) ss += src[y * inW + x + xmin] * ch.exact[k + x];
          tmp[y * outW + xx] = ss;
        }
      }
    }
    const w = needH ? outW : inW;
    if (!needV) {
      out.set(tmp.subarray(0, w * outH), outOffset);
      return out;
    }
    for (let yy = 0; yy < outH; yy++) {
      const ymin = cv.bounds[yy * 2];
      const ymax = cv.bounds[yy * 2 + 1];
      const k = yy * cv.ksize;
      for (let xx = 0; xx < w; xx++) {
        let ss = 0;
        for (let y = 0; y < ymax; y++) ss += tmp[(y + ymin) * w + xx] * cv.exact[k + y];
        out[outOffset + yy * w + xx] = ss;
      }
    }
    return out;
  }
}

/**
 * PyTorch's bilinear interpolation with align_corners=False (nn.Upsample,
 * F.interpolate) of one plane, computed in float32 like its CPU kernel:
 * source = max(0, scale·(dst + 0.5) − 0.5) with scale = in/out, neighbours
 * clamped at the border.
 */
export function upsampleBilinearTorch(src: Float32Array, inW: number, inH: number, outW: number, outH: number, out: Float32Array = new Float32Array(outW * outH), outOffset = 0): Float32Array {
  const f = Math.fround;
  const axis = (inSize: number, outSize: number) => {
    const scale = f(inSize / outSize);
    const i0 = new Int32Array(outSize);
    const i1 = new Int32Array(outSize);
    const l0 = new Float32Array(outSize);
    const l1 = new Float32Array(outSize);
    for (let d = 0; d < outSize; d++) {
      let s = f(f(scale * f(d + 0.5)) - 0.5);
      if (s < 0) s = 0;
      const i = Math.floor(s);
      i0[d] = i;
      i1[d] = i < inSize - 1 ? i + 1 : i;
      l1[d] = f(s - i);
      l0[d] = f(1 - l1[d]);
    }
    return { i0, i1, l0, l1 };
  };
  const ax = axis(inW, outW);
  const ay = axis(inH, outH);
  for (let y = 0; y < outH; y++) {
    const r0 = ay.i0[y] * inW;
    const r1 = ay.i1[y] * inW;
    const h0 = ay.l0[y];
    const h1 = ay.l1[y];
    for (let x = 0; x < outW; x++) {
      const a = ax.i0[x];
      const b = ax.i1[x];
      const w0 = ax.l0[x];
      const w1 = ax.l1[x];
      out[outOffset + y * outW + x] = f(f(h0 * f(f(w0 * src[r0 + a]) + f(w1 * src[r0 + b]))) + f(h1 * f(f(w0 * src[r1 + a]) + f(w1 * src[r1 + b]))));
    }
  }
  return out;
}
