/**
 * What every dataset loader shares: the names, splits, options and the
 * Dataset interface. The loaders (cifar10.ts, celeba.ts, memory.ts,
 * classifier.ts) import these from here, and index.ts, which dispatches to the
 * loaders, re-exports them, so no loader depends on index.ts.
 */
export type DatasetName = 'mnist' | 'fashion' | 'cifar10' | 'celeba';
export type Split = 'train' | 'test' | 'valid';

export interface OpenOptions {
  dataDir?: string;
  /** ANN-baseline pipeline (no horizontal flip for CIFAR-10). */
  forAnn?: boolean;
  /** Keep decoded images in memory (CelebA). */
  cache?: boolean;
  /** Use only the first N images. */
  limit?: number;
  /**
   * CelebA valid/test: apply the random flip like FSVAE's reference (default
   * true, its quirk); false gives an unaugmented evaluation set.
   */
  evalFlip?: boolean;
  /** Where warnings go (skipped CelebA images, missing partition file); default stderr. */
  onWarning?: (message: string) => void;
  /** CelebA decoder threads (default: cores − 1, at least 1; 0 decodes on the calling thread). */
  threads?: number;
  /**
   * 'vae' (default): the VAEs' pipeline above. 'classifier': the spiking
   * classifiers' (classifier.ts): own resolution (MNIST 28×28), Normalize
   * with the dataset's mean and std, and the training split augmented.
   */
  preprocessing?: 'vae' | 'classifier';
}

export interface Dataset {
  readonly name: DatasetName;
  readonly split: Split;
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly numClasses: number;
  /** Where the files were found. */
  readonly source: string;
  /** Whether the reference applies a random horizontal flip to this dataset/split. */
  readonly augmentFlip: boolean;
  /**
   * Uniform random numbers per image that the dataset's own augmentation
   * takes (the classifiers' affine or crop); the DataLoader draws them with
   * the epoch's flips. Absent or 0: none.
   */
  readonly augmentDraws?: number;
  /**
   * Writes images indices[i] (flipped where flip[i]; augmented with
   * draws[i·augmentDraws ...]) as float32 NCHW at out[i·C·H·W]: [-1, 1] for
   * the VAEs' pipeline, normalised for the classifiers'.
   */
  readBatch(indices: ArrayLike<number>, flip: ArrayLike<boolean> | null, out: Float32Array, labels?: Int32Array, draws?: ArrayLike<number>): Promise<void>;
  close(): Promise<void>;
}
