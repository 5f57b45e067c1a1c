"""Runs only with a PostgreSQL server: DATABASE_URL (the CI module's `test --postgres-image=...` sets it)."""

import os

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="DATABASE_URL is not set")


def test_predictions_are_logged():
    from inference_api.store import PredictionLog, connect

    log = PredictionLog(connect())
    before = log.count()
    first = log.record([1.0, 0.0, 0.0], 0.668)
    assert log.record([0.0, 1.0, 0.0], 0.378) == first + 1
    assert log.count() == before + 2
