"""The sliced Wasserstein distance between the local patches of two sets of pictures, scale by
scale (Karras et al. 2018, "Progressive growing of GANs", section 5).

Each picture is split into a Laplacian pyramid; at each level, 7x7 neighbourhoods drawn at
random from every picture are the descriptors; the distance between the two sets' descriptor
distributions is the mean, over random directions, of the 1-D Wasserstein distance of their
projections (sorted projections, matched in order). A blurred sample lacks the real pictures'
fine-level patches, a blank or collapsed set their variety, a colour cast their colours. It
compares patches, not faces: a blotch has the contrast of a real face's patches, in a place
where a face has none, and goes unseen (README, "Evaluation").

One departure: Karras et al. normalise each set's descriptors by that set's own mean and
standard deviation per channel, which hides a loss of contrast; here both sets are
normalised by the reference set's, so the distance is in units of the real patches' spread
and blur counts. Numbers are reported x 1000, as theirs.
"""

import numpy as np
import scipy.ndimage

PATCH = 7  # side of the neighbourhoods compared
PATCHES = 128  # neighbourhoods drawn from each picture at each level
DIRECTIONS = 512  # random unit directions per repeat
REPEATS = 4  # repeats of DIRECTIONS, averaged
SMALLEST = 16  # the coarsest level's side: below it, a 7x7 patch is half the picture
# The 5-tap binomial filter of Burt & Adelson's pyramid, applied along rows and columns.
BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def _blur(images):
  """[N, H, W, C] -> the same, filtered by BINOMIAL along H and W (mirrored edges)."""
  for axis in (1, 2):
    images = scipy.ndimage.convolve1d(images, BINOMIAL, axis=axis, mode="mirror")
  return images


def pyramid_down(images):
  """[N, H, W, C] -> [N, ceil(H/2), ceil(W/2), C]: blurred, then every other pixel."""
  return _blur(images)[:, ::2, ::2]


def pyramid_up(images, shape):
  """[N, h, w, C] -> [N, H, W, C] of `shape`'s H and W: zeros between the pixels, then the
  blur, times 4 (the share of pixels that are not zeros), as pyramid_down's inverse."""
  up = np.zeros((images.shape[0],) + tuple(shape[1:3]) + (images.shape[3],))
  up[:, ::2, ::2] = images
  return 4 * _blur(up)


def fits(pictures):
  """Whether pictures [N, H, W, C] hold a PATCH x PATCH neighbourhood: the ones distance takes."""
  return min(np.shape(pictures)[1:3]) >= PATCH


def levels(side):
  """How many pyramid levels a picture of `side` pixels has: halvings while the side stays
  at least SMALLEST; 1 for a picture smaller than that."""
  count = 1
  while side // 2 >= SMALLEST:
    side //= 2
    count += 1
  return count


def laplacian_pyramid(images, count):
  """[N, H, W, C] -> `count` levels, finest first: each level's picture less the next coarser
  one brought back up; the last is the coarsest blurred picture itself. Summing each level
  brought up to the finer one gives the pictures back."""
  pyramid = [np.asarray(images, np.float64)]
  for _ in range(count - 1):
    pyramid.append(pyramid_down(pyramid[-1]))
    pyramid[-2] = pyramid[-2] - pyramid_up(pyramid[-1], pyramid[-2].shape)
  return pyramid


def descriptors(images, rng):
  """PATCHES random PATCH x PATCH neighbourhoods of each picture [N, H, W, C] (H, W >= PATCH):
  [N * PATCHES, PATCH * PATCH * C], those of picture 0 first."""
  n, h, w, c = images.shape
  half = PATCH // 2
  rows = rng.randint(half, h - half, size=(n, PATCHES))  # [N, P] centres
  cols = rng.randint(half, w - half, size=(n, PATCHES))  # [N, P]
  offsets = np.arange(-half, half + 1)
  r = (rows[:, :, None, None] + offsets[:, None])  # [N, P, PATCH, 1]
  q = (cols[:, :, None, None] + offsets[None, :])  # [N, P, 1, PATCH]
  picture = np.arange(n)[:, None, None, None]  # [N, 1, 1, 1]
  patches = images[picture, r, q]  # [N, P, PATCH, PATCH, C]
  return patches.reshape(n * PATCHES, -1)


def sliced_wasserstein(a, b, rng):
  """The mean over REPEATS x DIRECTIONS random unit directions of the 1-D Wasserstein-1
  distance between the projections of descriptors a [M, D] and b [M, D]."""
  distances = []
  for _ in range(REPEATS):
    directions = rng.randn(a.shape[1], DIRECTIONS)  # [D, K]
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    # Sorted projections matched in order: the optimal transport plan in one dimension.
    # Directions first, so each sort runs along contiguous memory (twice as fast).
    pa = np.sort(directions.T @ a.T, axis=1)  # [K, M]
    pb = np.sort(directions.T @ b.T, axis=1)  # [K, M]
    distances.append(np.abs(pa - pb).mean())
  return float(np.mean(distances))


def distance(samples, reference, seed=0):
  """The sliced Wasserstein distance x 1000 between pictures `samples` and `reference`
  [N, H, W, C] (as many of each; H, W >= PATCH) at each Laplacian level, finest first: a list
  of levels(H) floats. Both sets' descriptors are normalised by the mean and standard
  deviation per channel of `reference`'s at that level. The same `seed` draws the same
  neighbourhoods and directions, so two sets of samples compare against the same reference."""
  samples = np.asarray(samples, np.float64)
  reference = np.asarray(reference, np.float64)
  if samples.shape != reference.shape:
    raise ValueError("samples %s and reference %s differ in shape"
                     % (samples.shape, reference.shape))
  count = levels(min(samples.shape[1:3]))
  channels = samples.shape[3]
  result = []
  for level, (s, r) in enumerate(zip(laplacian_pyramid(samples, count),
                                     laplacian_pyramid(reference, count))):
    rng = np.random.RandomState([seed, level])
    ds = descriptors(s, np.random.RandomState([seed, level, 1]))  # [M, D]
    dr = descriptors(r, np.random.RandomState([seed, level, 1]))  # [M, D]
    by_channel = dr.reshape(len(dr), -1, channels)  # [M, PATCH*PATCH, C]
    mean = by_channel.mean(axis=(0, 1))  # [C]
    std = np.maximum(by_channel.std(axis=(0, 1)), 1e-8)  # [C]
    ds = ((ds.reshape(len(ds), -1, channels) - mean) / std).reshape(len(ds), -1)
    dr = ((by_channel - mean) / std).reshape(len(dr), -1)
    result.append(1000 * sliced_wasserstein(ds, dr, rng))
  return result
