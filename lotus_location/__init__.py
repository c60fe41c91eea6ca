"""The Dagster code location: the one place that composes the areas (lotus_assets' chain,
lotus_sensors' jobs, sensors and schedules, lotus_bus) into `Definitions`, so no area
imports another's composition and lotus_assets never imports lotus_sensors."""
