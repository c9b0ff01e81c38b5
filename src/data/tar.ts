/**
 * A minimal ustar/GNU tar reader: enough for the official
 * cifar-10-binary.tar.gz (regular files, 512-byte blocks).
 */
import { UserError } from '../util/errors.js';

export function readTarEntries(bytes: Uint8Array, fileName: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let off = 0;
  let longName: string | null = null;
  while (off + 512 <= bytes.length) {
    const header = bytes.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const str = (a: number, b: number) => Buffer.from(header.subarray(a, b)).toString('utf8').replace(/\0.*$/s, '');
    let name = str(0, 100);
    const prefix = str(345, 500);
    const sizeField = str(124, 136).trim();
    const size = parseInt(sizeField, 8);
    if (!Number.isFinite(size) || size < 0) throw new UserError(`${fileName}: corrupt tar header at byte ${off}`);
    // Verify the header checksum: sum of bytes with the checksum field as spaces.
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
    const stored = parseInt(str(148, 156).trim(), 8);
    if (stored !== sum) throw new UserError(`${fileName}: corrupt tar header checksum at byte ${off}`);
    const type = String.fromCharCode(header[156] || 48);
    const dataStart = off + 512;
    if (dataStart + size > bytes.length) throw new UserError(`${fileName}: truncated inside '${name}'`);
    const data = bytes.subarray(dataStart, dataStart + size);
    if (type === 'L') longName = Buffer.from(data).toString('utf8').replace(/\0.*$/s, '');
    else {
      if (longName) {
        name = longName;
        longName = null;
      } else if (prefix) name = `${prefix}/${name}`;
      if (type === '0' || type === '\0') out.set(name, data);
    }
    off = dataStart + Math.ceil(size / 512) * 512;
  }
  return out;
}
