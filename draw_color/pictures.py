"""Attention windows drawn on pictures: pure numpy, no TensorFlow.

Positions are the filterbank's: along an axis of A pixels, pixel a sits at a = 0..A-1. A
picture upscaled by an integer `scale` shows pixel a as the block of rows (or columns)
a*scale..a*scale+scale-1, so a position u falls on upscaled pixel floor((u + 0.5) * scale).
A window is drawn as a box from its first to its last filter centre in each axis, with a dot
at each of its N x N centres when N <= MAX_DOTS_N; whatever falls outside the picture is left out.
"""

import numpy as np

READ = (0, 230, 118)  # green
WRITE = (255, 64, 64)  # red
BACKGROUND = (40, 40, 40)  # dark grey, so the black gaps of a grid show each cell's edge
# A larger window is drawn as its box alone: 16 x 16 dots of a write window cover a 64 x 64
# face with a lattice that hides it, and the box still gives the spacing, (N - 1) delta wide.
MAX_DOTS_N = 8
LEGEND = ("green: read window, red: write window; each box spans the first to the last "
          "filter centre, the dots are the N x N filter centres (N <= %d)" % MAX_DOTS_N)

# Positions further off than this are all equally invisible; it keeps the int cast finite.
_FAR = 1e6


def upscale(images, scale):
  """[..., H, W, C] -> [..., H*scale, W*scale, C], each pixel a scale x scale block."""
  return np.repeat(np.repeat(images, scale, axis=-3), scale, axis=-2)


def rgb(images):
  """[..., C] uint8 with C = 1 or 3 -> [..., 3], so windows can be drawn in colour."""
  return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def to_pixels(u, scale):
  """Filterbank positions (any shape) -> int indices into the upscaled picture.

  The indices may lie outside the picture; a diverged (inf or NaN) position lands far off.
  """
  u = np.clip(np.nan_to_num(np.asarray(u, np.float64), nan=-_FAR), -_FAR, _FAR)
  return np.floor((u + 0.5) * scale).astype(np.int64)


def draw_box(image, x0, y0, x1, y1, colour):
  """A copy of `image` [H, W, C] with the outline of the box x0..x1, y0..y1 in `colour`.

  Corners are pixel indices, inclusive, in any order; the edges and parts of edges outside
  the image are left out.
  """
  out = np.array(image)
  h, w = out.shape[:2]
  x0, x1 = sorted((int(x0), int(x1)))
  y0, y1 = sorted((int(y0), int(y1)))
  left, right = max(x0, 0), min(x1, w - 1)  # the visible span of the top and bottom edges
  top, bottom = max(y0, 0), min(y1, h - 1)  # the visible span of the side edges
  if left > right or top > bottom:
    return out
  for y in (y0, y1):
    if 0 <= y < h:
      out[y, left:right + 1] = colour
  for x in (x0, x1):
    if 0 <= x < w:
      out[top:bottom + 1, x] = colour
  return out


def draw_dots(image, xs, ys, colour, radius=0):
  """A copy of `image` [H, W, C] with a (2*radius+1)-pixel square at each (x, y).

  xs, ys: int pixel indices of the same shape; dots (or parts) outside are left out.
  """
  out = np.array(image)
  for x, y in zip(np.ravel(xs), np.ravel(ys)):
    # Clamped at 0: a negative slice bound would count from the far edge.
    rows = slice(max(y - radius, 0), max(y + radius + 1, 0))
    cols = slice(max(x - radius, 0), max(x + radius + 1, 0))
    out[rows, cols] = colour
  return out


def draw_window(image, mu_x, mu_y, scale, colour):
  """A copy of the upscaled `image` [H, W, C] with one window drawn on it.

  mu_x, mu_y [N]: the filter centres in the filterbank's positions (model.filter_centres);
  a dot at each of the N x N centres only when N <= MAX_DOTS_N.
  """
  xs, ys = to_pixels(mu_x, scale), to_pixels(mu_y, scale)
  out = draw_box(image, xs.min(), ys.min(), xs.max(), ys.max(), colour)
  if len(xs) > MAX_DOTS_N:
    return out
  dots_x, dots_y = np.meshgrid(xs, ys)  # each [N, N]
  return draw_dots(out, dots_x, dots_y, colour, radius=scale // 2)


def window_cells(images, windows, scale):
  """Upscales `images` [B, A, A, C] uint8 and draws windows on each: [B, A*s, A*s, 3].

  windows: a list of (mu_x, mu_y, colour), mu_x and mu_y [B, N] the filter centres of
  each image's window; later windows are drawn over earlier ones.
  """
  cells = upscale(rgb(images), scale)
  for b in range(len(cells)):
    for mu_x, mu_y, colour in windows:
      cells[b] = draw_window(cells[b], mu_x[b], mu_y[b], scale, colour)
  return cells


def background(count, image_size):
  """[count, A, A, 3] uint8 cells of the dark BACKGROUND, to draw bare windows on."""
  return np.full((count, image_size, image_size, 3), BACKGROUND, np.uint8)


def side_by_side(left, right, gap):
  """Two pictures [H, W1, C], [H, W2, C] -> [H, W1 + gap + W2, C], black in between."""
  space = np.zeros((left.shape[0], gap, left.shape[2]), left.dtype)
  return np.concatenate([left, space, right], axis=1)
