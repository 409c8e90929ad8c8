"""Deploying a shipped image: Kubernetes manifests now; the canary controller and its analysis
live here too once they land.
"""
