"""Trains a new analysis transform (encoder) against a shipped model's frozen decoder.

    /usr/bin/python3 -m aectrain.encoder --base ../models/default.aecm --run RUN_DIR \\
        --analysis 128:5:2,192:5:2,192:5:2,192:3:1,192:3:1,192:5:2,192:3:1 [--steps N] ...
    /usr/bin/python3 -m aectrain.encoder --base ../models/default.aecm --run RUN_DIR --export OUT.aecm

The synthesis transform, the prior, the gains and therefore the entropy tables stay exactly those of
--base: the exported model writes files that every decoder holding --base decodes (its META names
--base's hash as `decoder`), and decodes every file --base wrote.  Only the encoder gets better.

The new analysis starts as the base's, function-preserving: the base's layers keep their weights
(wider layers pad them with new channels whose outgoing weights are zero), and each inserted
stride-1 layer starts as an identity convolution followed by an identity GDN (beta 1, gamma 0).
Step 0 therefore encodes exactly as --base does, and training can only move it from there.

The loss is the codec's own, at the integers it codes: lambda * 255^2 * MSE of the synthesis of the
rounded latents plus their code length under the discrete prior, both with straight-through
gradients (--rate noise: the code length of the noisy latent instead, as in joint training).
"""
import argparse
import datetime
import math
import os
import random
import time

import torch
import torch.nn as nn

from . import modelfile
from .export import psnr_checks
from .data import PatchSource, list_images, load_eval_images
from .model import GDN, analysis_spec, build_analysis, rate_bits
from .train import finite_step, learning_rate, log_eval, log_step, parse_spec, psnr, save_atomic, stratified_rates


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="model file whose decoder, prior and gains stay frozen")
    p.add_argument("--run", required=True, help="run directory (created; resumed if it has a checkpoint)")
    p.add_argument("--analysis", type=parse_spec, default=None,
                   help="new analysis layers cout:kernel:stride,... (default: the base's)")
    p.add_argument("--data", nargs="+", default=["../../shared/data/train"])
    p.add_argument("--holdout", type=int, default=2,
                   help="the last N images of each data subfolder are kept out of training and evaluated")
    p.add_argument("--eval-images", nargs="*", default=[], help="further images for the evaluation")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lr-min", type=float, default=1e-5)
    p.add_argument("--cycle-start", type=int, default=0)
    p.add_argument("--rate", choices=("ste", "noise"), default="ste")
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--max-minutes", type=float, default=0)
    p.add_argument("--init-from", default="",
                   help="model file whose analysis the run starts from (it must share --base's decoder);"
                        " default --base's own")
    p.add_argument("--export", default="", help="write the run's encoder with --base's decoder here and stop")
    p.add_argument("--name", default="", help="model name for --export (default: the base's + '-e')")
    return p.parse_args(argv)


# ------------------------------------------------------------------ function-preserving growth

def _identity_gdn(gdn):
    with torch.no_grad():
        gdn.beta.fill_((1.0 + GDN.PEDESTAL) ** 0.5)
        gdn.gamma.fill_(gdn.gamma_bound)


def _copy_gdn(dst, src):
    """dst (C' >= C channels) normalizes its first C channels exactly as src does; the new channels
    start with the default diagonal gamma and are not part of the old channels' norms."""
    c = src.beta.shape[0]
    with torch.no_grad():
        dst.beta[:c] = src.beta
        dst.gamma[:c, :] = dst.gamma_bound
        dst.gamma[:, :c] = dst.gamma_bound
        dst.gamma[:c, :c] = src.gamma


def grow_analysis(old, spec):
    """A new analysis of `spec` computing exactly what `old` computes (see the module docstring).

    `spec` must hold the old convolutions in order (same kernel and stride, at least as many output
    channels; the last one exactly as many), with stride-1 layers of cout == cin inserted anywhere."""
    new = build_analysis(spec)
    old_convs = [l for l in old if isinstance(l, nn.Conv2d)]
    old_gdns = {i: old[i + 1] for i in range(len(old) - 1) if isinstance(old[i + 1], GDN)}
    old_index = {id(l): i for i, l in enumerate(old)}
    j = 0
    mods = list(new)
    for i, layer in enumerate(mods):
        if not isinstance(layer, nn.Conv2d):
            continue
        gdn = mods[i + 1] if i + 1 < len(mods) else None
        src = old_convs[j] if j < len(old_convs) else None
        if src is not None and (layer.kernel_size, layer.stride) == (src.kernel_size, src.stride) \
                and layer.out_channels >= src.out_channels:
            co, ci = src.out_channels, src.in_channels
            with torch.no_grad():
                layer.weight[:co].zero_()
                layer.weight[:co, :ci] = src.weight
                layer.bias[:co] = src.bias
                layer.bias[co:].zero_()
            if gdn is not None:
                srcg = old_gdns.get(old_index[id(src)])
                if srcg is None:  # the old last layer, now followed by more: pass it through
                    _identity_gdn(gdn)
                else:
                    _copy_gdn(gdn, srcg)
            j += 1
        else:
            if layer.stride[0] != 1 or layer.in_channels != layer.out_channels:
                raise ValueError("layer %d (%s) matches no base layer and is not an identity slot" % (i, layer))
            k = layer.kernel_size[0]
            with torch.no_grad():
                layer.weight.zero_()
                for c in range(layer.out_channels):
                    layer.weight[c, c, k // 2, k // 2] = 1.0
                layer.bias.zero_()
            if gdn is not None:
                _identity_gdn(gdn)
    if j != len(old_convs) or mods[-1].out_channels != old_convs[-1].out_channels:
        raise ValueError("the new analysis must hold all of the base's convolutions and end as it does")
    return new


# ------------------------------------------------------------------ the frozen decoder

class FrozenDecoder(nn.Module):
    """The base model with its synthesis, prior and gains frozen, and a trainable analysis."""

    def __init__(self, base, g_a):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.g_a = g_a

    def forward(self, x, t, rate_mode):
        base = self.base
        gain, inv_gain = base.gains_at(t)
        b = x.shape[0]
        g = gain.view(b, -1, 1, 1)
        y = base.transform(self.g_a, x) * g
        mu = base.prior.medians.view(1, -1, 1, 1) * g
        q = torch.round(y - mu)
        y_hat = y + (q + mu - y).detach()
        if rate_mode == "ste":
            lik = base.prior.bin_likelihood(y_hat - mu, g)
        else:
            lik = base.prior.bin_likelihood(y - mu + torch.empty_like(y).uniform_(-0.5, 0.5), g)
        x_hat = base.transform(base.g_s, y_hat * inv_gain.view(b, -1, 1, 1))
        return x_hat, lik


@torch.no_grad()
def evaluate(net, images, device):
    """Ideal code length and PSNR (8-bit output) of each trained rate point, as the codec codes."""
    net.eval()
    base = net.base
    rows = []
    for i in range(base.lambdas.shape[0]):
        bpp_sum = psnr_sum = 0.0
        for x in images:
            x = x.to(device)
            h, w = x.shape[2:]
            xp = torch.nn.functional.pad(x, (0, (-w) % 16, 0, (-h) % 16), mode="replicate")
            t = torch.full((1,), float(i), device=device)
            gain, inv_gain = base.gains_at(t)
            g = gain.view(1, -1, 1, 1)
            mu = base.prior.medians.view(1, -1, 1, 1) * g
            q = torch.round(net.g_a(xp) * g - mu)
            lik = base.prior.bin_likelihood(q, g)
            x_hat = base.g_s((q + mu) * inv_gain.view(1, -1, 1, 1))[:, :, :h, :w].clamp(0, 1)
            x_hat = torch.round(x_hat * 255) / 255
            bpp_sum += float(rate_bits(lik).sum()) / (h * w)
            psnr_sum += psnr(float(torch.mean((x_hat - x) ** 2)))
        rows.append((i, float(base.lambdas[i]), bpp_sum / len(images), psnr_sum / len(images)))
    net.train()
    return rows


def split_holdout(roots, per_folder):
    """(training files, held-out files): the last `per_folder` images of each folder are held out."""
    files = list_images(roots)
    by_dir = {}
    for f in files:
        by_dir.setdefault(os.path.dirname(f), []).append(f)
    held = [f for d in sorted(by_dir) for f in by_dir[d][len(by_dir[d]) - per_folder:]] if per_folder else []
    return [f for f in files if f not in set(held)], held


# ------------------------------------------------------------------ export

def export(args, g_a, step, prior_steps):
    """Writes the encoder with --base's decoder, with the PSNR checks `make check` verifies."""
    base = modelfile.ModelFile(args.base)
    name = args.name or base.meta["name"] + "-e"
    meta = {
        "name": name,
        "description": "analysis %s trained against the frozen decoder of %s"
                       % (",".join("%d:%d:%d" % l for l in analysis_spec(g_a)), base.meta["name"]),
        "decoder": base.meta.get("decoder", base.hash),
        "decoder_name": base.meta.get("decoder_name", base.meta["name"]),
        "data": ",".join(os.path.relpath(d, "..") if d.startswith("..") else d for d in args.data),
        "steps": base.meta.get("steps", "0"),
        "encoder_steps": prior_steps + step,
        "patch": args.patch,
        "batch": args.batch,
        "lr": args.lr,
        "rate": args.rate,
        "precision": args.precision,
        "lambdas": base.meta.get("lambdas", ""),
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
    }
    g_a = g_a.cpu().eval()
    modelfile.write_encoder(base, g_a, args.export, meta)
    meta.update(psnr_checks(args.export, ["../testimages/kodim05-crop.png"]))
    digest = modelfile.write_encoder(base, g_a, args.export, meta)
    print("wrote %s (%d bytes, sha256 %s; decodes as %s)" % (args.export, os.path.getsize(args.export),
                                                             digest, meta["decoder"]))


# ------------------------------------------------------------------ training loop

def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.run, exist_ok=True)
    torch.set_num_threads(args.threads or os.cpu_count())
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    base_file = modelfile.ModelFile(args.base)
    base = base_file.to_torch().to(device)
    start = base.g_a
    prior_steps = 0
    if args.init_from:
        init = modelfile.ModelFile(args.init_from)
        if init.meta.get("decoder", init.hash) != base_file.meta.get("decoder", base_file.hash):
            raise SystemExit("%s does not share the decoder of %s" % (args.init_from, args.base))
        start = init.to_torch().g_a.to(device)
        prior_steps = int(init.meta.get("encoder_steps", 0))
    spec = args.analysis or analysis_spec(start)
    g_a = grow_analysis(start, spec).to(device)
    net = FrozenDecoder(base, g_a).to(device, memory_format=torch.channels_last)
    base.bf16 = args.precision == "bf16"
    opt = torch.optim.Adam(g_a.parameters(), lr=args.lr)
    step = 0
    ckpt_path = os.path.join(args.run, "checkpoint.pt")
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device)
        if tuple(tuple(l) for l in ck["spec"]) != tuple(spec):
            raise SystemExit("%s holds analysis %s, not %s" % (ckpt_path, ck["spec"], spec))
        g_a.load_state_dict(ck["g_a"])
        if "optimizer" in ck:
            opt.load_state_dict(ck["optimizer"])
        step = ck["step"]
        print("resumed %s at step %d" % (ckpt_path, step), flush=True)
    if args.export:
        export(args, g_a, step, prior_steps)
        return

    train_files, held = split_holdout(args.data, args.holdout)
    source = PatchSource(train_files, args.patch, seed=args.seed + int(time.time()))
    evals = load_eval_images(held + list(args.eval_images))
    print("analysis %s, %d training images, %d evaluation images, on %s in %s"
          % (",".join("%d:%d:%d" % l for l in spec), len(source), len(evals), device, args.precision), flush=True)
    k = base.lambdas.shape[0]

    def checkpoint():
        save_atomic({"g_a": g_a.state_dict(), "optimizer": opt.state_dict(), "step": step, "spec": spec}, ckpt_path)

    if step == 0 and evals:
        log_eval(args.run, evaluate(net, evals, device), step)
    started = time.time()
    window, skipped = [], 0
    while step < args.steps:
        lr = learning_rate(args, step)
        for grp in opt.param_groups:
            grp["lr"] = lr
        x = source.batch(args.batch).to(device, memory_format=torch.channels_last)
        t = stratified_rates(x.shape[0], k, device)
        x_hat, lik = net(x, t, args.rate)
        mse = torch.mean((x_hat - x) ** 2, dim=(1, 2, 3))
        bpp = rate_bits(lik) / (x.shape[2] * x.shape[3])
        loss = torch.mean(base.lambda_at(t) * 255 ** 2 * mse + bpp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(g_a.parameters(), args.clip if args.clip > 0 else math.inf)
        if not finite_step(loss, norm, step, skipped):
            skipped += 1
            continue
        opt.step()
        step += 1
        log_step(args.run, window, step, time.time() - started, lr, loss, bpp, mse)
        if step % args.save_every == 0 or step == args.steps:
            checkpoint()
        if evals and (step % args.eval_every == 0 or step == args.steps):
            log_eval(args.run, evaluate(net, evals, device), step)
        if args.max_minutes and time.time() - started > args.max_minutes * 60:
            checkpoint()
            print("stopping after %.1f minutes at step %d" % (args.max_minutes, step), flush=True)
            break


if __name__ == "__main__":
    main()
