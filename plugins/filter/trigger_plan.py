# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""trigger_plan filter: which workflows to re-register after a restore (logic in module_utils/_trigger_plan.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.lifeboat.n8n.plugins.module_utils._trigger_plan import TriggerPlanError
from ansible_collections.lifeboat.n8n.plugins.module_utils._trigger_plan import trigger_plan as _trigger_plan


def trigger_plan(manifest_workflows, live_workflows, env_drift=None):
    try:
        return _trigger_plan(manifest_workflows, live_workflows, env_drift)
    except TriggerPlanError as exc:
        raise AnsibleFilterError("lifeboat.n8n.trigger_plan: %s" % exc) from None


class FilterModule(object):
    def filters(self):
        return {"trigger_plan": trigger_plan}
