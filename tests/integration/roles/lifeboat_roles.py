"""Shared pieces for the role tests: deployments, inventories and playbook runs.

A *site* is one deployment the roles manage (a harness instance run by the "command"
service manager, or a DockerTopology) plus its inventory host vars. Tests back up one
site and restore into another, through the real playbooks in playbooks/.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from n8n_harness import N8nInstance, Seeded, seed
from n8n_harness.ansible import PlaybookRun, run_playbook
from n8n_harness.containers import ContainerN8n, DockerTopology
from n8n_harness.inventory import docker_host_vars, native_host_vars, write_inventory, write_secrets
from n8n_harness.launcher import N8nClient

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOKS = ROOT / "playbooks"


@dataclass
class Site:
    """A deployment, how to reach it over HTTP, and its inventory host vars."""

    name: str
    client: N8nClient
    host_vars: dict[str, Any]
    instance: N8nInstance | None = None
    topology: DockerTopology | None = None
    state_file: Path | None = None
    seeded: Seeded | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        if self.instance is not None and self.state_file is not None and self.state_file.exists():
            N8nInstance.load_state(self.state_file).stop()
        if self.topology is not None:
            self.topology.down()

    @property
    def key(self) -> str:
        """The encryption key the deployment runs with."""
        if self.instance is not None:
            return str(self.instance.encryption_key or self.instance.config_key())
        assert self.topology is not None
        return str(self.topology.encryption_key)


def native_site(n8n_factory: Any, name: str, version: str, db: str = "sqlite", key_in_config: bool = False) -> Site:
    """A harness instance, started and saved to a state file the role's start/stop commands use."""
    instance: N8nInstance = n8n_factory(version, db, name=name, key_in_env=not key_in_config)
    instance.start()
    state = instance.base_dir / "state.json"
    instance.save_state(state)
    return Site(name=name, client=instance, host_vars=native_host_vars(instance, state), instance=instance, state_file=state)


def reload(site: Site) -> None:
    """After a role stopped/started a native site, point the client at the current process."""
    if site.state_file is not None and site.instance is not None:
        current = N8nInstance.load_state(site.state_file)
        site.instance.pid = current.pid


def docker_site(prefix: str, version: str, db: str = "postgres", queue: bool = False, compose: bool = False, **kwargs: Any) -> Site:
    topology = DockerTopology(prefix=prefix, version=version, db=db, queue=queue, compose=compose, **kwargs)
    client: ContainerN8n = topology.up()
    return Site(name=prefix, client=client, host_vars=docker_host_vars(topology), topology=topology)


def seed_site(site: Site) -> Seeded:
    site.seeded = seed(site.client)
    return site.seeded


@dataclass
class Controller:
    """The controller side of a test: folders for backups and escrow, secrets, playbook runs."""

    root: Path
    vault_secret: str = field(default_factory=lambda: secrets.token_urlsafe(20))

    def __post_init__(self) -> None:
        for sub in ("backups", "escrow", "host-backups", "staging", "snapshots"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def host_vars(self, site: Site, **extra: Any) -> dict[str, Any]:
        return {
            **site.host_vars,
            "backup_root": str(self.root / "host-backups" / site.name),
            "backup_fetch": True,
            "backup_fetch_dest": str(self.root / "backups" / site.name),
            "key_escrow_dir": str(self.root / "escrow" / site.name),
            "restore_staging_dir": str(self.root / "staging" / site.name),
            "restore_snapshot_root": str(self.root / "snapshots" / site.name),
            **extra,
        }

    def run(self, playbook: str, site: Site, api_key: str | None = None, verbosity: int = 3,
            host_extra: dict[str, Any] | None = None, **extra_vars: Any) -> PlaybookRun:
        inventory = write_inventory(self.root / f"inventory-{site.name}.yml", {site.name: self.host_vars(site, **(host_extra or {}))})
        secrets_file = write_secrets(
            self.root / f"secrets-{site.name}.json",
            {"key_escrow_vault_secret": self.vault_secret, "restore_vault_secret": self.vault_secret,
             **({"lifeboat_n8n_api_key": api_key} if api_key else {})},
        )
        return run_playbook(
            PLAYBOOKS / playbook,
            inventory=str(inventory),
            extra_vars=extra_vars,
            verbosity=verbosity,
            args=["-e", f"@{secrets_file}"],
        )

    def newest_backup(self, site: Site) -> Path:
        folders = sorted(p for p in (self.root / "backups" / site.name).iterdir() if (p / "manifest.json").exists())
        assert folders, f"no fetched backup for {site.name}"
        return folders[-1]


def assert_no_secret(run: PlaybookRun, secrets_: list[str]) -> None:
    for secret in secrets_:
        assert secret and secret not in run.log, "a secret appears in the -vvv log"


def executions_of(client: N8nClient, workflow_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = client.api("GET", "/executions", params={"workflowId": workflow_id, "limit": 100})["data"]
    return data


def wait_for_new_execution(client: N8nClient, workflow_id: str, after: set[str], timeout: float = 60.0) -> str:
    """The schedule trigger fired again: a new execution of the workflow appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = {str(e["id"]) for e in executions_of(client, workflow_id)}
        new = ids - after
        if new:
            return sorted(new)[-1]
        time.sleep(2)
    raise AssertionError(f"workflow {workflow_id} did not run within {timeout} s after the restore")
