/**
 * The drawing pad: strokes with mouse, finger or pen (pointer events), turned
 * into a model input the way MNIST's digits were made and the CLI reads
 * them: the ink's bounding box scaled to fit 20 × 20 pixels, placed with its
 * centre of mass at the centre of a 28 × 28 image, then the dataset
 * pipeline's own 28 → 32 resize (data/resize.ts) and byte → [-1, 1] map
 * (data/memory.ts).
 */
import { PlaneResizer } from '../../src/data/resize.js';
import { BYTE_TO_UNIT } from '../../src/data/memory.js';

const PAD = 280;
const STROKE = 22;

export class DrawingPad {
  private drawing = false;
  private last: [number, number] | null = null;
  private ink = false;
  private readonly ctx: CanvasRenderingContext2D;

  constructor(readonly canvas: HTMLCanvasElement, onStroke: () => void) {
    canvas.width = PAD;
    canvas.height = PAD;
    this.ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    this.clear();
    canvas.addEventListener('pointerdown', (e) => {
      canvas.setPointerCapture(e.pointerId);
      this.drawing = true;
      this.last = this.point(e);
      this.line(this.last, this.last);
      e.preventDefault();
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.drawing) return;
      const p = this.point(e);
      this.line(this.last!, p);
      this.last = p;
    });
    const end = () => {
      if (!this.drawing) return;
      this.drawing = false;
      this.last = null;
      onStroke();
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
  }

  get hasInk(): boolean {
    return this.ink;
  }

  clear(): void {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, PAD, PAD);
    this.ink = false;
  }

  private point(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * PAD, ((e.clientY - r.top) / r.height) * PAD];
  }

  private line(a: [number, number], b: [number, number]): void {
    const ctx = this.ctx;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = STROKE;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
    this.ink = true;
  }

  /** The drawing as a [1, 32, 32] input in [-1, 1], or null when the pad is empty. */
  toInput(): Float32Array | null {
    const mnist = this.toMnist();
    if (!mnist) return null;
    const resized = new PlaneResizer(28, 28, 32, 32, 'bilinear').resize(mnist);
    return Float32Array.from(resized, (b) => BYTE_TO_UNIT[b]);
  }

  /** The drawing as MNIST draws its digits: 28 × 28 bytes, ink fitted into 20 × 20 and centred by mass. */
  private toMnist(): Uint8Array | null {
    const px = this.ctx.getImageData(0, 0, PAD, PAD).data;
    let x0 = PAD, y0 = PAD, x1 = -1, y1 = -1, mass = 0, mx = 0, my = 0;
    for (let y = 0; y < PAD; y++)
      for (let x = 0; x < PAD; x++) {
        const v = px[(y * PAD + x) * 4];
        if (v === 0) continue;
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
        mass += v;
        mx += v * x;
        my += v * y;
      }
    if (x1 < 0) return null;
    const scale = 20 / Math.max(x1 - x0 + 1, y1 - y0 + 1);
    const small = document.createElement('canvas');
    small.width = 28;
    small.height = 28;
    const sctx = small.getContext('2d', { willReadFrequently: true })!;
    sctx.fillStyle = '#000';
    sctx.fillRect(0, 0, 28, 28);
    sctx.imageSmoothingEnabled = true;
    sctx.imageSmoothingQuality = 'high';
    const dx = 14 - (mx / mass - x0) * scale;
    const dy = 14 - (my / mass - y0) * scale;
    sctx.drawImage(this.canvas, x0, y0, x1 - x0 + 1, y1 - y0 + 1, dx, dy, (x1 - x0 + 1) * scale, (y1 - y0 + 1) * scale);
    const rgba = sctx.getImageData(0, 0, 28, 28).data;
    return Uint8Array.from({ length: 28 * 28 }, (_, i) => rgba[i * 4]);
  }
}
