/**
 * The kernel back-end contract.
 *
 * Everything compute-heavy in spikevae goes through one object implementing
 * `KernelBackend`. Three implementations exist:
 *   - `typescript.ts`: portable, plain loops; runs anywhere (also in a browser)
 *     and is the oracle every other back-end is tested against;
 *   - `native.ts`: the C++ N-API addon (AVX2/FMA, AVX-512 when present, threads);
 *   - `wasm.ts`: the addon's kernels compiled to WebAssembly SIMD, one
 *     thread (the web page's; needs the module's bytes).
 *
 * Conventions shared by every kernel:
 *   - all arrays are dense, row-major (C order) Float32Arrays;
 *   - kernels never allocate their outputs: the caller passes them in;
 *   - "overwrite" vs "accumulate" is explicit in each signature, because the
 *     autodiff accumulates gradients and we do not want a temporary per call;
 *   - a `binary` hint promises that an input holds only 0 and 1 (spikes). A
 *     back-end may use it to run an event-driven kernel (add the weight rows of
 *     active inputs, no multiplies); it must give the same result as the dense
 *     kernel within float32 rounding. Passing `false` is always correct.
 */

/**
 * Geometry of a 2-D convolution in the *forward conv2d* direction:
 * input [batch, inChannels, inHeight, inWidth] -> output
 * [batch, outChannels, outHeight, outWidth], weight [outChannels, inChannels, kernel, kernel].
 *
 * A transposed convolution is expressed with the same geometry seen from the
 * other side: its input is this geometry's *output* and its output is this
 * geometry's *input* (see conv2dBackwardData). outHeight/outWidth must equal
 * floor((in + 2*padding - kernel)/stride) + 1; inHeight/inWidth may be larger
 * than the minimum (that is how output_padding of a transposed conv appears).
 */
export interface Conv2dGeometry {
  batch: number;
  inChannels: number;
  inHeight: number;
  inWidth: number;
  outChannels: number;
  outHeight: number;
  outWidth: number;
  kernel: number;
  stride: number;
  padding: number;
}

/** Batch-norm gradient sums per channel: Σ g and Σ g·(x − mean)·invStd (see channelGradSums). */
export interface GradSums {
  mean: Float64Array;
  invStd: Float64Array;
  sumG: Float64Array;
  sumGX: Float64Array;
}

/**
 * The input y of a PLIF-family layer when it follows a batch norm fused into
 * it: y = a_c·x + b_c, rounded as channelAffine rounds it. Element i of a
 * step's [size] slice has channel floor(i / inner) mod channels; with
 * `perStep`, a and b hold steps·channels coefficients (step t uses
 * a[t·channels + c]: a batch norm with statistics per time step).
 */
export interface NeuronAffine {
  channels: number;
  inner: number;
  a: Float32Array;
  b: Float32Array;
  perStep: boolean;
}

export interface KernelBackend {
  /** 'typescript' or 'native'; shown in logs and benchmark output. */
  readonly name: string;
  /** Free-form description of what was chosen at run time (e.g. "avx512, 2 threads"). */
  readonly description: string;

  /**
   * C[m,n] = op(A)[m,k] · op(B)[k,n] + beta · C[m,n]   (beta is 0 or 1).
   * op(A) = A (stored [m,k]) or A^T (A stored [k,m]) when transA; same for B
   * (stored [k,n], or [n,k] when transB). When beta is 0, C's previous content
   * is ignored (even NaN). `aBinary` promises A holds only 0/1.
   */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    beta: 0 | 1,
    aBinary?: boolean,
  ): void;

  /**
   * y = conv2d(x, w) (+ bias per output channel when bias is non-null). Overwrites y.
   * x [batch, inC, inH, inW], w [outC, inC, k, k], y [batch, outC, outH, outW].
   * `xBinary` promises x holds only 0/1.
   */
  conv2dForward(
    g: Conv2dGeometry,
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    y: Float32Array,
    xBinary?: boolean,
  ): void;

  /**
   * gx (+)= conv2d^T(gy, w): the gradient of conv2dForward with respect to x,
   * which is also the forward pass of a transposed convolution (gy is then the
   * transposed conv's input, gx its output). gy [batch, outC, outH, outW],
   * w [outC, inC, k, k], gx [batch, inC, inH, inW]. Overwrites gx when
   * accumulate is false. `gyBinary` promises gy holds only 0/1 (spiking input
   * to a transposed conv).
   */
  conv2dBackwardData(
    g: Conv2dGeometry,
    gy: Float32Array,
    w: Float32Array,
    gx: Float32Array,
    accumulate: boolean,
    gyBinary?: boolean,
  ): void;

  /**
   * gw (+)= d conv2dForward / d w contracted with gy:
   * gw[o,i,kh,kw] = sum_{n,oh,ow} gy[n,o,oh,ow] · x[n,i,oh*s-p+kh,ow*s-p+kw].
   * Overwrites gw when accumulate is false. `xBinary` promises x holds only 0/1.
   * (Bias gradients are plain reductions and are not part of this call.)
   */
  conv2dBackwardWeight(
    g: Conv2dGeometry,
    x: Float32Array,
    gy: Float32Array,
    gw: Float32Array,
    accumulate: boolean,
    xBinary?: boolean,
  ): void;

  /**
   * One time step of the LIF neuron with its state carried in u and o
   * ([size] each, updated in place): u ← decay·u·(1 − o) + x, o ← u > threshold
   * ? 1 : 0, rounded as lifForward rounds a step. What a network stepped one
   * time step at a time runs (snn/incremental.ts).
   */
  lifStep(size: number, x: Float32Array, u: Float32Array, o: Float32Array, decay: number, threshold: number): void;

  /**
   * LIF neuron over time (reference-semantics §1.2), time-major:
   * x, u, o are [steps, size]. For t = 0..steps-1 with u_{-1} = o_{-1} = 0:
   *   u_t = decay * u_{t-1} * (1 - o_{t-1}) + x_t ;  o_t = u_t > threshold ? 1 : 0.
   * Writes the membrane potentials u (needed by the backward pass) and spikes o.
   */
  lifForward(
    steps: number,
    size: number,
    x: Float32Array,
    u: Float32Array,
    o: Float32Array,
    decay: number,
    threshold: number,
  ): void;

  /**
   * Backward of lifForward with the rectangular surrogate do/du = height for
   * |u| < halfWidth (centred on 0, not on the threshold), and with the gradient
   * flowing through the reset (du_t/do_{t-1} = -decay * u_{t-1}).
   * go: upstream gradient of o [steps, size]; writes gx [steps, size] (overwrite).
   * Runs backwards in time with U_steps = 0 (U_t = dL/du_t, O_t = dL/do_t in total):
   *   O_t = go_t - decay * u_t * U_{t+1}
   *   U_t = O_t * surrogate(u_t) + decay * (1 - o_t) * U_{t+1}
   *   gx_t = U_t
   */
  lifBackward(
    steps: number,
    size: number,
    u: Float32Array,
    o: Float32Array,
    go: Float32Array,
    gx: Float32Array,
    decay: number,
    halfWidth: number,
    height: number,
  ): void;

  /**
   * The fused tdBN + LIF forward: spikes o of lifForward driven by
   * y = a_c * x + b_c, with y rounded exactly as channelAffine rounds it; the
   * membrane is not written. Element i of a step's [size] slice has channel
   * floor(i / inner) mod channels. When `repeated`, x is a single [size] step
   * that drives every step (an input repeated over time, stored once).
   */
  affineLifForward(
    steps: number,
    size: number,
    channels: number,
    inner: number,
    x: Float32Array,
    a: Float32Array,
    b: Float32Array,
    o: Float32Array,
    decay: number,
    threshold: number,
    repeated: boolean,
  ): void;

  /**
   * lifBackward for a LIF driven by y = a_c * x + b_c (the fused tdBN + LIF),
   * recomputing the membrane from x and the stored spikes o instead of reading
   * a stored one: u is replayed exactly as channelAffine followed by
   * lifForward computed it. Element i of a step's [size] slice has channel
   * floor(i / inner) mod channels. go and gx may be the same array. When
   * `repeated` (x is one step that drove every step, as in affineLifForward),
   * gx is [size]: the per-step gradients, each rounded to float32, summed from
   * the last step down in float64 — the gradient of the single stored step.
   * With `sums`, the batch-norm gradient sums of gx (what channelGradSums
   * computes, with the layer's [steps, size] or repeated [size] x viewed as
   * [outer, channels, inner]) are written too, in float64 in a fixed order of
   * the back-end's choosing: the fused tdBN + LIF backward then reads its
   * gradient and input once less.
   */
  lifBackwardRecompute(
    steps: number,
    size: number,
    channels: number,
    inner: number,
    x: Float32Array,
    a: Float32Array,
    b: Float32Array,
    o: Float32Array,
    go: Float32Array,
    gx: Float32Array,
    decay: number,
    halfWidth: number,
    height: number,
    repeated: boolean,
    sums: GradSums | null,
  ): void;

  /**
   * affineLifForward followed by timeWeightedSum of its spikes, without
   * writing the spikes: out[i] = Σ_t coef[t]·o_t[i] ([size]), rounded as
   * timeWeightedSum rounds it. For a layer whose spikes feed nothing but the
   * membrane output (the decoder's last spiking layer).
   */
  affineLifTimeSum(
    steps: number,
    size: number,
    channels: number,
    inner: number,
    x: Float32Array,
    a: Float32Array,
    b: Float32Array,
    coef: Float32Array,
    out: Float32Array,
    decay: number,
    threshold: number,
  ): void;

  /**
   * The backward of affineLifTimeSum: lifBackwardRecompute (not repeated)
   * where step t's output gradient is coef[t]·g (g is the sum's gradient,
   * [size]; rounded as timeWeightedSpread rounds it) and the spikes are
   * replayed from the membrane (u_t > threshold), not read. gx is
   * [steps, size]; `sums` as in lifBackwardRecompute.
   */
  lifBackwardTimeSum(
    steps: number,
    size: number,
    channels: number,
    inner: number,
    x: Float32Array,
    a: Float32Array,
    b: Float32Array,
    coef: Float32Array,
    g: Float32Array,
    gx: Float32Array,
    decay: number,
    threshold: number,
    halfWidth: number,
    height: number,
    sums: GradSums | null,
  ): void;

  /**
   * The PLIF-family neuron (PLIF, ALIF, and the classifiers' LIF with fixed
   * parameters; reference-semantics §4.3), time-major: o is [steps, size]. For
   * each neuron, with v_{-1} = 0 and float32 rounding of every operation:
   *   d_t = y_t − v_{t−1};  h_t = v_{t−1} + d_t·k;  o_t = h_t ≥ threshold ? 1 : 0;
   *   v_t = o_t ? 0 : h_t
   * where y is x ([steps, size]), or the affine of x when `affine` is given.
   * When `repeated`, x is a single [size] step that drives every step. Only
   * the spikes are written.
   */
  plifForward(
    steps: number,
    size: number,
    x: Float32Array,
    o: Float32Array,
    k: number,
    threshold: number,
    affine: NeuronAffine | null,
    repeated: boolean,
  ): void;

  /**
   * Backward of plifForward through time, replaying the membrane from x and
   * the stored spikes o, with the reset detached and the arctangent surrogate
   * do/dh = (α/2) / (1 + (π/2·α·(h − threshold))²). In float64, running
   * backwards with V = dL/dv_t (0 after the last step):
   *   gs = go_t·surrogate(h_t);  H = gs + V·(1 − o_t);  gx_t = H·k (rounded to float32);
   *   dL/dk += H·d_t;  dL/dthreshold −= gs;  V ← H·(1 − k)
   * gx receives dL/dy ([steps, size]; go itself may be passed as gx), or, when
   * `repeated`, the [size] sum over the steps of those float32 values, added
   * in float64 from the last step down. sums[0] ← dL/dk, sums[1] ←
   * dL/dthreshold, in float64 in an order of the back-end's choosing.
   */
  plifBackward(
    steps: number,
    size: number,
    x: Float32Array,
    o: Float32Array,
    go: Float32Array,
    gx: Float32Array,
    k: number,
    threshold: number,
    alpha: number,
    affine: NeuronAffine | null,
    repeated: boolean,
    sums: Float64Array,
  ): void;

  /**
   * plifForward followed by maxPool2x2Forward over its spikes, whose step
   * slices are planes of height × width (both even, width at most 256):
   * writes the spikes o ([steps, size]) and the pooled spikes ([steps, size/4]),
   * pooling each part of the spikes while it is still in cache.
   */
  plifPoolForward(
    steps: number,
    size: number,
    x: Float32Array,
    o: Float32Array,
    pooled: Float32Array,
    k: number,
    threshold: number,
    affine: NeuronAffine | null,
    repeated: boolean,
    height: number,
    width: number,
  ): void;

  /**
   * Backward of plifPoolForward: plifBackward driven by the gradient of the
   * pooled spikes gPooled sent to each window's winner (maxPool2x2Backward
   * over o), without that [steps, size] gradient ever being stored. gx as in
   * plifBackward (it must not be gPooled); the input gradient is equal bit
   * for bit, the sums up to their summation order.
   */
  plifPoolBackward(
    steps: number,
    size: number,
    x: Float32Array,
    o: Float32Array,
    gPooled: Float32Array,
    gx: Float32Array,
    k: number,
    threshold: number,
    alpha: number,
    affine: NeuronAffine | null,
    repeated: boolean,
    sums: Float64Array,
    height: number,
    width: number,
  ): void;

  /**
   * 2×2 max pooling with stride 2 over `planes` planes of H×W, H and W even
   * (so the windows tile each plane): y [planes, H/2, W/2] gets each window's
   * maximum. The window's winner is its first maximum in row-major order (a
   * later element wins only if it is greater, or NaN), as PyTorch's CPU kernel.
   */
  maxPool2x2Forward(planes: number, H: number, W: number, x: Float32Array, y: Float32Array): void;

  /**
   * Its backward: g (one value per window) goes to the window's winner, found
   * again from x, added to gx when `accumulate`; otherwise gx is written whole
   * (0 at every other element).
   */
  maxPool2x2Backward(planes: number, H: number, W: number, x: Float32Array, g: Float32Array, gx: Float32Array, accumulate: boolean): void;

  /**
   * The membrane output over the leading time axis: out[i] = Σ_t coef[t]·x[t·size + i]
   * in float32, t ascending, each product and each sum rounded (no fused
   * multiply-add).
   */
  timeWeightedSum(steps: number, size: number, x: Float32Array, coef: Float32Array, out: Float32Array): void;

  /** Its backward: gx[t·size + i] = coef[t]·g[i], or added to gx when `accumulate` (in float64, rounded once). */
  timeWeightedSpread(steps: number, size: number, g: Float32Array, coef: Float32Array, gx: Float32Array, accumulate: boolean): void;

  /**
   * Batch-norm statistics: x viewed as [outer, channels, inner]; per channel,
   * the mean and the biased variance over outer and inner, accumulated in
   * float64. Overwrites mean and variance.
   */
  channelMeanVar(outer: number, channels: number, inner: number, x: Float32Array, mean: Float64Array, variance: Float64Array): void;

  /**
   * One AdamW step over a parameter array, in float64 with float32 stores, in
   * this order: p ← p·decay; m ← b1·m + (1−b1)·g; v ← b2·v + (1−b2)·g²;
   * p ← p − stepSize·m / (√v / bc2Sqrt + eps).
   * Returns false when any stored p, m or v is NaN or infinite.
   */
  adamwUpdate(
    p: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    decay: number,
    b1: number,
    b2: number,
    stepSize: number,
    bc2Sqrt: number,
    eps: number,
  ): boolean;

  /**
   * Per-channel sums of x viewed as [outer, channels, inner], accumulated in
   * float64 (bias gradients). Overwrites sum.
   */
  channelSums(outer: number, channels: number, inner: number, x: Float32Array, sum: Float64Array): void;

  /** y[o,c,i] = a[c]·x[o,c,i] + b[c] (the batch-norm output; overwrites y). */
  channelAffine(outer: number, channels: number, inner: number, x: Float32Array, a: Float32Array, b: Float32Array, y: Float32Array): void;

  /**
   * LeakyReLU: y = x·f with f = 1 for x > 0, else slope, computed in float64
   * and rounded once (NaN stays NaN, −0 stays −0). Overwrites y.
   */
  leakyRelu(n: number, x: Float32Array, y: Float32Array, slope: number): void;

  /**
   * LeakyReLU's backward: gx (+)= g·f (f as in leakyRelu, from the input x),
   * in float64 and rounded once; without accumulate gx is written as 0 + g·f.
   */
  leakyReluBackward(n: number, x: Float32Array, g: Float32Array, gx: Float32Array, slope: number, accumulate: boolean): void;

  /**
   * Batch-norm backward sums per channel: sumG = Σ g and
   * sumGX = Σ g·(x − mean)·invStd, in float64. Overwrites both.
   */
  channelGradSums(
    outer: number,
    channels: number,
    inner: number,
    g: Float32Array,
    x: Float32Array,
    mean: Float64Array,
    invStd: Float64Array,
    sumG: Float64Array,
    sumGX: Float64Array,
  ): void;

  /**
   * Batch-norm input gradient, added into gx (accumulate) or written over it:
   * with batch statistics: gx (+)= a·(g − sumG/count − (x − mean)·invStd·sumGX/count);
   * with running statistics (batchStats false): gx (+)= a·g. gx may be g
   * itself (each element is read before it is written).
   */
  channelNormBackward(
    outer: number,
    channels: number,
    inner: number,
    g: Float32Array,
    x: Float32Array,
    a: Float32Array,
    mean: Float64Array,
    invStd: Float64Array,
    sumG: Float64Array,
    sumGX: Float64Array,
    batchStats: boolean,
    gx: Float32Array,
    accumulate: boolean,
  ): void;
}
