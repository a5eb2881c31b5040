#!/usr/bin/python3
"""metrics_ref.py: reference values for tests/test_metrics.c, computed independently with numpy.

MS-SSIM here uses a full 2-D 11x11 window over sliding views (the C code filters separably) and
BD-rate integrates the PCHIP interpolant numerically on a fine grid (the C code integrates the
Hermite cubics in closed form).  Run: /usr/bin/python3 bench/metrics_ref.py
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def test_pair(width, height, channels):
    """The image pair test_metrics.c builds with the same integer formulas."""
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(channels), indexing="ij")
    a = (x * 2 + y + 40 * c + ((x // 8 + y // 8) % 2) * 60) % 256
    noise = (x * 131 + y * 71 + c * 29 + (x * y) % 97) % 61 - 30
    b = np.clip(a + noise, 0, 255)
    return a.astype(np.float64), b.astype(np.float64)


def gaussian_2d():
    t = np.arange(11) - 5
    g = np.exp(-(t * t) / (2 * 1.5 ** 2))
    g /= g.sum()
    return np.outer(g, g)


def filt(img, k):
    return np.einsum("ijkl,kl->ij", sliding_window_view(img, k.shape), k)


def ssim_cs(x, y, k):
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = filt(x, k), filt(y, k)
    vx, vy = filt(x * x, k) - mx * mx, filt(y * y, k) - my * my
    cov = filt(x * y, k) - mx * my
    cs = (2 * cov + c2) / (vx + vy + c2)
    ssim = (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs
    return ssim.mean(), cs.mean()


def pool(img):
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    v = img[:h, :w]
    return (v[0::2, 0::2] + v[1::2, 0::2] + v[0::2, 1::2] + v[1::2, 1::2]) / 4


def msssim(a, b):
    k = gaussian_2d()
    per_channel = []
    for ch in range(a.shape[2]):
        x, y = a[:, :, ch], b[:, :, ch]
        vals = []
        for s in range(5):
            ssim, cs = ssim_cs(x, y, k)
            vals.append(max(ssim if s == 4 else cs, 0.0))
            x, y = pool(x), pool(y)
        per_channel.append(np.prod(np.array(vals) ** WEIGHTS))
    return float(np.mean(per_channel))


def pchip_slopes(x, y):
    h, m = np.diff(x), np.diff(y) / np.diff(x)
    d = np.zeros_like(y)
    if len(x) == 2:
        return np.array([m[0], m[0]])
    for k in range(1, len(x) - 1):
        if m[k - 1] * m[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k])

    def edge(h0, h1, m0, m1):
        e = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(e) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(e) > 3 * abs(m0):
            return 3 * m0
        return e

    d[0] = edge(h[0], h[1], m[0], m[1])
    d[-1] = edge(h[-1], h[-2], m[-1], m[-2])
    return d


def pchip_eval(x, y, d, t):
    k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)
    h = x[k + 1] - x[k]
    s = (t - x[k]) / h
    return (y[k] * (2 * s**3 - 3 * s**2 + 1) + h * d[k] * (s**3 - 2 * s**2 + s)
            + y[k + 1] * (-2 * s**3 + 3 * s**2) + h * d[k + 1] * (s**3 - s**2))


def bd(anchor, test, rate_is_x):
    def xy(curve):
        lr, p = np.log10(curve[0]), np.array(curve[1], dtype=float)
        x, y = (lr, p) if rate_is_x else (p, lr)
        order = np.argsort(x)
        return x[order], y[order]

    (xa, ya), (xt, yt) = xy(anchor), xy(test)
    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    t = np.linspace(lo, hi, 2_000_001)
    diff = pchip_eval(xt, yt, pchip_slopes(xt, yt), t) - pchip_eval(xa, ya, pchip_slopes(xa, ya), t)
    return np.trapz(diff, t) / (hi - lo)


def main():
    a, b = test_pair(200, 180, 3)
    print("msssim rgb 200x180  %.10f" % msssim(a, b))
    a, b = test_pair(176, 176, 1)
    print("msssim gray 176x176 %.10f" % msssim(a, b))
    anchor = ([0.25, 0.5, 1.0, 2.0], [28.0, 31.0, 34.5, 38.0])
    test = ([0.2, 0.45, 0.8, 1.7], [28.5, 31.8, 34.9, 38.6])
    print("bd-rate  %.10f %%" % ((10 ** bd(anchor, test, False) - 1) * 100))
    print("bd-psnr  %.10f dB" % bd(anchor, test, True))


if __name__ == "__main__":
    main()
