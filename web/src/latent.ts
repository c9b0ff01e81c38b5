/** Latent batches as the page passes them around: spikes [T, N, C] (time-major, as the library keeps them) or values [N, L]. */

/** Images [first, first + count) of a latent batch, in the same layout. */
export function latentImages(latent: Float32Array, shape: number[], first: number, count: number): { latent: Float32Array; shape: number[] } {
  if (shape.length === 2) {
    const L = shape[1];
    return { latent: latent.slice(first * L, (first + count) * L), shape: [count, L] };
  }
  const [T, N, C] = shape;
  const out = new Float32Array(T * count * C);
  for (let t = 0; t < T; t++) out.set(latent.subarray((t * N + first) * C, (t * N + first + count) * C), t * count * C);
  return { latent: out, shape: [T, count, C] };
}

/** How many images a latent batch holds. */
export function latentCount(shape: number[]): number {
  return shape.length === 3 ? shape[1] : shape[0];
}

/** Latent batches concatenated along the image axis. */
export function joinLatents(parts: Array<{ latent: Float32Array; shape: number[] }>): { latent: Float32Array; shape: number[] } {
  const n = parts.reduce((s, p) => s + latentCount(p.shape), 0);
  const shape = [...parts[0].shape];
  shape[shape.length === 3 ? 1 : 0] = n;
  const latent = new Float32Array(parts.reduce((s, p) => s + p.latent.length, 0));
  if (shape.length === 2) {
    let offset = 0;
    for (const p of parts) {
      latent.set(p.latent, offset);
      offset += p.latent.length;
    }
    return { latent, shape };
  }
  const [T, , C] = shape;
  let first = 0;
  for (const p of parts) {
    const count = p.shape[1];
    for (let t = 0; t < T; t++) latent.set(p.latent.subarray(t * count * C, (t + 1) * count * C), (t * n + first) * C);
    first += count;
  }
  return { latent, shape };
}
