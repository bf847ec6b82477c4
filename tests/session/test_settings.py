"""SessionSettings from a config mapping: good values pass, bad ones are one ConfigError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gaitcoach.errors import ConfigError
from gaitcoach.paths import schema_file
from gaitcoach.session.settings import SessionSettings


def test_from_dict_reads_values(tmp_path: Path) -> None:
    s = SessionSettings.from_dict(
        {
            "data_dir": str(tmp_path),
            "runner": "ann",
            "leg_length_m": 0.92,
            "flush_interval_s": 0.5,
        }
    )
    assert s.data_dir == tmp_path and s.runner == "ann" and s.leg_length_m == 0.92
    assert s.flush_interval_s == 0.5


def test_defaults_follow_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GAITCOACH_DATA_DIR", str(tmp_path / "d"))
    assert SessionSettings.from_dict({}).data_dir == tmp_path / "d"


@pytest.mark.parametrize(
    ("d", "key"),
    [
        ({"leg_length_m": 3.0}, "session.leg_length_m"),
        ({"leg_length_m": "long"}, "session.leg_length_m"),
        ({"target_cadence_spm": [185, 170]}, "session.target_cadence_spm"),  # now [runner]
        ({"flush_interval_s": 2.0}, "session.flush_interval_s"),
        ({"runner": ""}, "session.runner"),
        ({"min_free_bytes": -1}, "session.min_free_bytes"),
        ({"colour": "red"}, "session.colour"),
        # Path("") would be "." (wherever the service was started), not a choice.
        ({"data_dir": ""}, "session.data_dir"),
    ],
)
def test_bad_values_name_the_key(d: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        SessionSettings.from_dict(d)
    assert err.value.key == key and str(err.value).startswith(f"config: {key}")


def test_end_of_run_summary_is_the_published_json(tmp_path: Path) -> None:
    import json

    import jsonschema

    from gaitcoach.session import Recorder, end_of_run_summary
    from tests.session import factory

    settings = SessionSettings.from_dict({"data_dir": str(tmp_path)})
    # The runner's own target, recorded with the session as the service records its config.
    config = {"runner": {"cadence_target_spm": 180.0}}
    with Recorder(
        settings.data_dir, config=config, flush_interval_s=settings.flush_interval_s
    ) as rec:
        for s in factory.strides(factory.Runner(cadence_spm=172.0), 5.0):
            rec.add_stride(s)
    summary = end_of_run_summary(settings, rec.session_id)
    doc = summary.to_json()
    schema = json.loads(schema_file("summary").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)
    target = doc["cadence_target"]
    assert target["target_spm"] == 180.0 and target["source"] == "set to 180"
    assert target["low_spm"] == pytest.approx(180.0 * 0.96)  # the coach's cadence_enter_pct
    assert any(a["tip"] == "technique" for a in doc["advice"])  # 172 is below 172.8
    json.dumps(doc)  # plain JSON types only
