"""Installs draw_color: colour DRAW in TensorFlow 1 style (see README.md)."""

from setuptools import find_packages, setup

setup(
    name="draw-color",
    version="0.1.0",
    description="Colour DRAW (recurrent attentive VAE) on CelebA, tf.compat.v1 graph",
    packages=find_packages(exclude=("tests",)),
    package_data={"draw_color": ["configs/*.cfg"]},
    python_requires=">=3.9",
    # Lower bounds are the versions this project was tested with.
    install_requires=[
        "tensorflow>=2.21",
        "numpy>=2.0",
        "scipy>=1.13",
        "imageio>=2.34",
        "absl-py>=2.1",
    ],
    # plot: --mode=plot (make plot); the tests draw plots too. mutmut: make mutate; 2.x, which
    # runs a command per mutant (3 forks the process that ran the tests: TensorFlow hangs).
    # pytest-xdist: make test runs the tests that do not race the clock on a worker per core.
    extras_require={"test": ["pytest>=8", "pytest-xdist>=3.5", "matplotlib>=3.8",
                             "mutmut>=2.5,<3"],
                    "plot": ["matplotlib>=3.8"]},
    # `draw-color --mode=...`, the same as `python -m draw_color.main --mode=...`.
    entry_points={"console_scripts": ["draw-color=draw_color.main:run"]},
)
