"""What `bench.seasons` measures, named once: the realistic market size and the season rule
it judges. `bench.validity` states the same figures when it renders the section."""

REALISTIC = 216
"""Windows a day per detector: the realistic size of the window-level markets."""
SEASON_ALPHA, SEASON_NIGHTS = 0.05, 90  # the rule measured here (learning.yaml: opt-in)
