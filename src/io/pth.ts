/**
 * PyTorch checkpoints (`torch.save`: the zip format of PyTorch >= 1.6, and the
 * legacy format of older files such as published Inception weights), read and
 * written without Python.
 *
 * Reading is safe by construction, like `torch.load(weights_only=True)`: the
 * pickle interpreter below implements only the opcodes a state_dict uses and
 * knows a fixed list of globals (OrderedDict, the tensor rebuild functions
 * and the storage classes). Any other global — `os.system`, `builtins.eval`,
 * a user class — is refused with an error naming it; nothing named in the
 * file is ever imported or executed.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import { DTYPE_BYTES, makeArray, type DType, type StoredTensor, type TypedData } from './safetensors.js';
import { readFileOrFail } from '../util/files.js';

// ---------------------------------------------------------------- zip

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

export function readZipDirectory(buf: Uint8Array, file: string): Map<string, ZipEntry> {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // End of central directory: the last 0x06054b50 within the final 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new UserError(`${file}: not a zip archive (no end-of-directory record; truncated?)`);
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    // ZIP64: locator just before the EOCD points at the ZIP64 end record.
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) throw new UserError(`${file}: corrupt ZIP64 locator`);
    const z64 = Number(dv.getBigUint64(loc + 8, true));
    if (z64 + 56 > buf.length || dv.getUint32(z64, true) !== 0x06064b50) throw new UserError(`${file}: corrupt ZIP64 end record`);
    count = Number(dv.getBigUint64(z64 + 32, true));
    cdSize = Number(dv.getBigUint64(z64 + 40, true));
    cdOffset = Number(dv.getBigUint64(z64 + 48, true));
  }
  if (cdOffset + cdSize > buf.length) throw new UserError(`${file}: central directory runs past the end of the file (truncated?)`);
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || dv.getUint32(p, true) !== 0x02014b50) throw new UserError(`${file}: corrupt central directory entry ${i}`);
    const method = dv.getUint16(p + 10, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const name = Buffer.from(buf.subarray(p + 46, p + 46 + nameLen)).toString('utf8');
    // ZIP64 extra field (id 1): the 0xffffffff fields, in order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (size === 0xffffffff) (size = Number(dv.getBigUint64(q, true))), (q += 8);
        if (compressedSize === 0xffffffff) (compressedSize = Number(dv.getBigUint64(q, true))), (q += 8);
        if (localOffset === 0xffffffff) localOffset = Number(dv.getBigUint64(q, true));
      }
      e += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size, localOffset });
    p = eEnd + commentLen;
  }
  return entries;
}

export function readZipEntry(buf: Uint8Array, e: ZipEntry, file: string): Uint8Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const h = e.localOffset;
  if (h + 30 > buf.length || dv.getUint32(h, true) !== 0x04034b50) throw new UserError(`${file}: corrupt local header of '${e.name}'`);
  const start = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
  if (start + e.compressedSize > buf.length) throw new UserError(`${file}: '${e.name}' runs past the end of the file (truncated?)`);
  const raw = buf.subarray(start, start + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) {
    try {
      return inflateRawSync(raw);
    } catch (err) {
      throw new UserError(`${file}: corrupt deflate data in '${e.name}' (${(err as Error).message})`);
    }
  }
  throw new UserError(`${file}: '${e.name}' uses unsupported zip compression method ${e.method}`);
}

// ---------------------------------------------------------------- restricted unpickler

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

class Global {
  constructor(readonly module: string, readonly name: string) {}
  get full(): string {
    return `${this.module}.${this.name}`;
  }
}
class StorageRef {
  constructor(readonly dtype: DType, readonly key: string, readonly numel: number) {}
}
/** An OrderedDict or dict (insertion-ordered). */
class PyDict {
  readonly map = new Map<unknown, unknown>();
}
class Mark {}
const MARK = new Mark();

const ALLOWED = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

export interface PthFile {
  /** The first state_dict found (top level, or under 'state_dict' / 'model' / ...). */
  stateDict: Map<string, StoredTensor>;
  /** Other top-level values of a checkpoint dict (epoch numbers and the like). */
  extra: Record<string, unknown>;
}

function typedFrom(dtype: DType, bytes: Uint8Array): TypedData {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return makeArray(dtype, copy.buffer);
}

/** A tensor record (storage, offset, size, stride) gathered into a C-order tensor. */
function gatherTensor(args: unknown[], storageBytes: (ref: StorageRef) => Uint8Array, file: string): StoredTensor {
  const [storage, offset, size, stride] = args as [StorageRef, number, number[], number[]];
  if (!(storage instanceof StorageRef) || !Array.isArray(size) || !Array.isArray(stride)) {
    throw new UserError(`${file}: malformed tensor record`);
  }
  const bytes = storageBytes(storage);
  const el = DTYPE_BYTES[storage.dtype];
  const n = size.reduce((a, b) => a * b, 1);
  // Gather into C order whatever the strides and offset are.
  const out = new Uint8Array(n * el);
  const nd = size.length;
  const idx = new Array<number>(nd).fill(0);
  for (let i = 0; i < n; i++) {
    let src = offset;
    for (let d = 0; d < nd; d++) src += idx[d] * stride[d];
    if ((src + 1) * el > bytes.length) throw new UserError(`${file}: tensor view reaches past its storage '${storage.key}'`);
    out.set(bytes.subarray(src * el, (src + 1) * el), i * el);
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < size[d]) break;
      idx[d] = 0;
    }
  }
  return { dtype: storage.dtype, shape: size.map(Number), data: typedFrom(storage.dtype, out) };
}

/**
 * Runs one pickle from byte `start` to its STOP opcode with the restricted
 * set of opcodes and globals; `rebuild` turns a tensor record into a value.
 */
function unpickle(pkl: Uint8Array, start: number, file: string, rebuild: (args: unknown[]) => unknown): { value: unknown; end: number } {
  const call = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof Global)) throw new UserError(`${file}: pickle calls something that is not an allowed function`);
    const a = args as unknown[];
    switch (fn.full) {
      case 'collections.OrderedDict':
        return new PyDict();
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor':
        return rebuild(a);
      case 'torch._utils._rebuild_parameter':
        return a[0];
      default:
        throw new UserError(`${file}: refuses to call pickle global '${fn.full}' (only state_dict tensors are allowed)`);
    }
  };

  const dv = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let pos = start;
  const need = (n: number) => {
    if (pos + n > pkl.length) throw new UserError(`${file}: data.pkl is truncated`);
  };
  const popMark = (): unknown[] => {
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i] === MARK) {
        const items = stack.splice(i);
        items.shift();
        return items;
      }
    }
    throw new UserError(`${file}: corrupt pickle (no MARK)`);
  };
  const str = (n: number) => {
    need(n);
    const s = Buffer.from(pkl.subarray(pos, pos + n)).toString('utf8');
    pos += n;
    return s;
  };
  const setItems = (d: unknown, items: unknown[]) => {
    if (!(d instanceof PyDict)) throw new UserError(`${file}: corrupt pickle (SETITEM on a non-dict)`);
    for (let i = 0; i + 1 < items.length; i += 2) d.map.set(items[i], items[i + 1]);
  };
  for (;;) {
    need(1);
    const op = pkl[pos++];
    switch (op) {
      case 0x80: // PROTO
        need(1);
        pos++;
        break;
      case 0x95: // FRAME
        need(8);
        pos += 8;
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x85: // TUPLE1
        stack.push([stack.pop()]);
        break;
      case 0x86: {
        const b = stack.pop();
        const a = stack.pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        const c = stack.pop();
        const b = stack.pop();
        const a = stack.pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = stack.pop();
        (stack[stack.length - 1] as unknown[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        (stack[stack.length - 1] as unknown[]).push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = stack.pop();
        const k = stack.pop();
        setItems(stack[stack.length - 1], [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(stack[stack.length - 1], items);
        break;
      }
      case 0x58: {
        // BINUNICODE
        need(4);
        const n = dv.getUint32(pos, true);
        pos += 4;
        stack.push(str(n));
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        need(1);
        const n = pkl[pos++];
        stack.push(str(n));
        break;
      }
      case 0x8d: {
        // BINUNICODE8
        need(8);
        const n = Number(dv.getBigUint64(pos, true));
        pos += 8;
        stack.push(str(n));
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(dv.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        need(1);
        stack.push(pkl[pos++]);
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(dv.getUint16(pos, true));
        pos += 2;
        break;
      case 0x8a: {
        // LONG1
        need(1);
        const n = pkl[pos++];
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(pkl[pos + i]);
        if (n > 0 && pkl[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x71: // BINPUT
        need(1);
        memo.set(pkl[pos++], stack[stack.length - 1]);
        break;
      case 0x72: // LONG_BINPUT
        need(4);
        memo.set(dv.getUint32(pos, true), stack[stack.length - 1]);
        pos += 4;
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      case 0x68: // BINGET
        need(1);
        stack.push(memo.get(pkl[pos++]));
        break;
      case 0x6a: // LONG_BINGET
        need(4);
        stack.push(memo.get(dv.getUint32(pos, true)));
        pos += 4;
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const nl1 = pkl.indexOf(0x0a, pos);
        const nl2 = nl1 < 0 ? -1 : pkl.indexOf(0x0a, nl1 + 1);
        if (nl2 < 0) throw new UserError(`${file}: data.pkl is truncated`);
        const g = new Global(Buffer.from(pkl.subarray(pos, nl1)).toString(), Buffer.from(pkl.subarray(nl1 + 1, nl2)).toString());
        pos = nl2 + 1;
        if (!ALLOWED.has(g.full)) throw new UserError(`${file}: refuses to load pickle global '${g.full}' (only state_dict tensors are allowed)`);
        stack.push(g);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = String(stack.pop());
        const mod = String(stack.pop());
        const g = new Global(mod, name);
        if (!ALLOWED.has(g.full)) throw new UserError(`${file}: refuses to load pickle global '${g.full}' (only state_dict tensors are allowed)`);
        stack.push(g);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = stack.pop();
        const fn = stack.pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = stack.pop();
        const cls = stack.pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x62: // BUILD: state of an OrderedDict (its _metadata) or a tensor; not needed
        stack.pop();
        break;
      case 0x51: {
        // BINPERSID
        const pid = stack.pop() as unknown[];
        if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof Global)) throw new UserError(`${file}: unsupported persistent id`);
        const dtype = STORAGE_DTYPES[(pid[1] as Global).name];
        if (!dtype) throw new UserError(`${file}: unsupported storage type '${(pid[1] as Global).full}'`);
        stack.push(new StorageRef(dtype, String(pid[2]), Number(pid[4])));
        break;
      }
      case 0x2e: {
        // STOP
        return { value: stack.pop(), end: pos };
      }
      default:
        throw new UserError(`${file}: refuses pickle opcode 0x${op.toString(16)} at byte ${pos - 1} (not part of a state_dict)`);
    }
  }
}

/** Reads a `torch.save` file: the zip format (PyTorch >= 1.6) or the legacy one. */
export function parsePth(buf: Uint8Array, file: string): PthFile {
  if (buf.length >= 2 && buf[0] === 0x80) return parseLegacyPth(buf, file);
  if (buf.length < 4 || buf[0] !== 0x50 || buf[1] !== 0x4b) throw new UserError(`${file}: not a PyTorch checkpoint (not a zip archive)`);
  const entries = readZipDirectory(buf, file);
  const pklName = [...entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
  if (!pklName) throw new UserError(`${file}: zip archive has no data.pkl (not a torch.save file)`);
  const prefix = pklName.slice(0, pklName.length - 'data.pkl'.length);
  const byteorder = entries.get(prefix + 'byteorder');
  if (byteorder && Buffer.from(readZipEntry(buf, byteorder, file)).toString() !== 'little') {
    throw new UserError(`${file}: big-endian checkpoints are not supported`);
  }
  const pkl = readZipEntry(buf, entries.get(pklName)!, file);
  const storageCache = new Map<string, Uint8Array>();
  const storageBytes = (ref: StorageRef): Uint8Array => {
    let b = storageCache.get(ref.key);
    if (!b) {
      const e = entries.get(`${prefix}data/${ref.key}`);
      if (!e) throw new UserError(`${file}: storage '${ref.key}' is missing from the archive`);
      b = readZipEntry(buf, e, file);
      if (b.length < ref.numel * DTYPE_BYTES[ref.dtype]) throw new UserError(`${file}: storage '${ref.key}' has ${b.length} bytes, needs ${ref.numel * DTYPE_BYTES[ref.dtype]}`);
      storageCache.set(ref.key, b);
    }
    return b;
  };
  return toResult(unpickle(pkl, 0, file, (args) => gatherTensor(args, storageBytes, file)).value, file);
}

const LEGACY_MAGIC = Number(0x1950a86a20f9469cfc6cn);

/**
 * The legacy format (PyTorch < 1.6, e.g. older published weight files): five
 * pickles in a row (magic number, protocol version 1001, system info, the
 * object, the list of storage keys), then each storage's raw bytes preceded
 * by its element count as a little-endian int64. Tensors refer to storages
 * that come after the object, so they are gathered once all bytes are known.
 */
function parseLegacyPth(buf: Uint8Array, file: string): PthFile {
  const noTensors = () => {
    throw new UserError(`${file}: corrupt legacy checkpoint (tensor before the object pickle)`);
  };
  const magic = unpickle(buf, 0, file, noTensors);
  if (magic.value !== LEGACY_MAGIC) throw new UserError(`${file}: not a PyTorch checkpoint (unknown pickle at the start)`);
  const proto = unpickle(buf, magic.end, file, noTensors);
  if (proto.value !== 1001) throw new UserError(`${file}: unsupported legacy protocol version ${String(proto.value)}`);
  const sysInfo = unpickle(buf, proto.end, file, noTensors);
  if (sysInfo.value instanceof PyDict && sysInfo.value.map.get('little_endian') === false) {
    throw new UserError(`${file}: big-endian checkpoints are not supported`);
  }
  const pending: Array<{ args: unknown[]; target: StoredTensor }> = [];
  const obj = unpickle(buf, sysInfo.end, file, (args) => {
    const target: StoredTensor = { dtype: 'F32', shape: [], data: new Float32Array(0) };
    pending.push({ args, target });
    return target;
  });
  const keys = unpickle(buf, obj.end, file, noTensors);
  if (!Array.isArray(keys.value)) throw new UserError(`${file}: corrupt legacy checkpoint (no storage key list)`);
  const storages = new Map<string, Uint8Array>();
  const refs = new Map<string, StorageRef>();
  for (const p of pending) {
    const s = p.args[0];
    if (s instanceof StorageRef) refs.set(s.key, s);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = keys.end;
  for (const k of keys.value) {
    const key = String(k);
    if (pos + 8 > buf.length) throw new UserError(`${file}: truncated (storage '${key}' is missing)`);
    const numel = Number(dv.getBigInt64(pos, true));
    pos += 8;
    const ref = refs.get(key);
    const el = ref ? DTYPE_BYTES[ref.dtype] : 4;
    if (pos + numel * el > buf.length) throw new UserError(`${file}: truncated inside storage '${key}'`);
    storages.set(key, buf.subarray(pos, pos + numel * el));
    pos += numel * el;
  }
  const storageBytes = (ref: StorageRef): Uint8Array => {
    const b = storages.get(ref.key);
    if (!b) throw new UserError(`${file}: storage '${ref.key}' is missing`);
    if (b.length < ref.numel * DTYPE_BYTES[ref.dtype]) throw new UserError(`${file}: storage '${ref.key}' has ${b.length} bytes, needs ${ref.numel * DTYPE_BYTES[ref.dtype]}`);
    return b;
  };
  for (const p of pending) Object.assign(p.target, gatherTensor(p.args, storageBytes, file));
  return toResult(obj.value, file);
}

function isTensor(v: unknown): v is StoredTensor {
  return typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'data' in v;
}

/** Finds the state_dict: the top-level dict of tensors, or one stored under a key. */
function toResult(root: unknown, file: string): PthFile {
  if (!(root instanceof PyDict)) throw new UserError(`${file}: does not hold a dict (a whole pickled model is not supported; save model.state_dict())`);
  const tensorsOf = (d: PyDict) => [...d.map.entries()].filter(([k, v]) => typeof k === 'string' && isTensor(v));
  const direct = tensorsOf(root);
  if (direct.length > 0 && direct.length === root.map.size) {
    return { stateDict: new Map(direct as Array<[string, StoredTensor]>), extra: {} };
  }
  for (const key of ['state_dict', 'model_state_dict', 'model', 'net', 'network']) {
    const v = root.map.get(key);
    if (v instanceof PyDict && tensorsOf(v).length > 0) {
      const extra: Record<string, unknown> = {};
      for (const [k, x] of root.map) if (k !== key && (typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean')) extra[String(k)] = x;
      return { stateDict: new Map(tensorsOf(v) as Array<[string, StoredTensor]>), extra };
    }
  }
  if (direct.length > 0) return { stateDict: new Map(direct as Array<[string, StoredTensor]>), extra: {} };
  throw new UserError(`${file}: no state_dict of tensors found`);
}

export function readPth(path: string): PthFile {
  return parsePth(readFileOrFail(path), path);
}

// ---------------------------------------------------------------- writer

const STORAGE_OF: Partial<Record<DType, string>> = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([k, v]) => [v, k]));

class PickleWriter {
  private readonly parts: Buffer[] = [];
  op(b: number): void {
    this.parts.push(Buffer.from([b]));
  }
  global(mod: string, name: string): void {
    this.parts.push(Buffer.from(`c${mod}\n${name}\n`, 'utf8'));
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58;
    h.writeUInt32LE(b.length, 1);
    this.parts.push(h, b);
  }
  int(n: number): void {
    if (n >= 0 && n < 256) this.parts.push(Buffer.from([0x4b, n]));
    else if (n >= 0 && n < 65536) {
      const b = Buffer.alloc(3);
      b[0] = 0x4d;
      b.writeUInt16LE(n, 1);
      this.parts.push(b);
    } else if (n >= -0x80000000 && n <= 0x7fffffff) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(n, 1);
      this.parts.push(b);
    } else {
      // LONG1 with 8 bytes
      const b = Buffer.alloc(10);
      b[0] = 0x8a;
      b[1] = 8;
      b.writeBigInt64LE(BigInt(n), 2);
      this.parts.push(b);
    }
  }
  tuple(items: number[]): void {
    this.op(0x28);
    for (const v of items) this.int(v);
    this.op(0x74);
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Encodes a state_dict as a torch.save zip archive (loadable with weights_only=True). */
export function encodePth(stateDict: Map<string, StoredTensor>, archiveName = 'archive'): Uint8Array {
  const w = new PickleWriter();
  w.op(0x80);
  w.op(2); // PROTO 2
  w.global('collections', 'OrderedDict');
  w.op(0x29);
  w.op(0x52); // OrderedDict()
  w.op(0x28); // MARK
  const storages: Array<[string, Uint8Array]> = [];
  let key = 0;
  for (const [name, t] of stateDict) {
    const storage = STORAGE_OF[t.dtype];
    if (!storage) throw new UserError(`cannot write tensor '${name}' of dtype ${t.dtype} to a .pth file`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const k = String(key++);
    storages.push([k, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    w.str(name);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.op(0x28); // MARK (args)
    w.op(0x28); // MARK (persistent id)
    w.str('storage');
    w.global('torch', storage);
    w.str(k);
    w.str('cpu');
    w.int(numel);
    w.op(0x74);
    w.op(0x51); // BINPERSID
    w.int(0);
    w.tuple(t.shape);
    w.tuple(stride);
    w.op(0x89); // requires_grad False
    w.global('collections', 'OrderedDict');
    w.op(0x29);
    w.op(0x52); // backward hooks
    w.op(0x74); // args tuple
    w.op(0x52); // REDUCE
  }
  w.op(0x75); // SETITEMS
  w.op(0x2e); // STOP
  const files: Array<[string, Uint8Array]> = [
    [`${archiveName}/data.pkl`, w.bytes()],
    [`${archiveName}/byteorder`, Buffer.from('little')],
    ...storages.map(([k, b]) => [`${archiveName}/data/${k}`, b] as [string, Uint8Array]),
    [`${archiveName}/version`, Buffer.from('3\n')],
  ];
  return zipStored(files);
}

/** A zip of stored (uncompressed) entries with data aligned to 64 bytes, as torch writes them. */
function zipStored(files: Array<[string, Uint8Array]>): Uint8Array {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameBuf = Buffer.from(name, 'utf8');
    const headerLen = 30 + nameBuf.length;
    // Padding extra field ("FB" id, like torch) so the data starts on a 64-byte boundary.
    let pad = (64 - ((offset + headerLen + 4) % 64)) % 64;
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4246, 0);
    extra.writeUInt16LE(pad, 2);
    const crc = crc32(data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0, 6);
    local.writeUInt16LE(0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(extra.length, 28);
    chunks.push(local, nameBuf, extra, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(nameBuf.length, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, nameBuf);
    offset += 30 + nameBuf.length + extra.length + data.length;
    pad = 0;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...chunks, cdBuf, end]);
}

export function writePth(path: string, stateDict: Map<string, StoredTensor>, archiveName = 'archive'): void {
  writeFileAtomic(path, encodePth(stateDict, archiveName));
}
