"""Hyperliquid's public websocket endpoints (the daemon's `feed.url` default)."""

MAINNET_URL = "wss://api.hyperliquid.xyz/ws"
TESTNET_URL = "wss://api.hyperliquid-testnet.xyz/ws"
