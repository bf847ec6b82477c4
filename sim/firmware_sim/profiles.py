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
    SwingEvents,
    UTurn,
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

SLOW_WALK = GaitParams(
    speed_mps=0.75,
    cadence_spm=92.0,
    contact_time_s=0.88,
    strike_angle_deg=14.0,
    landing_distance_m=0.22,
    toe_off_angle_deg=-35.0,
    clearance_m=0.08,
    step_width_m=0.12,
    toe_out_deg=8.0,
)
"""An older, slow walker: 0.75 m/s, 92 steps/min, long double support (contact 1.35 steps)."""
EVERYDAY_WALK = GaitParams(
    speed_mps=1.2,
    cadence_spm=106.0,
    contact_time_s=0.68,
    strike_angle_deg=18.0,
    landing_distance_m=0.27,
    toe_off_angle_deg=-45.0,
    clearance_m=0.09,
    step_width_m=0.10,
)
SLOW_PAUSE = SwingEvents(pause_after_to_s=(0.04, 0.08))
"""The foot nearly stops rotating for 40-80 ms after toe-off."""
KNOCKS = SwingEvents(knock_share=0.2, scuff_share=0.15, brake_share=1.0)
"""Knocks in a fifth of swings, scuffs in 15 %, a sharp brake before every landing."""
SLOW_WALK_EVENTS = SwingEvents(pause_after_to_s=(0.04, 0.08), knock_share=0.1, scuff_share=0.1)
"""An older walker's swings: pauses after toe-off, some knocks and scuffs."""


def _stand(seconds: float) -> Segment:
    return Segment(Mode.STAND, seconds)


def _run(seconds: float, params: GaitParams, drift: Drift | None = None) -> Segment:
    return Segment(Mode.RUN, seconds, params, drift)


def _walk(
    seconds: float,
    params: GaitParams,
    events: SwingEvents | None = None,
    u_turn: UTurn | None = None,
) -> Segment:
    return Segment(Mode.WALK, seconds, params, events=events, u_turn=u_turn, closing_step=True)


def _u_turns(count: int, params: GaitParams, events: SwingEvents | None = None) -> list[Segment]:
    """Walking segments that each start with a U-turn: 2, 3, 4 steps in turn, left and right."""
    return [
        _walk(8.0, params, events, UTurn(steps=2 + i % 3, left=i % 2 == 0)) for i in range(count)
    ]


def _trials(count: int) -> list[Segment]:
    """The protocol of the real walking sets: stand, walk, U-turn, walk back, stop."""
    out: list[Segment] = []
    for i in range(count):
        out += [
            _stand(5.0),
            _walk(6.0, SLOW_WALK, SLOW_WALK_EVENTS),
            _walk(7.0, SLOW_WALK, SLOW_WALK_EVENTS, UTurn(steps=2 + i % 3, left=i % 2 == 1)),
        ]
    return [*out, _stand(5.0)]


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
        Profile(
            "slow-walker",
            "Older, slow walker (0.75 m/s, 92 spm, long double support) whose foot nearly stops "
            "rotating for 40-80 ms after every toe-off.",
            (_stand(5.0), _walk(120.0, SLOW_WALK, SLOW_PAUSE), _stand(5.0)),
        ),
        Profile(
            "walk-knocks",
            "Walker (1.2 m/s) with knocks in 20 % and scuffs in 15 % of swings and a sharp "
            "deceleration of the foot 50-80 ms before every landing.",
            (_stand(5.0), _walk(120.0, EVERYDAY_WALK, KNOCKS), _stand(5.0)),
        ),
        Profile(
            "start-stop",
            "Ten walks of 8 s from standing to standing: initiation steps, closing steps.",
            (
                *[seg for _ in range(10) for seg in (_stand(4.0), _walk(8.0, EVERYDAY_WALK))],
                _stand(4.0),
            ),
        ),
        Profile(
            "u-turns",
            "Walking with a U-turn every 8 s (2, 3 or 4 steps, pivot steps, stance feet "
            "rotating on the ground), alternately left and right.",
            (_stand(4.0), _walk(8.0, EVERYDAY_WALK), *_u_turns(12, EVERYDAY_WALK), _stand(4.0)),
        ),
        Profile(
            "walk-trials",
            "Eight trials as in the real walking sets (stand, walk, U-turn, walk back, stop) by "
            "an older slow walker with pauses after toe-off, knocks and scuffs.",
            tuple(_trials(8)),
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The named profile; an unknown name is an error listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"profile = {name!r} is unknown; allowed: {', '.join(PROFILES)}") from None
