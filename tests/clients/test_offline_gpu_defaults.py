"""The offline transformers engine loads in bfloat16 on CUDA unless told otherwise (float32 on the CPU)."""

import pytest

import autointerp.models.subject as subject_module
from autointerp.clients.offline_transformers import TransformersEngine


class Asked(Exception):
    pass


@pytest.mark.parametrize("device,dtype,want", [("cuda", None, "bfloat16"), ("cuda:1", None, "bfloat16"),
                                               ("cuda", "float32", "float32"), ("cpu", None, None)])
def test_default_dtype_follows_the_device(monkeypatch, device, dtype, want):
    asked = {}

    def load_subject(model, *, dtype=None, device="cpu", load_in_8bit=False):
        asked.update(dtype=dtype, device=device)
        raise Asked  # stop before any weights load

    monkeypatch.setattr(subject_module, "load_subject", load_subject)
    with pytest.raises(Asked):
        TransformersEngine("some/model", device=device, dtype=dtype)
    assert asked == {"dtype": want, "device": device}
