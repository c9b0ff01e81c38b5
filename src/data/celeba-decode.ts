/**
 * Decoding and preprocessing of one CelebA image, as the reference's
 * torchvision pipeline does it: (optional horizontal flip) → CenterCrop(148)
 * → Resize((64, 64)) with PIL's bilinear filter (antialiased downscale) →
 * uint8. JPEG decoding uses jpeg-js, whose inverse DCT can differ from
 * libjpeg's by ±1 grey level on some pixels (documented in docs/datasets.md).
 */
import jpeg from 'jpeg-js';
import { PlaneResizer } from './resize.js';

export const CELEBA_CROP = 148;
export const CELEBA_SIZE = 64;

/** torchvision CenterCrop offsets: int(round((size - crop) / 2)). */
export function centerCropOffset(size: number, crop: number): number {
  const v = (size - crop) / 2;
  // Python's round: half to even.
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

let resizer: PlaneResizer | null = null;

/** Returns [3, 64, 64] uint8, or throws with the decoder's message. */
export function decodeCelebA(bytes: Uint8Array, flip: boolean): Uint8Array {
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 256 });
  const { width: w, height: h } = img;
  const data = img.data as Uint8Array;
  const bpp = data.length / (w * h);
  if (bpp !== 3 && bpp !== 4 && bpp !== 1) throw new Error(`unexpected ${bpp} bytes per pixel`);
  const crop = Math.min(CELEBA_CROP, w, h);
  const top = centerCropOffset(h, crop);
  const left = centerCropOffset(w, crop);
  if (!resizer || resizer.inW !== crop) resizer = new PlaneResizer(crop, crop, CELEBA_SIZE, CELEBA_SIZE, 'bilinear');
  const out = new Uint8Array(3 * CELEBA_SIZE * CELEBA_SIZE);
  const plane = new Uint8Array(crop * crop);
  for (let c = 0; c < 3; c++) {
    const ch = bpp === 1 ? 0 : c;
    for (let y = 0; y < crop; y++) {
      for (let x = 0; x < crop; x++) {
        // The reference flips the whole image, then crops: read the mirrored column.
        const sx = flip ? w - 1 - (left + x) : left + x;
        plane[y * crop + x] = data[((top + y) * w + sx) * bpp + ch];
      }
    }
    resizer.resize(plane, out, c * CELEBA_SIZE * CELEBA_SIZE);
  }
  return out;
}
