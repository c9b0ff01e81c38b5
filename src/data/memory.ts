/**
 * Datasets small enough to hold whole: uint8 [n, C, H, W] after the resize
 * (as PIL's output is), turned into float32 [-1, 1] per batch.
 */
import type { Dataset, DatasetName, Split } from './types.js';

/** ToTensor then 2x−1, in float32 as torch computes it: byte → value. */
export const BYTE_TO_UNIT = (() => {
  const lut = new Float32Array(256);
  for (let b = 0; b < 256; b++) lut[b] = Math.fround(Math.fround(Math.fround(b / 255) * 2) - 1);
  return lut;
})();

/** A dataset held in memory as uint8 [n, C, H, W] plus labels. */
export class InMemoryDataset implements Dataset {
  readonly length: number;
  constructor(
    readonly name: DatasetName,
    readonly split: Split,
    readonly pixels: Uint8Array,
    readonly labels: Uint8Array,
    readonly channels: number,
    readonly height: number,
    readonly width: number,
    readonly numClasses: number,
    readonly source: string,
    readonly augmentFlip: boolean,
  ) {
    this.length = labels.length;
  }

  readSync(indices: ArrayLike<number>, flip: ArrayLike<boolean> | null, out: Float32Array, labels?: Int32Array): void {
    const { channels: c, height: h, width: w } = this;
    const per = c * h * w;
    if (out.length < indices.length * per) throw new RangeError(`${this.name}: output holds ${out.length} values, fewer than ${indices.length} images of ${c}x${h}x${w}`);
    for (let i = 0; i < indices.length; i++) {
      const idx = indices[i];
      if (!(idx >= 0 && idx < this.length)) throw new RangeError(`${this.name}: index ${idx} out of range`);
      const src = idx * per;
      const dst = i * per;
      if (flip && flip[i]) {
        for (let p = 0; p < c * h; p++) {
          const row = p * w;
          for (let x = 0; x < w; x++) out[dst + row + x] = BYTE_TO_UNIT[this.pixels[src + row + w - 1 - x]];
        }
      } else {
        for (let j = 0; j < per; j++) out[dst + j] = BYTE_TO_UNIT[this.pixels[src + j]];
      }
      if (labels) labels[i] = this.labels[idx];
    }
  }

  async readBatch(indices: ArrayLike<number>, flip: ArrayLike<boolean> | null, out: Float32Array, labels?: Int32Array): Promise<void> {
    this.readSync(indices, flip, out, labels);
  }

  async close(): Promise<void> {}
}

