/**
 * IDX files (the MNIST family's format): big-endian magic 0x0000 TTDD with
 * type code TT (0x08 = unsigned byte) and DD dimensions, then DD big-endian
 * uint32 sizes, then the data. Read raw or gzipped (detected by content).
 */
import { readFileOrFail } from '../util/files.js';
import { decodeLimit, decompressBounded } from '../util/limits.js';
import { UserError } from '../util/errors.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function readIdxBytes(path: string): Uint8Array {
  const raw = readFileOrFail(path);
  const gzipped = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  return gzipped ? decompressBounded('gzip', raw, decodeLimit(raw.length), path) : raw;
}

export function parseIdx(bytes: Uint8Array, path: string, expectDims?: number): IdxArray {
  if (bytes.length < 4) throw new UserError(`${path}: only ${bytes.length} bytes; not an IDX file (truncated?)`);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) {
    const magic = Buffer.from(bytes.subarray(0, 4)).toString('hex');
    throw new UserError(`${path}: wrong magic number 0x${magic} (expected 0x000008${(expectDims ?? 1).toString(16).padStart(2, '0')}, an IDX file of unsigned bytes)`);
  }
  const nd = bytes[3];
  if (expectDims !== undefined && nd !== expectDims) {
    throw new UserError(`${path}: has ${nd} dimensions, expected ${expectDims} (${expectDims === 1 ? 'a labels file' : 'an images file'})`);
  }
  const headerLen = 4 + 4 * nd;
  if (bytes.length < headerLen) throw new UserError(`${path}: header truncated`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - headerLen;
  if (have !== count) {
    throw new UserError(
      `${path}: header says ${dims.join('x')} = ${count} bytes of data but the file has ${have}${have < count ? ' (truncated)' : ' (trailing bytes)'}`,
    );
  }
  return { dims, data: bytes.subarray(headerLen) };
}

export function readIdx(path: string, expectDims?: number): IdxArray {
  return parseIdx(readIdxBytes(path), path, expectDims);
}
