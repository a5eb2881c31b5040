"""Resumable rate-distortion training of the aec model.

    /usr/bin/python3 -m aectrain.train --run runs/default [--steps N] ...

The run directory holds ``checkpoint.pt`` (model + optimizer, rewritten atomically every
--save-every steps), ``train.csv`` (loss, bpp and PSNR over steps) and ``eval.csv`` (ideal code
length and PSNR on held-out images at every trained rate point).  Stopping the process at any
moment loses at most --save-every steps; running the same command again resumes.
"""
import argparse
import csv
import json
import math
import os
import random
import shutil
import time

import torch

from . import modelfile
from .data import load_eval_images, make_source
from .model import DEFAULT_LAMBDAS, AecModel, default_analysis, rate_bits


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run directory (created; resumed if it has a checkpoint)")
    p.add_argument("--data", nargs="+", default=["../shared/data/train"], help="training image folders")
    p.add_argument("--eval-images", nargs="*", default=[], help="images for the periodic evaluation")
    p.add_argument("--steps", type=int, default=60000, help="total steps of the schedule")
    p.add_argument("--lambdas", type=parse_lambdas, default=DEFAULT_LAMBDAS,
                   help="rate points, comma-separated and increasing; a resumed run may gain new points"
                        " below or above its old ones (default: %s)" % ",".join("%g" % v for v in DEFAULT_LAMBDAS))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--n", type=int, default=128, help="transform channels")
    p.add_argument("--m", type=int, default=192, help="latent channels")
    p.add_argument("--channels", type=int, choices=(1, 3), default=3, help="image channels: 3 colour, 1 gray")
    p.add_argument("--analysis", type=parse_spec, default=None,
                   help="analysis layers cout:kernel:stride,... (default: four 5x5 stride-2 layers, N..N,M);"
                        " the strides multiply to the total stride, a power of two")
    p.add_argument("--exclude-label", type=int, default=None,
                   help="leave this class of an IDX dataset out of training (the anomaly test)")
    p.add_argument("--holdout", type=int, default=0,
                   help="IDX datasets: keep the last N training images out of training and evaluate on them")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate")
    p.add_argument("--lr-min", type=float, default=1e-5, help="learning rate at the end of the cosine decay")
    p.add_argument("--cycle-start", type=int, default=0,
                   help="step where the ramp and cosine begin (a warm restart of a resumed run)")
    p.add_argument("--warmup", type=int, default=300, help="distortion-only steps at the start")
    p.add_argument("--decoder-input", choices=("ste", "noise"), default="ste",
                   help="synthesis input in training: rounded with a straight-through gradient, or noisy")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    p.add_argument("--workers", type=int, default=0, help="data loader processes (CUDA runs)")
    p.add_argument("--max-minutes", type=float, default=0, help="stop (after saving) after this long")
    p.add_argument("--init-from", default="",
                   help="model file to start from when the run has no checkpoint (optimizer state starts afresh)")
    p.add_argument("--weights-out", default="", help="also write the weights alone here at each save")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="bf16: inner convolutions in bfloat16 (only where the hardware has bfloat16 products;"
                        " see README.md for what it costs in gradient accuracy late in a run)")
    return p.parse_args(argv)


# Batches with a non-finite loss or gradient that a run skips before it gives up.
MAX_SKIPPED = 20


def parse_spec(text):
    """'128:5:2,192:5:2,...' -> ((128, 5, 2), (192, 5, 2), ...): cout:kernel:stride per convolution."""
    try:
        spec = tuple(tuple(int(v) for v in item.split(":")) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("layers are cout:kernel:stride, comma-separated")
    if any(len(l) != 3 or l[0] < 1 or l[1] % 2 == 0 or l[2] not in (1, 2) for l in spec):
        raise argparse.ArgumentTypeError("each layer is cout:kernel:stride, odd kernel, stride 1 or 2")
    return spec


def parse_lambdas(text):
    values = tuple(float(v) for v in text.split(","))
    if len(values) < 2 or any(v <= 0 for v in values) or any(b <= a for a, b in zip(values, values[1:])):
        raise argparse.ArgumentTypeError("need two or more positive, increasing lambdas")
    return values


def add_rate_points(ck, model, lambdas):
    """Extends a checkpoint's rate points to `lambdas` (nothing to do if they are the same); the new
    ones must hold the old ones in a row.

    The gains of a new point are extrapolated log-linearly (in log lambda) from its two nearest old
    points.  In the optimizer state a new row starts with no momentum and with the second moment of
    its nearest old row, so its first updates are no larger than its neighbour's."""
    state = ck["model"]
    old = state["lambdas"].tolist()
    new = list(lambdas)

    def same(xs, ys):  # the checkpoint holds float32 copies of the lambdas
        return len(xs) == len(ys) and all(math.isclose(a, b, rel_tol=1e-5) for a, b in zip(xs, ys))

    if same(old, new):
        return
    first = next((i for i in range(len(new) - len(old) + 1) if same(old, new[i:i + len(old)])), None)
    if first is None or len(old) < 2:
        raise SystemExit("--lambdas %s must contain the checkpoint's %s in a row"
                         % (",".join("%g" % v for v in new), ",".join("%g" % v for v in old)))
    log_old = [math.log(v) for v in old]
    index = {name: i for i, (name, _) in enumerate(model.named_parameters())}
    for name in ("log_gain", "log_inv_gain"):
        rows = state[name]
        moments = ck.get("optimizer", {}).get("state", {}).get(index[name])
        out, avg, sq = [], [], []
        for j, lam in enumerate(new):
            i = j - first
            if 0 <= i < len(old):
                out.append(rows[i])
            else:
                a, b = (0, 1) if i < 0 else (len(old) - 2, len(old) - 1)
                frac = (math.log(lam) - log_old[a]) / (log_old[b] - log_old[a])
                out.append(rows[a] + frac * (rows[b] - rows[a]))
            if moments is not None:
                near = min(max(i, 0), len(old) - 1)
                avg.append(moments["exp_avg"][near] if i == near else torch.zeros_like(rows[0]))
                sq.append(moments["exp_avg_sq"][near])
        state[name] = torch.stack(out)
        if moments is not None:
            moments["exp_avg"], moments["exp_avg_sq"] = torch.stack(avg), torch.stack(sq)
    state["lambdas"] = torch.tensor(new, dtype=torch.float32)
    print("rate points %s -> %s" % (",".join("%g" % v for v in old), ",".join("%g" % v for v in new)), flush=True)


def learning_rate(args, step):
    """Short linear ramp, then cosine decay from --lr to --lr-min, from step --cycle-start to --steps."""
    ramp = 200
    step -= args.cycle_start
    if step < ramp:
        return args.lr * (max(step, 0) + 1) / ramp
    frac = min(1.0, (step - ramp) / max(1, args.steps - args.cycle_start - ramp))
    return args.lr_min + 0.5 * (args.lr - args.lr_min) * (1 + math.cos(math.pi * frac))


def stratified_rates(batch, k, device):
    """One continuous rate index per sample, spread evenly over [0, k-1]."""
    u = torch.rand(batch, device=device)
    return (torch.arange(batch, device=device) + u) * ((k - 1) / batch)


def psnr(mse):
    return -10.0 * math.log10(max(mse, 1e-12))


@torch.no_grad()
def evaluate(model, images, device):
    """Ideal code length (bits of the rounded latents under the discrete prior) and PSNR, per image
    (a tensor of several images counts each)."""
    model.eval()
    k = model.lambdas.shape[0]
    s = model.stride
    rows = []
    for i in range(k):
        bpp_sum = psnr_sum = 0.0
        count = 0
        for x in images:
            x = x.to(device)
            h, w = x.shape[2:]
            xp = torch.nn.functional.pad(x, (0, (-w) % s, 0, (-h) % s), mode="replicate")
            t = torch.full((x.shape[0],), float(i), device=device)
            gain, inv_gain = model.gains_at(t)
            g = gain.view(x.shape[0], -1, 1, 1)
            y = model.g_a(xp) * g
            mu = model.prior.medians.view(1, -1, 1, 1) * g
            q = torch.round(y - mu)
            lik = model.prior.bin_likelihood(q, g)
            x_hat = model.g_s((q + mu) * inv_gain.view(x.shape[0], -1, 1, 1))[:, :, :h, :w].clamp(0, 1)
            x_hat = torch.round(x_hat * 255) / 255
            bpp_sum += float(rate_bits(lik).sum()) / (h * w)
            psnr_sum += sum(psnr(float(v)) for v in torch.mean((x_hat - x) ** 2, dim=(1, 2, 3)))
            count += x.shape[0]
        rows.append((i, float(model.lambdas[i]), bpp_sum / count, psnr_sum / count))
    model.train()
    return rows


def finite_step(loss, norm, step, skipped):
    """False for a batch whose loss or gradient is not finite (one poisoned Adam step would spoil the
    weights and, at the next save, the checkpoint); stops the run after MAX_SKIPPED of them."""
    if torch.isfinite(loss) and torch.isfinite(norm):
        return True
    print("step %d: non-finite loss or gradient, batch skipped" % step, flush=True)
    if skipped + 1 > MAX_SKIPPED:
        raise SystemExit("%d non-finite steps; stopped, the last checkpoint is left as it was" % (skipped + 1))
    return False


def log_step(run, window, step, seconds, lr, loss, bpp, mse):
    """Adds a step to `window`; every 50 steps writes their means to RUN/train.csv and the console."""
    window.append((float(loss), float(bpp.mean()), float(mse.mean())))
    if step % 50:
        return
    l, b, m = (sum(v) / len(window) for v in zip(*window))
    window.clear()
    append_csv(os.path.join(run, "train.csv"), ["step", "seconds", "lr", "loss", "bpp", "psnr_mean_mse"],
               [step, round(seconds, 1), "%.3g" % lr, "%.4f" % l, "%.4f" % b, "%.3f" % psnr(m)])
    print("step %d  %.0fs  lr %.2e  loss %.4f  bpp %.4f  psnr %.2f" % (step, seconds, lr, l, b, psnr(m)), flush=True)


def log_eval(run, rows, step):
    """Writes evaluate()'s rows to RUN/eval.csv and the console."""
    for i, lam, b, p in rows:
        append_csv(os.path.join(run, "eval.csv"), ["step", "rate_index", "lambda", "bpp", "psnr"],
                   [step, i, lam, "%.4f" % b, "%.3f" % p])
        print("  eval step %d rate %d: %.4f bpp  %.2f dB" % (step, i, b, p), flush=True)


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def append_csv(path, header, row):
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(header)
        w.writerow(row)


def seed_logs(model_path, run):
    """A run started from a model file continues that model's logs (MODEL.train.csv and
    MODEL.eval.csv, which the exporter writes beside it), so the next export carries the whole
    history rather than only the new steps."""
    stem = os.path.splitext(model_path)[0]
    for name in ("train.csv", "eval.csv"):
        src, dst = "%s.%s" % (stem, name), os.path.join(run, name)
        if os.path.exists(src) and not os.path.exists(dst):
            shutil.copyfile(src, dst)


def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Batches:
    """Patch batches, optionally produced by worker processes (worth it on CUDA machines only)."""

    def __init__(self, args):
        self.args = args
        if args.workers > 0:
            ds = _PatchStream(args)
            self.loader = iter(torch.utils.data.DataLoader(
                ds, batch_size=None, num_workers=args.workers, worker_init_fn=_PatchStream.init_worker,
                persistent_workers=True, prefetch_factor=4))
        else:
            self.source = make_source(args.data, args.patch, args.seed + int(time.time()), args.channels,
                                      args.exclude_label, args.holdout)

    def next(self):
        if self.args.workers > 0:
            return next(self.loader)
        return self.source.batch(self.args.batch)


class _PatchStream(torch.utils.data.IterableDataset):
    def __init__(self, args):
        self.args = args

    @staticmethod
    def init_worker(wid):
        info = torch.utils.data.get_worker_info()
        ds = info.dataset
        torch.set_num_threads(1)
        a = ds.args
        ds.source = make_source(a.data, a.patch, a.seed * 1000 + wid + int(time.time()), a.channels,
                                a.exclude_label, a.holdout)

    def __iter__(self):
        while True:
            yield self.source.batch(self.args.batch)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.run, exist_ok=True)
    torch.set_num_threads(args.threads or os.cpu_count())
    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    ckpt_path = os.path.join(args.run, "checkpoint.pt")
    # channels_last: 7% faster steps with Debian torch's oneDNN convolutions on this machine.
    analysis = args.analysis or default_analysis(args.n, args.m)
    model = AecModel(args.n, args.m, args.lambdas, analysis, args.channels).to(device, memory_format=torch.channels_last)
    model.bf16 = args.precision == "bf16"
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step = 0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device)
        add_rate_points(ck, model, args.lambdas)
        model.load_state_dict(ck["model"])
        if "optimizer" in ck:
            opt.load_state_dict(ck["optimizer"])
        step = ck["step"]
        print("resumed %s at step %d" % (ckpt_path, step), flush=True)
    elif args.init_from:
        mf = modelfile.ModelFile(args.init_from)
        ck = {"model": mf.to_torch(args.n).state_dict()}
        add_rate_points(ck, model, args.lambdas)
        model.load_state_dict(ck["model"])
        step = int(mf.meta.get("steps", 0))
        seed_logs(args.init_from, args.run)
        print("started from %s (step %d); optimizer state starts afresh" % (args.init_from, step), flush=True)
    with open(os.path.join(args.run, "args.json"), "w") as f:
        json.dump(vars(args), f, indent=1)
    print("training on %s in %s" % (device, args.precision), flush=True)

    batches = Batches(args)
    evals = load_eval_images(args.eval_images, args.channels)
    held = getattr(getattr(batches, "source", None), "holdout", None)
    if held is not None and len(held):
        evals.append(torch.from_numpy(held.copy()).unsqueeze(1).float().div_(255.0))
    k = model.lambdas.shape[0]
    started = time.time()
    window = []
    skipped = 0

    def checkpoint():
        shape = {"n": args.n, "m": args.m, "channels": args.channels, "analysis": analysis}
        save_atomic(dict(model=model.state_dict(), optimizer=opt.state_dict(), step=step, **shape), ckpt_path)
        if args.weights_out:
            save_atomic(dict(model=model.state_dict(), step=step, **shape), args.weights_out)

    while step < args.steps:
        lr = learning_rate(args, step)
        for grp in opt.param_groups:
            grp["lr"] = lr
        x = batches.next().to(device, memory_format=torch.channels_last, non_blocking=True)
        t = stratified_rates(x.shape[0], k, device)
        x_hat, lik = model(x, t, ste=args.decoder_input == "ste")
        mse = torch.mean((x_hat - x) ** 2, dim=(1, 2, 3))
        bpp = rate_bits(lik) / (x.shape[2] * x.shape[3])
        lam = model.lambda_at(t)
        if step < args.warmup:
            loss = torch.mean(lam * 255 ** 2 * mse)
        else:
            loss = torch.mean(lam * 255 ** 2 * mse + bpp)
        loss = loss + model.prior.aux_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip if args.clip > 0 else math.inf)
        if not finite_step(loss, norm, step, skipped):
            skipped += 1
            continue
        opt.step()
        step += 1

        log_step(args.run, window, step, time.time() - started, lr, loss, bpp, mse)
        if step % args.save_every == 0 or step == args.steps:
            checkpoint()
        if evals and (step % args.eval_every == 0 or step == args.steps):
            log_eval(args.run, evaluate(model, evals, device), step)
        if args.max_minutes and time.time() - started > args.max_minutes * 60:
            checkpoint()
            print("stopping after %.1f minutes at step %d" % (args.max_minutes, step), flush=True)
            break


if __name__ == "__main__":
    main()
