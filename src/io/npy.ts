/**
 * NumPy `.npy` arrays and `.npz` archives (np.savez / np.savez_compressed),
 * read without Python: clean-fid's and the FSVAE repository's reference
 * statistics are stored this way. Little-endian float32/float64/int32/int64,
 * C order.
 */
import { DTYPE_BYTES, makeArray, type DType, type StoredTensor } from './safetensors.js';
import { readZipDirectory, readZipEntry } from './pth.js';
import { UserError } from '../util/errors.js';
import { readFileOrFail } from '../util/files.js';
import { ByteBudget } from '../util/limits.js';

const DESCR: Record<string, DType> = { '<f4': 'F32', '<f8': 'F64', '<i4': 'I32', '<i8': 'I64', '|u1': 'U8', '<u1': 'U8' };

export function parseNpy(buf: Uint8Array, what: string): StoredTensor {
  if (buf.length < 10 || buf[0] !== 0x93 || Buffer.from(buf.subarray(1, 6)).toString() !== 'NUMPY') throw new UserError(`${what}: not a .npy array`);
  const major = buf[6];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const start = major === 1 ? 10 : 12;
  if (start > buf.length) throw new UserError(`${what}: truncated .npy header`);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  if (start + headerLen > buf.length) throw new UserError(`${what}: truncated .npy header`);
  const header = Buffer.from(buf.subarray(start, start + headerLen)).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new UserError(`${what}: unreadable .npy header`);
  const dtype = DESCR[descr];
  if (!dtype) throw new UserError(`${what}: unsupported dtype '${descr}' (float32/64, int32/64 little-endian only)`);
  if (fortran === 'True') throw new UserError(`${what}: Fortran-ordered arrays are not supported`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new UserError(`${what}: invalid shape (${shapeText})`);
  const bytes = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
  const off = start + headerLen;
  // Checked before allocating: the header may not promise more (or fewer) bytes than follow it.
  if (off + bytes !== buf.length) {
    throw new UserError(`${what}: shape (${shapeText}) needs ${bytes} data bytes but the array has ${buf.length - off}${off + bytes > buf.length ? ' (truncated)' : ' (trailing bytes)'}`);
  }
  const copy = new Uint8Array(bytes);
  copy.set(buf.subarray(off));
  return { dtype, shape, data: makeArray(dtype, copy.buffer) };
}

/** All arrays of an .npz archive, by name without the '.npy' suffix. */
export function readNpz(path: string): Map<string, StoredTensor> {
  return parseNpz(readFileOrFail(path), path);
}

export function parseNpz(buf: Uint8Array, path: string): Map<string, StoredTensor> {
  if (buf.length < 4 || buf[0] !== 0x50 || buf[1] !== 0x4b) throw new UserError(`${path}: not an .npz archive (not a zip file)`);
  const out = new Map<string, StoredTensor>();
  const budget = new ByteBudget(path, buf.length);
  for (const [name, e] of readZipDirectory(buf, path)) {
    if (!name.endsWith('.npy')) continue;
    const npy = readZipEntry(buf, e, path, budget);
    budget.spend(npy.length, `'${name}'`);
    out.set(name.slice(0, -4), parseNpy(npy, `${path}:${name}`));
  }
  return out;
}
