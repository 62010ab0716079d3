"""The one compiled part: two loops of the examples stage (autointerp/examples/_kernels.c).

optional=True: without a C compiler the install still succeeds and both loops run their numpy
twins (same results, more slowly). Everything else lives in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("autointerp.examples._kernels", ["autointerp/examples/_kernels.c"], optional=True)
    ]
)
