"""mlgate: CI/CD and continuous training for machine-learning models."""

__version__ = "0.1.0"
