"""Packaging a model bundle for production: image build, smoke test, push, workflow templates.

Modules:
    engine      the container engine (podman or docker) found on PATH, behind one small class
    context     the hermetic build context: Dockerfile, host-built wheels, the bundle
    build       `mlgate build`: plan (tag, labels) apart from doing (engine build + smoke test)
    smoke       run the image on a loopback port and compare its answer with the bundle's own
    push        `mlgate push`: push to any OCI registry, return the pushed digest
    workflows   the GitHub Actions workflows that `mlgate init` writes

Nothing here is imported by `mlgate --help`; every command imports what it needs when it runs.
"""
