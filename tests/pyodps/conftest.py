"""Shared fixtures of the pyodps real-client suite.

The suite talks to a running maxc-mock through pyodps's public API. The server is found
through the environment variables `scripts/pyodps-tests.sh` exports (the lines the mock
prints at start):

    MAXC_MOCK_ENDPOINT         http://127.0.0.1:PORT/api
    MAXC_MOCK_TUNNEL_ENDPOINT  http://127.0.0.1:PORT
    MAXC_MOCK_PROJECT          maxc
    MAXC_MOCK_ACCESS_ID        maxc-access-id
    MAXC_MOCK_ACCESS_KEY       maxc-access-key
    MAXC_MOCK_ADMIN            http://127.0.0.1:PORT/_maxc

Every test works on tables with names of its own (`table_name` fixture), so tests are
independent of each other and of their order.
"""

import itertools
import json
import os
import time
import urllib.parse
import urllib.request
import uuid

import pytest

# Naive datetimes cross the wire as epoch values computed in the client's local time zone;
# pin it so the values the admin API reports are predictable.
os.environ["TZ"] = "UTC"
time.tzset()

from odps import ODPS  # noqa: E402

REQUIRED_VARS = (
    "MAXC_MOCK_ENDPOINT",
    "MAXC_MOCK_TUNNEL_ENDPOINT",
    "MAXC_MOCK_PROJECT",
    "MAXC_MOCK_ACCESS_ID",
    "MAXC_MOCK_ACCESS_KEY",
    "MAXC_MOCK_ADMIN",
)


class MockEnv:
    """Where the mock is and which account to sign with."""

    def __init__(self):
        missing = [v for v in REQUIRED_VARS if not os.environ.get(v)]
        if missing:
            raise RuntimeError(
                "the pyodps suite needs a running maxc-mock; run scripts/pyodps-tests.sh "
                f"(missing: {', '.join(missing)})"
            )
        self.endpoint = os.environ["MAXC_MOCK_ENDPOINT"]
        self.tunnel_endpoint = os.environ["MAXC_MOCK_TUNNEL_ENDPOINT"]
        self.project = os.environ["MAXC_MOCK_PROJECT"]
        self.access_id = os.environ["MAXC_MOCK_ACCESS_ID"]
        self.access_key = os.environ["MAXC_MOCK_ACCESS_KEY"]
        self.admin = os.environ["MAXC_MOCK_ADMIN"].rstrip("/")

    def odps(self, discover_tunnel=False, access_key=None):
        """A fresh pyodps client (fresh caches)."""
        kw = {} if discover_tunnel else {"tunnel_endpoint": self.tunnel_endpoint}
        return ODPS(
            self.access_id,
            access_key if access_key is not None else self.access_key,
            project=self.project,
            endpoint=self.endpoint,
            **kw,
        )


class Admin:
    """The mock's admin API (`/_maxc/...`, JSON, unsigned), for checks pyodps cannot make."""

    def __init__(self, base, project):
        self.base = base
        self.project = project

    def _call(self, method, path, body=None):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def rows(self, table, partition=None):
        """Committed rows of a table as the mock stores them (JSON objects by column)."""
        q = {"limit": "100000"}
        if partition:
            q["partition"] = partition
        path = "/tables/{}/{}/rows?{}".format(
            urllib.parse.quote(self.project), urllib.parse.quote(table), urllib.parse.urlencode(q)
        )
        out = self._call("GET", path)
        return out["rows"] if isinstance(out, dict) and "rows" in out else out

    def table(self, table):
        return self._call(
            "GET", "/tables/{}/{}".format(urllib.parse.quote(self.project), urllib.parse.quote(table))
        )

    def add_fault(self, rule):
        return self._call("POST", "/faults", rule)

    def faults(self):
        return self._call("GET", "/faults")

    def clear_faults(self):
        return self._call("DELETE", "/faults")

    def requests(self, limit=200):
        return self._call("GET", f"/requests?limit={limit}")

    def expire_session(self, session_id):
        return self._call("POST", f"/sessions/{urllib.parse.quote(session_id)}/expire", b"")

    def health(self):
        return self._call("GET", "/health")


@pytest.fixture(scope="session")
def mock_env():
    return MockEnv()


@pytest.fixture(scope="session")
def admin(mock_env):
    return Admin(mock_env.admin, mock_env.project)


@pytest.fixture(scope="session")
def o(mock_env):
    """A pyodps client with an explicit tunnel endpoint, shared by the session."""
    return mock_env.odps()


_counter = itertools.count()
_run = uuid.uuid4().hex[:6]


@pytest.fixture
def table_name(o):
    """A table name no other test uses; the table (if any) is dropped afterwards."""
    names = []

    def make(prefix="t"):
        name = f"{prefix}_{_run}_{next(_counter)}"
        names.append(name)
        return name

    yield make
    for name in names:
        o.delete_table(name, if_exists=True)


@pytest.fixture(autouse=True)
def _no_leftover_faults(mock_env):
    """Fault rules a test adds never outlive it."""
    yield
    Admin(mock_env.admin, mock_env.project).clear_faults()
