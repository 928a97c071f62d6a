"""Make ``ansible_collections.lifeboat.n8n`` importable when pytest runs from the checkout.

ansible-test units places the collection itself; a plain ``pytest tests/unit`` run
relies on the link scripts/setup.sh creates (scripts/env.sh exports its location).
"""

from __future__ import annotations

import importlib.util
import os
import sys

_link = os.environ.get("LIFEBOAT_CHECKOUT_LINK")
if _link and _link not in sys.path and importlib.util.find_spec("ansible_collections") is None:
    sys.path.insert(0, _link)

# The README's test command runs the units through ansible-test, whose units command sets
# ANSIBLE_CONTROLLER_MIN_PYTHON_VERSION for pytest (it passes on few other variables). There
# Hypothesis draws the same examples on every run, so CI's verdict on a commit cannot change by
# chance; a plain ``pytest tests/unit`` keeps exploring new random examples on each run.
from hypothesis import settings  # noqa: E402  (after the sys.path fix above)

settings.register_profile("deterministic", derandomize=True, print_blob=True)
if os.environ.get("ANSIBLE_CONTROLLER_MIN_PYTHON_VERSION"):
    settings.load_profile("deterministic")
