/**
 * Hand-built PyTorch checkpoints for the reader tests: pickles written opcode
 * by opcode, zip archives whose declared sizes and compression can lie, and
 * the legacy (pre-1.6) layout. The writer in src/io/pth.ts only ever emits
 * honest files; these build the dishonest ones a hostile user would.
 */
import { deflateRawSync } from 'node:zlib';

/** Pickle protocol-2 bytes, opcode by opcode. */
export class Pickle {
  private readonly parts: number[] = [0x80, 2];
  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...Buffer.from(`${module}\n${name}\n`));
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    return this.op(0x58, ...n, ...b);
  }
  /** BININT (signed 32-bit). */
  int(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return this.op(0x4a, ...b);
  }
  /** LONG1: a little-endian two's-complement integer of `bytes` bytes. */
  long(v: bigint, bytes = 8): this {
    const b: number[] = [];
    for (let i = 0; i < bytes; i++) b.push(Number((v >> BigInt(8 * i)) & 0xffn));
    return this.op(0x8a, bytes, ...b);
  }
  tuple(items: number[]): this {
    this.op(0x28);
    for (const v of items) this.int(v);
    return this.op(0x74);
  }
  stop(): Uint8Array {
    return Uint8Array.from([...this.parts, 0x2e]);
  }
}

export interface TensorRecord {
  name: string;
  /** Storage class, e.g. 'FloatStorage'. */
  storage?: string;
  key: string;
  /** Element count the persistent id declares for the storage. */
  storageNumel: number;
  offset?: number;
  size: number[];
  stride: number[];
}

/** `{name: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}` as torch.save pickles it. */
export function stateDictPickle(tensors: TensorRecord[]): Uint8Array {
  const p = new Pickle().op(0x7d).op(0x28); // EMPTY_DICT, MARK
  for (const t of tensors) {
    p.str(t.name).global('torch._utils', '_rebuild_tensor_v2').op(0x28);
    p.op(0x28).str('storage').global('torch', t.storage ?? 'FloatStorage').str(t.key).str('cpu').int(t.storageNumel).op(0x74, 0x51);
    p.int(t.offset ?? 0).tuple(t.size).tuple(t.stride).op(0x89);
    p.global('collections', 'OrderedDict').op(0x29, 0x52); // OrderedDict()
    p.op(0x74, 0x52); // args tuple, REDUCE
  }
  return p.op(0x75).stop(); // SETITEMS
}

export interface ZipFile {
  name: string;
  /** The entry's content (empty when `deflated` gives the body). */
  data?: Uint8Array;
  /** Deflate the data (method 8) instead of storing it. */
  deflate?: boolean;
  /** An already-deflated body (method 8), such as a deflate bomb. */
  deflated?: Uint8Array;
  /** Uncompressed size to declare instead of the true one. */
  declaredSize?: number;
}

/** A zip archive (local headers, central directory, end record) of the given entries. */
export function zipArchive(files: ZipFile[]): Uint8Array {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name);
    const data = f.data ?? new Uint8Array(0);
    const method = f.deflate || f.deflated ? 8 : 0;
    const body = f.deflated ? Buffer.from(f.deflated) : f.deflate ? deflateRawSync(data) : Buffer.from(data);
    const size = f.declaredSize ?? data.length;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(size, 22);
    lh.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(method, 10);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(size, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    local.push(lh, name, body);
    central.push(cd, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...local, cd, end]);
}

/** A torch.save zip: archive/data.pkl plus one archive/data/<key> entry per storage. */
export function zipPth(pickle: Uint8Array, storages: Array<Omit<ZipFile, 'name'> & { key: string }>): Uint8Array {
  return zipArchive([{ name: 'archive/data.pkl', data: pickle }, ...storages.map((s) => ({ ...s, name: `archive/data/${s.key}` }))]);
}

/**
 * The legacy layout: pickles of the magic number, protocol 1001 and the system
 * info, the object, the list of storage keys, then each storage as an int64
 * element count and its bytes.
 */
export function legacyPth(object: Uint8Array, storages: Array<{ key: string; numel: bigint; bytes: Uint8Array }>): Uint8Array {
  const magic = new Pickle().long(0x1950a86a20f9469cfc6cn, 10).stop();
  const proto = new Pickle().int(1001).stop();
  const sysInfo = new Pickle().op(0x7d).str('little_endian').op(0x88, 0x73).stop();
  const keys = new Pickle().op(0x5d, 0x28);
  for (const s of storages) keys.str(s.key);
  const parts: Uint8Array[] = [magic, proto, sysInfo, object, keys.op(0x65).stop()];
  for (const s of storages) {
    const n = Buffer.alloc(8);
    n.writeBigInt64LE(s.numel);
    parts.push(n, s.bytes);
  }
  return Buffer.concat(parts);
}
