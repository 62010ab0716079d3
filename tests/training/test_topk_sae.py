"""The TopK SAE's math: sparse gradients equal dense autograd, unit-norm decoder, dead latents."""

from __future__ import annotations

import torch

from autointerp.training.topk_sae import TopKSae, fraction_of_variance_unexplained


def dense_reference(sae: TopKSae, x: torch.Tensor, k: int) -> torch.Tensor:
    """A plain dense TopK SAE forward written independently: returns the reconstruction."""
    pre = torch.relu((x - sae.b_dec.detach()) @ sae.encoder.weight.T + sae.encoder.bias)
    idx = pre.topk(k, dim=1).indices
    z = torch.zeros_like(pre).scatter(1, idx, pre.gather(1, idx))
    return z @ sae.W_dec + sae.b_dec


def grads(sae: TopKSae) -> list[torch.Tensor]:
    """Copies of the four parameters' gradients."""
    return [p.grad.clone() for p in (sae.encoder.weight, sae.encoder.bias, sae.W_dec, sae.b_dec)]


def test_sparse_backward_matches_dense_autograd():
    torch.manual_seed(0)
    sae = TopKSae(16, 64, 4)
    with torch.no_grad():
        sae.b_dec.normal_()
    x = torch.randn(50, 16)
    out = sae(x)
    out.fvu.backward()
    ours = grads(sae)
    sae.zero_grad()
    reference = dense_reference(sae, x, 4)
    torch.testing.assert_close(out.output, reference)
    fraction_of_variance_unexplained(x, reference).backward()
    for a, b in zip(ours, grads(sae)):
        torch.testing.assert_close(a, b)


def test_fvu_is_one_for_the_mean_and_zero_for_a_copy():
    x = torch.randn(100, 8)
    assert fraction_of_variance_unexplained(x, x.mean(0).expand_as(x)).item() == 1.0
    assert fraction_of_variance_unexplained(x, x.clone()).item() == 0.0


def test_decoder_rows_stay_unit_norm_through_training():
    torch.manual_seed(0)
    sae = TopKSae(16, 64, 4)
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-2)
    x = torch.randn(256, 16) * 3
    for _ in range(30):
        out = sae(x)
        optimizer.zero_grad()
        (out.fvu + out.aux_loss).backward()
        sae.remove_gradient_parallel_to_decoder_rows()
        # After the projection no row's gradient points along the row itself.
        assert (sae.W_dec.grad * sae.W_dec).sum(1).abs().max() < 1e-6
        optimizer.step()
        sae.set_decoder_norm_to_unit_norm()
        torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(64))


def test_dead_latent_bookkeeping_counts_tokens_since_firing():
    sae = TopKSae(4, 8, 2, dead_tokens_threshold=10)
    indices = torch.tensor([[0, 1], [0, 2], [3, 1]])
    values = torch.tensor([[1.0, 2.0], [0.5, 0.0], [1.0, 1.0]])  # latent 2 was picked but is zero
    sae.update_dead(indices, values)
    assert sae.tokens_since_fired.tolist() == [0, 0, 3, 0, 3, 3, 3, 3]
    for _ in range(3):
        sae.update_dead(indices[:1], values[:1])  # only latents 0 and 1 fire
    assert sae.tokens_since_fired.tolist() == [0, 0, 6, 3, 6, 6, 6, 6]
    sae.update_dead(torch.tensor([[3, 0]] * 5), torch.ones(5, 2))
    assert sae.dead_mask().tolist() == [False, False, True, False, True, True, True, True]


def test_aux_loss_is_zero_without_dead_latents_and_trains_only_dead_ones():
    torch.manual_seed(0)
    sae = TopKSae(16, 64, 4, aux_k=8, dead_tokens_threshold=100)
    x = torch.randn(32, 16)
    assert sae(x).aux_loss.item() == 0.0
    dead = torch.zeros(64, dtype=torch.bool)
    dead[40:] = True
    sae.tokens_since_fired[dead] = 10_000  # latents 40..63 are dead
    sae.zero_grad()
    out = sae(x)
    assert out.n_dead == 24 and out.aux_loss.item() > 0
    out.aux_loss.backward()
    encoder_grad = sae.encoder.weight.grad.abs().sum(1)
    assert encoder_grad[:40].max() == 0  # live latents get no AuxK gradient
    assert encoder_grad[40:].max() > 0


def test_aux_loss_revives_dead_latents():
    """Latents that never win the TopK start firing again once AuxK trains them on the residual."""
    torch.manual_seed(0)
    d_in, n = 16, 64

    def run(aux_coef: float) -> int:
        torch.manual_seed(1)
        sae = TopKSae(d_in, n, 2, aux_k=16, dead_tokens_threshold=256)
        with torch.no_grad():  # half the latents are too weak ever to win the TopK
            sae.encoder.weight[n // 2:] *= 0.02
        optimizer = torch.optim.Adam(sae.parameters(), lr=3e-3)
        generator = torch.Generator().manual_seed(2)
        for _ in range(150):
            x = torch.randn(256, d_in, generator=generator)
            out = sae(x)
            optimizer.zero_grad()
            (out.fvu + aux_coef * out.aux_loss).backward()
            sae.remove_gradient_parallel_to_decoder_rows()
            optimizer.step()
            sae.set_decoder_norm_to_unit_norm()
        return int(sae.dead_mask().sum())

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: a thread pool only adds overhead on a shared machine
    try:
        without, with_aux = run(0.0), run(1.0)
    finally:
        torch.set_num_threads(threads)
    assert without >= n // 2 - 2
    assert with_aux < without // 2
