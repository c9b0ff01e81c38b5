/**
 * Fréchet distance on cases with known answers, the eigensolver, np.cov
 * semantics, and FAD of the real MNIST / Fashion-MNIST test sets through the
 * official autoencoder weights against the official statistics (the issue's
 * independent computation gives 0.59 and 0.43).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { covariance, matmul, symmetricEigen } from '../src/metrics/linalg.js';
import { frechetDistance } from '../src/metrics/frechet.js';
import { fadFromFeatures, loadFadEncoder, loadFadStats } from '../src/metrics/fad.js';
import { openDataset } from '../src/data/index.js';
import { OFFICIAL_FAD_DIR } from '../src/metrics/evaluate.js';
import { Random } from '../src/engine/random.js';

// The official files shipped in assets/fad (what eval uses by default).
const fad = OFFICIAL_FAD_DIR;

test('symmetric eigensolver: A = V·diag(λ)·Vᵀ, orthogonal V, a 2x2 closed form, repeated eigenvalues', () => {
  const rng = new Random(3);
  const n = 12;
  const b = Float64Array.from({ length: n * n }, () => rng.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += b[i * n + k] * b[j * n + k];
  const { values, vectors } = symmetricEigen(a, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let r = 0;
      let o = 0;
      for (let k = 0; k < n; k++) {
        r += vectors[i * n + k] * values[k] * vectors[j * n + k];
        o += vectors[k * n + i] * vectors[k * n + j];
      }
      assert.ok(Math.abs(r - a[i * n + j]) < 1e-9, 'reconstruction');
      assert.ok(Math.abs(o - (i === j ? 1 : 0)) < 1e-12, 'orthogonality');
    }
  // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
  const two = symmetricEigen(Float64Array.of(2, 1, 1, 2), 2).values;
  assert.deepEqual(Array.from(two).sort().map((v) => Math.round(v * 1e12) / 1e12), [1, 3]);
  // 3·I has a triple eigenvalue 3.
  assert.deepEqual(Array.from(symmetricEigen(Float64Array.of(3, 0, 0, 0, 3, 0, 0, 0, 3), 3).values), [3, 3, 3]);
});

test('covariance follows np.cov(rowvar=False): ddof 1', () => {
  // rows (1, 2), (3, 6): means (2, 4); cov = [[2, 4], [4, 8]].
  const { mean, cov } = covariance([1, 2, 3, 6], 2, 2);
  assert.deepEqual(Array.from(mean), [2, 4]);
  assert.deepEqual(Array.from(cov), [2, 4, 4, 8]);
});

test('Fréchet distance: known answers', () => {
  const rng = new Random(9);
  const n = 6;
  const b = Float64Array.from({ length: n * n }, () => rng.normal());
  const s = matmul(b, Float64Array.from({ length: n * n }, (_, i) => b[(i % n) * n + Math.floor(i / n)]), n); // B·Bᵀ
  const mu = Float64Array.from({ length: n }, () => rng.normal());
  assert.ok(Math.abs(frechetDistance(mu, s, mu, s, n)) < 1e-8, 'identical Gaussians give 0');
  // Diagonal covariances: d² = ‖μ1−μ2‖² + Σ (√a − √b)².
  const a = [1, 4, 9];
  const c = [4, 1, 16];
  const diag = (v: number[]) => Float64Array.from({ length: 9 }, (_, i) => (i % 4 === 0 ? v[i / 4] : 0));
  const want = 1 + 4 + 0 + ((1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 4) ** 2);
  const got = frechetDistance([0, 0, 0], diag(a), [1, 2, 0], diag(c), 3);
  assert.ok(Math.abs(got - want) < 1e-10, `diagonal case ${got} vs ${want}`);
  // Scaling: Σ2 = 4·Σ1 gives tr Σ1 + 4 tr Σ1 − 2·2·tr Σ1 = tr Σ1.
  const s4 = s.map((v) => 4 * v);
  let tr = 0;
  for (let i = 0; i < n; i++) tr += s[i * n + i];
  assert.ok(Math.abs(frechetDistance(mu, s, mu, s4, n) - tr) < 1e-8 * tr);
});

for (const [name, weights, stats, want] of [
  ['mnist', 'ae_mnist_64', 'stats_mnist_test_64', 0.59],
  ['fashion', 'ae_fashion_64', 'stats_fashion_test_64', 0.43],
] as const) {
  test(`FAD of the real ${name} test set through the official autoencoder is ${want} ± 0.02`, async (t) => {
    let ds;
    try {
      ds = await openDataset(name, 'test');
    } catch (e) {
      return t.skip(`${name} test set not available: ${(e as Error).message}`);
    }
    const enc = loadFadEncoder(join(fad, `${weights}.safetensors`));
    const st = loadFadStats(join(fad, `${stats}.safetensors`));
    const images = new Float32Array(ds.length * 1024);
    await ds.readBatch(Int32Array.from({ length: ds.length }, (_, i) => i), null, images);
    const value = fadFromFeatures(enc.features(images, ds.length), ds.length, st);
    assert.ok(Math.abs(value - want) < 0.02, `FAD ${value}`);
  });
}
