# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""version_parity filter: may a backup from one n8n be restored into another (logic in module_utils/_parity.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.lifeboat.n8n.plugins.module_utils._parity import ParityError
from ansible_collections.lifeboat.n8n.plugins.module_utils._parity import version_parity as _version_parity


def version_parity(backup, target, policy=None):
    try:
        return _version_parity(backup, target, policy)
    except ParityError as exc:
        raise AnsibleFilterError("lifeboat.n8n.version_parity: %s" % exc) from None


class FilterModule(object):
    def filters(self):
        return {"version_parity": version_parity}
