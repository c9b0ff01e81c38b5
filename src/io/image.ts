/**
 * Image grids as PNG, for people to look at: samples, reconstructions,
 * dataset previews. Images come in as NCHW float32 in [-1, 1].
 */
import { PNG } from 'pngjs';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import { imageGridRgba, type GridOptions } from './grid.js';

export { toByte, type GridOptions } from './grid.js';

export function encodePng(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return PNG.sync.write(png);
}

export function decodePng(bytes: Uint8Array, fileName: string): { width: number; height: number; channels: 4; data: Uint8Array } {
  try {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, channels: 4, data: new Uint8Array(png.data) };
  } catch (e) {
    throw new UserError(`${fileName}: not a readable PNG (${(e as Error).message})`);
  }
}

export function encodeImageGrid(images: Float32Array, n: number, c: number, h: number, w: number, opts: GridOptions = {}): Uint8Array {
  const { rgba, width, height } = imageGridRgba(images, n, c, h, w, opts);
  return encodePng(rgba, width, height);
}

export function writeImageGrid(path: string, images: Float32Array, n: number, c: number, h: number, w: number, opts?: GridOptions): void {
  writeFileAtomic(path, encodeImageGrid(images, n, c, h, w, opts));
}
