"""The egress policy hooked into the HTTP clients' connectors: each new TCP connection (a redirect hop, a
proxy) resolves its host once, checks every address and connects to a checked one. TLS still verifies
and sends SNI for the host name (the clients take it from the URL, not from the connected address)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

import aiohttp.abc
import httpcore
import httpx

from . import egress


class _EgressSyncBackend(httpcore.SyncBackend):
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = egress.resolve_checked(host, port)
        except egress.EgressDenied:
            raise
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)


class _EgressAsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.to_thread(egress.resolve_checked, host, port)
        except egress.EgressDenied:
            raise
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return await self._inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise egress.EgressDenied("unix_socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def http_transport(**kwargs: Any) -> httpx.HTTPTransport:
    """An httpx transport whose every connection passes the egress policy."""
    transport = httpx.HTTPTransport(**kwargs)
    pool = transport._pool
    assert isinstance(pool, httpcore.ConnectionPool), "the egress hook expects httpx's plain connection pool"
    pool._network_backend = _EgressSyncBackend()
    return transport


def async_http_transport(**kwargs: Any) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(**kwargs)
    pool = transport._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool), "the egress hook expects httpx's plain connection pool"
    pool._network_backend = _EgressAsyncBackend()
    return transport


class AiohttpEgressResolver(aiohttp.abc.AbstractResolver):
    """`aiohttp.TCPConnector(resolver=…)`: a host name (a proxy's) is resolved by the policy's own lookup,
    every address checked (EgressDenied if one is denied), like the httpx transports; IP literals never
    come here (aiohttp connects to them directly, and the socket factory checks them)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        addresses = await asyncio.to_thread(egress.resolve_checked, host, port)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def aiohttp_socket_factory(addr_info: tuple[Any, ...]) -> socket.socket:
    """`aiohttp.TCPConnector(socket_factory=…)`: aiohttp resolved the host (or took an IP literal); the
    address it is about to connect to is checked here, so nothing reaches a denied address or port."""
    family, type_, proto, _, sockaddr = addr_info
    egress.check_address(sockaddr[0], int(sockaddr[1]))
    return socket.socket(family=family, type=type_, proto=proto)


def checked_nameservers(servers: Iterable[str]) -> list[str]:
    """The persona's nameservers, each checked (EgressDenied on the first denied one)."""
    servers = list(servers)
    for server in servers:
        egress.check_nameserver(server)
    return servers
