/**
 * The papers' published results, for the report, the model cards and the
 * learning-curve charts: what a spikevae run is compared against.
 */

export interface PaperRow {
  recon?: number;
  is?: number;
  fid?: number;
  fad?: number;
}

/**
 * Published numbers: recon MSE ([-1,1]), IS, FID, FAD. reference-semantics.md
 * §8 for FSVAE, ESVAE and the ANN VAE; TAID's MNIST and Fashion-MNIST rows are
 * Tables 1-2 of its paper (arXiv 2406.03046), which reports no reconstruction.
 */
export const PAPERS: Record<string, Record<string, PaperRow>> = {
  mnist: {
    'ANN VAE': { recon: 0.048, is: 5.947, fid: 112.5, fad: 17.09 },
    FSVAE: { recon: 0.031, is: 6.209, fid: 97.06, fad: 35.54 },
    TAID: { is: 6.31, fid: 98.2, fad: 20.14 },
    ESVAE: { recon: 0.013, is: 5.612, fid: 117.8, fad: 10.99 },
  },
  fashion: {
    'ANN VAE': { recon: 0.05, is: 4.252, fid: 123.7, fad: 18.08 },
    FSVAE: { recon: 0.031, is: 4.551, fid: 90.12, fad: 15.75 },
    TAID: { is: 4.56, fid: 93.24, fad: 13.15 },
    ESVAE: { recon: 0.019, is: 6.227, fid: 125.3, fad: 11.13 },
  },
  cifar10: {
    'ANN VAE': { recon: 0.105, is: 2.591, fid: 229.6, fad: 196.9 },
    FSVAE: { recon: 0.066, is: 2.945, fid: 175.5, fad: 133.9 },
    TAID: { is: 3.53, fid: 171.1, fad: 120.5 },
    ESVAE: { recon: 0.045, is: 3.758, fid: 127.0, fad: 14.74 },
  },
  celeba: {
    'ANN VAE': { recon: 0.059, is: 3.231, fid: 92.53, fad: 156.9 },
    FSVAE: { recon: 0.051, is: 3.697, fid: 101.6, fad: 112.9 },
    TAID: { is: 4.31, fid: 99.54, fad: 105.3 },
    ESVAE: { recon: 0.034, is: 3.868, fid: 85.33, fad: 51.93 },
  },
};

/** The PAPERS row name of a run: its model kind, and TAID for FSVAE with learned decoding. */
export function paperModelName(model: string, decoding?: unknown): string {
  if (model === 'fsvae' && decoding === 'taid') return 'TAID';
  return ({ fsvae: 'FSVAE', esvae: 'ESVAE', 'ann-vae': 'ANN VAE' } as Record<string, string>)[model] ?? model;
}

/**
 * The TAID paper's spiking classifiers (ALIF neurons, T = 8, 1000 epochs):
 * test accuracy in %, Table 5 (MNIST) and Table 6 (CIFAR-10), with the PLIF
 * baseline (Fang et al. 2021, T = 8) as the same tables quote it.
 */
export const CLASSIFIER_PAPERS: Record<string, { accuracy: number; plifAccuracy: number; table: string }> = {
  mnist: { accuracy: 99.78, plifAccuracy: 99.72, table: 'Table 5' },
  cifar10: { accuracy: 93.89, plifAccuracy: 93.72, table: 'Table 6' },
};
