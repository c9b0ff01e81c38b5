# Shared by the maintainers' scripts that train official code on MNIST-like
# data without torchvision or a download (official-ann-vae-curve.py,
# official-fsvae-curve.py): the idx files read with numpy, the official
# transform of the FSVAE repository's loaders reproduced with PIL, and the
# run's outputs (a JSON-lines log, state_dicts written atomically).
import gzip
import json
import os

import numpy as np
import torch
from PIL import Image

IDX_FILES = {
    'train': 'train-images-idx3-ubyte',
    'test': 't10k-images-idx3-ubyte',
}


def read_idx(path):
    """An idx file (or the same file gzipped, path + '.gz') as a uint8 array."""
    if not os.path.exists(path) and os.path.exists(path + '.gz'):
        path += '.gz'
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], 'big')
    if magic >> 8 != 0x08:
        raise ValueError(f'{path}: not an idx file of unsigned bytes (magic {magic:#x})')
    dims = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def official_transform(images):
    """PIL bilinear resize 28 -> 32, ToTensor, 2x - 1: [N, 1, 32, 32] float32
    (load_dataset_snn.py's Resize((32, 32)), ToTensor, SetRange)."""
    out = np.empty((len(images), 1, 32, 32), dtype=np.float32)
    for i, img in enumerate(images):
        resized = Image.fromarray(img, mode='L').resize((32, 32), Image.BILINEAR)
        out[i, 0] = np.asarray(resized, dtype=np.float32) / 255.0
    return torch.from_numpy(2 * out - 1)


def load_split(directory, split, limit=None):
    """The split's images through the official transform; the first `limit` only when given."""
    images = read_idx(os.path.join(directory, IDX_FILES[split]))
    return official_transform(images[:limit] if limit else images)


def log_line(f, rec):
    """One JSON record appended to the open log (flushed) and echoed on stdout."""
    f.write(json.dumps(rec) + '\n')
    f.flush()
    print(json.dumps(rec), flush=True)


def save_epoch(net, out, epoch):
    """net's state_dict (on the CPU) as OUT/epoch-NNN.pth, written atomically."""
    tmp = os.path.join(out, f'.epoch-{epoch:03d}.pth.tmp')
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp)
    os.replace(tmp, os.path.join(out, f'epoch-{epoch:03d}.pth'))
