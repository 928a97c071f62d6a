# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""key_fingerprint filter: the lbfp1 fingerprint of an n8n encryption key (logic in module_utils/_fingerprint.py).

Errors name the type of a bad value, never the value: it is meant to be the encryption key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.lifeboat.n8n.plugins.module_utils._fingerprint import key_fingerprint as _key_fingerprint


def key_fingerprint(key):
    if not isinstance(key, str) or key == "":
        # The builtin type: Ansible passes its own subclasses of dict, list and str.
        kind = next(t.__name__ for t in type(key).__mro__ if t.__module__ == "builtins")
        what = "an empty string" if isinstance(key, str) else "a value of type %s" % kind
        raise AnsibleFilterError(
            "lifeboat.n8n.key_fingerprint: Cannot fingerprint the encryption key: expected a non-empty string, got %s. "
            "Pass n8n's N8N_ENCRYPTION_KEY (or the encryptionKey of its config file) as a string." % what
        )
    try:
        return _key_fingerprint(key)
    except Exception:  # noqa: BLE001 - any message could quote the key: replace it
        raise AnsibleFilterError(
            "lifeboat.n8n.key_fingerprint: Cannot fingerprint the encryption key: it is not valid text (it cannot be encoded as UTF-8). "
            "Check how the key is read; the value is not shown."
        ) from None


class FilterModule(object):
    def filters(self):
        return {"key_fingerprint": key_fingerprint}
