"""Venue specifics at the edge, one package per venue (as nautilus_trader's adapters): what
a venue publishes about itself (its perp universe, ticks and lots, fees, endpoints, wire
format) lives in its package, and the feed, the synthetic markets, the Trader and the cost
model read it from there."""
