/**
 * What a checkpoint must hold before a model is built from it: metadata
 * checked key by key (types, ranges, allowed values, the model's size), and
 * tensors whose dtypes are what the model stores (float weights, integer
 * counters) — refused with one line naming the file and the key, never
 * replaced by defaults or converted silently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, type StoredTensor } from '../src/io/safetensors.js';
import { INT8_METADATA_KEY, INT8_SCALE_SUFFIX, quantizeInt8, readCheckpoint, stateDict } from '../src/models/checkpoint.js';
import { createModel, loadModel, modelFromConfig, type ModelKind } from '../src/models/index.js';
import { MAX_LINEAR_WEIGHTS, linearWeightCount } from '../src/models/config.js';
import { UserError } from '../src/util/errors.js';
import { withTempDir } from './temp-dir.js';

const FSVAE_CONFIG = { variant: 'fsvae', inChannels: 1, imageSize: 32, latentDim: 128, timeSteps: 16, k: 20, decoding: 'membrane' };

function userError(re: RegExp) {
  return (e: Error) => {
    assert.ok(e instanceof UserError, `not a UserError: ${e.stack}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  };
}

/** A checkpoint file holding only metadata (enough for readCheckpoint, which builds nothing). */
function metadataOnly(dir: string, name: string, metadata: Record<string, string>): string {
  const p = join(dir, `${name}.safetensors`);
  writeFileSync(p, encodeSafetensors({}, metadata));
  return p;
}

test('checkpoint metadata: each nonsense value is refused naming the file and the key', () => {
  withTempDir('ckpt', (dir) => {
    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ['negative-latent', { latentDim: -5 }, /key 'latentDim' is -5; expected a whole number of at least 1/],
      ['fraction-latent', { latentDim: 12.5 }, /key 'latentDim' is 12\.5/],
      ['string-latent', { latentDim: '128' }, /key 'latentDim' is "128"/],
      ['huge-latent', { latentDim: 100000 }, /latentDim 100000 and k 20 would give fsvae 1\.82e\+12 fully connected weights; the most this tool builds is 134217728/],
      ['zero-k', { k: 0 }, /key 'k' is 0; expected a whole number from 1 to 1000/],
      ['huge-time', { timeSteps: 1e9 }, /key 'timeSteps' is 1000000000; expected a whole number from 2 to 256/],
      ['null-time', { timeSteps: null }, /key 'timeSteps' is null/],
      ['decoding', { decoding: 'spikes' }, /key 'decoding' is "spikes"; expected one of "membrane", "taid"/],
      ['variant', { variant: 'fsvae-xl' }, /key 'variant' is "fsvae-xl"; expected one of "fsvae", "fsvae-large"/],
      ['channels', { inChannels: 2 }, /key 'inChannels' is 2; expected one of 1, 3/],
      ['size-mismatch', { variant: 'fsvae-large' }, /key 'imageSize' is 32; variant 'fsvae-large' needs 64/],
      ['unknown-key', { dropout: 0.5 }, /unknown key 'dropout' for model fsvae/],
      ['missing-key', { k: undefined }, /key 'k' is missing/],
    ];
    for (const [name, change, re] of bad) {
      const config = JSON.stringify({ ...FSVAE_CONFIG, ...change });
      const p = metadataOnly(dir, name, { 'spikevae.model': 'fsvae', 'spikevae.config': config });
      assert.throws(() => readCheckpoint(p), userError(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: metadata 'spikevae.config': ${re.source}`)), name);
      // The model builder checks the same, for callers that hold a config object already.
      assert.throws(() => modelFromConfig('fsvae', JSON.parse(config), p), userError(re), name);
    }
    const whole: Array<[string, Record<string, string>, RegExp]> = [
      ['config-null', { 'spikevae.model': 'fsvae', 'spikevae.config': 'null' }, /metadata 'spikevae.config' is not a JSON object/],
      ['config-array', { 'spikevae.model': 'fsvae', 'spikevae.config': '[1,2]' }, /metadata 'spikevae.config' is not a JSON object/],
      ['config-missing', { 'spikevae.model': 'fsvae' }, /has no metadata 'spikevae.config'/],
      ['training-number', { 'spikevae.model': 'fsvae', 'spikevae.config': JSON.stringify(FSVAE_CONFIG), 'spikevae.training': '5' }, /metadata 'spikevae.training' is not a JSON object/],
      ['model', { 'spikevae.model': 'gan', 'spikevae.config': JSON.stringify(FSVAE_CONFIG) }, /metadata 'spikevae.model' names unknown model 'gan'/],
      ['format', { 'spikevae.format': '2', 'spikevae.model': 'fsvae', 'spikevae.config': JSON.stringify(FSVAE_CONFIG) }, /metadata 'spikevae.format' is '2'; this spikevae reads format 1/],
    ];
    for (const [name, md, re] of whole) {
      const p = metadataOnly(dir, name, md);
      assert.throws(() => readCheckpoint(p), userError(re), name);
      assert.throws(() => readCheckpoint(p), (e: Error) => e.message.startsWith(`${p}: `), name);
    }
    // The configuration as written is accepted, and comes back unchanged.
    const ok = metadataOnly(dir, 'ok', { 'spikevae.format': '1', 'spikevae.model': 'fsvae', 'spikevae.config': JSON.stringify({ ...FSVAE_CONFIG, decoding: 'taid' }) });
    assert.deepEqual(readCheckpoint(ok).config, { ...FSVAE_CONFIG, decoding: 'taid' });
  });
});

test('a model is built from exactly what the metadata says: TAID stays TAID, large stays large', () => {
  const taid = modelFromConfig('fsvae', { ...FSVAE_CONFIG, latentDim: 8, decoding: 'taid' }, 'x.safetensors');
  assert.ok(stateDict(taid).has('membrane_output_layer.conv.weight'));
  const ann = modelFromConfig('ann-vae', { variant: 'ann-vae-large', inChannels: 3, imageSize: 64, latentDim: 8 }, 'x.safetensors');
  assert.deepEqual(stateDict(ann).get('encoder.4.0.weight')?.shape, [512, 256, 3, 3]);
});

test('linearWeightCount is the number of fully connected weights the built model has', () => {
  const cases: Array<[ModelKind, string, Parameters<typeof createModel>[2]]> = [
    ['fsvae', 'mnist', { latentDim: 16, k: 5 }],
    ['fsvae', 'celeba', { latentDim: 8, k: 3, decoding: 'taid' }],
    ['esvae', 'cifar10', { latentDim: 12 }],
    ['ann-vae', 'mnist', { latentDim: 10 }],
    ['ann-vae', 'celeba', { latentDim: 6 }],
    ['fad-ae', 'fashion', { latentDim: 7 }],
    ['fad-ae', 'celeba', { latentDim: 9 }],
  ];
  for (const [kind, dataset, opts] of cases) {
    const model = createModel(kind, dataset, opts, 0);
    let linear = 0;
    for (const [, p] of model.namedParameters()) if (p.shape.length === 2) linear += p.size;
    assert.equal(linearWeightCount(kind, model.config as Record<string, number | string>), linear, `${kind} ${dataset}`);
  }
});

test('--latent-dim 100000000 (or a large k) is refused with one line before anything is allocated', () => {
  for (const [kind, opts, re] of [
    ['fsvae', { latentDim: 100_000_000 }, /^fsvae: latentDim 100000000 and k 20 would give fsvae 1\.82e\+18 fully connected weights/],
    ['fsvae', { latentDim: 1024, k: 1000 }, /^fsvae: latentDim 1024 and k 1000 would give fsvae/],
    ['esvae', { latentDim: 100_000_000 }, /^esvae: latentDim 100000000 and k 20 would give esvae 1\.83e\+18 fully connected weights/],
    ['ann-vae', { latentDim: 1_000_000 }, /^ann-vae: latentDim 1000000 would give ann-vae 3\.07e\+9 fully connected weights/],
  ] as Array<[ModelKind, Parameters<typeof createModel>[2], RegExp]>) {
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(() => createModel(kind, 'mnist', opts, 0), userError(re));
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, 'refused before allocating the model');
  }
  // The limit leaves room for far larger models than the papers use.
  assert.ok(linearWeightCount('fsvae', { variant: 'fsvae-large', latentDim: 512, k: 20 }) < MAX_LINEAR_WEIGHTS);
});

test('dtype mismatches are refused, not converted: integer weights, float counters', () => {
  withTempDir('ckpt', (dir) => {
    const model = createModel('fad-ae', 'mnist', { latentDim: 4 }, 0);
    const meta = { 'spikevae.format': '1', 'spikevae.model': 'fad-ae', 'spikevae.config': JSON.stringify(model.config) };
    const save = (name: string, edit: (sd: Map<string, StoredTensor>) => void) => {
      const sd = stateDict(model);
      edit(sd);
      const p = join(dir, `${name}.safetensors`);
      writeFileSync(p, encodeSafetensors(sd, meta));
      return p;
    };
    const ok = save('ok', () => {});
    assert.equal(loadModel(ok).model.kind, 'fad-ae');
    const asInt = (dtype: 'I32' | 'U32') => (sd: Map<string, StoredTensor>) => {
      const t = sd.get('latent_layer.weight')!;
      sd.set('latent_layer.weight', { dtype, shape: t.shape, data: dtype === 'I32' ? new Int32Array(t.data.length) : new Uint32Array(t.data.length) });
    };
    for (const dtype of ['I32', 'U32'] as const) {
      const p = save(dtype, asInt(dtype));
      assert.throws(() => loadModel(p), userError(new RegExp(`tensor 'latent_layer.weight' has dtype ${dtype}, not a floating-point type`)));
      assert.throws(() => loadModel(p), (e: Error) => e.message.startsWith(`${p}: `));
    }
    const floatCounter = save('counter', (sd) => sd.set('encoder.0.1.num_batches_tracked', { dtype: 'F32', shape: [], data: Float32Array.of(3.5) }));
    assert.throws(() => loadModel(floatCounter), userError(/buffer 'encoder.0.1.num_batches_tracked' has dtype F32; a counter is an integer/));
    const negCounter = save('negcounter', (sd) => sd.set('encoder.0.1.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(-1n) }));
    assert.throws(() => loadModel(negCounter), userError(/is -1; a counter is a non-negative integer/));
    // F16 weights are floats: converted exactly, as PyTorch's half() state_dicts need.
    const half = save('half', (sd) => {
      const t = sd.get('latent_layer.weight')!;
      sd.set('latent_layer.weight', { dtype: 'F16', shape: t.shape, data: new Uint16Array(t.data.length).fill(0x3c00) });
    });
    const w = loadModel(half).model.namedParameters().get('latent_layer.weight')!;
    assert.ok(w.data.every((v) => v === 1));
  });
});

test('int8 storage: each weight within half a row step of the original, read back as float32; broken files refused', () => {
  withTempDir('ckpt', (dir) => {
    const model = createModel('fad-ae', 'mnist', { latentDim: 4 }, 0);
    const meta = { 'spikevae.format': '1', 'spikevae.model': 'fad-ae', 'spikevae.config': JSON.stringify(model.config) };
    const name = 'latent_layer.weight';
    const sd = stateDict(model);
    const w = Float32Array.from(sd.get(name)!.data as Float32Array);
    const [rows] = sd.get(name)!.shape;
    const cols = w.length / rows;
    w.fill(0, 0, cols); // an all-zero row: scale 0, stays exactly zero
    w[cols] = 0.5; // the largest magnitude of row 1 lands exactly on ±127 steps
    for (let c = 1; c < cols; c++) w[cols + c] = Math.max(-0.5, Math.min(0.5, w[cols + c]));
    sd.set(name, { dtype: 'F32', shape: sd.get(name)!.shape, data: w });
    const q = quantizeInt8(sd, meta, [name]);
    assert.equal(sd.get(name)!.dtype, 'F32', 'the input map is left as it was');
    assert.equal(q.tensors.get(name)!.dtype, 'I8');
    const p = join(dir, 'q.safetensors');
    writeFileSync(p, encodeSafetensors(q.tensors, q.metadata));
    const ck = readCheckpoint(p);
    assert.ok(!ck.file.tensors.has(name + INT8_SCALE_SUFFIX), 'scales are consumed');
    assert.equal(ck.file.metadata[INT8_METADATA_KEY], undefined);
    const back = loadModel(p).model.namedParameters().get(name)!.data;
    for (let r = 0; r < rows; r++) {
      let max = 0;
      for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(w[r * cols + c]));
      const step = max / 127;
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        assert.ok(Math.abs(back[i] - w[i]) <= step / 2 + 1e-9, `row ${r} col ${c}: ${back[i]} vs ${w[i]} (step ${step})`);
      }
    }
    for (let c = 0; c < cols; c++) assert.equal(back[c], 0);
    assert.equal(back[cols], 0.5);
    // Every other tensor is untouched, bit for bit.
    const other = 'latent_layer.bias';
    assert.deepEqual(loadModel(p).model.namedParameters().get(other)!.data, sd.get(other)!.data);

    const broken = (label: string, edit: (t: Map<string, StoredTensor>, m: Record<string, string>) => void, re: RegExp) => {
      const t = new Map(q.tensors);
      const m = { ...q.metadata };
      edit(t, m);
      const f = join(dir, `${label}.safetensors`);
      writeFileSync(f, encodeSafetensors(t, m));
      assert.throws(() => loadModel(f), userError(re), label);
      assert.throws(() => loadModel(f), (e: Error) => e.message.startsWith(`${f}: `), label);
    };
    broken('no-scale', (t) => t.delete(name + INT8_SCALE_SUFFIX), /'latent_layer.weight.int8_scale' must hold \d+ float32 row scales, but is missing/);
    broken('short-scale', (t) => t.set(name + INT8_SCALE_SUFFIX, { dtype: 'F32', shape: [1], data: new Float32Array(1) }), /must hold \d+ float32 row scales, but is F32 \[1\]/);
    broken('nan-scale', (t) => t.set(name + INT8_SCALE_SUFFIX, { dtype: 'F32', shape: [rows], data: new Float32Array(rows).fill(NaN) }), /holds negative, NaN or infinite scales/);
    broken('not-int8', (t) => t.set(name, sd.get(name)!), /'latent_layer.weight' is listed as int8 but is F32/);
    broken('bad-list', (_t, m) => (m[INT8_METADATA_KEY] = '{"a":1}'), /metadata 'spikevae.int8' is not a JSON list of tensor names/);
    assert.throws(() => quantizeInt8(sd, meta, ['latent_layer.bias']), userError(/only float32 tensors of two or more dimensions/));
  });
});
