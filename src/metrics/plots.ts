/**
 * Small, dependency-free SVG plots for reports: line charts (loss curves) and
 * histograms (latent spike counts). Self-contained strings, embeddable in HTML.
 */

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  const mult = [1, 2, 5, 10].find((m) => (hi - lo) / (m * step) <= n) ?? 10;
  const s = mult * step;
  const out: number[] = [];
  for (let v = Math.ceil(lo / s) * s; v <= hi + 1e-12; v += s) out.push(Number(v.toPrecision(6)));
  return out;
}

export interface Series {
  label: string;
  x: number[];
  y: number[];
  color?: string;
  /** Draw a dot at each point (curves with few points). */
  markers?: boolean;
}

/** A dashed horizontal line at y (a published value to compare with). */
export interface Reference {
  label: string;
  y: number;
  color?: string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  logY?: boolean;
  references?: Reference[];
  legend?: 'top-left' | 'top-right';
}

/** The colours series take in order (reports match other marks, e.g. reference lines, to them). */
export const SERIES_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/** Log-axis ticks (in log10 units) inside [10^lo, 10^hi]: 1, 2 and 5 times powers of ten, or every integer multiple, or evenly spaced values, whichever first gives 3. */
function logTicks(lo: number, hi: number): number[] {
  const pick = (mults: number[]) => {
    const out: number[] = [];
    for (let d = Math.floor(lo); d <= Math.ceil(hi); d++) {
      for (const m of mults) {
        const t = Math.log10(m) + d;
        if (t >= lo - 1e-9 && t <= hi + 1e-9) out.push(t);
      }
    }
    return out;
  };
  const coarse = pick([1, 2, 5]);
  if (coarse.length >= 3) return coarse;
  const fine = pick([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (fine.length >= 3) return fine;
  // Less than a factor of ~3 end to end: evenly spaced values, placed on the log axis.
  return niceTicks(Math.pow(10, lo), Math.pow(10, hi))
    .filter((v) => v > 0)
    .map(Math.log10);
}

export function lineChart(series: Series[], opts: LineChartOptions): string {
  const W = opts.width ?? 560;
  const H = opts.height ?? 320;
  const m = { l: 60, r: 16, t: 30, b: 44 };
  const refs = opts.references ?? [];
  const tf = (v: number) => (opts.logY ? Math.log10(Math.max(v, 1e-12)) : v);
  const xs = series.flatMap((s) => s.x);
  const ys = [...series.flatMap((s) => s.y), ...refs.map((r) => r.y)].filter((v) => Number.isFinite(v) && (!opts.logY || v > 0)).map(tf);
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, 1);
  let y0 = ys.length ? Math.min(...ys) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (!(y1 > y0)) (y0 -= opts.logY ? 0.5 : 1), (y1 += opts.logY ? 0.5 : 1);
  // A little room above and below so lines at the extremes stay visible.
  const pad = (y1 - y0) * 0.04;
  y0 -= pad;
  y1 += pad;
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((tf(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(opts.title)}</text>`);
  for (const t of niceTicks(x0, x1)) parts.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/><text x="${px(t)}" y="${H - m.b + 14}" text-anchor="middle">${t}</text>`);
  for (const t of opts.logY ? logTicks(y0, y1) : niceTicks(y0, y1)) {
    const yy = H - m.b - ((t - y0) / (y1 - y0)) * (H - m.t - m.b);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${yy}" y2="${yy}" stroke="#eee"/><text x="${m.l - 4}" y="${yy + 4}" text-anchor="end">${opts.logY ? Number(Math.pow(10, t).toPrecision(3)) : t}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  parts.push(`<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${esc(opts.yLabel)}</text>`);
  // References under the data; the legend lists the series, then the references.
  const seriesColor = (s: Series, i: number) => s.color ?? SERIES_COLORS[i % SERIES_COLORS.length];
  for (const r of refs) {
    const yy = py(r.y).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${yy}" y2="${yy}" stroke="${r.color ?? '#555'}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  }
  series.forEach((s, i) => {
    const c = seriesColor(s, i);
    const pts = s.x.map((x, j) => [px(x), py(s.y[j])] as const).filter(([, y]) => Number.isFinite(y));
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    if (s.markers) for (const [x, y] of pts) parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${c}"/>`);
  });
  const legend = [
    ...series.map((s, i) => ({ label: s.label, color: seriesColor(s, i), dashed: false })),
    ...refs.map((r) => ({ label: r.label, color: r.color ?? '#555', dashed: true })),
  ];
  const lw = Math.max(...legend.map((e) => e.label.length), 1) * 6.2 + 36;
  const lx = opts.legend === 'top-right' ? W - m.r - lw - 6 : m.l + 6;
  if (legend.length) parts.push(`<rect x="${lx}" y="${m.t + 4}" width="${lw}" height="${legend.length * 16 + 6}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`);
  legend.forEach((e, i) => {
    const y = m.t + 14 + i * 16;
    parts.push(`<line x1="${lx + 6}" x2="${lx + 26}" y1="${y}" y2="${y}" stroke="${e.color}" stroke-width="2"${e.dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="${lx + 32}" y="${y + 4}">${esc(e.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export function histogram(values: ArrayLike<number>, opts: { title: string; xLabel: string; bins: number; lo: number; hi: number; width?: number; height?: number }): string {
  const counts = new Array<number>(opts.bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const b = Math.min(opts.bins - 1, Math.max(0, Math.floor(((values[i] - opts.lo) / (opts.hi - opts.lo)) * opts.bins)));
    counts[b]++;
  }
  const W = opts.width ?? 560;
  const H = opts.height ?? 300;
  const m = { l: 50, r: 16, t: 30, b: 44 };
  const max = Math.max(...counts, 1);
  const bw = (W - m.l - m.r) / opts.bins;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(opts.title)}</text>`);
  counts.forEach((c, i) => {
    const h = (c / max) * (H - m.t - m.b);
    parts.push(`<rect x="${(m.l + i * bw + 1).toFixed(1)}" y="${(H - m.b - h).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="#1f77b4"/>`);
  });
  for (const t of niceTicks(opts.lo, opts.hi)) {
    const x = m.l + ((t - opts.lo) / (opts.hi - opts.lo)) * (W - m.l - m.r);
    parts.push(`<text x="${x}" y="${H - m.b + 14}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<text x="${m.l - 4}" y="${m.t + 8}" text-anchor="end">${max}</text><text x="${m.l - 4}" y="${H - m.b}" text-anchor="end">0</text>`);
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#999"/>`);
  parts.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
