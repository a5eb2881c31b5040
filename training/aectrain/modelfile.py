"""Writer and reader of the aec model file (doc/model-format.md), and the exporter's table maths."""
import copy
import hashlib
import math
import os
import struct

import numpy as np
import torch

from .model import DEFAULT_LAMBDAS, AecModel, GDN, sequence_arch

SIGNATURE = b"\x89AECM\r\n\x1a"
VERSION = 1
QUALITIES = 101
CDF_PRECISION = 16
TAIL_MASS = 1e-7        # probability left to the escape symbol beyond the table's range
MAX_SYMBOLS = 4095

OPS = {"conv": 1, "gdn": 2, "igdn": 3, "pixel_shuffle": 4}
NETS = {"analysis": 0, "synthesis": 1}
NONE = 0xFFFFFFFF


# ------------------------------------------------------------------ rate control and tables

def quality_index(model, quality):
    """Continuous rate index of quality 0..100: qualities spread evenly over the trained points."""
    k = model.lambdas.shape[0]
    return quality / 100.0 * (k - 1)


@torch.no_grad()
def rate_table(model):
    """(Q, 3, M) float32 array: gain, inverse gain and offset per quality."""
    out = np.zeros((QUALITIES, 3, model.m), dtype=np.float32)
    lg = model.log_gain.detach().double().cpu()
    lig = model.log_inv_gain.detach().double().cpu()
    med = model.prior.medians.detach().double().cpu()
    k = lg.shape[0]
    for q in range(QUALITIES):
        t = quality_index(model, q)
        i = min(int(math.floor(t)), k - 2)
        a = t - i
        gain = ((1 - a) * lg[i] + a * lg[i + 1]).exp()
        inv = ((1 - a) * lig[i] + a * lig[i + 1]).exp()
        out[q, 0] = gain.numpy()
        out[q, 1] = inv.numpy()
        out[q, 2] = (gain * med).numpy()
    return out


def quantize_pmf(pmf, precision):
    """Integer frequencies >= 1 summing to 2**precision, close to pmf (last entry: escape)."""
    total = 1 << precision
    pmf = np.maximum(np.asarray(pmf, dtype=np.float64), 0)
    pmf = pmf / pmf.sum()
    freq = np.maximum(1, np.floor(pmf * total)).astype(np.int64)
    diff = total - int(freq.sum())
    # Hand out or take back the remainder where it changes the code length least.
    while diff != 0:
        if diff > 0:
            gain = pmf * (np.log2(freq + 1) - np.log2(freq))
            j = int(np.argmax(gain))
            freq[j] += 1
            diff -= 1
        else:
            cost = np.where(freq > 1, pmf * (np.log2(freq) - np.log2(np.maximum(freq - 1, 1))), np.inf)
            j = int(np.argmin(cost))
            freq[j] -= 1
            diff += 1
    return freq


@torch.no_grad()
def cdf_tables(model, rates, precision=CDF_PRECISION):
    """List over (quality, channel) of (first_symbol, frequencies incl. escape)."""
    prior = model.prior
    dev = prior.medians.device
    m = model.m
    med = prior.medians.detach().double()
    prior_d = copy.deepcopy(prior).double()
    # Tails of the learned density in the unscaled domain, per channel, by bisection.
    lo = _quantile(prior_d, med, TAIL_MASS / 2)
    hi = _quantile(prior_d, med, 1 - TAIL_MASS / 2)
    tables = []
    for q in range(rates.shape[0]):
        gain = torch.from_numpy(rates[q, 0].astype(np.float64)).to(dev)
        first = torch.floor((lo - med) * gain).long()
        last = torch.ceil((hi - med) * gain).long()
        for c in range(m):
            f, l = int(first[c]), int(last[c])
            if l - f + 1 > MAX_SYMBOLS:
                half = (MAX_SYMBOLS - 1) // 2
                f, l = -half, half
            k = torch.arange(f, l + 1, dtype=torch.float64, device=dev)
            g = float(gain[c])
            edges = med[c] + (torch.cat([k - 0.5, k[-1:] + 0.5])) / g
            cdf = _channel_cdf(prior_d, c, edges)
            pmf = (cdf[1:] - cdf[:-1]).clamp_min(0).cpu().numpy()
            escape = max(0.0, 1.0 - float(pmf.sum()))
            freq = quantize_pmf(np.append(pmf, max(escape, 1e-12)), precision)
            tables.append((f, freq))
    return tables


def _channel_cdf(prior_d, c, v):
    """CDF of channel c at points v (1-D double tensor)."""
    return torch.sigmoid(prior_d.logits_cdf(v.view(1, 1, -1), channels=slice(c, c + 1))).view(-1)


def _quantile(prior_d, med, p):
    lo = med - 1.0
    hi = med + 1.0
    target = torch.full_like(med, p)
    # Widen until the bracket holds the quantile, then bisect.
    for _ in range(60):
        clo = prior_d.cdf(lo.view(-1, 1)).view(-1)
        chi = prior_d.cdf(hi.view(-1, 1)).view(-1)
        if bool((clo <= target).all() and (chi >= target).all()):
            break
        lo = torch.where(clo > target, med - 2 * (med - lo), lo)
        hi = torch.where(chi < target, med + 2 * (hi - med), hi)
    for _ in range(80):
        mid = (lo + hi) / 2
        cm = prior_d.cdf(mid.view(-1, 1)).view(-1)
        lo = torch.where(cm < target, mid, lo)
        hi = torch.where(cm < target, hi, mid)
    return (lo + hi) / 2


# ------------------------------------------------------------------ writing

def _section(tag, payload, offset):
    head = tag + struct.pack("<IQ", 0, len(payload))
    end = offset + len(head) + len(payload)
    return head + payload + b"\0" * ((-end) % 8)


def _tensor_values(model):
    """name -> float32 array of every tensor the layer list references (GDN: effective values)."""
    values = {}
    gdn_names = set()
    for mod_name, mod in model.named_modules():
        if isinstance(mod, GDN):
            gdn_names.add(mod_name)
            beta, gamma = mod.effective()
            values[mod_name + ".beta"] = beta.detach().cpu().float().numpy()
            values[mod_name + ".gamma"] = gamma.detach().cpu().float().numpy()
    # Everything else too (prior, gains): the C engine ignores them, the importer restores them.
    for name, p in model.named_parameters():
        if name.rsplit(".", 1)[0] not in gdn_names:
            values[name] = p.detach().cpu().float().numpy()
    return values


def _layer_record(net, op, params, tensor_indices):
    p = list(params) + [0] * (4 - len(params))
    t = list(tensor_indices) + [NONE] * (2 - len(tensor_indices))
    return struct.pack("<BBH4I2I", net, op, 0, *p, *t)


def _arch_payload(model, names):
    layers = model.arch()
    out = struct.pack("<IIII", model.channels, model.m, model.stride, len(layers))
    for net, op, params, tensors in layers:
        out += _layer_record(NETS[net], OPS[op], params.values(), [names.index(n) for n in tensors])
    return out


def _tens_payload(names, values, fp16):
    """fp16: True/False for every tensor, or a dict name -> bool."""
    out = bytearray(struct.pack("<I", len(names)))
    for n in names:
        a = values[n]
        half = fp16[n] if isinstance(fp16, dict) else fp16
        nb = n.encode("ascii")
        dt = np.float16 if half else np.float32
        out += struct.pack("<H", len(nb)) + nb + struct.pack("<BB", 2 if half else 1, a.ndim)
        out += struct.pack("<%dI" % a.ndim, *a.shape)
        out += np.ascontiguousarray(a.astype(dt)).astype("<" + np.dtype(dt).str[1:]).tobytes()
        out += b"\0" * ((-len(out)) % 4)
    return bytes(out)


def _assemble(path, payloads):
    body = SIGNATURE + struct.pack("<II", VERSION, len(payloads))
    for tag, payload in payloads:
        body += _section(tag, payload, len(body))
    data = body + hashlib.sha256(body).digest()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return hashlib.sha256(body).hexdigest()


def _cdfs_payload(tables, m, precision):
    index = bytearray()
    freqs = []
    for first, freq in tables:
        index += struct.pack("<iII", first, len(freq) - 1, sum(len(f) for f in freqs))
        freqs.append(freq)
    allf = np.concatenate(freqs).astype("<u2")
    head = struct.pack("<IIII", precision, len(tables) // m, m, len(allf))
    return head + bytes(index) + allf.tobytes()


def effective_weights(model, fp16):
    """Tensor values exactly as a reader of the file will see them (after float16 rounding)."""
    vals = _tensor_values(model)
    if fp16:
        vals = {k: v.astype(np.float16).astype(np.float32) for k, v in vals.items()}
    return vals


def write(model, path, meta, fp16=True):
    """Writes model to path.  meta: dict of META keys (must hold 'name')."""
    model = model.cpu().eval()
    values = _tensor_values(model)
    names = [n for _, _, _, ts in model.arch() for n in ts]
    names += sorted(n for n in values if n not in names)
    rates = rate_table(model)
    tables = cdf_tables(model, rates)
    return _assemble(path, [
        (b"META", _meta_payload(meta)),
        (b"ARCH", _arch_payload(model, names)),
        (b"TENS", _tens_payload(names, values, fp16)),
        (b"RATE", struct.pack("<II", QUALITIES, model.m) + rates.astype("<f4").tobytes()),
        (b"CDFS", _cdfs_payload(tables, model.m, CDF_PRECISION)),
    ])


def _meta_payload(meta):
    return "".join("%s=%s\n" % (k, meta[k]) for k in meta).encode("utf-8")


def write_encoder(base, g_a, path, meta, fp16=True):
    """Writes `base` (a ModelFile) with its analysis replaced by `g_a`.  The synthesis layers, their
    tensors (same values, same storage type), RATE and CDFS are the base's, byte for byte, so the
    new file decodes exactly as the base does; META is `meta`."""
    holder = torch.nn.Module()
    holder.g_a = g_a
    analysis_values = {k: v for k, v in _tensor_values(holder).items()}
    analysis = sequence_arch("analysis", "g_a", g_a)
    names = [n for _, _, _, ts in analysis for n in ts]
    old_names = [n for n in base.tensor_names if not n.startswith("g_a.")]
    values = dict(analysis_values)
    values.update({n: base.tensors[n] for n in old_names})
    half = {n: fp16 for n in names}
    half.update({n: base.tensor_types[n] == 2 for n in old_names})
    names += old_names
    synthesis = [l for l in base.layers if l[0] == NETS["synthesis"]]
    arch = struct.pack("<IIII", base.image_channels, base.m, base.stride, len(analysis) + len(synthesis))
    for net, op, params, tensors in analysis:
        arch += _layer_record(NETS[net], OPS[op], params.values(), [names.index(n) for n in tensors])
    for net, op, params, tensors in synthesis:
        idx = [names.index(base.tensor_names[t]) for t in tensors if t != NONE]
        arch += _layer_record(net, op, params, idx)
    return _assemble(path, [
        (b"META", _meta_payload(meta)),
        (b"ARCH", arch),
        (b"TENS", _tens_payload(names, values, half)),
        (b"RATE", base.sections["RATE"]),
        (b"CDFS", base.sections["CDFS"]),
    ])


# ------------------------------------------------------------------ reading

class ModelFile:
    """A parsed model file: meta dict, layer list, tensors, rate table and CDF tables."""

    def __init__(self, path):
        data = open(path, "rb").read()
        if data[:8] != SIGNATURE:
            raise ValueError("%s: not an aec model file" % path)
        if hashlib.sha256(data[:-32]).digest() != data[-32:]:
            raise ValueError("%s: checksum mismatch" % path)
        self.hash = data[-32:].hex()
        version, count = struct.unpack_from("<II", data, 8)
        if version != VERSION:
            raise ValueError("%s: unsupported model version %d" % (path, version))
        pos = 16
        self.sections = {}
        for _ in range(count):
            tag, _, size = struct.unpack_from("<4sIQ", data, pos)
            pos += 16
            self.sections[tag.decode()] = data[pos:pos + size]
            pos += size + ((-(pos + size)) % 8)
        self.meta = dict(line.split("=", 1) for line in self.sections["META"].decode().splitlines() if line)
        self._parse_arch()
        self._parse_tensors()
        q, m = struct.unpack_from("<II", self.sections["RATE"], 0)
        self.rates = np.frombuffer(self.sections["RATE"], dtype="<f4", offset=8).reshape(q, 3, m)
        self._parse_cdfs()

    def _parse_arch(self):
        a = self.sections["ARCH"]
        self.image_channels, self.m, self.stride, n = struct.unpack_from("<IIII", a, 0)
        self.layers = []
        for i in range(n):
            net, op, _, p0, p1, p2, p3, t0, t1 = struct.unpack_from("<BBH4I2I", a, 16 + 28 * i)
            self.layers.append((net, op, (p0, p1, p2, p3), (t0, t1)))

    def _parse_tensors(self):
        t = self.sections["TENS"]
        (count,) = struct.unpack_from("<I", t, 0)
        pos = 4
        self.tensor_names, self.tensors, self.tensor_types = [], {}, {}
        for _ in range(count):
            (nl,) = struct.unpack_from("<H", t, pos)
            name = t[pos + 2:pos + 2 + nl].decode()
            pos += 2 + nl
            dtype, nd = struct.unpack_from("<BB", t, pos)
            dims = struct.unpack_from("<%dI" % nd, t, pos + 2)
            pos += 2 + 4 * nd
            dt = np.dtype("<f2") if dtype == 2 else np.dtype("<f4")
            numel = int(np.prod(dims))
            arr = np.frombuffer(t, dtype=dt, count=numel, offset=pos).astype(np.float32).reshape(dims)
            pos += numel * dt.itemsize
            pos += (-pos) % 4
            self.tensor_names.append(name)
            self.tensors[name] = arr
            self.tensor_types[name] = dtype

    def _parse_cdfs(self):
        c = self.sections["CDFS"]
        self.precision, q, m, total = struct.unpack_from("<IIII", c, 0)
        idx = np.frombuffer(c, dtype="<i4", count=3 * q * m, offset=16).reshape(q, m, 3)
        freqs = np.frombuffer(c, dtype="<u2", count=total, offset=16 + 12 * q * m)
        self.cdf_index = idx
        self.freqs = freqs

    def analysis_spec(self):
        """(cout, kernel, stride) of each analysis convolution, as model.build_analysis takes it."""
        return tuple((p[1], p[2], p[3]) for net, op, p, _ in self.layers
                     if net == NETS["analysis"] and op == OPS["conv"])

    def table(self, quality, channel):
        first, count, off = (int(v) for v in self.cdf_index[quality, channel])
        return first, self.freqs[off:off + count + 1]

    def to_torch(self, n=None):
        """An AecModel carrying this file's weights (GDN reparametrization inverted)."""
        # N is the synthesis's width: its first convolution feeds a 2x pixel shuffle (4N channels).
        n = n or next(l[2][1] // 4 for l in self.layers if l[0] == NETS["synthesis"] and l[1] == OPS["conv"])
        lambdas = [float(v) for v in self.meta["lambdas"].split(",")] if "lambdas" in self.meta else DEFAULT_LAMBDAS
        model = AecModel(n=n, m=self.m, lambdas=lambdas, analysis=self.analysis_spec(), channels=self.image_channels)
        sd = model.state_dict()
        gdn = {name for name, mod in model.named_modules() if isinstance(mod, GDN)}
        for name, arr in self.tensors.items():
            if name.rsplit(".", 1)[0] in gdn:
                pedestal = GDN.PEDESTAL
                sd[name] = torch.from_numpy(np.sqrt(np.maximum(arr.astype(np.float64) + pedestal, 0)).astype(np.float32))
            else:
                sd[name] = torch.from_numpy(arr.copy())
        model.load_state_dict(sd)
        model.eval()
        return model
