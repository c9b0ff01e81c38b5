/**
 * Resource limits for reading files a user names. A small crafted file must
 * not make a reader allocate or loop without bound (a deflate bomb, a tensor
 * view of one float as a billion elements), so every reader that expands its
 * input counts what it allocates against a per-file budget and refuses, with
 * one line naming the file, before the allocation happens.
 *
 * The budget is a fixed floor plus a multiple of the file's size: honest
 * files decode to about their own size (torch.save and safetensors store raw
 * bytes; compressed weights and images shrink by a small factor), while
 * deflate can expand a thousandfold.
 */
import { constants } from 'node:buffer';
import { brotliDecompressSync, gunzipSync, inflateRawSync } from 'node:zlib';
import { UserError } from './errors.js';

export const DECODE_FLOOR_BYTES = 64 * 2 ** 20;
export const DECODE_RATIO = 16;

/** The most bytes a file of `fileBytes` may decode to. */
export function decodeLimit(fileBytes: number): number {
  return DECODE_FLOOR_BYTES + DECODE_RATIO * fileBytes;
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 3 : 0)} MiB`;
}

/** What one file may still allocate while it is read. */
export class ByteBudget {
  private spent = 0;
  readonly limit: number;
  constructor(
    readonly file: string,
    fileBytes: number,
  ) {
    this.limit = decodeLimit(fileBytes);
  }

  /** Counts `bytes` about to be allocated for `what`; refuses when the file's budget would be exceeded. */
  spend(bytes: number, what: string): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || this.spent + bytes > this.limit) {
      throw new UserError(
        `${this.file}: ${what} would need ${Number.isFinite(bytes) ? mib(bytes) : 'unbounded memory'}; a file of this size may decode to at most ${mib(this.limit)} (a decompression bomb or a corrupt size?)`,
      );
    }
    this.spent += bytes;
  }
}

export type Codec = 'deflate' | 'gzip' | 'Brotli';

/**
 * Decompresses at most `maxBytes` (the size the container declares, or the
 * budget): the stream is stopped there instead of inflating everything first.
 * `what` names the part of the file (a zip entry), if any.
 */
export function decompressBounded(codec: Codec, data: Uint8Array, maxBytes: number, file: string, what?: string): Buffer {
  // zlib refuses a limit above the largest Buffer; output that large could not be held anyway.
  const opts = { maxOutputLength: Math.min(Math.max(1, maxBytes), constants.MAX_LENGTH) };
  const where = what ? ` in ${what}` : '';
  try {
    if (codec === 'gzip') return gunzipSync(data, opts);
    if (codec === 'Brotli') return brotliDecompressSync(data, opts);
    return inflateRawSync(data, opts);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE') {
      throw new UserError(`${file}: ${codec} data${where} expands to more than ${maxBytes} bytes (a decompression bomb or a corrupt size?)`);
    }
    throw new UserError(`${file}: corrupt ${codec} data${where} (${err.message})`);
  }
}
