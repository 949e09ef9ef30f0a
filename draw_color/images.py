"""Image grids, PNG and GIF files, TensorBoard image summaries; every file written atomically."""

import io
import math

import imageio.v3 as iio
import numpy as np
import tensorflow as tf

from draw_color import fileio


def to_uint8(images):
  """Float images in [0, 1] -> uint8, rounding; grey [..., 1] stays one channel."""
  return np.clip(np.round(np.asarray(images) * 255.0), 0, 255).astype(np.uint8)


def grid(images, cols=None, pad=0):
  """[N, H, W, C] -> one [rows*(H+pad)-pad, cols*(W+pad)-pad, C] picture, row by row.

  `cols` defaults to ceil(sqrt(N)), so 64 images make the original's 8x8 grid. Missing
  cells of the last row stay black.
  """
  images = np.asarray(images)
  n, h, w, c = images.shape
  cols = cols or int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / cols))
  out = np.zeros((rows * (h + pad) - pad, cols * (w + pad) - pad, c), images.dtype)
  for i in range(n):
    r, col = divmod(i, cols)
    out[r * (h + pad):r * (h + pad) + h, col * (w + pad):col * (w + pad) + w] = images[i]
  return out


def _squeeze_grey(image):
  """[H, W, 1] -> [H, W]: the image writers want grey pictures without a channel axis."""
  return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def png_bytes(image):
  """uint8 [H, W, C] -> the bytes of a PNG file."""
  buf = io.BytesIO()
  iio.imwrite(buf, _squeeze_grey(image), extension=".png")
  return buf.getvalue()


def save_png(path, image):
  """Writes uint8 [H, W, C] to `path` as PNG, atomically."""
  with fileio.atomic_path(path) as tmp:
    iio.imwrite(tmp, _squeeze_grey(image), extension=".png")


def save_gif(path, frames, duration_ms=200, last_ms=1000):
  """Writes uint8 frames, each [H, W, C], as a looping GIF, holding the last frame longer.

  `frames` may be an iterator: each frame is handed to the writer as it comes, so that no
  list or stack of them all is held beside the writer's own copies (a GIF of 1,024 samples
  took 1.4 GB more to write from a list than the frames themselves)."""
  frames = iter(frames)
  with fileio.atomic_path(path) as tmp, iio.imopen(tmp, "w", extension=".gif") as gif:
    last, count = next(frames), 1
    for frame in frames:
      gif.write(_squeeze_grey(last), is_batch=False)
      last, count = frame, count + 1
    # The writer saves at its close with the options of its last write: the durations of all
    # (one number for one frame, which Pillow saves without its list of frames).
    durations = [duration_ms] * (count - 1) + [last_ms] if count > 1 else last_ms
    gif.write(_squeeze_grey(last), is_batch=False, duration=durations, loop=0)


def image_summary(tag, image):
  """uint8 [H, W, C] -> a TensorBoard Summary holding it, without adding graph ops."""
  h, w, c = image.shape
  return tf.compat.v1.Summary(value=[
      tf.compat.v1.Summary.Value(
          tag=tag,
          image=tf.compat.v1.Summary.Image(encoded_image_string=png_bytes(image), height=h,
                                           width=w, colorspace=c))
  ])


def scalar_summary(values):
  """{tag: float} -> a TensorBoard Summary of scalars."""
  return tf.compat.v1.Summary(value=[
      tf.compat.v1.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()
  ])
