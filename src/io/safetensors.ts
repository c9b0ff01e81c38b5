/**
 * safetensors reading and writing (https://huggingface.co/docs/safetensors):
 * an 8-byte little-endian header length, a JSON header mapping tensor names
 * to {dtype, shape, data_offsets} (plus optional "__metadata__" strings), then
 * the raw little-endian, C-order bytes. Every inconsistency is reported with
 * the file name, never passed on as garbage.
 */
import { readFileOrFail } from '../util/files.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U16' | 'U32' | 'U64' | 'BOOL';
export type TypedData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | Uint32Array;

/** A tensor as stored: F16/BF16 keep their raw bits in a Uint16Array, BOOL in a Uint8Array. */
export interface StoredTensor {
  dtype: DType;
  shape: number[];
  data: TypedData;
}

export interface TensorFile {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

export const DTYPE_BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, U64: 8, BOOL: 1 };

/** A typed array of the dtype's element type over `buf` (F16/BF16 as raw Uint16). */
export function makeArray(dtype: DType, buf: ArrayBuffer): TypedData {
  switch (dtype) {
    case 'F64':
      return new Float64Array(buf);
    case 'F32':
      return new Float32Array(buf);
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(buf);
    case 'I64':
      return new BigInt64Array(buf);
    case 'U64':
      return new BigUint64Array(buf);
    case 'I32':
      return new Int32Array(buf);
    case 'U32':
      return new Uint32Array(buf);
    case 'I16':
      return new Int16Array(buf);
    case 'I8':
      return new Int8Array(buf);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf);
  }
}

const bigEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

/** The reference library's limit on the JSON header (safetensors MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * Parses a whole file as the reference library validates it: a header of at
 * most 100 MB of UTF-8 JSON, and tensors whose byte ranges, sorted, tile the
 * data section exactly (no gap, no overlap, nothing after the last one), so
 * a header length off by one or a shifted offset cannot load as garbage.
 */
export function parseSafetensors(bytes: Uint8Array, fileName: string): TensorFile {
  const bad = (msg: string): never => {
    throw new UserError(`${fileName}: not a valid safetensors file: ${msg}`);
  };
  if (bigEndianHost) bad('big-endian hosts are not supported');
  if (bytes.length < 8) bad(`only ${bytes.length} bytes (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) bad(`header length ${headerLen} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  if (headerLen > MAX_HEADER_BYTES) bad(`header of ${headerLen} bytes is larger than the ${MAX_HEADER_BYTES} allowed`);
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    bad('header is not valid UTF-8');
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    return bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) bad('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Array<{ name: string; dtype: DType; shape: number[]; begin: number; end: number }> = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') bad(`metadata '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') bad(`entry '${name}' is not an object`);
    if (typeof e.dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, e.dtype)) bad(`tensor '${name}' has unknown dtype ${JSON.stringify(e.dtype)}`);
    const dtype = e.dtype as DType;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`tensor '${name}' has an invalid shape`);
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad(`tensor '${name}' has invalid data_offsets`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataLen) bad(`tensor '${name}' data [${begin}, ${end}) lies outside the ${dataLen}-byte data section (truncated?)`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (count * DTYPE_BYTES[dtype] !== end - begin) {
      bad(`tensor '${name}' of dtype ${dtype} and shape [${shape.join(', ')}] needs ${count * DTYPE_BYTES[dtype]} bytes but has ${end - begin}`);
    }
    entries.push({ name, dtype, shape: [...shape], begin, end });
  }
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const [i, t] of byOffset.entries()) {
    if (t.begin < covered) bad(`tensors '${byOffset[i - 1].name}' and '${t.name}' overlap`);
    if (t.begin > covered) bad(`${t.begin - covered} bytes before tensor '${t.name}' belong to no tensor (a gap, or a wrong header length?)`);
    covered = t.end;
  }
  if (covered !== dataLen) bad(`${dataLen - covered} bytes after the last tensor belong to no tensor (trailing data, or a wrong header length?)`);
  // Only now, with the layout known to be sound, is anything copied.
  const tensors = new Map<string, StoredTensor>();
  for (const t of entries) {
    // Copy into a fresh, aligned buffer: offsets in the file need not be aligned.
    const copy = new Uint8Array(t.end - t.begin);
    copy.set(bytes.subarray(dataStart + t.begin, dataStart + t.end));
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: makeArray(t.dtype, copy.buffer) });
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): TensorFile {
  return parseSafetensors(readFileOrFail(path), path);
}

function bytesOf(t: StoredTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

export function encodeSafetensors(
  tensors: Map<string, StoredTensor> | Record<string, StoredTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    const n = count * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== n) {
      throw new Error(`encodeSafetensors: tensor '${name}' has ${t.data.byteLength} bytes but dtype ${t.dtype} and shape [${t.shape.join(', ')}] need ${n}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // The header is padded with spaces to a multiple of 8 bytes, so the data starts aligned.
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const [, t] of entries) {
    const b = bytesOf(t);
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

export function writeSafetensors(
  path: string,
  tensors: Map<string, StoredTensor> | Record<string, StoredTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024);
}

/** Floating-point data as numbers; integer and boolean dtypes have no place where a float is read. */
function floatNumbers(t: StoredTensor, what: string): ArrayLike<number> {
  switch (t.dtype) {
    case 'F32':
    case 'F64':
      return t.data as Float32Array | Float64Array;
    case 'F16': {
      const src = t.data as Uint16Array;
      const out = new Float64Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
      return out;
    }
    case 'BF16': {
      const src = t.data as Uint16Array;
      const u32 = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) u32[i] = src[i] << 16;
      return new Float32Array(u32.buffer);
    }
    default:
      throw new UserError(`${what} has dtype ${t.dtype}, not a floating-point type (F32, F64, F16 or BF16)`);
  }
}

/** `what` names the file and tensor for the error (integer dtypes are refused, not converted). */
export function toFloat32(t: StoredTensor, what = 'tensor'): Float32Array {
  if (t.dtype === 'F32') return t.data as Float32Array;
  return Float32Array.from(floatNumbers(t, what));
}

export function toFloat64(t: StoredTensor, what = 'tensor'): Float64Array {
  if (t.dtype === 'F64') return t.data as Float64Array;
  return Float64Array.from(floatNumbers(t, what));
}

const INTEGER_DTYPES: ReadonlySet<DType> = new Set(['I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8']);

/** A counter (BatchNorm's num_batches_tracked): one non-negative integer element of an integer dtype. */
export function toCount(t: StoredTensor, what = 'tensor'): number {
  if (!INTEGER_DTYPES.has(t.dtype)) throw new UserError(`${what} has dtype ${t.dtype}; a counter is an integer (I64)`);
  if (t.data.length !== 1) throw new UserError(`${what} holds ${t.data.length} values; a counter holds one`);
  const v = Number(t.data[0]);
  if (!Number.isSafeInteger(v) || v < 0) throw new UserError(`${what} is ${v}; a counter is a non-negative integer`);
  return v;
}
