"""Make ``ansible_collections.lifeboat.n8n`` importable when pytest runs from the checkout.

ansible-test units places the collection itself; a plain ``pytest tests/unit`` run
relies on the link scripts/setup.sh creates (scripts/env.sh exports its location).
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
from hypothesis import settings

_link = os.environ.get("LIFEBOAT_CHECKOUT_LINK")
if _link and _link not in sys.path and importlib.util.find_spec("ansible_collections") is None:
    sys.path.insert(0, _link)

# The README's test command draws the same Hypothesis examples on every run, so CI's verdict on a
# commit cannot change by chance. scripts/test.sh sets LIFEBOAT_HYPOTHESIS_DETERMINISTIC for the plain
# pytest stage; ansible-test's units command passes few variables on, but always sets
# ANSIBLE_CONTROLLER_MIN_PYTHON_VERSION. A plain ``pytest tests/unit`` keeps exploring new examples.
settings.register_profile("deterministic", derandomize=True, print_blob=True)
if os.environ.get("LIFEBOAT_HYPOTHESIS_DETERMINISTIC") == "1" or os.environ.get("ANSIBLE_CONTROLLER_MIN_PYTHON_VERSION"):
    settings.load_profile("deterministic")


def pytest_configure(config: pytest.Config) -> None:
    # Registered here rather than in pytest.ini: ansible-test units runs pytest with its own config.
    config.addinivalue_line(
        "markers", "postgres: needs pg_dump and the test machine's PostgreSQL server (LIFEBOAT_PG_DSN)"
    )
