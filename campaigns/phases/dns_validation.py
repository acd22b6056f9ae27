"""DNS validation: resolve names through a persona's nameservers with aiodns (c-ares), no Django here.

Each persona gets one resolver, a concurrency limit and a rate limit; names are spread over the
personas round-robin. A name ends `resolved` (with its addresses), `nxdomain`, `timeout` or `error`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiodns
import aiodns.error

from .ratelimit import Limiter, LimiterSource, LocalLimiters

RESOLVED, NXDOMAIN, TIMEOUT, ERROR = "resolved", "nxdomain", "timeout", "error"
_ADDRESS_TYPES = {"A", "AAAA"}


@dataclass(frozen=True)
class ResolverSettings:
    nameservers: tuple[str, ...]
    query_types: tuple[str, ...] = ("A",)
    timeout_seconds: float = 2.0
    retries: int = 1
    concurrency: int = 100
    rate_limit_per_second: int = 0
    limit_key: str = ""  # the persona's id: its rate limit is shared under this key


@dataclass
class Lookup:
    name: str
    status: str
    addresses: list[str] = field(default_factory=list)
    error: str = ""


def _classify(exc: aiodns.error.DNSError) -> tuple[str, str]:
    code = exc.args[0] if exc.args else None
    if code == aiodns.error.ARES_ENOTFOUND:
        return NXDOMAIN, ""
    if code == aiodns.error.ARES_ETIMEOUT:
        return TIMEOUT, "timeout"
    if code == aiodns.error.ARES_ENODATA:
        return ERROR, "no_data"
    if code == aiodns.error.ARES_ECONNREFUSED:
        return ERROR, "connection_refused"
    return ERROR, f"dns_error_{code}"


async def _lookup(
    resolver: aiodns.DNSResolver, name: str, query_types: Sequence[str], limiter: Limiter | None = None
) -> Lookup:
    """One query per type, each admitted by the persona's rate limit first."""
    addresses: list[str] = []
    outcomes: list[tuple[str, str]] = []
    for query_type in query_types:
        if limiter is not None:
            await limiter.acquire()
        try:
            result = await resolver.query_dns(name, query_type)
        except aiodns.error.DNSError as exc:
            outcomes.append(_classify(exc))
            continue
        outcomes.append((RESOLVED, ""))
        if query_type in _ADDRESS_TYPES:
            addresses += [str(getattr(record.data, "addr", "")) for record in result.answer if record.type in (1, 28)]
    if addresses:
        # In the resolver's order, duplicates dropped: the HTTP phase picks the family, not a string sort.
        return Lookup(name=name, status=RESOLVED, addresses=list(dict.fromkeys(addresses)))
    for wanted in (NXDOMAIN, TIMEOUT, ERROR):
        for status, error in outcomes:
            if status == wanted:
                return Lookup(name=name, status=status, error=error)
    return Lookup(name=name, status=ERROR, error="no_address")  # answered, but without an address


OnResult = Callable[[int, Lookup], None]


async def resolve_all(
    names: Sequence[str],
    personas: Sequence[ResolverSettings],
    on_result: OnResult | None = None,
    limiters: LimiterSource | None = None,
) -> list[Lookup]:
    """Resolve `names` (results in the same order); `on_result(index, lookup)` hears each one as it ends.
    Each persona's rate limit comes from `limiters` (closed at the end; default: this process only)."""
    if not personas:
        raise ValueError("at least one resolver persona is needed")
    limiters = limiters or LocalLimiters()
    lanes = []
    for persona in personas:
        resolver = aiodns.DNSResolver(
            nameservers=list(persona.nameservers), timeout=persona.timeout_seconds, tries=persona.retries + 1
        )
        lanes.append(
            (
                persona,
                resolver,
                asyncio.Semaphore(max(persona.concurrency, 1)),
                limiters.limiter(persona.limit_key, persona.rate_limit_per_second),
            )
        )

    async def one(index: int, name: str) -> Lookup:
        persona, resolver, semaphore, limiter = lanes[index % len(lanes)]
        async with semaphore:
            lookup = await _lookup(resolver, name, persona.query_types or ("A",), limiter)
        if on_result is not None:
            on_result(index, lookup)
        return lookup

    try:
        return list(await asyncio.gather(*(one(i, name) for i, name in enumerate(names))))
    finally:
        for _, resolver, _, _ in lanes:
            await resolver.close()
        await limiters.close()


def resolve_batch(
    names: Sequence[str],
    personas: Sequence[ResolverSettings],
    on_result: OnResult | None = None,
    limiters: LimiterSource | None = None,
) -> list[Lookup]:
    return asyncio.run(resolve_all(names, personas, on_result, limiters))


def answered(lookup: Lookup) -> bool:
    """A resolver answered (a name, NXDOMAIN, or no data for the type), so it works."""
    return not (lookup.status in (TIMEOUT, ERROR) and lookup.error != "no_data")


def resolvers_unusable(lookups: Sequence[Lookup]) -> bool:
    """True when no name got an answer at all (every lookup timed out or failed): the resolvers, not the
    names, are the problem, so the batch should fail rather than store a wall of timeouts."""
    return bool(lookups) and not any(answered(lookup) for lookup in lookups)
