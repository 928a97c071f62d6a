#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: n8n_target
short_description: Describe an n8n deployment (processes, env, paths, database) on the managed host
version_added: 0.1.0
author:
  - lifeboat.n8n maintainers (@lifeboat)
description:
  - Discovers what the lifeboat.n8n roles need to know about an n8n deployment from a short description
    of how it is deployed. It finds every n8n process and its role (main, worker, webhook processor), n8n's
    environment, host paths of the user folder, the SQLite file, the C(.n8n/config) key file, community
    nodes and binary data, how to reach PostgreSQL from the managed host, the n8n CLI, the API URL and the
    stop timeout each process needs.
  - Supports native installs managed by systemd (environment from the unit's C(Environment=) and
    C(EnvironmentFile=)) or by custom commands, plain Docker containers, and docker compose projects
    (containers found by their C(com.docker.compose.project) label, so compose v1 and v2 both work).
  - Only reads. The result holds n8n's environment and the database password in RV(env) and
    RV(database); run this module with C(no_log=true) and pass those values only to options that
    are themselves C(no_log). RV(target) is safe to print.
attributes:
  check_mode:
    description: Only reads; runs in check mode exactly as without it.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  idempotent:
    description: Only reads; C(changed) is always false.
    support: full
options:
  deployment:
    description: How n8n runs on the managed host.
    type: str
    required: true
    choices: [native, docker, compose]
  service_manager:
    description:
      - For O(deployment=native), what starts and stops n8n. C(command) means the roles run commands
        you give them (pm2, supervisord, a script).
    type: str
    choices: [systemd, command]
    default: systemd
  services:
    description:
      - For O(deployment=native) with systemd, the units per role.
    type: dict
    default: {main: [n8n]}
  containers:
    description:
      - For O(deployment=docker), the container names per role (C(main), C(workers), C(webhooks)).
    type: dict
    default: {}
  compose_project:
    description: For O(deployment=compose), the compose project name.
    type: str
  compose_services:
    description:
      - For O(deployment=compose), the services per role. When omitted, every n8n container of the project
        is found and its role read from its command (C(n8n worker), C(n8n webhook), else main).
    type: dict
  db_container:
    description:
      - The container running PostgreSQL, when it runs in one. Found automatically from
        C(DB_POSTGRESDB_HOST) on the n8n container's networks when omitted.
    type: str
  user_folder:
    description:
      - For O(deployment=native), n8n's C(N8N_USER_FOLDER) on the host, when neither the environment nor
        the service user's home tells it.
    type: path
  env_files:
    description: For O(deployment=native), extra environment files n8n reads (KEY=value lines).
    type: list
    elements: path
    default: []
  n8n_command:
    description: For O(deployment=native), the argv that runs the n8n CLI.
    type: list
    elements: str
    default: [n8n]
  api_url:
    description: The n8n base URL reachable from the managed host, when the discovered one is wrong.
    type: str
"""

EXAMPLES = r"""
- name: Describe a compose deployment
  lifeboat.n8n.n8n_target:
    deployment: compose
    compose_project: automation
  register: n8n
  no_log: true

- name: Show what was found (safe to print)
  ansible.builtin.debug:
    var: n8n.target

- name: Describe a native install run by systemd, with a worker
  lifeboat.n8n.n8n_target:
    deployment: native
    services:
      main: [n8n]
      workers: [n8n-worker@1, n8n-worker@2]
    n8n_command: [/usr/bin/node, /opt/n8n/node_modules/n8n/bin/n8n]
  register: n8n
  no_log: true
"""

RETURN = r"""
target:
  description: The deployment, without secrets (environment redacted, no database password).
  returned: success
  type: dict
  contains:
    deployment:
      description: C(native), C(docker) or C(compose).
      type: str
      returned: always
    processes:
      description: n8n processes in start order (workers, main, webhook processors).
      type: list
      elements: dict
      returned: always
      sample: [{role: main, name: n8n, manager: docker, running: true, stop_timeout: 45}]
    user_folder:
      description: Host path of C(N8N_USER_FOLDER).
      type: str
      returned: always
    n8n_folder:
      description: Host path of the C(.n8n) folder.
      type: str
      returned: always
    config_path:
      description: Host path of C(.n8n/config), which holds the key.
      type: str
      returned: always
    nodes_path:
      description: Host path of C(.n8n/nodes), community packages.
      type: str
      returned: always
    binary_data_mode:
      description: C(N8N_DEFAULT_BINARY_DATA_MODE), empty for the version's default.
      type: str
      returned: always
    binary_data_root:
      description: Host folder that holds filesystem binary data.
      type: str
      returned: always
    binary_data_names:
      description: Names of the binary-data folders inside RV(target.binary_data_root) (2.x C(storage), 1.x C(binaryData)).
      type: list
      elements: str
      returned: always
    database:
      description: Database location without the password.
      type: dict
      returned: always
    db_container:
      description: The PostgreSQL container, when PostgreSQL runs in one.
      type: str
      returned: always
    cli:
      description: Argv prefix running the n8n CLI.
      type: list
      elements: str
      returned: always
    api_url:
      description: n8n's base URL from the managed host.
      type: str
      returned: always
    executions_mode:
      description: C(regular) or C(queue).
      type: str
      returned: always
    trigger_env:
      description: Trigger-relevant environment, secrets redacted.
      type: dict
      returned: always
env:
  description: n8n's full environment. Holds secrets (the encryption key, passwords).
  returned: success
  type: dict
database:
  description: The C(database) option for the other lifeboat.n8n modules, with the password.
  returned: success
  type: dict
cli_env:
  description: Environment for running the n8n CLI of a native install. Holds secrets.
  returned: success
  type: dict
"""

import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._target import DockerSpec, NativeSpec, TargetError, discover_docker, discover_native


def _home_of(user):
    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        return None


def _read_file(path):
    with open(path) as handle:
        return handle.read()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deployment=dict(type="str", required=True, choices=["native", "docker", "compose"]),
            service_manager=dict(type="str", default="systemd", choices=["systemd", "command"]),
            services=dict(type="dict", default={"main": ["n8n"]}),
            containers=dict(type="dict", default={}),
            compose_project=dict(type="str"),
            compose_services=dict(type="dict"),
            db_container=dict(type="str"),
            user_folder=dict(type="path"),
            env_files=dict(type="list", elements="path", default=[]),
            n8n_command=dict(type="list", elements="str", default=["n8n"]),
            api_url=dict(type="str"),
        ),
        required_if=[("deployment", "compose", ["compose_project"])],
        supports_check_mode=True,
    )
    params = module.params

    def run(argv):
        return module.run_command(argv, environ_update={"LC_ALL": "C"})

    # Overrides of the environment are applied by the roles on the controller, not here:
    # a secret passed in as a no_log option would be masked in this module's result.
    try:
        if params["deployment"] == "native":
            spec = NativeSpec(
                service_manager=params["service_manager"],
                services=params["services"] or {},
                env_files=params["env_files"],
                user_folder=params["user_folder"],
                n8n_command=params["n8n_command"],
                api_url=params["api_url"],
            )
            target = discover_native(run, spec, _read_file, _home_of)
        else:
            if not module.get_bin_path("docker"):
                module.fail_json(msg="Cannot describe the %s deployment: the docker CLI is not installed on %s" % (params["deployment"], os.uname()[1]))
            spec = DockerSpec(
                containers=params["containers"] or {},
                compose_project=params["compose_project"] if params["deployment"] == "compose" else None,
                compose_services=params["compose_services"],
                db_container=params["db_container"],
            )
            target = discover_docker(run, spec)
            if params["api_url"]:
                target.api_url = params["api_url"]
    except TargetError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, target=target.public(), env=target.env, database=target.database, cli_env=target.cli_env)


if __name__ == "__main__":
    main()
