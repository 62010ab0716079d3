"""The examples stage's compiled loops (`_kernels.c`), or None when the package was installed
without a C compiler; each caller then runs its numpy twin, which gives the same result."""

try:
    from autointerp.examples import _kernels as kernels
except ImportError:
    kernels = None
