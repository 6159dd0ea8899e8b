"""SASRec and GRU4Rec networks: shapes, causality, padding, shared output embeddings."""

from __future__ import annotations

import pytest
import torch

from mtrec_ray.errors import ConfigError
from mtrec_ray.models.gru4rec import GRU4Rec, GRU4RecConfig
from mtrec_ray.models.sasrec import SASRec, SASRecConfig

N_ITEMS, L = 20, 6
PAD = N_ITEMS


def _models() -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [
        SASRec(n_items=N_ITEMS, max_len=L, config=SASRecConfig(dim=8, num_blocks=2, num_heads=2, dropout=0.3)).eval(),
        GRU4Rec(n_items=N_ITEMS, max_len=L, config=GRU4RecConfig(dim=8, hidden=12, num_layers=2)).eval(),
    ]


@pytest.mark.parametrize("model", _models(), ids=["sasrec", "gru4rec"])
def test_shapes_and_shared_output_embeddings(model):
    seqs = torch.tensor([[PAD, PAD, 1, 2, 3, 4], [5, 6, 7, 8, 9, 10]])
    assert model.encode(seqs).shape == (2, L, 8)
    assert model(seqs).shape == (2, N_ITEMS)  # last position, padding never scored
    mask = seqs != PAD
    assert model(seqs, mask).shape == (int(mask.sum()), N_ITEMS)
    assert model.item_vectors().data_ptr() == model.item_emb.weight.data_ptr()  # shared
    h = model.encode(seqs)[:, -1]
    torch.testing.assert_close(model(seqs), h @ model.item_emb.weight[:N_ITEMS].T)


@pytest.mark.parametrize("model", _models(), ids=["sasrec", "gru4rec"])
def test_causal_a_future_item_does_not_change_earlier_outputs(model):
    a = torch.tensor([[PAD, 1, 2, 3, 4, 5]])
    b = a.clone()
    b[0, 4] = 17  # change the item at position 4
    ha, hb = model.encode(a), model.encode(b)
    torch.testing.assert_close(ha[:, :4], hb[:, :4])
    assert not torch.allclose(ha[:, 4:], hb[:, 4:])


@pytest.mark.parametrize("model", _models(), ids=["sasrec", "gru4rec"])
def test_padding_is_masked(model):
    # the same three items with 3 or 0 padding positions give the same outputs
    padded = model.encode(torch.tensor([[PAD, PAD, PAD, 1, 2, 3]]))[:, 3:]
    short = model.encode(torch.tensor([[1, 2, 3]]))
    torch.testing.assert_close(padded, short)
    # an all-padding history still gives finite scores
    assert torch.isfinite(model(torch.full((1, L), PAD))).all()


def test_sasrec_padding_embedding_stays_zero_under_training():
    torch.manual_seed(0)
    model = SASRec(n_items=N_ITEMS, max_len=L, config=SASRecConfig(dim=8, num_blocks=1))
    seqs = torch.tensor([[PAD, PAD, 1, 2, 3, 4]])
    model(seqs, seqs != PAD).logsumexp(-1).sum().backward()
    assert model.item_emb.weight.grad[PAD].abs().sum() == 0


def test_config_validation_messages():
    with pytest.raises(ConfigError, match="must divide"):
        SASRecConfig(dim=10, num_heads=3).validate()
    with pytest.raises(ConfigError, match="dropout"):
        GRU4RecConfig(dropout=1.0).validate()
