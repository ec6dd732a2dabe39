import pytest

from hibayes.process import PROCESSORS
from hibayes.registry import Registry, UnknownComponentError, make_decorator


def test_unknown_component_suggests_the_closest_name():
    with pytest.raises(UnknownComponentError, match="did you mean 'groupby'"):
        PROCESSORS.build("group_by")


def test_unknown_argument_is_named():
    with pytest.raises(TypeError, match="'feature_namez' \\(did you mean 'feature_names'"):
        PROCESSORS.build("drop_rows_with_missing_features", {"feature_namez": []})
    with pytest.raises(TypeError, match="did you mean 'feature_name'"):
        PROCESSORS.build("extract_observed_feature", {"feature_nme": "x"})


def test_decorator_registers_builders_with_and_without_name():
    registry: Registry = Registry("thing")
    thing = make_decorator(registry)

    @thing
    def first(a: int = 1):
        return lambda: a

    @thing(name="renamed")
    def second():
        return lambda: 2

    assert registry.names() == ["first", "renamed"]
    assert registry.build("first", {"a": 5})() == 5
