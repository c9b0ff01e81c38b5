/** Worker thread: decodes and preprocesses CelebA JPEGs off the training thread. */
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { decodeCelebA } from './celeba-decode.js';

interface Job {
  id: number;
  paths: string[];
  flips: boolean[];
}

parentPort!.on('message', (job: Job) => {
  const per = 3 * 64 * 64;
  const pixels = new Uint8Array(job.paths.length * per);
  const errors: Array<{ index: number; message: string }> = [];
  job.paths.forEach((p, i) => {
    try {
      pixels.set(decodeCelebA(readFileSync(p), job.flips[i]), i * per);
    } catch (e) {
      errors.push({ index: i, message: (e as Error).message });
    }
  });
  parentPort!.postMessage({ id: job.id, pixels, errors }, [pixels.buffer]);
});
