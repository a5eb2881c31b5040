"""The aec network: analysis/synthesis transforms, gain-based rate control and the factorized prior.

The same module runs on Debian's torch 1.13 (CPU) and torch 2.x (CUDA).  The layer list produced by
``AecModel.arch()`` is what the exporter writes into the model file, and what the C engine builds its
network from, so the two must stay in step with ``forward``.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

LIKELIHOOD_BOUND = 1e-9

# Lambdas of the trained rate points, lowest rate first.  Quality 0..100 interpolates between them.
DEFAULT_LAMBDAS = (0.00093, 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)


class LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows when x is below the bound but moving up."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through.to(grad.dtype), None


class GDN(nn.Module):
    """Generalized divisive normalization (Balle et al. 2016); inverse=True gives IGDN.

    y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2).  beta and gamma are stored reparametrized
    (squared, bounded); ``effective()`` gives the plain values that the exporter writes.
    """

    PEDESTAL = 2.0 ** -18

    def __init__(self, channels, inverse=False, beta_min=1e-6, gamma_init=0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_bound = (beta_min + self.PEDESTAL) ** 0.5
        self.gamma_bound = self.PEDESTAL ** 0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self.PEDESTAL))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + self.PEDESTAL))

    def effective(self):
        beta = LowerBound.apply(self.beta, self.beta_bound) ** 2 - self.PEDESTAL
        gamma = LowerBound.apply(self.gamma, self.gamma_bound) ** 2 - self.PEDESTAL
        return beta, gamma

    def forward(self, x):
        # Always float32, also in a mixed-precision step: the normalization divides by a sum of
        # squares, and bfloat16's 8-bit mantissa would blur what gamma is trained to weigh.
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            beta, gamma = self.effective()
            c = x.shape[1]
            norm = F.conv2d(x * x, gamma.view(c, c, 1, 1), beta)
            norm = torch.sqrt(norm)
            return x * norm if self.inverse else x / norm


def conv(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class SubpixelUp(nn.Module):
    """Stride-2 upsampling as a 3x3 convolution to 4x channels followed by a pixel shuffle."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = conv(cin, cout * 4, 3)

    def forward(self, x):
        return F.pixel_shuffle(self.conv(x), 2)


class FactorizedPrior(nn.Module):
    """Per-channel learned CDF of the latents (Balle et al. 2018, appendix 6.1).

    The CDF is defined on the unscaled latent y.  A rate point with gain g codes round(g*y - mu);
    its bin probabilities are differences of cdf(median + (k +- 0.5)/g), so one density serves
    every gain.
    """

    def __init__(self, channels, filters=(3, 3, 3), init_scale=10.0):
        super().__init__()
        self.channels = channels
        dims = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        self.medians = nn.Parameter(torch.zeros(channels))

    def logits_cdf(self, v, detach=False, channels=slice(None)):
        """v: (C, 1, n) -> logits of the CDF, same shape; `channels` picks a subset of the C."""
        for i, m in enumerate(self.matrices):
            m = F.softplus(m[channels].detach() if detach else m[channels])
            b = self.biases[i][channels]
            v = torch.matmul(m, v) + (b.detach() if detach else b)
            if i < len(self.factors):
                f = self.factors[i][channels]
                v = v + torch.tanh(f.detach() if detach else f) * torch.tanh(v)
        return v

    def bin_likelihood(self, y, gain):
        """Likelihood of the noisy scaled latent yg = gain*y + u under the scaled density.

        y_scaled: (B, C, H, W) already multiplied by gain; gain: (B, C, 1, 1).
        """
        b, c, h, w = y.shape
        med = self.medians.view(1, c, 1, 1)
        lo = (med + (y - 0.5) / gain).permute(1, 0, 2, 3).reshape(c, 1, -1)
        hi = (med + (y + 0.5) / gain).permute(1, 0, 2, 3).reshape(c, 1, -1)
        # Shift so the bins are centred on the median in the unscaled domain.
        lower = self.logits_cdf(lo)
        upper = self.logits_cdf(hi)
        sign = -torch.sign(lower + upper).detach()
        lik = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        lik = LowerBound.apply(lik, LIKELIHOOD_BOUND)
        return lik.reshape(c, b, h, w).permute(1, 0, 2, 3)

    def aux_loss(self):
        """Pulls ``medians`` to the point where the learned CDF is 1/2."""
        logits = self.logits_cdf(self.medians.view(-1, 1, 1), detach=True)
        return logits.abs().sum()

    @torch.no_grad()
    def cdf(self, v):
        """CDF at points v: (C, n) tensor in the unscaled domain."""
        return torch.sigmoid(self.logits_cdf(v.unsqueeze(1))).squeeze(1)


def default_analysis(n, m):
    """The jointly trained analysis: four 5x5 stride-2 convolutions, GDN between them."""
    return ((n, 5, 2), (n, 5, 2), (n, 5, 2), (m, 5, 2))


def build_analysis(spec, in_channels=3):
    """An analysis transform from a layer spec, ((cout, kernel, stride), ...): convolutions with GDN
    between them, none after the last (its output is what gets rounded)."""
    layers, cin = [], in_channels
    for i, (cout, k, stride) in enumerate(spec):
        layers.append(conv(cin, cout, k, stride))
        if i < len(spec) - 1:
            layers.append(GDN(cout))
        cin = cout
    return nn.Sequential(*layers)


def analysis_spec(g_a):
    """The (cout, kernel, stride) spec of an analysis transform built by build_analysis."""
    return tuple((l.out_channels, l.kernel_size[0], l.stride[0]) for l in g_a if isinstance(l, nn.Conv2d))


def build_synthesis(m, n, channels, ups):
    """The synthesis: `ups` stride-2 subpixel upsamplings from M latent channels to `channels`, inverse
    GDN between them, N channels inside."""
    layers = []
    for i in range(ups):
        last = i == ups - 1
        layers.append(SubpixelUp(m if i == 0 else n, channels if last else n))
        if not last:
            layers.append(GDN(n, inverse=True))
    return nn.Sequential(*layers)


def total_stride(spec):
    return math.prod(stride for _, _, stride in spec)


class AecModel(nn.Module):
    @classmethod
    def from_state(cls, state, n, m, analysis=None, channels=3):
        """A model shaped like a saved state dict (its rate points included), carrying its weights."""
        model = cls(n, m, state["lambdas"].tolist(), analysis, channels)
        model.load_state_dict(state)
        return model

    def __init__(self, n=128, m=192, lambdas=DEFAULT_LAMBDAS, analysis=None, channels=3):
        """channels: image channels, 3 (RGB) or 1 (gray).  analysis: ((cout, kernel, stride), ...);
        its strides multiply to the total stride, a power of two that the synthesis's 2x upsamplings
        undo."""
        super().__init__()
        self.n, self.m, self.channels = n, m, channels
        self.register_buffer("lambdas", torch.tensor(lambdas, dtype=torch.float32))
        k = len(lambdas)
        spec = tuple(analysis) if analysis else default_analysis(n, m)
        if spec[-1][0] != m:
            raise ValueError("the analysis must end with %d latent channels" % m)
        self.stride = total_stride(spec)
        ups = self.stride.bit_length() - 1
        if self.stride != 1 << ups or ups < 1:
            raise ValueError("the analysis's total stride must be a power of two, not %d" % self.stride)
        self.g_a = build_analysis(spec, channels)
        self.g_s = build_synthesis(m, n, channels, ups)
        # Gains spread over the rate points so that untrained interpolation is already sensible.
        init = torch.linspace(-1.5, 1.5, k).view(k, 1).expand(k, m).clone()
        self.log_gain = nn.Parameter(init)
        self.log_inv_gain = nn.Parameter(-init.clone())
        self.prior = FactorizedPrior(m)
        # Mixed precision (train.py --precision bf16): inner convolutions in bfloat16.
        self.bf16 = False

    def gains_at(self, t):
        """Gain and inverse gain at continuous rate index t in [0, K-1] (log-linear interpolation)."""
        k = self.log_gain.shape[0]
        t = t.clamp(0, k - 1)
        i = t.floor().long().clamp(max=k - 2)
        a = (t - i.to(t.dtype)).view(-1, 1)
        lg = (1 - a) * self.log_gain[i] + a * self.log_gain[i + 1]
        lig = (1 - a) * self.log_inv_gain[i] + a * self.log_inv_gain[i + 1]
        return lg.exp(), lig.exp()

    def lambda_at(self, t):
        k = self.lambdas.shape[0]
        t = t.clamp(0, k - 1)
        i = t.floor().long().clamp(max=k - 2)
        a = t - i.to(t.dtype)
        ll = self.lambdas.log()
        return ((1 - a) * ll[i] + a * ll[i + 1]).exp()

    def transform(self, seq, x):
        """Runs g_a or g_s.  With self.bf16, the convolutions between the first and the last layer run
        in bfloat16 (oneDNN accumulates in float32); the first and last stay float32, so the pixels
        and the latents that get rounded keep full precision, as in the C engine."""
        last = len(seq) - 1
        for i, layer in enumerate(seq):
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16 and 0 < i < last):
                x = layer(x)
            x = x.float()
        return x

    def forward(self, x, t, ste=True):
        """x: (B,3,H,W) in [0,1]; t: (B,) rate index.  Returns reconstruction and likelihoods.

        ste: the synthesis sees the rounded latents (straight-through gradient) rather than the
        noisy ones."""
        gain, inv_gain = self.gains_at(t)
        b = x.shape[0]
        y = self.transform(self.g_a, x) * gain.view(b, -1, 1, 1)
        mu = self.prior.medians.detach().view(1, -1, 1, 1) * gain.view(b, -1, 1, 1)
        # Rate from additive noise; distortion through straight-through rounding (Minnen & Singh 2020).
        noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        lik = self.prior.bin_likelihood(noisy - mu, gain.view(b, -1, 1, 1))
        y_hat = y + (torch.round(y - mu) + mu - y).detach() if ste else noisy
        x_hat = self.transform(self.g_s, y_hat * inv_gain.view(b, -1, 1, 1))
        return x_hat, lik

    def arch(self):
        """Layer list for the model file: (net, op, params, tensor names)."""
        return sequence_arch("analysis", "g_a", self.g_a) + sequence_arch("synthesis", "g_s", self.g_s)


def sequence_arch(net, prefix, seq):
    """Layer records of one transform: (net, op, params, tensor names)."""
    layers = []
    for idx, mod in enumerate(seq):
        name = "%s.%d" % (prefix, idx)
        if isinstance(mod, nn.Conv2d):
            layers.append((net, "conv", dict(cin=mod.in_channels, cout=mod.out_channels,
                           k=mod.kernel_size[0], stride=mod.stride[0]),
                           [name + ".weight", name + ".bias"]))
        elif isinstance(mod, SubpixelUp):
            c = mod.conv
            layers.append((net, "conv", dict(cin=c.in_channels, cout=c.out_channels,
                           k=c.kernel_size[0], stride=1),
                           [name + ".conv.weight", name + ".conv.bias"]))
            layers.append((net, "pixel_shuffle", dict(factor=2), []))
        elif isinstance(mod, GDN):
            layers.append((net, "igdn" if mod.inverse else "gdn", dict(channels=mod.beta.shape[0]),
                           [name + ".beta", name + ".gamma"]))
        else:
            raise ValueError("layer without a model-file encoding: %r" % (mod,))
    return layers


def rate_bits(lik):
    return -torch.log2(lik).sum(dim=(1, 2, 3))
