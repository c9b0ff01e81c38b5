/**
 * Fréchet distance between Gaussians N(μ1, Σ1) and N(μ2, Σ2):
 *   d² = ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2·tr (Σ1·Σ2)^{1/2}.
 * The reference (pytorch-fid / clean-fid style) takes scipy.linalg.sqrtm of
 * the non-symmetric product Σ1·Σ2 and keeps its real part. For positive
 * semi-definite Σ1, Σ2 that product is similar to the symmetric PSD matrix
 * S = Σ1^{1/2}·Σ2·Σ1^{1/2} (same eigenvalues), so tr (Σ1Σ2)^{1/2} = Σ √λ_i(S),
 * which we compute with a symmetric eigensolver in float64: no complex
 * arithmetic and no ill-conditioned non-symmetric square root.
 */
import { matmul, sqrtPsd, symmetricEigen } from './linalg.js';

export function frechetDistance(mu1: ArrayLike<number>, sigma1: Float64Array, mu2: ArrayLike<number>, sigma2: Float64Array, n: number): number {
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (mu1[i] - mu2[i]) ** 2;
  let tr1 = 0;
  let tr2 = 0;
  for (let i = 0; i < n; i++) {
    tr1 += sigma1[i * n + i];
    tr2 += sigma2[i * n + i];
  }
  const r1 = sqrtPsd(sigma1, n);
  const s = matmul(matmul(r1, sigma2, n), r1, n);
  // Symmetrise against rounding before the symmetric eigensolver.
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (s[i * n + j] + s[j * n + i]);
      s[i * n + j] = v;
      s[j * n + i] = v;
    }
  const { values } = symmetricEigen(s, n);
  let trSqrt = 0;
  for (const v of values) trSqrt += Math.sqrt(Math.max(0, v));
  return d2 + tr1 + tr2 - 2 * trSqrt;
}
