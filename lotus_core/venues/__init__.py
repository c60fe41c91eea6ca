"""Venue specifics at the edge, one package per venue (as nautilus_trader's adapters): what
a venue publishes about itself (its perp universe, ticks and lots, endpoints) lives in its
package, and the feed, the Trader and the settings read it from there."""
