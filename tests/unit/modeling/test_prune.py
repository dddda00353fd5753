"""Width pruning: fewer SwiGLU units, the least important ones dropped, every other weight kept."""

import pytest
import torch

from modeling.config import load_role_config
from modeling.model import Transformer
from modeling.prune import PruneError, prune, unit_importance


def _model(**changes) -> Transformer:
    torch.manual_seed(0)
    return Transformer(load_role_config("teacher_tiny").model.model_copy(update=changes)).eval()


def test_pruning_to_the_same_width_is_the_identity():
    source = _model()
    x = torch.randint(3, source.config.vocab_size, (2, 24))
    pruned = prune(source, source.config, x).eval()
    with torch.no_grad():
        assert torch.equal(pruned(x), source(x))


def test_the_least_important_units_go_and_the_rest_of_the_model_stays():
    source = _model()
    cfg = source.config
    x = torch.randint(3, cfg.vocab_size, (2, 24))
    dead = [3, 10, 50]  # units that write nothing into the residual stream: importance 0
    with torch.no_grad():
        for layer in source.model.layers:
            layer.mlp.down_proj.weight[:, dead] = 0.0
    assert all(float(imp[dead].max()) == 0.0 for imp in unit_importance(source, x))
    target = cfg.model_copy(update={"intermediate_size": cfg.intermediate_size - len(dead)})
    pruned = prune(source, target, x).eval()
    keep = [i for i in range(cfg.intermediate_size) if i not in dead]
    for a, b in zip(source.model.layers, pruned.model.layers, strict=True):
        assert torch.equal(b.mlp.gate_proj.weight, a.mlp.gate_proj.weight[keep])
        assert torch.equal(b.mlp.down_proj.weight, a.mlp.down_proj.weight[:, keep])
        assert torch.equal(b.self_attn.q_proj.weight, a.self_attn.q_proj.weight)
    with torch.no_grad():  # the removed units contributed nothing, so the function is unchanged
        assert torch.allclose(pruned(x), source(x), atol=1e-5)


def test_only_a_narrower_mlp_is_a_pruned_config():
    source = _model()
    x = torch.randint(3, source.config.vocab_size, (1, 8))
    with pytest.raises(PruneError, match="n_layers"):
        prune(source, source.config.model_copy(update={"n_layers": 1}), x)
    with pytest.raises(PruneError, match="larger"):
        prune(source, source.config.model_copy(update={"intermediate_size": 1024}), x)
