"""Configuration: the national registry, the probe's settings, vendors and municipality files."""
