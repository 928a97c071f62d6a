#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_wait_ready
short_description: Wait until a started n8n is ready, has activated its workflows, and its webhooks are registered
version_added: 0.1.0
description:
  - Polls, in one call, the three proofs that an n8n just started serves again, in the order n8n gives them.
  - C(/healthz/readiness) answers C(200). n8n answers it once its database is up, before any trigger exists.
  - The log of B(this) start says C(Editor is now accessible). By then n8n has activated its workflows (webhooks, schedules, pollers).
    This start is told apart from earlier ones without comparing clocks. A log file (O(log_file)) is read from O(log_offset), its size
    once the previous process had stopped. A container's log (O(container)) is read from the container's C(State.StartedAt). A systemd
    unit's journal (O(unit)) is read by the unit's current C(InvocationID).
  - Optionally, every entry of O(webhooks) answers an C(OPTIONS) preflight as registered, as M(lifeboat.n8n.n8n_webhook_probe) checks
    it. The preflight never starts an execution.
  - The quiesce role waits with it after starting n8n again. It replaces a readiness task, a log task and a probe task polling
    every 2 s. Inside a backup's downtime each task costs 0.2 to 0.4 s.
author:
  - lifeboat.n8n maintainers (@lifeboat)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing was started in check mode, so the log line is not waited for; readiness and the webhooks are checked.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: N/A
    details: Read-only.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details: Read-only. It never reports a change.
options:
  url:
    description: n8n's base URL as reachable from the managed host, for example V(http://127.0.0.1:5678).
    type: str
    required: true
  log_file:
    description: n8n's log file, for an n8n started by a command that writes one.
    type: path
  log_offset:
    description:
      - Where this start's lines begin in O(log_file), in bytes. Take it once the previous n8n process has stopped.
      - A file now shorter than this was truncated or rotated by the start, and is read whole.
    type: int
    default: 0
  container:
    description: The main n8n container, whose log since its current start is read with the C(docker) CLI.
    type: str
  unit:
    description: The main n8n systemd unit, whose journal of its current run is read with C(journalctl).
    type: str
  webhooks:
    description:
      - Webhooks of active workflows, each as M(lifeboat.n8n.n8n_info) lists them (C(path) and C(method)). Probed until all are
        registered. Leave empty to stop at the log line, for example when another host probes them from outside.
    type: list
    elements: dict
    default: []
  webhook_base_url:
    description: Where O(webhooks) answer from the managed host. Required with O(webhooks).
    type: str
  webhook_path:
    description: n8n's C(N8N_ENDPOINT_WEBHOOK), the path prefix of production webhooks.
    type: str
    default: webhook
  timeout:
    description: Seconds to wait in all, for the three proofs together.
    type: int
    default: 120
  poll_interval:
    description: Seconds between two polls.
    type: float
    default: 0.25
  validate_certs:
    description: Verify TLS certificates of O(url) and O(webhook_base_url).
    type: bool
    default: true
notes:
  - Give at most one of O(log_file), O(container) and O(unit). Without any of them, readiness and the webhooks are the proof.
seealso:
  - module: lifeboat.n8n.n8n_webhook_probe
  - module: lifeboat.n8n.n8n_info
"""

EXAMPLES = r"""
- name: Wait until n8n (started by systemd) has activated its workflows and its webhook answers
  lifeboat.n8n.n8n_wait_ready:
    url: http://127.0.0.1:5678
    unit: n8n
    webhooks:
      - path: orders
        method: POST
    webhook_base_url: http://127.0.0.1:5678
    timeout: 300

- name: Wait for an n8n started by a command that logs to a file
  lifeboat.n8n.n8n_wait_ready:
    url: http://127.0.0.1:5678
    log_file: /var/log/n8n/n8n.log
    log_offset: "{{ log_size_after_stop }}"
"""

RETURN = r"""
ready_s:
  description: Seconds after the call at which readiness answered 200.
  returned: success
  type: float
  sample: 4.1
log_s:
  description: Seconds after the call at which this start's log said the editor is accessible (null when no log was read).
  returned: success
  type: float
  sample: 4.6
webhooks_s:
  description: Seconds after the call at which every webhook answered as registered (null without O(webhooks)).
  returned: success
  type: float
  sample: 4.7
webhooks:
  description: The last probe of each webhook, as M(lifeboat.n8n.n8n_webhook_probe) returns them.
  returned: always
  type: list
  elements: dict
registered_count:
  description: How many webhooks answered as registered.
  returned: always
  type: int
  sample: 1
log_source:
  description: Which log was read for this start's line.
  returned: always
  type: str
  sample: journal of unit n8n since its start
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._wait_ready import (
    ContainerLog,
    FileLog,
    JournalLog,
    WaitReadyError,
    wait_ready,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            log_file=dict(type="path"),
            log_offset=dict(type="int", default=0),
            container=dict(type="str"),
            unit=dict(type="str"),
            webhooks=dict(type="list", elements="dict", default=[]),
            webhook_base_url=dict(type="str"),
            webhook_path=dict(type="str", default="webhook"),
            timeout=dict(type="int", default=120),
            poll_interval=dict(type="float", default=0.25),
            validate_certs=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("log_file", "container", "unit")],
        supports_check_mode=True,
    )
    params = module.params
    if params["webhooks"] and not params["webhook_base_url"]:
        module.fail_json(msg="Cannot probe webhooks without webhook_base_url: give the URL where n8n's webhooks answer from the managed host")

    def run(argv):
        return module.run_command(argv)

    log = None
    if not module.check_mode:  # nothing was started in check mode: no start's line will come
        if params["log_file"]:
            log = FileLog(params["log_file"], params["log_offset"])
        elif params["container"]:
            log = ContainerLog(params["container"], run, docker=module.get_bin_path("docker", required=True))
        elif params["unit"]:
            log = JournalLog(params["unit"], run)
    try:
        result = wait_ready(
            params["url"],
            log=log,
            webhooks=params["webhooks"],
            webhook_base_url=params["webhook_base_url"],
            webhook_path=params["webhook_path"],
            timeout=params["timeout"],
            interval=params["poll_interval"],
            validate_certs=params["validate_certs"],
        )
    except WaitReadyError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc(), **exc.result)
    except ValueError as exc:
        module.fail_json(msg="Cannot wait for n8n: %s" % exc, exception=traceback.format_exc())
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
