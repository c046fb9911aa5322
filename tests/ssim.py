"""SSIM (Wang et al. 2004) of two 8-bit grey images, numpy only: 7 x 7 box windows, the
usual constants. 1.0 for identical images."""

import numpy as np


def _box(x: np.ndarray, k: int = 7) -> np.ndarray:
    c = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(float), b.astype(float)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = _box(a), _box(b)
    va, vb, cov = _box(a * a) - ma ** 2, _box(b * b) - mb ** 2, _box(a * b) - ma * mb
    m = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))
    return float(m.mean())


def luma_frames(path, every: int = 1):
    """The Y plane of every ``every``-th frame of a video, as 2-D uint8 arrays."""
    import av

    with av.open(str(path)) as c:
        for k, frame in enumerate(c.decode(video=0)):
            if k % every == 0:
                yield frame.to_ndarray(format="gray")
