"""`mlgate models`, `promote` and `rollback`, and the champion lookup of `mlgate run`, import no
MLflow, pandas or scikit-learn: a fresh process runs them on a real registry (SQLite and the
tracking server) and lists what it loaded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from mlflow.tracking import MlflowClient

from tests.integration.registry.conftest import Env
from tests.integration.registry.seed import seed

pytestmark = [
    pytest.mark.integration,
    # SQLAlchemy 2.1 deprecates a loader strategy MLflow's store still configures at import.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
    ),
]

HEAVY = ("mlflow", "pandas", "sklearn", "sqlalchemy", "alembic")

PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from mlgate.cli import main

    config, name, heavy = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    codes = [
        main(["models", "--config", config, "--json"]),
        main(["promote", "4", "--reason", "probe", "--config", config, "--json"]),
        main(["rollback", "--reason", "probe", "--config", config, "--json"]),
    ]
    from mlgate.adapters.mlflow import open_registry
    from mlgate.app.champion import champion_info

    registry = open_registry(Path(config))
    abandoned = registry.fail_abandoned_runs(name)  # what `mlgate run` asks first
    champion = champion_info(registry, name)
    print(json.dumps({
        "codes": codes,
        "abandoned": abandoned,
        "champion": champion.version if champion else None,
        "loaded": [m for m in heavy if m in sys.modules],
    }))
    """
)


def test_registry_commands_and_the_champion_lookup_stay_light(env: Env) -> None:
    uri = env.registry().tracking_uri
    seed(MlflowClient(tracking_uri=uri, registry_uri=uri), env.name)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, env.config, env.name, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["codes"] == [0, 0, 0], proc.stdout + proc.stderr
    assert result["abandoned"] == []
    assert result["champion"] == 2  # promoted to 4, rolled back to 2
    assert result["loaded"] == []
