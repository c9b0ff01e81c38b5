#!/usr/bin/python3
# Maintainers' tool, the official half of scripts/official-parity.ts: runs the
# official FSVAE (imported from a work tree of kamata1729/FullySpikingVAE,
# never copied here) on the weights, images and posterior indices that
# `official-parity.js dump` wrote to DIR, and writes what it computes to
# DIR/official.safetensors for `official-parity.js compare`.
#
#   /usr/bin/python3 scripts/official-parity.py SRC DIR
#
# SRC: a work tree of kamata1729/FullySpikingVAE; for ESVAE dumps one of
# QgZhan/ESVAE; for --taid dumps the
# Generation folder of bollossom/ICLR_TINY_SNN (add an empty
# fsvae_models/HHneuron.py: it is imported there but not published).
#
# Needs Debian's python3-torch and python3-numpy (no torchvision, no
# safetensors package: the format is read and written here with numpy).
# torch.randint is replaced by the recorded indices, in the order spikevae drew
# them, and the prior's scheduled-sampling coins (random.random) and noise
# (torch.randn_like) by spikevae's, with the same p. The optimizer is
# main_fsvae.py's: AdamW(lr, betas (0.9, 0.999), weight decay).
import contextlib
import json
import random
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64, 'I32': np.int32}


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop('__metadata__', {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        a, b = e['data_offsets']
        out[name] = np.frombuffer(data[base + a:base + b], dtype=DTYPES[e['dtype']]).reshape(e['shape'])
    return out, meta


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        raw = arr.tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def setup(src, latent_dim):
    sys.path.insert(0, src)
    import global_v as glv
    glv.network_config = {'in_channels': 1, 'latent_dim': latent_dim, 'n_steps': 16, 'k': 20, 'batch_size': 1, 'lr': 0.001}
    glv.n_steps = 16
    glv.layer_config = {'threshold': 0.2}
    glv.dtype = torch.float32
    torch.set_num_threads(1)


def spike_input(x):
    return x.unsqueeze(-1).repeat(1, 1, 1, 1, 16)  # main_*.py: (N, C, H, W, T)


def encoder_spikes(net, x):
    """x^E (N, latent, T): the encoder and before_latent_layer, as encode() runs them."""
    return net.before_latent_layer(torch.flatten(net.encoder(spike_input(x)), start_dim=1, end_dim=3))


def record_grads(ours, net):
    for name, p in net.named_parameters():
        ours[f'grad.{name}'] = (p.grad if p.grad is not None else torch.zeros_like(p)).numpy().copy()


def record_state(ours, net):
    for name, t in net.state_dict().items():
        ours[f'after.{name}'] = t.numpy().astype(np.float32)


@contextlib.contextmanager
def layer_spikes(net, meta, ours, record):
    """With a --layers dump and record set (the first training step): the
    output of every layer spikevae recorded (same state_dict names), as
    train.0.spikes.NAME, while the block runs."""
    names = [n for n in meta.get('layers', '').split(',') if n] if record else []
    modules = dict(net.named_modules())
    missing = [n for n in names if n not in modules]
    assert not missing, f'no such official modules: {missing}'

    def keep(name):
        def hook(_m, _i, out):
            assert f'train.0.spikes.{name}' not in ours, f'{name} ran twice in one step'
            ours[f'train.0.spikes.{name}'] = out.detach().numpy().copy()
        return hook

    handles = [modules[n].register_forward_hook(keep(n)) for n in names]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def losses_of(losses):
    return np.array([losses['loss'].item(), losses['Reconstruction_Loss'].item(), losses['Distance_Loss'].item()])


def esvae(src, out_dir, initial, inputs, meta):
    """ESVAE of the ESVAE paper's code, its torch.randn and torch.rand_like replaced by spikevae's draws."""
    setup(src, int(meta['latentDim']))
    import svae_models.esvae as official
    n, steps = int(meta['images']), int(meta['steps'])
    net = official.ESVAE(device='cpu', distance_lambda=float(meta['distanceLambda']), mmd_type='rbf')
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in initial.items()}, strict=True)
    normals = np.array(inputs['normals'], dtype=np.float32)
    uniforms = np.array(inputs['uniforms'], dtype=np.float32)
    used = {'normals': 0, 'uniforms': 0}

    def take(kind, shape):
        k = int(np.prod(shape))
        block = (normals if kind == 'normals' else uniforms)[used[kind]:used[kind] + k]
        assert len(block) == k, f'the {kind} do not line up'
        used[kind] += k
        return torch.from_numpy(block.copy()).view(*shape)

    real_randn, real_rand_like = torch.randn, torch.rand_like
    torch.randn = lambda size, *a, **kw: take('normals', tuple(size))
    torch.rand_like = lambda t, *a, **kw: take('uniforms', tuple(t.shape))
    images = torch.from_numpy(np.array(inputs['images']))
    ours = {}
    net.eval()
    x = images[:n]
    with torch.no_grad():
        latent = encoder_spikes(net, x)
        sampled_z, r_q, r_p = net.gaussian_sample(latent, latent.shape[0])
        recon = net.decode(sampled_z)
    ours['eval.encoded'] = latent.numpy()
    ours['eval.sampled_z'] = sampled_z.numpy()
    ours['eval.r_q'] = r_q.numpy()
    ours['eval.r_p'] = r_p.numpy()
    ours['eval.recon'] = recon.numpy()
    # main_esvae.py's optimizer: the prior's sample_layer at sample_layer_lr_times the learning rate.
    net.train()
    lr, wd = float(meta['lr']), float(meta['weightDecay'])
    params = list(net.named_parameters())
    opti = torch.optim.AdamW([
        {'params': [p for name, p in params if 'sample_layer' in name], 'weight_decay': wd, 'lr': lr * float(meta['sampleLayerLrTimes'])},
        {'params': [p for name, p in params if 'sample_layer' not in name], 'weight_decay': wd, 'lr': lr},
    ], lr=lr, betas=(0.9, 0.999), weight_decay=wd)
    for s in range(steps):
        x = images[s * n:(s + 1) * n]
        opti.zero_grad()
        with layer_spikes(net, meta, ours, s == 0):
            x_recon, r_q, r_p, _ = net(spike_input(x), scheduled=True)
        losses = net.loss_function_mmd(x, x_recon, r_q, r_p)
        losses['loss'].backward()
        ours[f'train.{s}.loss'] = losses_of(losses)
        if s == 0:
            record_grads(ours, net)
        opti.step()
    record_state(ours, net)
    torch.randn, torch.rand_like = real_randn, real_rand_like
    assert used['normals'] == len(normals) and used['uniforms'] == len(uniforms), 'recorded draws were not used'
    write_safetensors(f'{out_dir}/official.safetensors', ours)
    print(f'wrote {out_dir}/official.safetensors')


def main():
    src, out_dir = sys.argv[1], sys.argv[2]
    initial, _ = read_safetensors(f'{out_dir}/initial.safetensors')
    inputs, meta = read_safetensors(f'{out_dir}/inputs.safetensors')
    if meta.get('model') == 'esvae':
        return esvae(src, out_dir, initial, inputs, meta)
    setup(src, 128)
    import fsvae_models.fsvae as official
    n, steps = int(meta['images']), int(meta['steps'])
    # FSVAE_TAID lives in the TAID paper's code (its Generation folder as SRC).
    net = official.FSVAE_TAID() if meta.get('decoding') == 'taid' else official.FSVAE()
    state = {k: torch.from_numpy(np.array(v)) for k, v in initial.items()}
    net.load_state_dict(state, strict=True)

    recorded = [torch.from_numpy(np.array(r, dtype=np.int64)) for r in inputs['indices']]
    real_randint = torch.randint

    def replayed_randint(low, high, size, *args, **kwargs):
        r = recorded.pop(0)
        assert low == 0 and tuple(size) == tuple(r.shape) and int(r.max()) < high, 'the draws do not line up'
        return r.clone()

    torch.randint = replayed_randint
    coins = [float(c) for c in inputs['coins']]
    normals = np.array(inputs['normals'], dtype=np.float64)
    used = {'normals': 0}
    real_random, real_randn_like = random.random, torch.randn_like
    random.random = lambda: coins.pop(0)

    def replayed_randn_like(t, *args, **kwargs):
        k = t.numel()
        block = normals[used['normals']:used['normals'] + k]
        assert len(block) == k, 'the noise does not line up'
        used['normals'] += k
        return torch.from_numpy(block.astype(np.float32)).view(t.shape)

    torch.randn_like = replayed_randn_like
    images = torch.from_numpy(np.array(inputs['images']))

    ours = {}
    # Evaluation mode, as main_fsvae.py's test(): the forward and the test loss.
    net.eval()
    x = images[:n]
    with torch.no_grad():
        latent = encoder_spikes(net, x)
        sampled_z, q_z = net.posterior(latent)
        p_z = net.prior(sampled_z, True, 0)
        recon = net.decode(sampled_z)
        losses = net.loss_function_mmd(x, recon, q_z, p_z)
    ours['eval.encoded'] = latent.numpy()
    ours['eval.sampled_z'] = sampled_z.numpy()
    ours['eval.q_z'] = q_z.numpy()
    ours['eval.p_z'] = p_z.numpy()
    ours['eval.recon'] = recon.numpy()
    ours['eval.loss'] = losses_of(losses)

    # Training steps, as main_fsvae.py's train() with the given p.
    net.train()
    net.p = float(meta['p'])
    opti = torch.optim.AdamW(net.parameters(), lr=float(meta['lr']), betas=(0.9, 0.999), weight_decay=float(meta['weightDecay']))
    encoded = []
    hook = net.before_latent_layer.register_forward_hook(lambda _m, _i, out: encoded.append(out.detach().clone()))
    for s in range(steps):
        x = images[s * n:(s + 1) * n]
        opti.zero_grad()
        with layer_spikes(net, meta, ours, s == 0):
            x_recon, q_z, p_z, sampled_z = net(spike_input(x), scheduled=True)
        if s == 0:
            ours['train.0.encoded'] = encoded[0].numpy()
            ours['train.0.sampled_z'] = sampled_z.detach().numpy()
            ours['train.0.q_z'] = q_z.detach().numpy()
            ours['train.0.p_z'] = p_z.detach().numpy()
            ours['train.0.recon'] = x_recon.detach().numpy()
        losses = net.loss_function_mmd(x, x_recon, q_z, p_z)
        losses['loss'].backward()
        ours[f'train.{s}.loss'] = losses_of(losses)
        if s == 0:
            record_grads(ours, net)
        opti.step()
    hook.remove()
    record_state(ours, net)
    torch.randint, random.random, torch.randn_like = real_randint, real_random, real_randn_like
    assert not recorded, f'{len(recorded)} recorded draws were not used'
    assert not coins and used['normals'] == len(normals), 'recorded coins or noise were not used'
    write_safetensors(f'{out_dir}/official.safetensors', ours)
    print(f'wrote {out_dir}/official.safetensors')


if __name__ == '__main__':
    main()
