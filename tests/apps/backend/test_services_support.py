"""The shared service helpers: skip without binaries, fail instead when CI requires them."""

from __future__ import annotations

import pytest

from tests.support import services
from tests.support.services import ServiceUnavailable, _start_or_skip


def _missing() -> None:
    raise ServiceUnavailable("redis-server not found (Debian package redis-server)")


def test_missing_binaries_skip_with_a_one_line_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(services.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^redis-server not found \(Debian package redis-server\)$"):
        _start_or_skip(_missing)


def test_missing_binaries_fail_when_services_are_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(services.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="redis-server not found"):
        _start_or_skip(_missing)


def test_a_server_that_fails_to_start_is_an_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(services.REQUIRE_ENV, raising=False)

    def broken() -> None:
        raise ServiceUnavailable("PostgreSQL did not start: port in use")

    with pytest.raises(ServiceUnavailable):
        _start_or_skip(broken)


def test_missing_postgres_is_reported_as_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "find_postgres_bin", lambda: None)
    with pytest.raises(ServiceUnavailable, match="not found"):
        services.PostgresServer()
