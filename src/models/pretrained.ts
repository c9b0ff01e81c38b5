/**
 * The trained models that ship in the package's pretrained/ folder: each is
 * `<name>.safetensors` (a spikevae checkpoint, i.e. the official state_dict)
 * with a model card `<name>.md`. Every command that takes a checkpoint also
 * takes `pretrained:<name>`. (In the web page, which has no package folder,
 * the page lists the models itself; util/ stand-ins make this module inert.)
 */
import { UserError } from '../util/errors.js';
import { listDirectory } from '../util/files.js';
import { packagePath } from '../util/package.js';

export const PRETRAINED_PREFIX = 'pretrained:';

export function pretrainedDir(): string {
  return packagePath('pretrained');
}

/** Names of the shipped models, sorted. */
export function pretrainedNames(): string[] {
  return listDirectory(pretrainedDir())
    .filter((f) => f.endsWith('.safetensors'))
    .map((f) => f.slice(0, -'.safetensors'.length))
    .sort();
}

/** The file of a shipped model, or a one-line error listing the ones there are. */
export function pretrainedPath(name: string): string {
  const names = pretrainedNames();
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || !names.includes(name)) {
    throw new UserError(`pretrained:${name}: no such pretrained model (available: ${names.length ? names.join(', ') : 'none in ' + pretrainedDir()})`);
  }
  return `${pretrainedDir()}/${name}.safetensors`;
}

/** A checkpoint argument as a file path: `pretrained:<name>` names a shipped model, anything else is a path. */
export function resolveCheckpointPath(spec: string): string {
  return spec.startsWith(PRETRAINED_PREFIX) ? pretrainedPath(spec.slice(PRETRAINED_PREFIX.length)) : spec;
}
