"""swd.py against independent computations: the pyramid's blur against the 5x5 binomial
kernel written out, its levels summing back to the picture, the one-dimensional case against
scipy's Wasserstein distance, and what the distance must see (blur, a colour cast)."""

import numpy as np
import pytest
import scipy.stats

from draw_color import swd


def binomial_2d():
  """The 5x5 kernel of the pyramid: the outer product of (1, 4, 6, 4, 1) / 16 with itself."""
  row = np.array([1, 4, 6, 4, 1]) / 16
  return np.outer(row, row)  # [5, 5]


def test_pyramid_down_is_the_binomial_blur_at_every_other_pixel():
  rng = np.random.default_rng(0)
  images = rng.random((2, 12, 10, 3))
  down = swd.pyramid_down(images)
  assert down.shape == (2, 6, 5, 3)
  kernel = binomial_2d()
  for y, x in ((1, 1), (2, 3), (4, 2)):  # interior of the small picture: no edge mirrored
    window = images[:, 2 * y - 2:2 * y + 3, 2 * x - 2:2 * x + 3]  # [2, 5, 5, 3]
    np.testing.assert_allclose(down[:, y, x], np.einsum("nhwc,hw->nc", window, kernel))
  # At the corner the picture is mirrored about its first row and column (d c b | a b c d).
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
  np.testing.assert_allclose(down[:, 0, 0], np.einsum("nhwc,hw->nc", padded[:, :5, :5], kernel))


def test_a_constant_picture_stays_constant_down_and_up():
  images = np.full((1, 16, 16, 2), 0.3)
  np.testing.assert_allclose(swd.pyramid_down(images), 0.3)
  np.testing.assert_allclose(swd.pyramid_up(np.full((1, 8, 8, 2), 0.3), images.shape), 0.3)


@pytest.mark.parametrize("side,count", [(64, 3), (32, 2), (28, 1), (16, 1), (7, 1)])
def test_levels_halve_down_to_sixteen_pixels(side, count):
  assert swd.levels(side) == count


def test_the_laplacian_levels_sum_back_to_the_pictures():
  rng = np.random.default_rng(1)
  images = rng.random((3, 64, 64, 3))
  pyramid = swd.laplacian_pyramid(images, 3)
  assert [level.shape[1] for level in pyramid] == [64, 32, 16]
  rebuilt = pyramid[-1]
  for finer in reversed(pyramid[:-1]):
    rebuilt = finer + swd.pyramid_up(rebuilt, finer.shape)
  np.testing.assert_allclose(rebuilt, images, atol=1e-12)


def test_descriptors_are_the_neighbourhoods_of_each_picture():
  # Each pixel holds its own coordinates, so a descriptor says where it was cut from.
  n, h, w = 2, 9, 11
  picture, row, col = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
  images = np.stack([picture, row, col], axis=-1).astype(np.float64)  # [N, H, W, 3]
  found = swd.descriptors(images, np.random.RandomState(0))
  assert found.shape == (n * swd.PATCHES, swd.PATCH * swd.PATCH * 3)
  half = swd.PATCH // 2
  for k, descriptor in enumerate(found):
    patch = descriptor.reshape(swd.PATCH, swd.PATCH, 3)
    assert (patch[..., 0] == k // swd.PATCHES).all()
    top, left = patch[0, 0, 1], patch[0, 0, 2]
    assert half <= top + half < h - half and half <= left + half < w - half
    np.testing.assert_array_equal(patch[..., 1:], images[0, int(top):int(top) + swd.PATCH,
                                                         int(left):int(left) + swd.PATCH, 1:])


def test_one_dimensional_descriptors_give_the_wasserstein_distance():
  # In one dimension every unit direction is +1 or -1, and either projects to the same
  # distance between the two samples' distributions.
  rng = np.random.default_rng(2)
  a, b = rng.normal(0, 1, (300, 1)), rng.normal(0.5, 2, (300, 1))
  assert swd.sliced_wasserstein(a, b, np.random.RandomState(0)) == pytest.approx(
      scipy.stats.wasserstein_distance(a[:, 0], b[:, 0]))


def test_a_shift_along_one_axis_is_seen_through_its_projections():
  # b = a + s e_1: each unit direction u moves every projection by s u_1, so the distance is
  # s |u_1| averaged over directions, s E|u_1| = s Gamma(D/2) / (sqrt(pi) Gamma((D+1)/2)).
  d, s = 5, 2.0
  a = np.random.default_rng(3).normal(size=(400, d))
  b = a + s * np.eye(d)[0]
  expected = s * np.exp(scipy.special.gammaln(d / 2) - scipy.special.gammaln((d + 1) / 2)) \
      / np.sqrt(np.pi)
  assert swd.sliced_wasserstein(a, b, np.random.RandomState(0)) == pytest.approx(expected,
                                                                               rel=0.05)


def test_distance_sees_blur_and_a_colour_cast_and_not_a_second_draw():
  rng = np.random.default_rng(4)
  shape = (16, 32, 32, 3)
  reference = rng.random(shape)
  other = rng.random(shape)  # the same distribution: what finite samples leave
  blurred = swd.pyramid_up(swd.pyramid_down(other), shape)  # the finest level gone
  cast = np.clip(other + [0.2, 0.0, 0.0], 0, 1)  # red raised
  assert swd.distance(reference, reference) == [0.0, 0.0]
  floor = swd.distance(other, reference)
  assert len(floor) == 2 and max(floor) < 100
  assert swd.distance(blurred, reference)[0] > 10 * max(floor)
  assert swd.distance(cast, reference)[1] > 5 * max(floor)


def test_distance_wants_as_many_samples_as_reference_pictures():
  with pytest.raises(ValueError, match="differ in shape"):
    swd.distance(np.zeros((2, 16, 16, 3)), np.zeros((3, 16, 16, 3)))


def test_one_scale_is_the_distance_of_descriptors_normalised_by_the_reference():
  """16 x 16 pictures have one scale, the pictures themselves: the distance is 1000 times
  sliced_wasserstein of both sets' descriptors, each channel less the reference descriptors'
  mean in that channel and over their standard deviation there."""
  rng = np.random.default_rng(7)
  reference = rng.random((3, 16, 16, 2)) * [1.0, 0.2]
  samples = rng.random((3, 16, 16, 2)) * [0.5, 0.4] + [0.3, 0.0]
  dr = swd.descriptors(reference, np.random.RandomState([0, 0, 1]))
  ds = swd.descriptors(samples, np.random.RandomState([0, 0, 1]))
  for channel in range(2):  # descriptors interleave the channels: pixel by pixel, C each
    values = dr[:, channel::2]
    mean, std = values.mean(), values.std()
    dr[:, channel::2] = (values - mean) / std
    ds[:, channel::2] = (ds[:, channel::2] - mean) / std
  expected = 1000 * swd.sliced_wasserstein(ds, dr, np.random.RandomState([0, 0]))
  assert swd.distance(samples, reference) == [pytest.approx(expected)]


def test_the_smaller_side_sets_the_scales():
  pictures = np.random.default_rng(8).random((2, 16, 40, 3))  # 16: one scale, though 40 has two
  assert len(swd.distance(pictures, pictures[::-1])) == 1


@pytest.mark.parametrize("height, width, held", [
    (7, 7, True), (6, 7, False), (7, 6, False), (5, 20, False), (20, 5, False), (64, 64, True)])
def test_pictures_fit_when_both_sides_hold_a_patch(height, width, held):
  assert swd.fits(np.zeros([2, height, width, 3])) == held
