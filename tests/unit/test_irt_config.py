"""IRTConfig: YAML mapping -> dataclass, with clear errors."""

from __future__ import annotations

import pytest

from hibayes.irt.config import IRTConfig, IRTConfigError, parse_binarise_rule


def test_defaults_match_the_issue():
    cfg = IRTConfig()
    assert cfg.dims == 1 and cfg.model == "2pl" and cfg.k_neighbours == 20
    assert cfg.fit_method == "svi" and cfg.respondent == "model"
    assert cfg.binarise.op == ">" and cfg.binarise.threshold == 0.0


def test_from_mapping_with_aliases_and_yaml_section(tmp_path):
    cfg = IRTConfig.from_mapping({"D": 3, "model": "mirt", "k": 5, "new_models": "mockllm/aurora",
                                  "binarise": "score >= 0.5", "respondent": "model+scaffold"})
    assert cfg.dims == 3 and cfg.k_neighbours == 5 and cfg.new_models == ("mockllm/aurora",)
    assert cfg.binarise.op == ">=" and cfg.binarise.threshold == 0.5
    path = tmp_path / "analysis.yaml"
    path.write_text("model: {}\nirt:\n  n_anchors: 50\n  seed: 3\n  fit_method: map\n")
    cfg2 = IRTConfig.from_yaml(path)
    assert (cfg2.n_anchors, cfg2.seed, cfg2.fit_method) == (50, 3, "map")
    # round trip through the JSON-able dict
    assert IRTConfig.from_mapping(cfg.to_dict()) == cfg


def test_unknown_key_gets_did_you_mean():
    with pytest.raises(IRTConfigError, match=r"unknown key 'n_anchor'.*did you mean 'n_anchors'"):
        IRTConfig.from_mapping({"n_anchor": 10})
    with pytest.raises(IRTConfigError, match=r"k_neighbors|k_neighbours"):
        IRTConfig.from_mapping({"k_neighbour": 10})


def test_bad_values_are_named():
    with pytest.raises(IRTConfigError, match=r"fit_method: 'nut' .*did you mean 'nuts'"):
        IRTConfig.from_mapping({"fit_method": "nut"})
    with pytest.raises(IRTConfigError, match=r"dims: 2 needs model: mirt"):
        IRTConfig.from_mapping({"dims": 2})
    with pytest.raises(IRTConfigError, match=r"n_anchors: expected a positive integer"):
        IRTConfig.from_mapping({"n_anchors": 0})
    with pytest.raises(IRTConfigError, match=r"binarise: cannot read rule"):
        IRTConfig.from_mapping({"binarise": "score ~ 1"})
    with pytest.raises(IRTConfigError, match=r"respondent: 'models'.*did you mean 'model'"):
        IRTConfig.from_mapping({"respondent": "models"})


@pytest.mark.parametrize(
    ("rule", "op", "threshold"),
    [("score > 0", ">", 0.0), (">=0.5", ">=", 0.5), (0.25, ">", 0.25), (None, None, 0.0),
     ("none", None, 0.0), ("match_mean", "match_mean", 0.0)],
)
def test_parse_binarise_rule(rule, op, threshold):
    r = parse_binarise_rule(rule)
    assert r.op == op and r.threshold == threshold
