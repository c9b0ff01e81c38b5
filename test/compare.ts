/** Array comparisons shared by the tests (not a test file itself). */

export function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/** max |a − b| over max |b|: float32 rounding of sums taken in another order stays near 1e-7. */
export function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m / maxAbs(b);
}
