"""Subject models, hookpoints and sparse coders (SAEs and transcoders).

Submodules import torch/transformers; this package file stays light, so import from them:
`autointerp.models.subject`, `autointerp.models.hookpoints`, `autointerp.models.sparse_coders`.
"""
