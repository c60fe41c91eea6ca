"""Activation across nights: a season's error budget spent night by night (alpha spending).

Lessons persist and every proposed rule is re-tested each night on a sliding window, so a
per-night family-wise bound alone says nothing about a season: a false rule gets a new chance
every night. With `activation.season_alpha` set, each night may spend at most
season_alpha / season_nights of it (and never more than `family_alpha`):

  P(any false lesson is activated in ANY run of season_nights consecutive nights)
    <= sum over those nights of P(a false rule clears that night's bars)
    <= season_nights * night_alpha <= season_alpha,

by the union bound over nights on top of the union bound over each night's (rule, sign)
family (`lessons.z_crits`). No independence between nights is assumed (the windows overlap
by 13 of 14 days), and no season start is needed: the bound holds for every run of nights,
which is what makes it valid at any time. Only activation spends budget: an active lesson is
kept or sunset by the window and the watchdog, never re-activated without a new test.
"""

from __future__ import annotations

from lotus_core.learning.config import ActivationConfig


def night_alpha(act: ActivationConfig) -> float:
    """The family-wise error one night's activations may spend."""
    if act.season_alpha is None:
        return act.family_alpha
    return min(act.family_alpha, act.season_alpha / act.season_nights)


def season_bound(act: ActivationConfig, nights: int) -> float:
    """The union bound on P(any false activation) over `nights` consecutive nights."""
    return min(1.0, nights * night_alpha(act))
