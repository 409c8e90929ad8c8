"""Serving benchmark: the article's naive server against `mlgate serve`."""
