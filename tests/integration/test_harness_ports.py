"""The harness never hands out one port twice (n8n's HTTP and task-broker ports once collided in CI)."""

from __future__ import annotations

from collections.abc import Iterator

from n8n_harness import launcher


class _KernelOffering:
    """A socket whose bind to port 0 gets the next port from a fixed list, as the kernel might."""

    offered: Iterator[int] = iter(())

    def __init__(self, *_args: object) -> None:
        self.port = next(self.offered)

    def __enter__(self) -> _KernelOffering:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def bind(self, _address: object) -> None:
        return None

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_free_port_never_repeats_even_when_the_kernel_offers_the_same_port(monkeypatch) -> None:
    monkeypatch.setattr(_KernelOffering, "offered", iter([41000, 41000, 41000, 41001]))
    monkeypatch.setattr(launcher, "_ISSUED_PORTS", set())
    monkeypatch.setattr(launcher.socket, "socket", _KernelOffering)
    assert [launcher.free_port(), launcher.free_port()] == [41000, 41001]


def test_an_instance_gets_distinct_http_and_broker_ports(tmp_path) -> None:
    ports = set()
    for index in range(50):
        instance = launcher.N8nInstance(version="2.40.7", base_dir=tmp_path / str(index))
        ports.update((instance.port, instance.broker_port))
    assert len(ports) == 100
