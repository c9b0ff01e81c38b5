/**
 * PyTorch's default initialisation: kaiming_uniform_(a=√5) for weights, which
 * is U(±1/√fan_in), and U(±1/√fan_in) for biases. fan_in follows
 * torch.nn.init._calculate_fan_in_and_fan_out: size(1) · receptive field.
 * For a ConvTranspose weight [Cin, Cout, k, k] size(1) is Cout, so its
 * "fan_in" is Cout·k·k, a PyTorch quirk we reproduce.
 */
import type { Random } from './random.js';

export function fanIn(weightShape: readonly number[]): number {
  let receptive = 1;
  for (let i = 2; i < weightShape.length; i++) receptive *= weightShape[i];
  return weightShape[1] * receptive;
}

/** U(-bound, bound) fill. */
export function uniformFill(out: Float32Array, bound: number, rng: Random): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = (rng.uniform() * 2 - 1) * bound;
  return out;
}

/** kaiming_uniform_(a=√5): gain √(2/(1+5)), bound = gain·√(3/fan_in) = 1/√fan_in. */
export function kaimingUniformA5(out: Float32Array, weightShape: readonly number[], rng: Random): Float32Array {
  return uniformFill(out, 1 / Math.sqrt(fanIn(weightShape)), rng);
}

export function biasFill(out: Float32Array, weightShape: readonly number[], rng: Random): Float32Array {
  const f = fanIn(weightShape);
  return uniformFill(out, f > 0 ? 1 / Math.sqrt(f) : 0, rng);
}
