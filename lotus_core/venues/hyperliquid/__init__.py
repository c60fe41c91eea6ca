"""Hyperliquid: its perp universe (`universe`: the shipped snapshot of the info endpoint's
`meta`), its instruments (`instruments`: szDecimals, lots and the price rule's ticks;
`numfmt`: prices and sizes written as the venue writes them), its fee schedule (`fees`), its
websocket endpoints (`endpoints`) and wire format: channel names, subscriptions, acks and
routing (`wire`), typed decoding of the data channels (`decode`) and encoding frames as the
venue sends them (`encode`)."""
