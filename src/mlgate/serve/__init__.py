"""The model server: FastAPI app factory, predictor runtimes, micro-batching, prediction log."""
