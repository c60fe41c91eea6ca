"""A second synthetic market: queue-reactive order flow, hourly funding, planted effects
whose contexts are the market's own state (docs/flowmarket.md).

Written from a different model than `lotus_core.synth` (which draws a latent mid path and
dresses it with a book); here the book is built from the order flow, the mid moves when a
best queue empties, and the planted move is a shift of the reference price, so a planted
market and its null twin share every random draw. Recordings and truth files have the
same names and wire format as synth's, written by synth's encoders and writer.
Pure Python + numpy; never imports dagster.
"""

from lotus_core.flowmarket.generator import generate_day, generate_days
from lotus_core.flowmarket.spec import (
    DecoySpec,
    FlowSpec,
    InteractionSpec,
    default_flow_spec,
    load_flow_spec,
    null_flow_spec,
)
from lotus_core.flowmarket.truth import DECOY, FLOW_TRUTH_VERSION, INTERACTION

__all__ = [
    "DECOY",
    "FLOW_TRUTH_VERSION",
    "INTERACTION",
    "DecoySpec",
    "FlowSpec",
    "InteractionSpec",
    "default_flow_spec",
    "generate_day",
    "generate_days",
    "load_flow_spec",
    "null_flow_spec",
]
