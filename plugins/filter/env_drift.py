# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""env_drift filter: trigger-relevant env that differs between backup and target (logic in module_utils/_drift.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.lifeboat.n8n.plugins.module_utils._drift import DriftError
from ansible_collections.lifeboat.n8n.plugins.module_utils._drift import env_drift as _env_drift


def env_drift(backup_env, target_env):
    try:
        return _env_drift(backup_env, target_env)
    except DriftError as exc:
        raise AnsibleFilterError("lifeboat.n8n.env_drift: %s" % exc) from None


class FilterModule(object):
    def filters(self):
        return {"env_drift": env_drift}
