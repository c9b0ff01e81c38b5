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
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export function lineChart(series: Series[], opts: { title: string; xLabel: string; yLabel: string; width?: number; height?: number; logY?: boolean }): string {
  const W = opts.width ?? 560;
  const H = opts.height ?? 320;
  const m = { l: 60, r: 16, t: 30, b: 44 };
  const tf = (v: number) => (opts.logY ? Math.log10(Math.max(v, 1e-12)) : v);
  const xs = series.flatMap((s) => s.x);
  const ys = series.flatMap((s) => s.y.map(tf)).filter(Number.isFinite);
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, 1);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  if (!(y1 > y0)) (y0 -= 1), (y1 += 1);
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((tf(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(opts.title)}</text>`);
  for (const t of niceTicks(x0, x1)) parts.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/><text x="${px(t)}" y="${H - m.b + 14}" text-anchor="middle">${t}</text>`);
  for (const t of niceTicks(y0, y1)) {
    const yy = H - m.b - ((t - y0) / (y1 - y0)) * (H - m.t - m.b);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${yy}" y2="${yy}" stroke="#eee"/><text x="${m.l - 4}" y="${yy + 4}" text-anchor="end">${opts.logY ? Number(Math.pow(10, t).toPrecision(3)) : t}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  parts.push(`<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${esc(opts.yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = s.color ?? COLORS[i % COLORS.length];
    const pts = s.x.map((x, j) => `${px(x).toFixed(1)},${py(s.y[j]).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts}"/>`);
    parts.push(`<rect x="${m.l + 8}" y="${m.t + 8 + i * 16}" width="10" height="10" fill="${c}"/><text x="${m.l + 22}" y="${m.t + 17 + i * 16}">${esc(s.label)}</text>`);
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
