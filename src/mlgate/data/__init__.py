"""Data: loading and fingerprints, schema, reference profiles, drift, demo data."""
