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
import { crc32 } from 'node:zlib';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import { DTYPE_BYTES, makeArray, type DType, type StoredTensor } from './safetensors.js';
import { readFileOrFail } from '../util/files.js';
import { ByteBudget, decompressBounded } from '../util/limits.js';

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
  const cdEnd = cdOffset + cdSize;
  if (cdEnd > buf.length) throw new UserError(`${file}: central directory runs past the end of the file (truncated?)`);
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || dv.getUint32(p, true) !== 0x02014b50) throw new UserError(`${file}: corrupt central directory entry ${i}`);
    const method = dv.getUint16(p + 10, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const eEnd = p + 46 + nameLen + extraLen;
    if (eEnd + commentLen > cdEnd) throw new UserError(`${file}: central directory entry ${i} runs past the end of the directory`);
    const name = Buffer.from(buf.subarray(p + 46, p + 46 + nameLen)).toString('utf8');
    // ZIP64 extra field (id 1): the 0xffffffff fields, in order.
    let e = p + 46 + nameLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      const fieldEnd = e + 4 + len;
      if (fieldEnd > eEnd) throw new UserError(`${file}: extra field of '${name}' runs past its entry`);
      if (id === 1) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > fieldEnd) throw new UserError(`${file}: ZIP64 field of '${name}' is too short`);
          q += 8;
          return Number(dv.getBigUint64(q - 8, true));
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      e = fieldEnd;
    }
    entries.set(name, { name, method, compressedSize, size, localOffset });
    p = eEnd + commentLen;
  }
  return entries;
}

/**
 * An entry's bytes. Stored entries are views of `buf`; deflated ones are
 * inflated to no more than their declared size, which is first charged to
 * the file's budget.
 */
export function readZipEntry(buf: Uint8Array, e: ZipEntry, file: string, budget: ByteBudget): Uint8Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const h = e.localOffset;
  if (h + 30 > buf.length || dv.getUint32(h, true) !== 0x04034b50) throw new UserError(`${file}: corrupt local header of '${e.name}'`);
  const start = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
  if (start + e.compressedSize > buf.length) throw new UserError(`${file}: '${e.name}' runs past the end of the file (truncated?)`);
  const raw = buf.subarray(start, start + e.compressedSize);
  if (e.method === 0) {
    if (e.size !== e.compressedSize) throw new UserError(`${file}: stored entry '${e.name}' holds ${e.compressedSize} bytes but declares ${e.size}`);
    return raw;
  }
  if (e.method === 8) {
    budget.spend(e.size, `'${e.name}'`);
    const out = decompressBounded('deflate', raw, e.size, file, `'${e.name}'`);
    if (out.length !== e.size) throw new UserError(`${file}: '${e.name}' inflates to ${out.length} bytes, not the ${e.size} it declares (truncated?)`);
    return out;
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

const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** A pickled value in a one-line message: scalars as themselves, containers by kind (never recursively: they may nest deeply). */
function show(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (Array.isArray(v)) return `a ${v.length}-item tuple`;
  return v instanceof PyDict ? 'a dict' : 'an object';
}

/** A size or stride list for a one-line message, however long the file made it. */
const brief = (a: unknown[]): string => `[${a.slice(0, 8).map(show).join(', ')}${a.length > 8 ? `, ... (${a.length} dimensions)` : ''}]`;

/**
 * A tensor record (storage, offset, size, stride) gathered into a C-order
 * tensor. The view is checked against its storage before anything is
 * allocated: it may not hold more elements than the storage (a stride-0
 * view of one float as [16384, 16384] is refused, not expanded) nor reach
 * past its end.
 */
function gatherTensor(args: unknown[], storageBytes: (ref: StorageRef) => Uint8Array, file: string, budget: ByteBudget): StoredTensor {
  if (!Array.isArray(args)) throw new UserError(`${file}: malformed tensor record`);
  const [storage, offset, size, stride] = args as [unknown, unknown, unknown, unknown];
  if (!(storage instanceof StorageRef) || !isIndex(offset) || !Array.isArray(size) || !Array.isArray(stride) || size.length !== stride.length) {
    throw new UserError(`${file}: malformed tensor record`);
  }
  if (!size.every(isIndex) || !stride.every(isIndex)) {
    throw new UserError(`${file}: tensor view of storage '${storage.key}' has a negative or non-integer size or stride (${brief(size)} / ${brief(stride)})`);
  }
  const n = size.includes(0) ? 0 : size.reduce((a: number, b: number) => a * b, 1);
  if (n > storage.numel) throw new UserError(`${file}: tensor view ${brief(size)} holds ${n} elements, more than its storage '${storage.key}' (${storage.numel})`);
  const last = n === 0 ? -1 : size.reduce((acc: number, d: number, i: number) => acc + (d - 1) * stride[i], offset);
  if (last >= storage.numel) throw new UserError(`${file}: tensor view reaches element ${last} of storage '${storage.key}', which holds ${storage.numel}`);
  const el = DTYPE_BYTES[storage.dtype];
  budget.spend(n * el, `tensor of storage '${storage.key}'`);
  const bytes = storageBytes(storage);
  const out = new Uint8Array(n * el);
  const nd = size.length;
  let contiguous = true;
  for (let d = nd - 1, expect = 1; d >= 0; expect *= size[d], d--) if (size[d] !== 1 && stride[d] !== expect) contiguous = false;
  if (contiguous) out.set(bytes.subarray(offset * el, (offset + n) * el));
  else {
    // Gather into C order whatever the strides are.
    const idx = new Array<number>(nd).fill(0);
    for (let i = 0; i < n; i++) {
      let src = offset;
      for (let d = 0; d < nd; d++) src += idx[d] * stride[d];
      out.set(bytes.subarray(src * el, (src + 1) * el), i * el);
      for (let d = nd - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) break;
        idx[d] = 0;
      }
    }
  }
  return { dtype: storage.dtype, shape: [...size], data: makeArray(storage.dtype, out.buffer) };
}

/** More values than any state_dict pickle pushes (~20 per tensor): a bound on the interpreter's memory. */
export const MAX_PICKLE_VALUES = 4_000_000;

/**
 * Runs one pickle from byte `start` to its STOP opcode with the restricted
 * set of opcodes and globals; `rebuild` turns a tensor record into a value.
 * Malformed input (a pop from an empty stack, a missing memo entry, an
 * opcode applied to the wrong kind of value) is refused with the opcode and
 * its byte offset, never left to fail inside the interpreter.
 */
function unpickle(pkl: Uint8Array, start: number, file: string, rebuild: (args: unknown[]) => unknown): { value: unknown; end: number } {
  const dv = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let pos = start;
  let op = 0;
  let opAt = 0;
  let pushed = 0;
  const corrupt = (why: string): never => {
    throw new UserError(`${file}: corrupt pickle: opcode 0x${op.toString(16)} at byte ${opAt} ${why}`);
  };
  const push = (v: unknown) => {
    if (++pushed > MAX_PICKLE_VALUES) throw new UserError(`${file}: pickle holds more than ${MAX_PICKLE_VALUES} values (not a state_dict)`);
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) corrupt('pops an empty stack');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) corrupt('needs a value on an empty stack');
    return stack[stack.length - 1];
  };
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
    return corrupt('has no MARK to pop to');
  };
  const str = (n: number) => {
    need(n);
    const s = Buffer.from(pkl.subarray(pos, pos + n)).toString('utf8');
    pos += n;
    return s;
  };
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : corrupt('appends to something that is not a list'));
  const setItems = (d: unknown, items: unknown[]) => {
    if (!(d instanceof PyDict)) corrupt('sets items of something that is not a dict');
    if (items.length % 2 !== 0) corrupt('has a key without a value');
    for (let i = 0; i + 1 < items.length; i += 2) (d as PyDict).map.set(items[i], items[i + 1]);
  };
  const allowedGlobal = (module: unknown, name: unknown): Global => {
    if (typeof module !== 'string' || typeof name !== 'string') return corrupt('names a global with non-string parts');
    const g = new Global(module, name);
    if (!ALLOWED.has(g.full)) throw new UserError(`${file}: refuses to load pickle global '${g.full}' (only state_dict tensors are allowed)`);
    return g;
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof Global)) throw new UserError(`${file}: pickle calls something that is not an allowed function`);
    if (!Array.isArray(args)) return corrupt('calls a function without an argument tuple');
    switch (fn.full) {
      case 'collections.OrderedDict':
        return new PyDict();
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor':
        return rebuild(args);
      case 'torch._utils._rebuild_parameter':
        return args.length > 0 ? args[0] : corrupt('rebuilds a parameter from nothing');
      default:
        throw new UserError(`${file}: refuses to call pickle global '${fn.full}' (only state_dict tensors are allowed)`);
    }
  };
  const memoGet = (k: number) => (memo.has(k) ? memo.get(k) : corrupt(`reads memo entry ${k}, which was never stored`));

  for (;;) {
    need(1);
    opAt = pos;
    op = pkl[pos++];
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
        push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        push([]);
        break;
      case 0x28: // MARK
        push(MARK);
        break;
      case 0x85: // TUPLE1
        push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push([pop(), b, c]);
        break;
      }
      case 0x74: // TUPLE
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        list(top()).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const target = list(top());
        for (const v of items) target.push(v);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x58: {
        // BINUNICODE
        need(4);
        const n = dv.getUint32(pos, true);
        pos += 4;
        push(str(n));
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        need(1);
        const n = pkl[pos++];
        push(str(n));
        break;
      }
      case 0x8d: {
        // BINUNICODE8
        need(8);
        const n = Number(dv.getBigUint64(pos, true));
        pos += 8;
        push(str(n));
        break;
      }
      case 0x4a: // BININT
        need(4);
        push(dv.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        need(1);
        push(pkl[pos++]);
        break;
      case 0x4d: // BININT2
        need(2);
        push(dv.getUint16(pos, true));
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
        push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x71: // BINPUT
        need(1);
        memo.set(pkl[pos++], top());
        break;
      case 0x72: // LONG_BINPUT
        need(4);
        memo.set(dv.getUint32(pos, true), top());
        pos += 4;
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        need(1);
        push(memoGet(pkl[pos++]));
        break;
      case 0x6a: // LONG_BINGET
        need(4);
        push(memoGet(dv.getUint32(pos, true)));
        pos += 4;
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const nl1 = pkl.indexOf(0x0a, pos);
        const nl2 = nl1 < 0 ? -1 : pkl.indexOf(0x0a, nl1 + 1);
        if (nl2 < 0) throw new UserError(`${file}: data.pkl is truncated`);
        const g = allowedGlobal(Buffer.from(pkl.subarray(pos, nl1)).toString(), Buffer.from(pkl.subarray(nl1 + 1, nl2)).toString());
        pos = nl2 + 1;
        push(g);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        push(allowedGlobal(pop(), name));
        break;
      }
      case 0x52: // REDUCE
      case 0x81: {
        // NEWOBJ
        const args = pop();
        push(call(pop(), args));
        break;
      }
      case 0x62: // BUILD: state of an OrderedDict (its _metadata) or a tensor; not needed
        pop();
        top();
        break;
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof Global)) throw new UserError(`${file}: unsupported persistent id`);
        const dtype = STORAGE_DTYPES[(pid[1] as Global).name];
        if (!dtype) throw new UserError(`${file}: unsupported storage type '${(pid[1] as Global).full}'`);
        if (typeof pid[2] !== 'string' || !isIndex(pid[4])) corrupt('names a storage without a key or an element count');
        push(new StorageRef(dtype, pid[2] as string, pid[4] as number));
        break;
      }
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      default:
        throw new UserError(`${file}: refuses pickle opcode 0x${op.toString(16)} at byte ${opAt} (not part of a state_dict)`);
    }
  }
}

/** Reads a `torch.save` file: the zip format (PyTorch >= 1.6) or the legacy one. */
export function parsePth(buf: Uint8Array, file: string): PthFile {
  if (buf.length >= 2 && buf[0] === 0x80) return parseLegacyPth(buf, file);
  if (buf.length < 4 || buf[0] !== 0x50 || buf[1] !== 0x4b) throw new UserError(`${file}: not a PyTorch checkpoint (not a zip archive)`);
  const budget = new ByteBudget(file, buf.length);
  const entries = readZipDirectory(buf, file);
  const pklName = [...entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
  if (!pklName) throw new UserError(`${file}: zip archive has no data.pkl (not a torch.save file)`);
  const prefix = pklName.slice(0, pklName.length - 'data.pkl'.length);
  const byteorder = entries.get(prefix + 'byteorder');
  if (byteorder && Buffer.from(readZipEntry(buf, byteorder, file, budget)).toString() !== 'little') {
    throw new UserError(`${file}: big-endian checkpoints are not supported`);
  }
  const pkl = readZipEntry(buf, entries.get(pklName)!, file, budget);
  const storageCache = new Map<string, Uint8Array>();
  const storageBytes = (ref: StorageRef): Uint8Array => {
    let b = storageCache.get(ref.key);
    if (!b) {
      const e = entries.get(`${prefix}data/${ref.key}`);
      if (!e) throw new UserError(`${file}: storage '${ref.key}' is missing from the archive`);
      // Checked before inflating: an entry may not declare more than its elements need.
      checkStorageSize(e.size, ref, file);
      b = readZipEntry(buf, e, file, budget);
      storageCache.set(ref.key, b);
    }
    checkStorageSize(b.length, ref, file);
    return b;
  };
  return toResult(unpickle(pkl, 0, file, (args) => gatherTensor(args, storageBytes, file, budget)).value, file);
}

/** A storage holds exactly the bytes of the element count its persistent id declares. */
function checkStorageSize(bytes: number, ref: StorageRef, file: string): void {
  const need = ref.numel * DTYPE_BYTES[ref.dtype];
  if (bytes !== need) throw new UserError(`${file}: storage '${ref.key}' has ${bytes} bytes; its ${ref.numel} elements of ${ref.dtype} need ${need}`);
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
  if (proto.value !== 1001) throw new UserError(`${file}: unsupported legacy protocol version ${show(proto.value)}`);
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
    if (typeof k !== 'string') throw new UserError(`${file}: corrupt legacy checkpoint (storage key ${show(k)} is not a string)`);
    const key = k;
    if (pos + 8 > buf.length) throw new UserError(`${file}: truncated (storage '${key}' is missing)`);
    const numel = Number(dv.getBigInt64(pos, true));
    pos += 8;
    const ref = refs.get(key);
    const bytes = numel * (ref ? DTYPE_BYTES[ref.dtype] : 4);
    if (numel < 0) throw new UserError(`${file}: storage '${key}' has a negative element count ${numel}`);
    if (pos + bytes > buf.length) throw new UserError(`${file}: truncated inside storage '${key}'`);
    storages.set(key, buf.subarray(pos, pos + bytes));
    pos += bytes;
  }
  const storageBytes = (ref: StorageRef): Uint8Array => {
    const b = storages.get(ref.key);
    if (!b) throw new UserError(`${file}: storage '${ref.key}' is missing`);
    checkStorageSize(b.length, ref, file);
    return b;
  };
  const budget = new ByteBudget(file, buf.length);
  for (const p of pending) Object.assign(p.target, gatherTensor(p.args, storageBytes, file, budget));
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
      for (const [k, x] of root.map) if (k !== key && typeof k === 'string' && (typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean')) extra[k] = x;
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
