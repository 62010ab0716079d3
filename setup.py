"""The one compiled part: two loops of the examples stage (autointerp/examples/_kernels.c).

optional=True: without a C compiler the install still succeeds and `windows.py` uses its numpy
search, which finds the same windows more slowly. Everything else lives in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "autointerp.examples._kernels",
            ["autointerp/examples/_kernels.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
