"""Schedules and sensors: when the learning chain runs."""
