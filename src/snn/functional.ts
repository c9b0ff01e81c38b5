/**
 * Differentiable spiking primitives with the exact semantics of the official
 * FSVAE implementation (reference-semantics.md §1.2, §1.6, §1.7). Tensors are
 * time-major: the leading axis is T.
 */
import { allocFloat32, allocFloat32Output, releaseFloat32 } from '../engine/alloc.js';
import { ShapeError, fmtShape } from '../util/errors.js';
import { backend } from '../engine/backend/index.js';
import { Tensor, makeResult } from '../engine/tensor.js';

/** LIF constants of the reference (snn_layers.py). */
export const LIF_DECAY = 0.25;
export const LIF_THRESHOLD = 0.2;
/** Half-width of the rectangular surrogate window (aa); its height is 1/(2·aa) = 1. */
export const SURROGATE_HALF_WIDTH = 0.5;

/**
 * LIF neuron over the leading time axis: u_t = 0.25·u_{t-1}·(1 - o_{t-1}) + x_t,
 * o_t = [u_t > 0.2]; hard reset whose gradient is not detached; surrogate
 * do/du = 1 for |u| < 0.5 (centred on 0, not on the threshold).
 */
export function lif(x: Tensor): Tensor {
  if (x.ndim < 1) throw new ShapeError('lif', `needs a time axis, got shape ${fmtShape(x.shape)}`);
  const steps = x.shape[0];
  const size = x.size / Math.max(steps, 1);
  const u = allocFloat32Output(x.size);
  const o = allocFloat32Output(x.size);
  const be = backend();
  be.lifForward(steps, size, x.data, u, o, LIF_DECAY, LIF_THRESHOLD);
  const out = makeResult('lif', o, x.shape, [x], (g) => {
    const gx = allocFloat32Output(x.size);
    be.lifBackward(steps, size, u, o, g, gx, LIF_DECAY, SURROGATE_HALF_WIDTH, 1 / (2 * SURROGATE_HALF_WIDTH));
    releaseFloat32(u);
    x.takeGrad(gx);
  });
  out.binary = true;
  return out;
}

/** PSP filter over the leading time axis: syn_t = syn_{t-1} + (x_t - syn_{t-1})/tau_s, syn_{-1} = 0. */
export function psp(x: Tensor, tauS = 2): Tensor {
  const steps = x.shape[0];
  const size = x.size / Math.max(steps, 1);
  const out = allocFloat32Output(x.size); // every element is written below
  const xd = x.data;
  const inv = 1 / tauS;
  for (let i = 0; i < size; i++) {
    let syn = 0;
    for (let t = 0; t < steps; t++) {
      const idx = t * size + i;
      syn = Math.fround(syn + Math.fround((xd[idx] - syn) * inv));
      out[idx] = syn;
    }
  }
  return makeResult('psp', out, x.shape, [x], (g) => {
    // syn_t = (1 - 1/tau) syn_{t-1} + x_t / tau  =>  backward recurrence.
    const gx = x.gradBuffer();
    const keep = 1 - inv;
    for (let i = 0; i < size; i++) {
      let gs = 0;
      for (let t = steps - 1; t >= 0; t--) {
        const idx = t * size + i;
        gs = g[idx] + keep * gs;
        gx[idx] += gs * inv;
      }
    }
  });
}

/** The fixed membrane-output coefficients 0.8^(T-1-t), t = 0..T-1 (float32, as torch.pow gives them). */
export function membraneCoefficients(steps: number): Float32Array {
  const c = allocFloat32(steps);
  for (let t = 0; t < steps; t++) c[t] = Math.pow(0.8, steps - 1 - t);
  return c;
}

/**
 * Σ_t coef[t]·x_t over the leading time axis (the membrane potential of a
 * non-firing leaky integrator). The tanh is applied by the caller.
 */
export function membraneOutput(x: Tensor, coef: Float32Array): Tensor {
  const steps = x.shape[0];
  if (coef.length !== steps) throw new ShapeError('membraneOutput', `${coef.length} coefficients for ${steps} time steps`);
  const size = x.size / steps;
  const out = allocFloat32Output(size);
  const be = backend();
  be.timeWeightedSum(steps, size, x.data, coef, out);
  return makeResult('membraneOutput', out, x.shape.slice(1), [x], (g) => {
    if (x.requiresGrad) x.addGradWith((gx, accumulate) => be.timeWeightedSpread(steps, size, g, coef, gx, accumulate));
  });
}

/** Images [N, ...] repeated over T as [T, N, ...]: the reference's direct input encoding, written out. */
export function repeatOverTime(images: Tensor, steps: number): Tensor {
  const n = images.size;
  const out = new Float32Array(steps * n);
  for (let t = 0; t < steps; t++) out.set(images.data, t * n);
  return new Tensor(out, [steps, ...images.shape]);
}
