"""The one compiled part: the centered window search (autointerp/examples/_windows.c).

optional=True: without a C compiler the install still succeeds and `windows.py` uses its numpy
search, which finds the same windows more slowly. Everything else lives in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "autointerp.examples._windows",
            ["autointerp/examples/_windows.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
