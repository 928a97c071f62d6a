# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A stable, non-reversible fingerprint of an n8n encryption key (private module_utils).

Manifests, escrow metadata and reports carry the fingerprint, never the key. n8n keys
are sometimes short and human-chosen, so a plain hash would invite dictionary attacks
on a stolen manifest: the fingerprint is PBKDF2-HMAC-SHA256 with a fixed, versioned
salt and enough rounds to make guessing slow, truncated to 96 bits. It stays stable
across hosts and releases (the ``lbfp1`` prefix names the scheme).
"""

from __future__ import absolute_import, annotations, division, print_function

import hashlib

__metaclass__ = type

SCHEME = "lbfp1"
_SALT = b"lifeboat.n8n/key-fingerprint/v1"
_ROUNDS = 200000


def key_fingerprint(key: str) -> str:
    """``lbfp1:<24 hex>`` for a key string (the UTF-8 bytes n8n hashes for its own ids)."""
    if not isinstance(key, str) or key == "":
        raise ValueError("an encryption key must be a non-empty string")
    digest = hashlib.pbkdf2_hmac("sha256", key.encode("utf-8"), _SALT, _ROUNDS)
    return "%s:%s" % (SCHEME, digest.hex()[:24])


def is_fingerprint(value: str) -> bool:
    prefix, _sep, rest = str(value).partition(":")
    return prefix == SCHEME and len(rest) == 24 and all(c in "0123456789abcdef" for c in rest)
