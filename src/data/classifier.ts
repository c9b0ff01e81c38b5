/**
 * The classifiers' input pipeline (the TAID/PLIF classification code,
 * models.py get_transforms; reference-semantics.md §4.3), unlike the VAEs':
 * images at their own resolution (MNIST 28×28, no resize to 32), ToTensor
 * then Normalize(mean, std) per channel, and on the training split
 *   - MNIST: RandomAffine(degrees 30, translate (0.15, 0.15), scale (0.85, 1.11)),
 *     nearest neighbour, fill 0, about the image centre;
 *   - CIFAR-10: RandomCrop(32, padding 4) (zero padding), RandomHorizontalFlip.
 * The random parameters come from uniform numbers the DataLoader draws for
 * every image at the start of the epoch (`augmentDraws` per image), so a
 * resumed epoch sees exactly the images an uninterrupted one would.
 */
import type { Dataset, DatasetName, Split } from './types.js';
import type { InMemoryDataset } from './memory.js';

/** torchvision Normalize constants of the official code. */
export const CLASSIFIER_NORMALIZATION: Record<'mnist' | 'fashion' | 'cifar10', { mean: number[]; std: number[] }> = {
  mnist: { mean: [0.1307], std: [0.3081] },
  fashion: { mean: [0.286], std: [0.353] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] },
};

export type ClassifierAugmentation = 'affine' | 'crop-flip' | null;

/** Parameters of torchvision's RandomAffine as the MNIST classifier uses it. */
export const MNIST_AFFINE = { degrees: 30, translate: 0.15, scale: [0.85, 1.11] as const };

/** Python's round(): halves to even. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * RandomAffine.get_params from four uniforms in [0, 1): angle U(−30, 30),
 * translations round(U(−0.15·W, 0.15·W)) (and H), scale U(0.85, 1.11).
 */
export function affineParams(u: ArrayLike<number>, width: number, height: number): { angle: number; tx: number; ty: number; scale: number } {
  const { degrees, translate, scale } = MNIST_AFFINE;
  const maxDx = translate * width;
  const maxDy = translate * height;
  return {
    angle: -degrees + 2 * degrees * u[0],
    tx: roundHalfEven(-maxDx + 2 * maxDx * u[1]),
    ty: roundHalfEven(-maxDy + 2 * maxDy * u[2]),
    scale: scale[0] + (scale[1] - scale[0]) * u[3],
  };
}

/**
 * The inverse affine matrix torchvision passes to PIL (F._get_inverse_affine_matrix,
 * no shear, centre (W/2, H/2)): input = M · (output + 0.5).
 */
export function inverseAffineMatrix(angle: number, tx: number, ty: number, scale: number, width: number, height: number): number[] {
  const rot = (angle * Math.PI) / 180;
  const [cx, cy] = [width * 0.5, height * 0.5];
  const [a, b, c, d] = [Math.cos(rot), -Math.sin(rot), Math.sin(rot), Math.cos(rot)];
  const m = [d, -b, 0, -c, a, 0].map((v) => v / scale);
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/**
 * Pillow's Image.transform(AFFINE, NEAREST) on one 8-bit plane, fill 0,
 * following its two code paths (libImaging/Geometry.c): without rotation
 * terms the float scaling path (source index ⌊a·(x + ½) + c⌋), otherwise the
 * 16.16 fixed-point path (coefficients rounded with ⌊v·65536 + ½⌋, indices by
 * an arithmetic shift).
 */
export function affineNearest(src: Uint8Array, width: number, height: number, m: number[], out: Uint8Array): void {
  if (m[1] === 0 && m[3] === 0) {
    const xin = new Int32Array(width);
    const yin = new Int32Array(height);
    for (let x = 0; x < width; x++) xin[x] = Math.floor(m[2] + m[0] * (x + 0.5));
    for (let y = 0; y < height; y++) yin[y] = Math.floor(m[5] + m[4] * (y + 0.5));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const sx = xin[x];
        const sy = yin[y];
        out[y * width + x] = sx >= 0 && sx < width && sy >= 0 && sy < height ? src[sy * width + sx] : 0;
      }
    }
    return;
  }
  const fix = (v: number) => Math.floor(v * 65536 + 0.5);
  const [a0, a1, a3, a4] = [fix(m[0]), fix(m[1]), fix(m[3]), fix(m[4])];
  let rowX = fix(m[0] * 0.5 + m[1] * 0.5 + m[2]);
  let rowY = fix(m[3] * 0.5 + m[4] * 0.5 + m[5]);
  for (let y = 0; y < height; y++) {
    let xx = rowX;
    let yy = rowY;
    for (let x = 0; x < width; x++) {
      const sx = Math.floor(xx / 65536);
      const sy = Math.floor(yy / 65536);
      out[y * width + x] = sx >= 0 && sx < width && sy >= 0 && sy < height ? src[sy * width + sx] : 0;
      xx += a0;
      yy += a3;
    }
    rowX += a1;
    rowY += a4;
  }
}

/** Byte → Normalize(ToTensor(byte)) lookup tables, one per channel, in float32 as torch computes them. */
function normalizationTables(mean: number[], std: number[]): Float32Array[] {
  return mean.map((m, c) => {
    const lut = new Float32Array(256);
    for (let b = 0; b < 256; b++) lut[b] = Math.fround(Math.fround(Math.fround(b / 255) - Math.fround(m)) / Math.fround(std[c]));
    return lut;
  });
}

/** Images at their own resolution, normalised per channel, augmented on the training split. */
export class ClassifierDataset implements Dataset {
  readonly name: DatasetName;
  readonly split: Split;
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly numClasses: number;
  readonly source: string;
  /** The flip of CIFAR-10 is part of this dataset's own augmentation (drawn with its crop). */
  readonly augmentFlip = false;
  readonly augmentDraws: number;
  private readonly tables: Float32Array[];

  constructor(readonly images: InMemoryDataset, readonly augmentation: ClassifierAugmentation, normalization: { mean: number[]; std: number[] }) {
    this.name = images.name;
    this.split = images.split;
    this.length = images.length;
    this.channels = images.channels;
    this.height = images.height;
    this.width = images.width;
    this.numClasses = images.numClasses;
    this.source = images.source;
    this.tables = normalizationTables(normalization.mean, normalization.std);
    this.augmentDraws = augmentation === 'affine' ? 4 : augmentation === 'crop-flip' ? 3 : 0;
  }

  async readBatch(indices: ArrayLike<number>, _flip: ArrayLike<boolean> | null, out: Float32Array, labels?: Int32Array, draws?: ArrayLike<number>): Promise<void> {
    const { channels: C, height: H, width: W } = this;
    const plane = H * W;
    const per = C * plane;
    if (out.length < indices.length * per) throw new RangeError(`${this.name}: output holds ${out.length} values, fewer than ${indices.length} images of ${C}x${H}x${W}`);
    if (this.augmentDraws > 0 && (!draws || draws.length < indices.length * this.augmentDraws)) {
      throw new RangeError(`${this.name}: the augmentation needs ${this.augmentDraws} random numbers per image`);
    }
    const moved = new Uint8Array(plane);
    for (let i = 0; i < indices.length; i++) {
      const idx = indices[i];
      if (!(idx >= 0 && idx < this.length)) throw new RangeError(`${this.name}: index ${idx} out of range`);
      const src = this.images.pixels.subarray(idx * per, (idx + 1) * per);
      const u = this.augmentDraws ? Array.from({ length: this.augmentDraws }, (_, j) => draws![i * this.augmentDraws + j]) : [];
      for (let c = 0; c < C; c++) {
        const lut = this.tables[c];
        const dst = i * per + c * plane;
        const srcPlane = src.subarray(c * plane, (c + 1) * plane);
        if (this.augmentation === 'affine') {
          const p = affineParams(u, W, H);
          affineNearest(srcPlane, W, H, inverseAffineMatrix(p.angle, p.tx, p.ty, p.scale, W, H), moved);
          for (let j = 0; j < plane; j++) out[dst + j] = lut[moved[j]];
        } else if (this.augmentation === 'crop-flip') {
          // RandomCrop(padding 4): offsets i, j in [0, 8] of the zero-padded image; then the flip.
          const top = Math.floor(u[0] * 9) - 4;
          const left = Math.floor(u[1] * 9) - 4;
          const flip = u[2] < 0.5;
          for (let y = 0; y < H; y++) {
            for (let x = 0; x < W; x++) {
              const sy = y + top;
              const sx = (flip ? W - 1 - x : x) + left;
              out[dst + y * W + x] = lut[sy >= 0 && sy < H && sx >= 0 && sx < W ? srcPlane[sy * W + sx] : 0];
            }
          }
        } else {
          for (let j = 0; j < plane; j++) out[dst + j] = lut[srcPlane[j]];
        }
      }
      if (labels) labels[i] = this.images.labels[idx];
    }
  }

  async close(): Promise<void> {}
}
