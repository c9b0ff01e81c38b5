/**
 * Drawing on canvases, in black, white and greys only (nothing depends on
 * colour): image grids (the CLI's own layout, io/grid.ts), the latent spike
 * raster, and bar charts.
 */
import { imageGridRgba } from '../../src/io/grid.js';

export interface GridLayout {
  columns: number;
  padding: number;
  cell: number;
}

/** Draws images [n, c, s, s] in [-1, 1] as `spikevae sample` lays them out (at scale 1; CSS enlarges the canvas). */
export function drawImageGrid(canvas: HTMLCanvasElement, images: Float32Array, n: number, c: number, s: number, columns = Math.ceil(Math.sqrt(n)), padding = 2): GridLayout {
  const { rgba, width, height } = imageGridRgba(images, n, c, s, s, { columns, padding, scale: 1 });
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
  return { columns: Math.min(n, columns), padding, cell: s };
}

/** The grid cell under a point given in the canvas's CSS pixels, or null. */
export function gridCellAt(canvas: HTMLCanvasElement, layout: GridLayout, n: number, x: number, y: number): number | null {
  const rect = canvas.getBoundingClientRect();
  const px = (x / rect.width) * canvas.width;
  const py = (y / rect.height) * canvas.height;
  const step = layout.cell + layout.padding;
  const col = Math.floor((px - layout.padding) / step);
  const row = Math.floor((py - layout.padding) / step);
  if (col < 0 || col >= layout.columns || row < 0) return null;
  const k = row * layout.columns + col;
  return k < n ? k : null;
}

/** Outlines one cell of an image grid (the selected sample): a dashed black-and-white frame, visible on any image. */
export function outlineCell(canvas: HTMLCanvasElement, layout: GridLayout, k: number): void {
  const ctx = canvas.getContext('2d')!;
  const step = layout.cell + layout.padding;
  const x = (k % layout.columns) * step + layout.padding - 1;
  const y = Math.floor(k / layout.columns) * step + layout.padding - 1;
  ctx.lineWidth = 1;
  ctx.strokeStyle = '#fff';
  ctx.strokeRect(x + 0.5, y + 0.5, layout.cell + 1, layout.cell + 1);
  ctx.setLineDash([2, 2]);
  ctx.strokeStyle = '#000';
  ctx.strokeRect(x + 0.5, y + 0.5, layout.cell + 1, layout.cell + 1);
  ctx.setLineDash([]);
}

/**
 * The latent spike raster: time steps down (t = 1 at the top), latent units
 * across; a black cell is a spike. Thin grey lines every 8 units and 4 steps
 * help count.
 */
export function drawRaster(canvas: HTMLCanvasElement, spikes: Float32Array, steps: number, units: number): void {
  const cw = Math.max(2, Math.floor(512 / units));
  const ch = 8;
  canvas.width = units * cw + 1;
  canvas.height = steps * ch + 1;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#ccc';
  for (let u = 0; u <= units; u += 8) ctx.fillRect(u * cw, 0, 1, canvas.height);
  for (let t = 0; t <= steps; t += 4) ctx.fillRect(0, t * ch, canvas.width, 1);
  ctx.fillStyle = '#000';
  for (let t = 0; t < steps; t++) for (let u = 0; u < units; u++) if (spikes[t * units + u] !== 0) ctx.fillRect(u * cw + 1, t * ch + 1, cw - 1, ch - 1);
}

/** Vertical bars of values in [0, max], one per entry, black on white with a baseline. */
export function drawBars(canvas: HTMLCanvasElement, values: ArrayLike<number>, max: number, height = 64): void {
  const n = values.length;
  const bw = Math.max(2, Math.floor(512 / n));
  canvas.width = n * bw + 1;
  canvas.height = height + 1;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#000';
  for (let i = 0; i < n; i++) {
    const h = Math.round((Math.min(values[i], max) / max) * height);
    ctx.fillRect(i * bw + (bw > 3 ? 1 : 0), height - h, Math.max(1, bw - (bw > 3 ? 2 : 1)), h);
  }
  ctx.fillRect(0, height, canvas.width, 1);
}
