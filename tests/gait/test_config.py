from __future__ import annotations

import pytest

from gaitcoach.gait import GaitConfig


def test_defaults_are_valid_and_frozen() -> None:
    cfg = GaitConfig()
    with pytest.raises(AttributeError):
        cfg.min_stride_s = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("stance_search_s", 0.0),
        ("swing_min_gyr_radps", 100.0),
        ("rearfoot_above_deg", 90.0),
        ("max_dt_factor", 1.0),
        ("align_strides", 1),
        ("stuck_samples", "many"),
        ("min_rate_hz", 5.0),
        ("step_min_displacement_m", 0.0),
        ("walking_ic_window_s", 0.5),
        ("history_size", 1),
    ],
)
def test_out_of_range_names_parameter_and_range(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name) as err:
        GaitConfig(**{name: value})  # type: ignore[arg-type]
    assert "range" in str(err.value) or "number" in str(err.value)


def test_cross_field_rules() -> None:
    with pytest.raises(ValueError, match="min_stride_s"):
        GaitConfig(min_stride_s=2.0, max_stride_s=1.0)
    with pytest.raises(ValueError, match="forefoot_below_deg"):
        GaitConfig(forefoot_below_deg=10.0, rearfoot_above_deg=5.0)
    with pytest.raises(ValueError, match="align_window_s"):
        GaitConfig(align_step_s=10.0, align_window_s=5.0)


def test_toe_speed_levels_must_be_geometric_and_increasing() -> None:
    assert GaitConfig(toe_speed_levels_mps=(0.2, 0.4, 0.8)).toe_speed_levels_mps[2] == 0.8
    for bad in [(0.4, 0.2, 0.8), (0.2, 0.4, 0.9), (0.0, 0.0, 0.0)]:
        with pytest.raises(ValueError, match="toe_speed_levels_mps"):
            GaitConfig(toe_speed_levels_mps=bad)
