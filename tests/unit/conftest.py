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
