"""Each sparse coder format, written to disk here, encodes exactly as a numpy hand encode."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from autointerp.models.sparse_coders import (
    JumpReluCoder,
    TopKCoder,
    check_compatible,
    load_sparse_coders,
)

D_IN, D_SAE, N = 32, 96, 40


def _weights(seed: int, d_out: int = D_IN) -> dict[str, np.ndarray]:
    """Random SAE weights, float32, with W_enc laid out [d_in, d_sae]."""
    rng = np.random.default_rng(seed)
    return {
        "W_enc": rng.normal(size=(D_IN, D_SAE)).astype(np.float32) / np.sqrt(D_IN),
        "b_enc": rng.normal(scale=0.1, size=D_SAE).astype(np.float32),
        "W_dec": rng.normal(size=(D_SAE, d_out)).astype(np.float32),
        "b_dec": rng.normal(scale=0.5, size=d_out).astype(np.float32),
        "threshold": rng.uniform(0.05, 0.4, size=D_SAE).astype(np.float32),
    }


def _x(seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, D_IN)).astype(np.float32)


def _hand_topk(pre: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(pre)
    for i, row in enumerate(pre):
        top = np.argsort(-row)[:k]
        out[i, top] = np.maximum(row[top], 0)
    return out


def _coo_to_dense(coder, x: np.ndarray) -> np.ndarray:
    token, latent, value = coder.encode(torch.from_numpy(x))
    assert token.dtype == latent.dtype == torch.int64 and value.dtype == torch.float32
    assert bool((value != 0).all()), "encode returns nonzeros only"
    dense = np.zeros((len(x), coder.d_sae), dtype=np.float32)
    dense[token.numpy(), latent.numpy()] = value.numpy()
    assert len(set(zip(token.tolist(), latent.tolist()))) == len(token), "no duplicate (token, latent)"
    return dense


def _write_sparsify(folder, w, k, transcode=False, **cfg):
    folder.mkdir(parents=True)
    config = {"expansion_factor": D_SAE // D_IN, "num_latents": 0, "k": k, "transcode": transcode, "d_in": D_IN, **cfg}
    (folder / "cfg.json").write_text(json.dumps(config))
    save_file({"encoder.weight": np.ascontiguousarray(w["W_enc"].T), "encoder.bias": w["b_enc"],
               "W_dec": w["W_dec"], "b_dec": w["b_dec"]}, str(folder / "sae.safetensors"))


def _write_saelens(folder, w, config):
    folder.mkdir(parents=True)
    (folder / "cfg.json").write_text(json.dumps({"d_in": D_IN, "d_sae": D_SAE, **config}))
    keys = ["W_enc", "b_enc", "W_dec", "b_dec"] + (["threshold"] if "jumprelu" in json.dumps(config) else [])
    save_file({key: w[key] for key in keys}, str(folder / "sae_weights.safetensors"))


def test_sparsify_topk_sae(tmp_path):
    w, x = _weights(1), _x()
    _write_sparsify(tmp_path / "layers.2", w, k=5)
    _write_sparsify(tmp_path / "layers.3", _weights(2), k=3)
    coders = load_sparse_coders(str(tmp_path), ["layers.2"])
    assert list(coders) == ["layers.2"]
    coder = coders["layers.2"]
    assert isinstance(coder, TopKCoder) and (coder.d_in, coder.d_sae, coder.k) == (D_IN, D_SAE, 5)
    assert coder.hookpoint == "layers.2" and not coder.transcoder
    pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]  # sparsify subtracts b_dec from an SAE's input
    np.testing.assert_allclose(_coo_to_dense(coder, x), _hand_topk(pre, 5), rtol=1e-5, atol=1e-5)
    assert sorted(load_sparse_coders(str(tmp_path))) == ["layers.2", "layers.3"]


def test_sparsify_transcoder_reads_input_without_b_dec(tmp_path):
    w, x = _weights(3), _x()
    _write_sparsify(tmp_path / "layers.1.mlp", w, k=4, transcode=True)
    coder = load_sparse_coders(str(tmp_path), ["layers.1.mlp"])["layers.1.mlp"]
    assert coder.transcoder
    pre = x @ w["W_enc"] + w["b_enc"]
    np.testing.assert_allclose(_coo_to_dense(coder, x), _hand_topk(pre, 4), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("apply_b_dec", [True, False])
def test_saelens_relu(tmp_path, apply_b_dec):
    w, x = _weights(4), _x()
    _write_saelens(tmp_path / "sae", w, {"architecture": "standard", "apply_b_dec_to_input": apply_b_dec})
    coder = load_sparse_coders(str(tmp_path / "sae"), ["layers.1"])["layers.1"]
    pre = (x - w["b_dec"] * apply_b_dec) @ w["W_enc"] + w["b_enc"]
    np.testing.assert_allclose(_coo_to_dense(coder, x), np.maximum(pre, 0), rtol=1e-5, atol=1e-5)
    recon = coder.decode(torch.from_numpy(np.maximum(pre, 0))).numpy()
    np.testing.assert_allclose(recon, np.maximum(pre, 0) @ w["W_dec"] + w["b_dec"], rtol=1e-4, atol=1e-4)


def test_saelens_topk_old_style_config(tmp_path):
    w, x = _weights(5), _x()
    _write_saelens(tmp_path / "layers.0", w, {"activation_fn_str": "topk", "activation_fn_kwargs": {"k": 6},
                                              "apply_b_dec_to_input": False})
    coder = load_sparse_coders(str(tmp_path), ["layers.0"])["layers.0"]
    assert isinstance(coder, TopKCoder) and coder.k == 6
    pre = x @ w["W_enc"] + w["b_enc"]
    np.testing.assert_allclose(_coo_to_dense(coder, x), _hand_topk(pre, 6), rtol=1e-5, atol=1e-5)


def test_saelens_jumprelu_transcoder(tmp_path):
    w, x = _weights(6, d_out=D_IN + 8), _x()
    _write_saelens(tmp_path / "layers.2.mlp", w, {"architecture": "jumprelu_transcoder", "d_out": D_IN + 8,
                                                  "apply_b_dec_to_input": False})
    coder = load_sparse_coders(str(tmp_path), ["layers.2.mlp"])["layers.2.mlp"]
    assert isinstance(coder, JumpReluCoder) and coder.transcoder and coder.d_out == D_IN + 8
    pre = x @ w["W_enc"] + w["b_enc"]
    expected = pre * (pre > w["threshold"])
    np.testing.assert_allclose(_coo_to_dense(coder, x), expected, rtol=1e-5, atol=1e-5)


def test_gemma_scope_jumprelu(tmp_path):
    w, x = _weights(7), _x()
    (tmp_path / "layers.3").mkdir()
    np.savez(tmp_path / "layers.3" / "params.npz", **w)
    coder = load_sparse_coders(str(tmp_path), ["layers.3"], dtype=torch.float32)["layers.3"]
    assert isinstance(coder, JumpReluCoder) and not coder.transcoder
    pre = x @ w["W_enc"] + w["b_enc"]
    dense = _coo_to_dense(coder, x)
    np.testing.assert_allclose(dense, pre * (pre > w["threshold"]), rtol=1e-5, atol=1e-5)
    assert 0 < (dense != 0).mean() < 1
    assert load_sparse_coders(str(tmp_path), ["layers.3"], transcode=True)["layers.3"].transcoder


def test_gemma_scope_refuses_pickled_arrays(tmp_path):
    w = _weights(8)
    w["W_enc"] = np.array([object()] * 3, dtype=object)
    (tmp_path / "layers.3").mkdir()
    np.savez(tmp_path / "layers.3" / "params.npz", **w)
    with pytest.raises(ValueError, match="cannot read .*params.npz"):
        load_sparse_coders(str(tmp_path), ["layers.3"])


def test_bfloat16_load(tmp_path):
    _write_sparsify(tmp_path / "layers.2", _weights(9), k=5)
    coder = load_sparse_coders(str(tmp_path), ["layers.2"], dtype=torch.bfloat16)["layers.2"]
    token, latent, value = coder.encode(torch.from_numpy(_x()))
    assert value.dtype == torch.bfloat16 and len(token) == N * 5


# ---- bad input: clear errors naming the setting ----

def test_missing_weights_file_is_named(tmp_path):
    _write_sparsify(tmp_path / "layers.2", _weights(1), k=5)
    (tmp_path / "layers.2" / "sae.safetensors").unlink()
    with pytest.raises(ValueError, match=r"sparse_model: .*layers\.2 is incomplete: sae\.safetensors is missing"):
        load_sparse_coders(str(tmp_path), ["layers.2"])


def test_missing_config_is_named(tmp_path):
    _write_sparsify(tmp_path / "layers.2", _weights(1), k=5)
    (tmp_path / "layers.2" / "cfg.json").unlink()
    with pytest.raises(ValueError, match=r"incomplete: cfg\.json is missing"):
        load_sparse_coders(str(tmp_path), ["layers.2"])


def test_saelens_missing_weights_named(tmp_path):
    _write_saelens(tmp_path / "layers.2", _weights(1), {"architecture": "standard"})
    (tmp_path / "layers.2" / "sae_weights.safetensors").unlink()
    with pytest.raises(ValueError, match=r"sae_weights\.safetensors is missing"):
        load_sparse_coders(str(tmp_path), ["layers.2"])


def test_corrupt_weights_and_missing_tensor(tmp_path):
    _write_sparsify(tmp_path / "layers.2", _weights(1), k=5)
    (tmp_path / "layers.2" / "sae.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=r"sparse_model: cannot read .*sae\.safetensors"):
        load_sparse_coders(str(tmp_path), ["layers.2"])
    save_file({"encoder.weight": np.zeros((D_SAE, D_IN), np.float32)}, str(tmp_path / "layers.2" / "sae.safetensors"))
    with pytest.raises(ValueError, match=r"lacks tensor\(s\) \['encoder.bias', 'W_dec', 'b_dec'\]"):
        load_sparse_coders(str(tmp_path), ["layers.2"])


def test_empty_folder_and_missing_path(tmp_path):
    (tmp_path / "layers.2").mkdir()
    with pytest.raises(ValueError, match="holds no sparse coder: expected cfg.json"):
        load_sparse_coders(str(tmp_path), ["layers.2"])
    with pytest.raises(ValueError, match="neither an existing folder nor a hub id"):
        load_sparse_coders(str(tmp_path / "nope" / "deeper"), ["layers.2"])


def test_unknown_hookpoint_in_folder_lists_available(tmp_path):
    _write_sparsify(tmp_path / "layers.2", _weights(1), k=5)
    _write_sparsify(tmp_path / "layers.3", _weights(2), k=5)
    with pytest.raises(ValueError, match=r"hookpoints: .*no sparse coder for hookpoint 'layers.9'.*\['layers.2', 'layers.3'\]"):
        load_sparse_coders(str(tmp_path), ["layers.2", "layers.9"])


def test_unsupported_saelens_architecture(tmp_path):
    _write_saelens(tmp_path / "layers.2", _weights(1), {"architecture": "gated"})
    with pytest.raises(ValueError, match="activation 'gated' is not supported"):
        load_sparse_coders(str(tmp_path), ["layers.2"])


def test_check_compatible(tmp_path, tiny_llama):
    _write_sparsify(tmp_path / "layers.2", _weights(1), k=5)
    coders = load_sparse_coders(str(tmp_path), ["layers.2"])
    check_compatible(coders, tiny_llama)  # hidden size 32 == D_IN
    wide = {"layers.2": TopKCoder(torch.zeros(8, 48), torch.zeros(8), torch.zeros(8, 48), torch.zeros(48), k=2)}
    with pytest.raises(ValueError, match=r"sparse_model: .*'layers.2' reads d_in=48, but the model's hidden size is 32"):
        check_compatible(wide, tiny_llama)
    coders["layers.7"] = coders.pop("layers.2")
    with pytest.raises(ValueError, match=r"hookpoints: unknown hookpoint\(s\) \['layers.7'\]"):
        check_compatible(coders, tiny_llama)


def test_saelens_jumprelu_with_log_threshold(tmp_path):
    w, x = _weights(10), _x()
    folder = tmp_path / "layers.1"
    folder.mkdir()
    (folder / "cfg.json").write_text(json.dumps({"d_in": D_IN, "d_sae": D_SAE, "architecture": "jumprelu"}))
    tensors = {key: w[key] for key in ("W_enc", "b_enc", "W_dec", "b_dec")}
    save_file({**tensors, "log_threshold": np.log(w["threshold"])}, str(folder / "sae_weights.safetensors"))
    coder = load_sparse_coders(str(tmp_path), ["layers.1"])["layers.1"]
    pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]  # no apply_b_dec_to_input: SAELens' default, True
    np.testing.assert_allclose(_coo_to_dense(coder, x), pre * (pre > w["threshold"]), rtol=1e-5, atol=1e-5)
    save_file(tensors, str(folder / "sae_weights.safetensors"))
    with pytest.raises(ValueError, match=r"lacks tensor\(s\) \['threshold'\] for a jumprelu SAE"):
        load_sparse_coders(str(tmp_path), ["layers.1"])
