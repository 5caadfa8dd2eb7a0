"""Helpers for the plugin's own tests: real redis-server processes and pytester runs."""
