# -*- coding: utf-8 -*-
# Copyright (c) lifeboat.n8n contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How modules reach n8n's public REST API (/api/v1).
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the n8n instance as reachable from the managed host, for example
        V(http://127.0.0.1:5678). The public API lives under C(/api/v1).
    type: str
  api_key:
    description:
      - An n8n API key (Settings > n8n API). Sent as C(X-N8N-API-KEY); never logged.
    type: str
  validate_certs:
    description: Verify the TLS certificate of O(api_url).
    type: bool
    default: true
  api_timeout:
    description: Seconds to wait for each API request.
    type: int
    default: 30
"""
