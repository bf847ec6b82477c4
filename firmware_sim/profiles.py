"""Named technique profiles of the running-gait model.

Values follow the running-technique literature for recreational runners: cadence 150-160
steps/min with a long step and a 20-25 deg heel strike for an overstrider, 175-185 steps/min
for an efficient runner, contact times 0.20-0.30 s at 3-4 m/s, foot strike classes by Altman &
Davis (2012). Every profile starts and ends with a few seconds of standing.
"""

from __future__ import annotations

from dataclasses import replace

from firmware_sim.params import (
    Asymmetry,
    Drift,
    GaitParams,
    Mode,
    Profile,
    Segment,
)

EFFICIENT = GaitParams(
    speed_mps=3.3,
    cadence_spm=180.0,
    contact_time_s=0.235,
    strike_angle_deg=4.0,
    landing_distance_m=0.20,
    toe_off_angle_deg=-38.0,
    clearance_m=0.26,
)
OVERSTRIDER = GaitParams(
    speed_mps=3.0,
    cadence_spm=155.0,
    contact_time_s=0.285,
    strike_angle_deg=22.0,
    landing_distance_m=0.38,
    toe_off_angle_deg=-34.0,
    clearance_m=0.22,
)
FOREFOOT = GaitParams(
    speed_mps=3.6,
    cadence_spm=182.0,
    contact_time_s=0.210,
    strike_angle_deg=-8.0,
    landing_distance_m=0.16,
    toe_off_angle_deg=-42.0,
    clearance_m=0.30,
)
WALK = GaitParams(
    speed_mps=1.4,
    cadence_spm=112.0,
    contact_time_s=0.62,
    strike_angle_deg=20.0,
    landing_distance_m=0.30,
    toe_off_angle_deg=-50.0,
    clearance_m=0.10,
    step_width_m=0.10,
)


def _stand(seconds: float) -> Segment:
    return Segment(Mode.STAND, seconds)


def _run(seconds: float, params: GaitParams, drift: Drift | None = None) -> Segment:
    return Segment(Mode.RUN, seconds, params, drift)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "heel-overstrider",
            "Low cadence (~155 spm), long steps landing far ahead of the hips, 22 deg heel strike.",
            (_stand(4.0), _run(600.0, OVERSTRIDER), _stand(4.0)),
        ),
        Profile(
            "efficient-midfoot",
            "Cadence ~180 spm, landing close under the hips, near-flat midfoot strike, one turn.",
            (
                _stand(4.0),
                _run(120.0, EFFICIENT),
                _run(9.0, replace(EFFICIENT, turn_rate_dps=20.0)),
                _run(470.0, EFFICIENT),
                _stand(4.0),
            ),
        ),
        Profile(
            "forefoot",
            "Forefoot strike (-8 deg), short contact, cadence ~182 spm.",
            (_stand(4.0), _run(600.0, FOREFOOT), _stand(4.0)),
        ),
        Profile(
            "fatiguing",
            "Starts efficient and drifts into overstriding over 30 min: cadence falls, "
            "strike angle and landing distance rise, contact lengthens.",
            (
                _stand(4.0),
                _run(
                    1800.0,
                    replace(
                        EFFICIENT, cadence_spm=176.0, strike_angle_deg=6.0, landing_distance_m=0.22
                    ),
                    Drift(
                        1800.0,
                        {
                            "cadence_spm": -14.0,
                            "strike_angle_deg": 12.0,
                            "landing_distance_m": 0.13,
                            "contact_time_s": 0.035,
                            "speed_mps": -0.25,
                        },
                    ),
                ),
                _stand(4.0),
            ),
        ),
        Profile(
            "walk-run",
            "Run/walk intervals with standing breaks.",
            (
                _stand(6.0),
                Segment(Mode.WALK, 45.0, WALK),
                _run(120.0, EFFICIENT),
                Segment(Mode.WALK, 45.0, WALK),
                _stand(15.0),
                _run(120.0, EFFICIENT),
                Segment(Mode.WALK, 45.0, WALK),
                _stand(6.0),
            ),
        ),
        Profile(
            "asymmetric",
            "Efficient runner whose right foot lands harder, further ahead and stays down longer.",
            (_stand(4.0), _run(600.0, replace(EFFICIENT, strike_angle_deg=6.0)), _stand(4.0)),
            asymmetry=Asymmetry(
                contact_time_s=0.025,
                strike_angle_deg=7.0,
                landing_distance_m=0.05,
                clearance_m=-0.04,
                step_time_ratio=1.05,
            ),
        ),
        Profile(
            "standing",
            "Standing still: no strides at all.",
            (_stand(60.0),),
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The named profile; an unknown name is an error listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"profile = {name!r} is unknown; allowed: {', '.join(PROFILES)}") from None
