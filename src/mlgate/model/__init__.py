"""Model: the training pipeline, metrics, gates and the model bundle."""
