#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: n8n_artifact_crypt
short_description: Encrypt or decrypt the artifacts of an n8n backup with a passphrase
version_added: 0.1.0
author: lifeboat.n8n maintainers (@lifeboat)
description:
  - Encryption at rest for lifeboat.n8n backups. With O(state=encrypted) each artifact of O(backup_dir)
    listed in O(artifacts) (manifest records C({name, path, kind, format})) is encrypted into
    C(<path>.lbenc), and the records to put in the manifest are returned with C(.lbenc) appended to
    their C(path) and C(format); the manifest then records the checksums of the encrypted files.
  - With O(state=decrypted) each encrypted artifact (format ending in C(.lbenc)) is decrypted into
    O(dest_dir), and the returned records describe the plaintext (path and format without C(.lbenc),
    its SHA-256 and size), ready to be used in place of the manifest's.
  - AES-256-GCM in 1 MiB chunks (the STREAM construction; each chunk's nonce carries its index and a
    final-chunk flag, the header is authenticated with every chunk), with a key per file derived by
    HKDF-SHA256 from a master key, itself derived from the passphrase with scrypt (N=2^17, r=8, p=1,
    random salt). Files and directories stream, so memory use is one chunk whatever the size of a dump.
    A directory (a C(pg_dump -Fd) dump, the workflow export) is streamed through tar.
  - A wrong passphrase, a damaged, altered, reordered or truncated file is refused with a message that
    says so; plaintext is written under a temporary name and renamed into place only once the last
    chunk is authenticated. New files are created 0600 (directories 0700).
  - The passphrase never appears in results or messages. The format is described in the collection's
    C(docs/security.md).
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports which artifacts would be processed and the records it would return; writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: partial
    details:
      - With O(state=encrypted) and O(remove_source=true), an artifact whose plaintext is gone and whose C(.lbenc) file exists is
        left alone (C(changed=false)).
      - O(state=decrypted) writes the plaintext again on every run.
options:
  state:
    description:
      - V(encrypted) encrypts the listed artifacts.
      - V(decrypted) decrypts the listed artifacts that are encrypted.
    type: str
    choices: [encrypted, decrypted]
    required: true
  backup_dir:
    description: The folder that holds the artifacts; artifact paths are relative to it.
    type: path
    required: true
  dest_dir:
    description:
      - With O(state=decrypted), where the plaintext is written (created 0700 if missing). Defaults to O(backup_dir).
      - Artifacts that are not encrypted are copied there when it is another folder.
    type: path
  artifacts:
    description:
      - The artifact records, as in the manifest (C(name), C(path), C(kind), C(format); C(sha256) and C(size) are ignored).
    type: list
    elements: dict
    required: true
  names:
    description: Only process the artifacts with these names (O(state=decrypted)); the result then lists only them.
    type: list
    elements: str
  passphrase:
    description:
      - The archive passphrase. At least 12 characters to encrypt. Give it from a vault-protected variable.
    type: str
    required: true
  remove_source:
    description:
      - With O(state=encrypted), remove each plaintext artifact once its encrypted file is complete.
      - With O(state=decrypted) and O(dest_dir) equal to O(backup_dir), remove each C(.lbenc) file once decrypted.
    type: bool
    default: false
  kdf_cost:
    description: scrypt's cost as log2(N), with O(state=encrypted). Each step doubles time and memory (17 uses 128 MiB).
    type: int
    default: 17
seealso:
  - module: lifeboat.n8n.n8n_manifest
notes:
  - Needs the Python C(cryptography) package on the managed host.
"""

EXAMPLES = r"""
- name: Encrypt a backup's artifacts before its manifest is written
  lifeboat.n8n.n8n_artifact_crypt:
    state: encrypted
    backup_dir: /var/backups/lifeboat-n8n/20261121T140102Z.partial
    artifacts:
      - {name: database, path: database.sqlite, kind: database, format: sqlite}
      - {name: workflows, path: workflows, kind: workflow_export, format: json}
    passphrase: "{{ vault_backup_archive_passphrase }}"
    remove_source: true
  register: encrypted

- name: Decrypt a staged backup before restoring it
  lifeboat.n8n.n8n_artifact_crypt:
    state: decrypted
    backup_dir: /var/tmp/lifeboat-n8n-restore/20261121T140102Z
    artifacts: "{{ manifest.artifacts }}"
    passphrase: "{{ vault_backup_archive_passphrase }}"
    remove_source: true
  register: decrypted
"""

RETURN = r"""
artifacts:
  description:
    - The artifact records after the operation. Encrypted - C(path) and C(format) end in C(.lbenc) (no checksum,
      the manifest computes it). Decrypted - the plaintext's C(path), C(format), C(sha256) and C(size).
  returned: always
  type: list
  elements: dict
  sample: [{name: database, path: database.sqlite.lbenc, kind: database, format: sqlite.lbenc}]
processed:
  description: Names of the artifacts encrypted or decrypted by this run.
  returned: always
  type: list
  elements: str
  sample: [database, workflows]
bytes:
  description: Plaintext bytes processed.
  returned: always
  type: int
  sample: 104857600
duration_s:
  description: Seconds spent, key derivation included.
  returned: always
  type: float
  sample: 1.4
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lifeboat.n8n.plugins.module_utils._artifact_crypt import (
    ArtifactCryptError,
    decrypt_artifacts,
    encrypt_artifacts,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["encrypted", "decrypted"]),
            backup_dir=dict(type="path", required=True),
            dest_dir=dict(type="path"),
            artifacts=dict(type="list", elements="dict", required=True),
            names=dict(type="list", elements="str"),
            passphrase=dict(type="str", required=True, no_log=True),
            remove_source=dict(type="bool", default=False),
            kdf_cost=dict(type="int", default=17),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["state"] == "encrypted":
            result = encrypt_artifacts(
                params["backup_dir"],
                params["artifacts"],
                params["passphrase"],
                remove_source=params["remove_source"],
                log_n=params["kdf_cost"],
                check_mode=module.check_mode,
            )
        else:
            dest_dir = params["dest_dir"] or params["backup_dir"]
            if not module.check_mode and not os.path.isdir(dest_dir):
                os.makedirs(dest_dir, 0o700)
            result = decrypt_artifacts(
                params["backup_dir"],
                params["artifacts"],
                params["passphrase"],
                dest_dir=dest_dir,
                names=params["names"],
                remove_source=params["remove_source"],
                check_mode=module.check_mode,
            )
    except (ArtifactCryptError, OSError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
