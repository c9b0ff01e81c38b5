/**
 * Small dense float64 linear algebra for the Fréchet distances: covariance
 * (numpy's np.cov with rowvar=False, ddof=1) and a cyclic Jacobi eigensolver
 * for symmetric matrices (accurate to machine precision; n ≤ a few hundred
 * in FAD, 2048 in FID, where it still converges in a handful of sweeps).
 */

/** Row-major n×n product C = A·B. */
export function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < n; p++) {
      const av = a[i * n + p];
      if (av === 0) continue;
      const bo = p * n;
      const co = i * n;
      for (let j = 0; j < n; j++) c[co + j] += av * b[bo + j];
    }
  }
  return c;
}

/** Eigen-decomposition A = V·diag(values)·Vᵀ of a symmetric matrix (columns of V are eigenvectors). */
export function symmetricEigen(a: Float64Array, n: number, maxSweeps = 60): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += m[i * n + i] ** 2;
      for (let j = i + 1; j < n; j++) off += m[i * n + j] ** 2;
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        // Rotation angle that zeroes m[p][q] (the stable formulation of Golub & Van Loan 8.4).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i];
  return { values, vectors: v };
}

/** Square root of a symmetric positive semi-definite matrix (negative eigenvalues from rounding clamp to 0). */
export function sqrtPsd(a: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const s = Math.sqrt(Math.max(0, values[k]));
    if (s === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k] * s;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * vectors[j * n + k];
    }
  }
  return out;
}

/**
 * Rank-revealing Cholesky with symmetric pivoting of a positive semi-definite
 * matrix: A ≈ B·Bᵀ with B [n, rank] (row-major, rows in A's original order).
 * Pivots below 1e-13·max diag end the factorisation (rank-deficient covariances
 * of dead features are common), so it never fails on PSD input.
 */
export function pivotedCholesky(a: Float64Array, n: number): { b: Float64Array; rank: number } {
  const w = Float64Array.from(a);
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  let maxDiag = 0;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, w[i * n + i]);
  const tol = 1e-13 * maxDiag;
  let rank = 0;
  for (let k = 0; k < n; k++) {
    let j = k;
    for (let i = k + 1; i < n; i++) if (w[i * n + i] > w[j * n + j]) j = i;
    if (!(w[j * n + j] > tol)) break;
    if (j !== k) {
      // Swap rows and columns k and j of the working matrix.
      for (let c = 0; c < n; c++) {
        const t = w[k * n + c];
        w[k * n + c] = w[j * n + c];
        w[j * n + c] = t;
      }
      for (let r = 0; r < n; r++) {
        const t = w[r * n + k];
        w[r * n + k] = w[r * n + j];
        w[r * n + j] = t;
      }
      const t = perm[k];
      perm[k] = perm[j];
      perm[j] = t;
    }
    const piv = Math.sqrt(w[k * n + k]);
    w[k * n + k] = piv;
    for (let i = k + 1; i < n; i++) w[i * n + k] /= piv;
    // Trailing update of the lower triangle; the upper one mirrors it for the swaps.
    for (let i = k + 1; i < n; i++) {
      const lik = w[i * n + k];
      if (lik === 0) continue;
      const row = i * n;
      for (let c = k + 1; c <= i; c++) w[row + c] -= lik * w[c * n + k];
    }
    for (let i = k + 1; i < n; i++) for (let c = i + 1; c < n; c++) w[i * n + c] = w[c * n + i];
    rank = k + 1;
  }
  const b = new Float64Array(n * rank);
  for (let i = 0; i < n; i++) for (let k = 0; k < rank && k <= i; k++) b[perm[i] * rank + k] = w[i * n + k];
  return { b, rank };
}

/**
 * Eigenvalues of a symmetric matrix: Householder reduction to tridiagonal
 * form (no eigenvectors), then the implicit QL algorithm with Wilkinson-style
 * shifts. O(4/3·n³) + O(n²): fast enough for FID's 2048×2048 in float64.
 */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    // x = m[k+1..n, k]; reflect it onto alpha·e1.
    let norm = 0;
    for (let i = k + 1; i < n; i++) norm += m[i * n + k] ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) {
      e[k] = 0;
      continue;
    }
    const x0 = m[(k + 1) * n + k];
    const alpha = x0 > 0 ? -norm : norm;
    for (let i = k + 1; i < n; i++) v[i] = m[i * n + k];
    v[k + 1] -= alpha;
    let vn = 0;
    for (let i = k + 1; i < n; i++) vn += v[i] * v[i];
    vn = Math.sqrt(vn);
    if (vn === 0) {
      e[k] = x0;
      continue;
    }
    for (let i = k + 1; i < n; i++) v[i] /= vn;
    // A22 ← H·A22·H = A22 − 2(v·wᵀ + w·vᵀ), with p = A22·v, w = p − (vᵀp)·v.
    for (let i = k + 1; i < n; i++) {
      let s = 0;
      const row = i * n;
      for (let j = k + 1; j < n; j++) s += m[row + j] * v[j];
      p[i] = s;
    }
    let kk = 0;
    for (let i = k + 1; i < n; i++) kk += v[i] * p[i];
    for (let i = k + 1; i < n; i++) p[i] -= kk * v[i];
    for (let i = k + 1; i < n; i++) {
      const vi2 = 2 * v[i];
      const wi2 = 2 * p[i];
      const row = i * n;
      for (let j = k + 1; j < n; j++) m[row + j] -= vi2 * p[j] + wi2 * v[j];
    }
    e[k] = alpha;
  }
  for (let i = 0; i < n; i++) d[i] = m[i * n + i];
  if (n >= 2) e[n - 2] = m[(n - 1) * n + (n - 2)];
  e[n - 1] = 0;
  // Implicit QL on (d, e) where e[i] couples i and i+1.
  for (let l = 0; l < n; l++) {
    let iter = 0;
    let mm: number;
    do {
      for (mm = l; mm < n - 1; mm++) {
        const dd = Math.abs(d[mm]) + Math.abs(d[mm + 1]);
        if (Math.abs(e[mm]) <= Number.EPSILON * dd) break;
      }
      if (mm !== l) {
        if (iter++ === 60) throw new Error('symmetricEigenvalues: QL iteration did not converge');
        let g = (d[l + 1] - d[l]) / (2 * e[l]);
        let r = Math.hypot(g, 1);
        g = d[mm] - d[l] + e[l] / (g + (g >= 0 ? Math.abs(r) : -Math.abs(r)));
        let s = 1;
        let c = 1;
        let pp = 0;
        let i: number;
        for (i = mm - 1; i >= l; i--) {
          const f = s * e[i];
          const b = c * e[i];
          r = Math.hypot(f, g);
          e[i + 1] = r;
          if (r === 0) {
            d[i + 1] -= pp;
            e[mm] = 0;
            break;
          }
          s = f / r;
          c = g / r;
          g = d[i + 1] - pp;
          r = (d[i] - g) * s + 2 * c * b;
          pp = s * r;
          d[i + 1] = g + pp;
          g = c * r - b;
        }
        if (r === 0 && i >= l) continue;
        d[l] -= pp;
        e[l] = g;
        e[mm] = 0;
      }
    } while (mm !== l);
  }
  return d;
}

/** Mean and covariance of rows (np.mean(axis=0), np.cov(rowvar=False) with ddof = 1), in float64. */
export function covariance(features: ArrayLike<number>, rows: number, cols: number): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c] += features[r * cols + c];
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  const cov = new Float64Array(cols * cols);
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = features[r * cols + c] - mean[c];
    for (let i = 0; i < cols; i++) {
      const di = d[i];
      const o = i * cols;
      for (let j = i; j < cols; j++) cov[o + j] += di * d[j];
    }
  }
  for (let i = 0; i < cols; i++)
    for (let j = i; j < cols; j++) {
      const v = cov[i * cols + j] / (rows - 1);
      cov[i * cols + j] = v;
      cov[j * cols + i] = v;
    }
  return { mean, cov };
}
