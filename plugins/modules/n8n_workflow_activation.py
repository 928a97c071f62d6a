#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_workflow_activation
short_description: Activate, publish, deactivate or re-register n8n workflows
version_added: 0.1.0
description:
  - Brings n8n workflows to a wanted activation state and, on n8n 2.x, to a wanted live (published) version.
  - Idempotent. A workflow already in the wanted state is left alone, unless O(workflows[].toggle=true) asks for a deactivation
    followed by an activation. The toggle is how n8n re-registers a workflow's triggers and webhooks after a restore or a change of C(WEBHOOK_URL).
  - In O(mode=api) it uses n8n's public API while n8n runs. On 2.x it calls C(POST /workflows/{id}/publish) with the wanted C(versionId)
    and C(POST /workflows/{id}/unpublish). On 1.x it calls C(POST /workflows/{id}/activate) and C(/deactivate).
  - In O(mode=cli) it runs n8n's CLI while n8n is stopped. On 2.x that is C(publish:workflow --id=X --versionId=V) and
    C(unpublish:workflow --id=X). On 1.x it is C(update:workflow --id=X --active=true|false). The CLI only writes the database.
    n8n registers the triggers of active workflows at its next start.
  - Every workflow is tried. When any action fails, the module fails after the rest ran, with each workflow's error, so a role can roll back.
author:
  - lifeboat.n8n maintainers (@lifeboat)
extends_documentation_fragment:
  - lifeboat.n8n.api
attributes:
  check_mode:
    description: Reads the current state and returns the planned RV(actions) without changing anything.
    support: full
  diff_mode:
    description: Not supported. RV(actions) and RV(workflows) show what changes.
    support: none
  idempotent:
    description: A second run with the same input changes nothing and reports C(changed=false), unless a toggle is requested.
    support: full
options:
  mode:
    description:
      - V(api) uses the public API of a running n8n and needs O(api_url) and O(api_key).
      - V(cli) runs O(n8n_command) against a stopped n8n.
    type: str
    choices: [api, cli]
    default: api
  n8n_command:
    description:
      - The n8n command line for O(mode=cli), for example V(["n8n"]) or V(["/opt/node/bin/node", "/opt/n8n/bin/n8n"]).
      - The module appends C(--version), C(export:workflow --all), C(publish:workflow), C(unpublish:workflow) or C(update:workflow).
      - It reads the workflows from C(export:workflow --all) on standard output, so the command must run where n8n's database is reachable.
    type: list
    elements: str
  n8n_env:
    description:
      - Environment for O(n8n_command), added to the module's own. It needs the variables n8n runs with.
        Those are C(N8N_USER_FOLDER), the C(DB_*) settings, C(N8N_ENCRYPTION_KEY) and C(PATH) for C(node).
      - Never logged. Secret values are also removed from error messages.
    type: dict
  cli_timeout:
    description: Seconds to wait for each n8n CLI command (each one boots n8n's database layer).
    type: int
    default: 300
  workflows:
    description: The wanted state, one entry per workflow. Actions run in this order.
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description: The workflow id.
        type: str
        required: true
      active:
        description: Whether the workflow should be active (published).
        type: bool
        default: true
      version_id:
        description:
          - n8n 2.x. The version to publish, for example the C(activeVersionId) recorded in a backup.
          - When omitted, the live version is kept. For a workflow that is not active, the current C(versionId) (the draft) is used.
          - n8n 1.x always activates the current C(versionId). Another version is an error there.
        type: str
      toggle:
        description:
          - Deactivate, then activate again, even when the workflow already is in the wanted state.
          - This re-registers triggers and webhooks. Ignored when O(workflows[].active=false).
        type: bool
        default: false
  wait_webhooks:
    description:
      - After the changes, poll until the Webhook nodes of each workflow are registered.
        Deactivated workflows are polled until their webhooks are unregistered.
      - Probed with a CORS preflight (C(OPTIONS)), which never starts an execution. See M(lifeboat.n8n.n8n_webhook_probe).
      - With a toggle the deactivation is awaited too. Seeing the webhook unregistered, then registered again, proves the re-registration.
      - Only Webhook nodes with a fixed path are probed. Other trigger types are not.
      - Ignored with a warning in O(mode=cli), because n8n is stopped. It is also skipped in check mode.
    type: bool
    default: false
  webhook_timeout:
    description: Seconds O(wait_webhooks) waits for each check. n8n 2.x registers a moment after the API answers.
    type: int
    default: 60
  webhook_base_url:
    description:
      - Where the instance's webhooks are reachable from the managed host, for example the new C(WEBHOOK_URL).
      - Defaults to O(api_url).
    type: str
  webhook_path:
    description: n8n's C(N8N_ENDPOINT_WEBHOOK), the path prefix of production webhooks.
    type: str
    default: webhook
notes:
  - On n8n 2.40 the API answers before the triggers are (un)registered, because a publication outbox applies them shortly after.
    Use O(wait_webhooks) to know when webhooks answer.
  - The API key needs the scopes C(workflow:read), C(workflow:activate) and C(workflow:deactivate) on n8n 2.x.
  - Before n8n 2.40 (measured on 1.123 and 2.38), a deactivation through the CLI leaves the workflow's rows in C(webhook_entity).
    Its webhooks then answer 404 and run nothing, but their paths stay taken and the C(OPTIONS) probe still finds them.
    The module warns when this happens. Deactivate through the API while n8n runs to avoid it.
seealso:
  - module: lifeboat.n8n.n8n_webhook_probe
"""

EXAMPLES = r"""
- name: Publish the versions that were live at backup time and re-register their triggers
  lifeboat.n8n.n8n_workflow_activation:
    api_url: http://127.0.0.1:5678
    api_key: "{{ n8n_api_key }}"
    workflows:
      - id: bSyfpTACr3ZLen41
        version_id: a6362f9a-fbc5-4d3d-bb9a-7ed807cb2c6f
        toggle: true
      - id: QExjCvZbHd19n6Ry
        active: false
    wait_webhooks: true
    webhook_base_url: https://hooks.example.com

- name: Activate workflows while n8n is stopped (n8n CLI)
  lifeboat.n8n.n8n_workflow_activation:
    mode: cli
    n8n_command: [/opt/node/bin/node, /opt/n8n/node_modules/n8n/bin/n8n]
    n8n_env:
      N8N_USER_FOLDER: /var/lib/n8n
      N8N_ENCRYPTION_KEY: "{{ n8n_encryption_key }}"
      PATH: /opt/node/bin:/usr/bin:/bin
    workflows: "{{ restore_activation_workflows }}"
"""

RETURN = r"""
actions:
  description:
    - One entry per action, in the order run (planned in check mode).
    - A toggle gives a V(deactivate) then an V(activate) entry.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Workflow id.
      type: str
    name:
      description: Workflow name.
      type: str
    action:
      description: V(activate) (publish on 2.x), V(deactivate) (unpublish on 2.x) or V(error) (nothing could be tried).
      type: str
    version_id:
      description: The version activated, or the one that was live when deactivating.
      type: str
    reason:
      description: Why the action is needed.
      type: str
    ok:
      description: Whether it succeeded. V(null) in check mode.
      type: bool
    error:
      description: What went wrong, and what to do.
      type: str
    via:
      description: The API endpoint or CLI command used.
      type: str
  sample:
    - {id: bSyfpTACr3ZLen41, name: Lifeboat echo, action: deactivate, version_id: a6362f9a, ok: true, error: null, via: POST /unpublish, reason: toggle}
workflows:
  description: The final state of each workflow of O(workflows) (predicted in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Workflow id.
      type: str
    name:
      description: Workflow name.
      type: str
    exists:
      description: Whether the workflow exists in the instance.
      type: bool
    active:
      description: Whether it is active (has a live version).
      type: bool
    active_version_id:
      description: The live version (C(activeVersionId)), V(null) when inactive.
      type: str
    version_id:
      description: The current (draft) version (C(versionId)).
      type: str
webhooks:
  description: The webhook checks O(wait_webhooks) ran, shaped as the C(webhooks) that M(lifeboat.n8n.n8n_webhook_probe) returns.
  returned: always
  type: list
  elements: dict
major:
  description: n8n's major version, as detected.
  returned: success
  type: int
  sample: 2
mode:
  description: The mode used.
  returned: success
  type: str
  sample: api
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._activation import ActivationError, N8nCliError, run
from ansible_collections.lifeboat.n8n.plugins.module_utils._api import N8nApiError


def main():
    argument_spec = dict(
        api_url=dict(type="str"),
        api_key=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        api_timeout=dict(type="int", default=30),
        mode=dict(type="str", choices=["api", "cli"], default="api"),
        n8n_command=dict(type="list", elements="str"),
        n8n_env=dict(type="dict", no_log=True),
        cli_timeout=dict(type="int", default=300),
        workflows=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                id=dict(type="str", required=True),
                active=dict(type="bool", default=True),
                version_id=dict(type="str"),
                toggle=dict(type="bool", default=False),
            ),
        ),
        wait_webhooks=dict(type="bool", default=False),
        webhook_timeout=dict(type="int", default=60),
        webhook_base_url=dict(type="str"),
        webhook_path=dict(type="str", default="webhook"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[("mode", "api", ("api_url", "api_key")), ("mode", "cli", ("n8n_command",))],
    )
    try:
        result = run(module.params, check_mode=module.check_mode)
    except (ActivationError, N8nApiError, N8nCliError) as error:
        module.fail_json(msg=str(error), changed=False, actions=[], workflows=[], webhooks=[])
    for warning in result.pop("warnings"):
        module.warn(warning)
    if result.pop("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
