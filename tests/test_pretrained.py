"""The models on hand: each loads, and reproduces on its validation split the metrics recorded when it was kept."""

import pytest

from samtl_lite import CheckpointError
from samtl_lite.pretrained import index, load_pretrained, validation_metrics

NAMES = sorted(index())


def test_the_models_the_notebooks_need_are_on_hand():
    assert {"synthetic-mtl", "synthetic-seg-only", "mt-mtl"} <= set(NAMES)
    for entry in index().values():
        assert "samtl " in entry["command"] and entry["recipe"]["encoder"] == "tiny"


@pytest.mark.parametrize("name", NAMES)
def test_each_model_reproduces_its_recorded_validation_metrics(name, request):
    entry = index()[name]
    if entry["recipe"]["data"] == "magnetic-tile":
        request.getfixturevalue("real_magnetic_tile")  # skips without the data, fails if SAMTL_DATA_DIR lacks it
    model, config, state = load_pretrained(name)
    assert state["thresholds"] == entry["thresholds"] and not model.training
    got = validation_metrics(model, config, state["thresholds"])
    assert got == pytest.approx(entry["val"], abs=1e-6)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(CheckpointError, match="no model on hand called 'nope'; choose from"):
        load_pretrained("nope")
