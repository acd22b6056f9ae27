"""The battery's workload: several tenants, each driving campaigns, workflow runs and scans through
the public API the way a person would (start, watch, fix and retry, Continue, cancel) until each
reaches a final state. Accounts, credits and prices are set up with the ORM (a platform admin's
job, not the workload's); everything else is HTTP.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .api import Api, ServerErrors, new_key

DEAD_DNS = "127.0.0.1:9"  # discard: nothing answers DNS there, so every lookup fails
SCAN_SERVICES = ["meta", "schema", "security_headers", "accessibility", "rank_tracker"]
MAX_USER_RETRIES = 4  # retries a person makes of one failed phase / scan before giving up
CAMPAIGN_FINAL = {"completed", "cancelled"}
RUN_FINAL = {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"}
SCAN_FINAL = {"completed", "partial", "failed", "cancelled"}


@dataclass
class Profile:
    tenants: int
    waves: int  # rounds of new work per tenant, spread over the workload window
    domains: int  # per campaign
    files: int  # per run


PROFILES = {
    "short": Profile(tenants=2, waves=1, domains=20, files=4),
    "full": Profile(tenants=4, waves=20, domains=80, files=6),
}


@dataclass
class Tally:
    """What the workload did (printed with the invariants)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, by: int = 1) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + by


def setup_tenants(count: int, seed: int) -> list[dict[str, Any]]:
    """Tenants with a tenant admin each, a token, credits; the webhook's platform price."""
    from knox.models import AuthToken

    from devstack.accounts import make_tenant, make_user
    from tenants.models import Role
    from workflow_runs.models import ProcessorPrice
    from workflow_runs.services.credits import credits_grant

    ProcessorPrice.objects.update_or_create(processor="webhook", plan="", defaults={"credits_per_file": 2})
    tenants = []
    for n in range(count):
        tenant = make_tenant(f"chaos {seed} tenant {n}")
        user = make_user(tenant=tenant, role=Role.TENANT_ADMIN)
        credits_grant(tenant=tenant, amount=100_000, source="purchased", note="chaos battery")
        _, token = AuthToken.objects.create(user)
        tenants.append({"tenant": str(tenant.pk), "token": token, "n": n})
    return tenants


@dataclass
class Entity:
    kind: str
    id: str = ""
    done: bool = False
    retries: int = 0
    cancel_at: float | None = None  # monotonic time at which a person cancels it
    info: dict[str, Any] = field(default_factory=dict)


class TenantDriver:
    """One tenant's person: makes work in waves and advances every piece of it until final."""

    def __init__(
        self, *, number: int, api: Api, rng: random.Random, profile: Profile, stack_ports: dict[str, int], tally: Tally
    ):
        self.number = number
        self.api, self.rng, self.profile, self.ports, self.tally = api, rng, profile, stack_ports, tally
        self.entities: list[Entity] = []
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.good_dns = ""
        self.http_persona = ""
        self.template = ""

    # --- setup through the API -------------------------------------------------------------------
    def prepare(self) -> None:
        self.good_dns = self._create_persona(f"127.0.0.1:{self.ports['dns']}", 1.0)
        http = self.api.post(
            "/api/personas/http",
            {"name": "loopback http", "port": self.ports["http"], "timeout_seconds": 5.0, "concurrency": 20},
        )
        self.http_persona = _ok(http, 201)["id"]
        template = self.api.post(
            "/api/workflow-templates",
            {
                "name": "flaky webhook",
                "processor": "webhook",
                "processorConfig": {"url": f"http://127.0.0.1:{self.ports['flaky']}/process", "timeout_seconds": 1},
                "maxAttempts": 2,
            },
        )
        self.template = _ok(template, 201)["id"]

    def _create_persona(self, nameserver: str, timeout: float) -> str:
        body = {"name": f"dns {new_key()[:6]}", "nameservers": [nameserver], "timeout_seconds": timeout, "retries": 0}
        return str(_ok(self.api.post("/api/personas/dns", body), 201)["id"])

    # --- new work ------------------------------------------------------------------------------------
    def wave(self, n: int, now: float, window: float) -> None:
        """Wave `n` of new work. Which campaign has a failing phase and what gets cancelled alternate
        over tenants and waves (not left to chance), so even the short profile has each of them."""
        turn = (self.number + n) % 2
        self._new_campaign(failing=turn == 0, cancel=turn == 1 and n % 3 != 2, now=now, window=window)
        for j in range(2):
            self._new_run(cancel=j == 1 and turn == 1, now=now, window=window)
        for j in range(2):
            self._new_scan(cancel=j == 1 and turn == 0, now=now, window=window)

    def _cancel_time(self, cancel: bool, now: float, window: float) -> float | None:
        return now + self.rng.uniform(0.3, min(6.0, max(1.0, window / 4))) if cancel else None

    def _new_campaign(self, *, failing: bool, cancel: bool, now: float, window: float) -> None:
        name = f"chaos campaign {new_key()[:10]}"
        campaign = self._create_once("/api/campaigns", {"name": name, "mode": "full_sequence"}, name)
        dns = self._create_persona(DEAD_DNS, 0.3) if failing else self.good_dns
        batch = max(5, self.profile.domains // 4)
        configs = {
            "domain_generation": {
                "pattern_type": "prefix",
                "variable_length": 3,
                "character_set": "abcdefghij",
                "constant_string": "chaos",
                "tld": "test",
                "num_domains": self.profile.domains,
                "batch_size": batch,
            },
            "dns_validation": {"personaIds": [dns], "batch_size": batch},
            "http_keyword_validation": {
                "personaIds": [self.http_persona],
                "keywords": ["pricing"],
                "batch_size": batch,
            },
            "analysis": {"keyword": "pricing", "batch_size": batch},
        }
        for phase, config in configs.items():
            _ok(self.api.request("PUT", f"/api/campaigns/{campaign}/phases/{phase}/config", json=config), 200)
        started = self.api.post(f"/api/campaigns/{campaign}/phases/domain_generation/start", {}, key=new_key())
        _ok(started, 202)
        entity = Entity("campaign", campaign, cancel_at=self._cancel_time(cancel, now, window))
        entity.info = {"dns": dns, "failing": failing}
        self._add(entity)
        self.tally.add("campaigns")
        self.tally.add("campaigns_with_failing_phase", int(failing))

    def _new_run(self, *, cancel: bool, now: float, window: float) -> None:
        tag = new_key()[:10]
        names = [f"reject-{tag}-0.txt" if self.rng.random() < 0.3 else f"{tag}-0.txt"]
        names += [f"{tag}-{i}.txt" for i in range(1, self.profile.files)]
        files = [("files", (name, f"chaos file {name}\n".encode(), "text/plain")) for name in names]
        response = self.api.request(
            "POST", "/api/workflow-runs", data={"template": self.template}, files=files, key=new_key()
        )
        run = _ok(response, 201)["id"]
        self._add(Entity("run", run, cancel_at=self._cancel_time(cancel, now, window)))
        self.tally.add("runs")

    def _new_scan(self, *, cancel: bool, now: float, window: float) -> None:
        url = f"http://127.0.0.1:{self.ports['flaky']}/page/{new_key()[:12]}"
        body = {"url": url, "services": SCAN_SERVICES, "max_attempts": 3}
        scan = _ok(self.api.post("/api/scans", body, key=new_key()), 201)["id"]
        self._add(Entity("scan", scan, cancel_at=self._cancel_time(cancel, now, window)))
        self.tally.add("scans")

    def _create_once(self, path: str, body: dict[str, Any], name: str) -> str:
        """A create without an Idempotency-Key: after a lost answer, adopt the row if it was made."""
        import httpx

        for _ in range(60):
            try:
                response = self.api.client.post(path, json=body)
                if response.status_code == 201:
                    return str(response.json()["id"])
                if response.status_code < 500:
                    raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")
            except httpx.TransportError:
                pass
            time.sleep(0.5)
            listed = self.api.get(path, params={"limit": 200})
            if listed.status_code == 200:
                for row in listed.json()["results"]:
                    if row.get("name") == name:
                        return str(row["id"])
        raise RuntimeError(f"could not create {name}")

    def _add(self, entity: Entity) -> None:
        with self.lock:
            self.entities.append(entity)

    # --- advancing -----------------------------------------------------------------------------------
    def advance_all(self, *, cancelling: bool = True) -> bool:
        """One pass over this tenant's work; True when all of it is final."""
        with self.lock:
            pending = [e for e in self.entities if not e.done]
        for entity in pending:
            try:
                if cancelling and entity.cancel_at is not None and time.monotonic() >= entity.cancel_at:
                    self._cancel(entity)
                getattr(self, f"_advance_{entity.kind}")(entity)
            except Exception as exc:  # an answer a person would not expect: a finding; the rest goes on
                self.failures.append(f"{entity.kind} {entity.id}: {type(exc).__name__}: {exc}")
                entity.done = True
        return all(e.done for e in self.entities)

    def _cancel(self, entity: Entity) -> None:
        entity.cancel_at = None
        path = {"campaign": "campaigns", "run": "workflow-runs", "scan": "scans"}[entity.kind]
        response = self.api.post(f"/api/{path}/{entity.id}/cancel", {})
        _ok(response, 200, 202, 409)  # 409: it had finished first
        self.tally.add(f"{entity.kind}_cancels_{response.status_code}")

    def _advance_campaign(self, entity: Entity) -> None:
        body = _ok(self.api.get(f"/api/campaigns/{entity.id}"), 200)
        status = body["status"]
        if status in CAMPAIGN_FINAL:
            entity.done = True
            return
        if status == "failed" and entity.retries < MAX_USER_RETRIES:
            phase = body["lastFailedPhase"]
            if entity.info["failing"] and phase == "dns_validation":  # fix the persona, as a person would
                fixed = {"nameservers": [f"127.0.0.1:{self.ports['dns']}"], "timeout_seconds": 1.0}
                _ok(self.api.request("PATCH", f"/api/personas/dns/{entity.info['dns']}", json=fixed), 200)
                entity.info["failing"] = False
            entity.retries += 1
            key = new_key()
            response = self.api.post(f"/api/campaigns/{entity.id}/phases/{phase}/start", {}, key=key)
            _ok(response, 202, 409)
            if self.rng.random() < 0.3:  # the same retry sent twice with its key: replayed, not run again
                again = self.api.post(f"/api/campaigns/{entity.id}/phases/{phase}/start", {}, key=key)
                _ok(again, response.status_code)
                self.tally.add("phase_retry_replays")
            self.tally.add("phase_retries")
        elif status == "failed":
            entity.done = True  # a person gave up: failed, waiting for a retry nobody makes
        elif status == "paused":
            paused = [p["phase"] for p in body["phases"] if p["status"] == "paused"]
            for phase in paused:
                _ok(self.api.post(f"/api/campaigns/{entity.id}/phases/{phase}/resume", {}), 200, 202, 409)
                self.tally.add("phase_resumes")

    def _advance_run(self, entity: Entity) -> None:
        body = _ok(self.api.get(f"/api/workflow-runs/{entity.id}"), 200)
        if body["status"] not in RUN_FINAL:
            return
        if not body.get("canContinue") or entity.retries >= MAX_USER_RETRIES:
            entity.done = True
            return
        entity.retries += 1
        path = f"/api/workflow-runs/{entity.id}/retry-failed"
        style = self.rng.choice(["key", "key_twice", "double_click"])
        if style == "double_click":  # two clicks at once without a key: one Continue, the other refused
            answers: list[int] = []
            clicks = [
                threading.Thread(target=lambda: answers.append(self.api.post(path, {}).status_code)) for _ in range(2)
            ]
            for click in clicks:
                click.start()
            for click in clicks:
                click.join()
            if any(code >= 500 for code in answers) or not set(answers) <= {200, 409}:
                raise RuntimeError(f"double-clicked Continue of run {entity.id}: {answers}")
            self.tally.add("continue_double_clicks")
        else:
            key = new_key()
            first = self.api.post(path, {}, key=key)
            _ok(first, 200, 409)
            if style == "key_twice":
                again = self.api.post(path, {}, key=key)
                _ok(again, first.status_code)
                self.tally.add("continue_key_replays")
        self.tally.add("continues")

    def _advance_scan(self, entity: Entity) -> None:
        body = _ok(self.api.get(f"/api/scans/{entity.id}"), 200)
        if body["status"] not in SCAN_FINAL:
            return
        if body["status"] == "cancelled" or entity.retries >= MAX_USER_RETRIES:
            entity.done = True
            return
        status = _ok(self.api.get(f"/api/scans/{entity.id}/retry/status"), 200)
        retryable = status["retryableServices"]
        if not retryable:
            entity.done = True
            return
        chosen = sorted(self.rng.sample(retryable, self.rng.randint(1, len(retryable))))  # a selective retry
        entity.retries += 1
        response = self.api.post(f"/api/scans/{entity.id}/retry", {"services": chosen}, key=new_key())
        _ok(response, 202, 409)
        self.tally.add("scan_retries")


def _ok(response: Any, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:400]}"
        )
    return response.json() if response.content else {}


def make_drivers(
    tenants: list[dict[str, Any]], *, base_url: str, seed: int, profile: Profile, ports: dict[str, int], tally: Tally
) -> tuple[list[TenantDriver], ServerErrors]:
    errors = ServerErrors()
    drivers = []
    for account in tenants:
        api = Api(base_url=base_url, token=account["token"], errors=errors)
        rng = random.Random(f"{seed}:tenant:{account['n']}")
        drivers.append(
            TenantDriver(number=account["n"], api=api, rng=rng, profile=profile, stack_ports=ports, tally=tally)
        )
    return drivers, errors
