# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""activation_workflows filter: a trigger plan as the activation module's workflows input (logic in module_utils/_trigger_plan.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.lifeboat.n8n.plugins.module_utils._trigger_plan import TriggerPlanError
from ansible_collections.lifeboat.n8n.plugins.module_utils._trigger_plan import activation_workflows as _activation_workflows


def activation_workflows(plan, errors="fail"):
    try:
        return _activation_workflows(plan, errors)
    except TriggerPlanError as exc:
        raise AnsibleFilterError("lifeboat.n8n.activation_workflows: %s" % exc) from None


class FilterModule(object):
    def filters(self):
        return {"activation_workflows": activation_workflows}
