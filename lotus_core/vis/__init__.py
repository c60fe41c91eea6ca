"""The vision module (`vis`): chart images in, a reading out.

A chart arrives through `intake.accept_chart` (the CLI, the Curator API's POST /charts and
the inbox folder of `inbox` alike), is checked and stored by its sha256 (`ingest`), read
into a price panel, OCR text, an axis fit, a digitised price path and pattern flags, each
with its confidence (`read`), embedded by the shape of its path (`embed`) and recorded as
a `vis_strand` row with the full reading beside it under LOTUS_HOME (`store`), where
`similar` finds the past charts whose paths looked the same; `outcomes` lays out a day's
charts and the realised mid return of each chart's coin after its time (the vis_strands
and vis_eval assets); `cards` draws each chart's card for the Dagster UI (the chart beside
its digitised series, confidences, outcome and similar past charts). `synth` and `render`
draw charts from known series so every step is measured against the truth (`measure`).
docs/vision.md describes the methods.
"""
