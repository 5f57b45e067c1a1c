"""An optional log of predictions in PostgreSQL (used when DATABASE_URL is set)."""

import json
import os
from urllib.parse import urlparse


def connect(url: str | None = None):
    """A pg8000 connection to DATABASE_URL (postgresql://user:password@host:port/db)."""
    import pg8000.native

    u = urlparse(url or os.environ["DATABASE_URL"])
    return pg8000.native.Connection(
        user=u.username,
        password=u.password,
        host=u.hostname,
        port=u.port or 5432,
        database=u.path.lstrip("/"),
    )


class PredictionLog:
    def __init__(self, conn):
        self.conn = conn
        conn.run(
            "CREATE TABLE IF NOT EXISTS predictions ("
            "id SERIAL PRIMARY KEY, features TEXT NOT NULL, probability DOUBLE PRECISION NOT NULL)"
        )

    def record(self, features: list[float], probability: float) -> int:
        rows = self.conn.run(
            "INSERT INTO predictions (features, probability) VALUES (:f, :p) RETURNING id",
            f=json.dumps(features),
            p=probability,
        )
        return rows[0][0]

    def count(self) -> int:
        return self.conn.run("SELECT count(*) FROM predictions")[0][0]
