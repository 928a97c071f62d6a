#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_webhook_probe
short_description: Check from outside that n8n's production webhooks are registered, without running them
version_added: 0.1.0
description:
  - Proves that the webhooks of an n8n instance answer where callers reach them, for example after a restore or a change of C(WEBHOOK_URL).
  - Each entry of O(webhooks) is probed with a CORS preflight, C(OPTIONS <base_url>/<webhook_path>/<path>), which sends an C(Origin)
    and C(Access-Control-Request-Method).
    n8n answers it without starting an execution. It returns C(204) with C(Access-Control-Allow-Methods) listing the method when
    that production webhook is registered. When it is not, it returns an error status and the header lacks the method.
    Measured on n8n 1.123, 2.38 and 2.40.
  - Can also assert that a webhook is B(not) registered, for example an inactive workflow's. See O(expect_registered).
  - Optional O(requests) are real round trips. They B(do start a production execution) of the workflow, exactly as a caller would.
  - Probes are retried (O(retries), O(delay)) until they match, because n8n 2.x registers webhooks a moment after activation.
  - Fails when any check does not match, after running all of them.
author:
  - lifeboat.n8n maintainers (@lifeboat)
attributes:
  check_mode:
    description:
      - The C(OPTIONS) probes run, since they are read-only. The round-trip O(requests) are skipped, because they would run workflows.
        They are reported with C(skipped=true).
    support: full
  diff_mode:
    description: Not applicable. Nothing changes.
    support: N/A
  idempotent:
    description: Read-only. It never reports a change.
    support: full
options:
  base_url:
    description:
      - Where the instance's webhooks are reachable B(from the managed host). This is usually n8n's C(WEBHOOK_URL),
        for example V(https://hooks.example.com/), or V(http://127.0.0.1:5678).
      - Include C(N8N_PATH) when n8n is served under a sub-path.
    type: str
    required: true
  webhook_path:
    description: n8n's C(N8N_ENDPOINT_WEBHOOK), the path prefix of production webhooks.
    type: str
    default: webhook
  webhooks:
    description: Webhooks to check with the C(OPTIONS) probe. Nothing is executed.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The webhook's path, as in the Webhook node, without the prefix.
        type: str
        required: true
      method:
        description: The HTTP method the Webhook node listens to.
        type: str
        default: GET
        choices: [DELETE, GET, HEAD, PATCH, POST, PUT]
      expect_registered:
        description: Overrides O(expect_registered) for this webhook.
        type: bool
  expect_registered:
    description:
      - Whether the O(webhooks) should be registered. Use V(false) to prove that an inactive workflow's webhook does not answer.
      - An answer that did not come from n8n's webhook handler proves neither, and fails.
        That covers an unreachable host, or a proxy answering without C(Access-Control-Allow-Methods).
    type: bool
    default: true
  requests:
    description:
      - Real round trips to production webhooks. B(Each one runs the workflow), so every request creates an execution
        and has the workflow's side effects.
      - Skipped in check mode. Retried only while n8n answers C(404), which means not registered yet and that nothing ran.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: A label for the result.
        type: str
      path:
        description: The webhook's path, without the prefix.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        default: GET
        choices: [DELETE, GET, HEAD, PATCH, POST, PUT]
      headers:
        description: Request headers, for example a header-auth token. The values are never logged.
        type: dict
      query:
        description: Query string parameters.
        type: dict
      body:
        description: The request body. A dict or list is sent as JSON, anything else as text.
        type: raw
      status:
        description: The accepted HTTP status codes.
        type: list
        elements: int
        default: [200]
      body_contains:
        description: Text the response body must contain.
        type: str
      json_equals:
        description: The JSON the response body must equal.
        type: raw
  timeout:
    description: Seconds to wait for each HTTP answer.
    type: int
    default: 10
  retries:
    description: How many more times to probe a webhook that is not yet as expected.
    type: int
    default: 10
  delay:
    description: Seconds between retries.
    type: int
    default: 1
  validate_certs:
    description: Verify TLS certificates of O(base_url).
    type: bool
    default: true
seealso:
  - module: lifeboat.n8n.n8n_workflow_activation
"""

EXAMPLES = r"""
- name: The restored instance serves its webhooks at the new URL, and the inactive one stays off
  lifeboat.n8n.n8n_webhook_probe:
    base_url: https://hooks.example.com
    webhooks:
      - path: orders
        method: POST
      - path: lifeboat-inactive
        method: POST
        expect_registered: false

- name: One real call (this runs the workflow) whose answer proves the credential decrypts
  lifeboat.n8n.n8n_webhook_probe:
    base_url: http://127.0.0.1:5678
    requests:
      - path: lifeboat-echo
        headers:
          X-Lifeboat-Token: "{{ echo_token }}"
        query: {name: lifeboat, a: 2, b: 3}
        json_equals: {echo: lifeboat, sum: 5, version: published}
"""

RETURN = r"""
webhooks:
  description: One entry per O(webhooks) entry.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The webhook path.
      type: str
    method:
      description: The HTTP method.
      type: str
    url:
      description: The URL probed.
      type: str
    registered:
      description: Whether n8n has that production webhook registered. V(null) when the answer did not come from n8n's webhook handler.
      type: bool
    expect_registered:
      description: What was expected.
      type: bool
    ok:
      description: Whether RV(webhooks[].registered) matches RV(webhooks[].expect_registered).
      type: bool
    status:
      description: HTTP status of the last probe.
      type: int
    allowed_methods:
      description: The methods n8n has registered at that path.
      type: list
      elements: str
    attempts:
      description: How many probes ran.
      type: int
    error:
      description: Why the check did not match.
      type: str
  sample:
    - {path: lifeboat-echo, method: GET, registered: true, ok: true, status: 204, allowed_methods: [GET], attempts: 1}
requests:
  description: One entry per O(requests) entry.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The webhook path.
      type: str
    method:
      description: The HTTP method.
      type: str
    status:
      description: HTTP status of the answer.
      type: int
    ok:
      description: Whether status and body checks passed. V(null) when skipped.
      type: bool
    skipped:
      description: Present and true in check mode.
      type: bool
    error:
      description: What did not match.
      type: str
    body_excerpt:
      description: The first 200 characters of the body, only when a check failed.
      type: str
registered_count:
  description: How many O(webhooks) are registered.
  returned: always
  type: int
  sample: 1
failures:
  description: One line per check that did not match. The module fails when this is not empty.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._webhook_probe import METHODS, WebhookProbeError, run_probe


def main():
    argument_spec = dict(
        base_url=dict(type="str", required=True),
        webhook_path=dict(type="str", default="webhook"),
        webhooks=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                path=dict(type="str", required=True),
                method=dict(type="str", default="GET", choices=list(METHODS)),
                expect_registered=dict(type="bool"),
            ),
        ),
        expect_registered=dict(type="bool", default=True),
        requests=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str"),
                path=dict(type="str", required=True),
                method=dict(type="str", default="GET", choices=list(METHODS)),
                headers=dict(type="dict", no_log=True),
                query=dict(type="dict"),
                body=dict(type="raw"),
                status=dict(type="list", elements="int", default=[200]),
                body_contains=dict(type="str"),
                json_equals=dict(type="raw"),
            ),
        ),
        timeout=dict(type="int", default=10),
        retries=dict(type="int", default=10),
        delay=dict(type="int", default=1),
        validate_certs=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        result = run_probe(module.params, check_mode=module.check_mode)
    except WebhookProbeError as error:
        module.fail_json(msg=str(error), changed=False, webhooks=[], requests=[], registered_count=0, failures=[str(error)])
    if result["failures"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
