"""Measurements the service can expose about itself."""
