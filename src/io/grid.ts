/**
 * The pixels of an image grid (what `spikevae sample` and the other commands
 * write as PNG, and what the web page draws): images in NCHW float32 in
 * [-1, 1], laid out in rows with padding, upscaled by an integer factor.
 */
import { UserError } from '../util/errors.js';

export interface GridOptions {
  columns?: number;
  /** Pixels between images (default 2). */
  padding?: number;
  /** Integer upscaling; default makes the grid at least ~512 px wide. */
  scale?: number;
  /** Background grey level 0..255 (default 255). */
  background?: number;
}

/** [-1, 1] → 0..255 with rounding, clamped (NaN shows as 0). */
export function toByte(v: number): number {
  const b = Math.round(((v + 1) / 2) * 255);
  return b > 255 ? 255 : b >= 0 ? b : 0;
}

/** RGBA bytes of the grid, and its size. */
export function imageGridRgba(images: Float32Array, n: number, c: number, h: number, w: number, opts: GridOptions = {}): { rgba: Uint8Array; width: number; height: number } {
  if (c !== 1 && c !== 3) throw new UserError(`image grid: images must have 1 or 3 channels, got ${c}`);
  if (images.length < n * c * h * w) throw new UserError(`image grid: ${images.length} values are fewer than ${n} images of ${c}x${h}x${w}`);
  const cols = Math.max(1, Math.min(n, opts.columns ?? Math.ceil(Math.sqrt(n))));
  const rows = Math.max(1, Math.ceil(n / cols));
  const pad = opts.padding ?? 2;
  const rawWidth = cols * w + (cols + 1) * pad;
  const scale = Math.max(1, Math.floor(opts.scale ?? Math.max(1, Math.ceil(512 / rawWidth))));
  const W = rawWidth * scale;
  const H = (rows * h + (rows + 1) * pad) * scale;
  const bg = opts.background ?? 255;
  const rgba = new Uint8Array(W * H * 4).fill(bg);
  for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
  const plane = h * w;
  for (let k = 0; k < n; k++) {
    const gx = (k % cols) * (w + pad) + pad;
    const gy = Math.floor(k / cols) * (h + pad) + pad;
    const base = k * c * plane;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const r = toByte(images[base + y * w + x]);
        const g = c === 3 ? toByte(images[base + plane + y * w + x]) : r;
        const b = c === 3 ? toByte(images[base + 2 * plane + y * w + x]) : r;
        for (let sy = 0; sy < scale; sy++) {
          let o = (((gy + y) * scale + sy) * W + (gx + x) * scale) * 4;
          for (let sx = 0; sx < scale; sx++, o += 4) {
            rgba[o] = r;
            rgba[o + 1] = g;
            rgba[o + 2] = b;
          }
        }
      }
    }
  }
  return { rgba, width: W, height: H };
}
