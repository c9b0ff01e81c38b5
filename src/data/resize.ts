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
  const needH = outW !== inW || box[0] !== 0 || box[2] !== outW;
  const needV = outH !== inH || box[1] !== 0 || box[3] !== outH;
  const ch = resampleCoefficients(inW, outW, filter, box[0], box[2]);
  const cv = resampleCoefficients(inH, outH, filter, box[1], box[3]);
  // Rows of the source the vertical pass will read.
  const yFirst = cv.bounds[0];
  const yLast = cv.bounds[(outH - 1) * 2] + cv.bounds[(outH - 1) * 2 + 1];
  let tmp: Uint8Array;
  let tmpW: number;
  let rowOffset: number;
  if (needH) {
    const rows = yLast - yFirst;
    tmp = new Uint8Array(rows * outW);
    for (let y = 0; y < rows; y++) {
      const srow = (y + yFirst) * inW;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = ch.bounds[xx * 2];
        const xmax = ch.bounds[xx * 2 + 1];
        const k = xx * ch.ksize;
        let ss = 1 << (PRECISION_BITS - 1);
        for (let x = 0; x < xmax; x++) ss += src[srow + x + xmin] * ch.weights[k + x];
        tmp[y * outW + xx] = clip8(ss);
      }
    }
    tmpW = outW;
    rowOffset = yFirst;
  } else {
    tmp = src;
    tmpW = inW;
    rowOffset = 0;
  }
  if (!needV) {
    if (needH) return tmp;
    return src.slice();
  }
  const out = new Uint8Array(outH * tmpW);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = cv.bounds[yy * 2] - rowOffset;
    const ymax = cv.bounds[yy * 2 + 1];
    const k = yy * cv.ksize;
    for (let xx = 0; xx < tmpW; xx++) {
      let ss = 1 << (PRECISION_BITS - 1);
      for (let y = 0; y < ymax; y++) ss += tmp[(y + ymin) * tmpW + xx] * cv.weights[k + y];
      out[yy * tmpW + xx] = clip8(ss);
    }
  }
  return out;
}
