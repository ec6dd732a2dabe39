"""How a model's name reads to a person.

HiBayES names a model by its function's name directly followed by its tag
(`linear_group_binomial` + `main_effects` -> `linear_group_binomialmain_effects`). That glued name
is a key (fit files, partitions, plot and table names, `get_model`) and stays as it is; titles,
legends, log lines and table cells that people read show `linear_group_binomial (main_effects)`.
"""

from __future__ import annotations

from typing import Any


def display_name(model: Any) -> str:
    """`name (tag)` for a model state (`model_name` and `model_config.tag`) or a model spec
    (`model_name` and `tag`); the plain `model_name` when it has no tag, or when the name does
    not end with the tag (a custom state named otherwise)."""
    config = getattr(model, "model_config", model)
    tag = str(getattr(config, "tag", None) or "")
    name = str(model.model_name)
    if tag and name.endswith(tag) and name != tag:
        return f"{name[: -len(tag)]} ({tag})"
    return name
