"""The live path's pure parts: feed settings, reconnect backoff, staleness, the crash-safe
recorder and the streaming form of the MicroTape and scoring (used by lotus_daemon)."""
