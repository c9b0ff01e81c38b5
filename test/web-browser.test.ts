/**
 * The web page in a real browser: Debian's Chromium (SPIKEVAE_CHROMIUM
 * overrides /usr/bin/chromium), headless, driven by playwright-core. The page
 * is built into a temporary folder and served on a free localhost port; it
 * loads the first pretrained model when pretrained/ has one, otherwise a
 * small trained ESVAE from test/fixtures/ through its file input. Checked:
 * no console errors; a file that is not a checkpoint gets one line; the sample grid is, pixel for pixel, the library's
 * model.sample on the same WebAssembly kernels in Node, and has ink; the
 * timing is reported; the latent raster is [T × latent] with the library's
 * spikes; a stroke drawn with the mouse is reconstructed (again equal to
 * Node's); the time scrubber ends at the reconstruction; the page fits a
 * narrow window. SPIKEVAE_WEB_SCREENSHOT=1 also writes docs/img/web-page.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { backend, setBackend } from '../src/engine/backend/index.js';
import { createWasmBackend } from '../src/engine/backend/wasm.js';
import { Random } from '../src/engine/random.js';
import { Tensor } from '../src/engine/tensor.js';
import { imageGridRgba, toByte } from '../src/io/grid.js';
import { BYTE_TO_UNIT } from '../src/data/memory.js';
import { FSVAE } from '../src/models/fsvae.js';
import { AnnVAE } from '../src/models/annvae.js';
import { loadModel } from '../src/models/index.js';
import { buildWeb } from '../scripts/build-web.js';
import { serveStatic } from '../scripts/serve-web.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.SPIKEVAE_CHROMIUM ?? '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps trying to reach Google's services.
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** RGBA bytes of a canvas on the page, with its size. */
async function canvasPixels(page: Page, id: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  const r = await page.evaluate((id) => {
    const c = document.getElementById(id) as HTMLCanvasElement;
    return { width: c.width, height: c.height, data: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) };
  }, id);
  return { ...r, data: Uint8Array.from(r.data) };
}

/** The grey levels of the images in a grid of `n` images of size s (padding 2, columns ⌈√n⌉), image by image. */
function cells(grid: { width: number; data: Uint8Array }, n: number, s: number, columns = Math.ceil(Math.sqrt(n)), pad = 2): Uint8Array[] {
  return Array.from({ length: n }, (_, k) => {
    const x0 = (k % columns) * (s + pad) + pad;
    const y0 = Math.floor(k / columns) * (s + pad) + pad;
    const out = new Uint8Array(s * s);
    for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) out[y * s + x] = grid.data[((y0 + y) * grid.width + x0 + x) * 4];
    return out;
  });
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i] / n; mb += b[i] / n; }
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) ** 2; sbb += (b[i] - mb) ** 2; }
  return sab / Math.sqrt(saa * sbb);
}

test('the web page in Chromium: samples, drawing, raster, time steps and timing, as the library computes them', { timeout: 240_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`${CHROMIUM} not found (Debian: apt-get install chromium): the web page was not tested in a browser`);
  const outDir = mkdtempSync(join(tmpdir(), 'spikevae-web-'));
  const profile = mkdtempSync(join(tmpdir(), 'spikevae-chromium-'));
  const build = await buildWeb((line) => t.diagnostic(line), outDir);
  if (!build.kernels) {
    rmSync(outDir, { recursive: true, force: true });
    return t.skip('the WebAssembly kernels could not be built (Debian: apt-get install emscripten): the page would run the TypeScript kernels, too slow to test');
  }
  // The ESVAE draws clear digits from its prior soonest in training; any shipped model will do.
  const chosen = build.models.find((m) => m.name === 'esvae-mnist') ?? build.models.find((m) => m.dataset === 'mnist') ?? build.models[0];
  if (!chosen) {
    rmSync(outDir, { recursive: true, force: true });
    return t.skip('no model in pretrained/ for the page to load');
  }
  const mnistModel = chosen.dataset === 'mnist';
  const checkpoint = join(root, 'pretrained', chosen.file.replace(/^models\//, ''));
  t.diagnostic(`checkpoint: ${checkpoint}${mnistModel ? '' : ' (not an MNIST model)'}`);

  const server = await serveStatic(outDir);
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1000, height: 900 } });
  const saved = backend();
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    page.on('response', (r) => r.status() >= 400 && errors.push(`HTTP ${r.status()} ${r.url()}`));
    const idle = () => page.waitForFunction(() => document.body.dataset.busy === 'false', null, { timeout: 120_000 });

    await page.goto(server.url);
    await idle();
    assert.match((await page.textContent('#status'))!, /^Ready: /);
    // A file that is not a checkpoint: one line naming it, no console error (a loaded model stays).
    await page.setInputFiles('#model-file', join(root, 'test', 'fixtures', 'stats.npz'));
    await page.waitForFunction(() => /stats\.npz/.test(document.getElementById('status')!.textContent!), null, { timeout: 60_000 });
    await idle();
    assert.match((await page.textContent('#status'))!, /^stats\.npz: not a valid safetensors file: /);
    // The page starts with the first model it lists; the test picks its own from the list, as a visitor does.
    if (chosen !== build.models[0]) {
      await page.selectOption('#model-select', chosen.file);
      await page.waitForFunction((name) => (document.getElementById('status')!.textContent ?? '').includes(name), chosen.name, { timeout: 60_000 });
      await idle();
      assert.match((await page.textContent('#status'))!, /^Ready: /);
    }

    // The library on the same kernels in Node.
    setBackend(await createWasmBackend(readFileSync(join(outDir, 'spikevae-kernels.wasm'))));
    const { model } = loadModel(checkpoint);
    if (!(model instanceof FSVAE || model instanceof AnnVAE)) throw new Error(`${checkpoint}: not a model the page shows`);
    const { inChannels: c, imageSize: s } = model.cfg;

    // Samples: seed 0, 64 images, exactly model.sample's; and they have ink.
    const grid = await canvasPixels(page, 'samples');
    const want = model.sample(64, new Random(0)).images;
    const wantGrid = imageGridRgba(want.data, 64, c, s, s, { columns: 8, padding: 2, scale: 1 });
    assert.deepEqual([grid.width, grid.height], [wantGrid.width, wantGrid.height]);
    const got = cells(grid, 64, s);
    const expected = cells({ width: wantGrid.width, data: wantGrid.rgba }, 64, s);
    got.forEach((img, k) => assert.ok(maxDiff(img, expected[k]) <= 1, `sample ${k} differs from model.sample's`));
    const inked = got.filter((img) => {
      const ink = img.filter((v) => v > 127).length / img.length;
      return Math.max(...img) > 200 && ink > 0.02 && ink < 0.6;
    }).length;
    t.diagnostic(`${inked} of 64 samples have ink (brightest pixel > 200, 2-60 % of pixels above mid-grey)`);
    if (!mnistModel) t.diagnostic('not an MNIST model: the ink check is the only judge of the samples');
    assert.ok(inked >= 48, `only ${inked} of 64 samples have ink`);

    // Timing, as the page reports it.
    const ms = Number(await page.getAttribute('#sample-timing', 'data-ms'));
    assert.ok(Number.isFinite(ms) && ms > 0, `timing ${ms}`);
    assert.match((await page.textContent('#sample-timing'))!, /^64 samples in \d+\.\d\d s on \d workers? at once/);
    t.diagnostic(`page: ${await page.textContent('#sample-timing')}`);

    // Test image 1 was analysed on load: its raster is [T × latent] with the library's spikes.
    if (model instanceof FSVAE) {
      const T = model.cfg.timeSteps;
      const C = model.cfg.latentDim;
      assert.equal(await page.getAttribute('#raster', 'data-steps'), String(T));
      assert.equal(await page.getAttribute('#raster', 'data-units'), String(C));
      const input = Float32Array.from(cells(await canvasPixels(page, 'input'), 1, s, 1, 0)[0], (b) => BYTE_TO_UNIT[b]);
      const z = model.inferLatent(new Tensor(input, [1, c, s, s]), new Random(0)).data;
      const raster = await canvasPixels(page, 'raster');
      const cw = Math.max(2, Math.floor(512 / C));
      assert.deepEqual([raster.width, raster.height], [C * cw + 1, T * 8 + 1]);
      let spikes = 0;
      for (let step = 0; step < T; step++)
        for (let u = 0; u < C; u++) {
          const centre = ((step * 8 + 4) * raster.width + u * cw + Math.ceil(cw / 2)) * 4;
          assert.equal(raster.data[centre] < 128 ? 1 : 0, z[step * C + u], `raster cell t=${step + 1}, unit ${u + 1}`);
          spikes += z[step * C + u];
        }
      assert.ok(spikes > 0, 'the latent of test image 1 never fires');
    }

    // A stroke drawn with the mouse: a 7.
    await page.locator('#pad').scrollIntoViewIfNeeded();
    const pad = (await page.locator('#pad').boundingBox())!;
    const at = (x: number, y: number): [number, number] => [pad.x + x * pad.width, pad.y + y * pad.height];
    await page.mouse.move(...at(0.3, 0.25));
    await page.mouse.down();
    for (const [x, y] of [[0.5, 0.25], [0.7, 0.25], [0.6, 0.5], [0.5, 0.75]]) await page.mouse.move(...at(x, y), { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction(() => document.getElementById('recon')!.dataset.source === 'drawing', null, { timeout: 60_000 });
    await idle();
    const drawn = cells(await canvasPixels(page, 'input'), 1, s, 1, 0)[0];
    const recon = cells(await canvasPixels(page, 'recon'), 1, s, 1, 0)[0];
    const inkDrawn = drawn.filter((v) => v > 127).length;
    assert.ok(inkDrawn > 20, `the drawn input has ${inkDrawn} bright pixels`);
    const wantRecon = model.reconstruct(new Tensor(Float32Array.from(drawn, (b) => BYTE_TO_UNIT[b]), [1, c, s, s]), new Random(0)).data;
    assert.ok(maxDiff(recon, Array.from(wantRecon, toByte)) <= 1, 'the reconstruction differs from model.reconstruct');
    const r = correlation(drawn, recon);
    t.diagnostic(`drawn stroke: ${inkDrawn} bright pixels; reconstruction's correlation with it ${r.toFixed(2)}`);
    assert.ok(r > 0.5, `reconstruction correlates ${r.toFixed(2)} with the drawing`);

    if (model instanceof FSVAE) {
      // The time scrubber, by keyboard: step 1 differs from the output, the last step is the reconstruction.
      await page.focus('#time');
      await page.keyboard.press('Home');
      const first = cells(await canvasPixels(page, 'frame'), 1, s, 1, 0)[0];
      assert.ok(maxDiff(first, recon) > 20, 'step 1 already looks like the output');
      await page.keyboard.press('End');
      assert.match((await page.textContent('#time-out'))!, new RegExp(`t = ${model.cfg.timeSteps} of ${model.cfg.timeSteps}`));
      assert.ok(maxDiff(cells(await canvasPixels(page, 'frame'), 1, s, 1, 0)[0], recon) <= 1, 'the last step is not the reconstruction');
    }

    // The spike cost, as the CLI reports it (a positive energy, a row per layer).
    assert.ok(Number(await page.getAttribute('#cost-summary', 'data-energy')) > 0);
    assert.ok((await page.locator('#cost tbody tr').count()) >= 8);

    if (process.env.SPIKEVAE_WEB_SCREENSHOT) {
      mkdirSync(join(root, 'docs', 'img'), { recursive: true });
      await page.screenshot({ path: join(root, 'docs', 'img', 'web-page.png'), fullPage: true });
      t.diagnostic('wrote docs/img/web-page.png');
    }

    // A narrow window (a phone held upright): one column, nothing wider than the screen.
    await page.setViewportSize({ width: 380, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a 380 px window`);

    assert.deepEqual(errors, []);
  } finally {
    setBackend(saved);
    await browser.close();
    await server.close();
    rmSync(outDir, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
});
