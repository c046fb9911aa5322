"""SSIM (Wang et al. 2004) of two 8-bit grey images, numpy only: 7 x 7 box windows, the
usual constants. 1.0 for identical images."""

import numpy as np

K = 7  # window side


def _box(x: np.ndarray, k: int = K) -> np.ndarray:
    c = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The SSIM of every 7 x 7 window: [H - 6, W - 6]."""
    a, b = a.astype(float), b.astype(float)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = _box(a), _box(b)
    va, vb, cov = _box(a * a) - ma ** 2, _box(b * b) - mb ** 2, _box(a * b) - ma * mb
    return ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """The mean of :func:`ssim_map`. A window whose pixels are the same in both images scores
    exactly 1 (the same sums on both sides of the fraction), so only the smallest rectangle
    holding every differing pixel, widened by a window, is computed: a video frame's flat
    background is most of it, and the same in both."""
    diff = a != b
    rows, cols = np.flatnonzero(diff.any(1)), np.flatnonzero(diff.any(0))
    windows = (a.shape[0] - K + 1) * (a.shape[1] - K + 1)
    if not rows.size:
        return 1.0
    r0, r1 = max(rows[0] - K + 1, 0), min(rows[-1] + K, a.shape[0])
    c0, c1 = max(cols[0] - K + 1, 0), min(cols[-1] + K, a.shape[1])
    inside = ssim_map(a[r0:r1, c0:c1], b[r0:r1, c0:c1])
    return float((inside.sum() + (windows - inside.size)) / windows)


def luma_frames(path, every: int = 1):
    """The Y plane of every ``every``-th frame of a video, as 2-D uint8 arrays."""
    import av

    with av.open(str(path)) as c:
        for k, frame in enumerate(c.decode(video=0)):
            if k % every == 0:
                yield frame.to_ndarray(format="gray")
