"""A pool of OpenAI-compatible servers as one backend: each request goes to the least busy
server that answers; a server that fails is taken out and the request is tried on another.

    pool = ServerPool("Qwen/Qwen3-VL-8B-Instruct", ["http://gpu1:8000/v1", "http://gpu2:8000/v1"])
    pool.generate(messages)      # like any backend
    pool.report()                # a line per server: answered, failed, in or out and why

Which server takes a request is the `Ledger`'s choice: of the servers that are in, the one
with the fewest requests in flight (ties: the one that took fewest so far), at most
`per_server` in flight on each (`model.concurrency`; a request waits for a free place). A
failure that is the server's (`ServerError`: unreachable, dropped, 5xx or 429 after its
retries, hung, the key refused, the model not served, a body that is not a reply) takes the
server out, and the request goes to the next server that is in; a failure that is the
request's (a chunk too long for the context) fails as it would on one server. A server taken
out is asked for its models again after `recheck_s` and put back when it lists the model.
When no server is left, the request fails with each server's reason.

The ledger lives in this process, or, under `vidqa index --ray`, in one Ray actor that the
pool of every task shares (`vidqa.cluster`): "least busy" then counts the requests of the
whole cluster, and the counts at the end are the run's.

Captions made through a pool are cached under the identity "pool", whichever servers it had
that day: the servers of a pool are taken to serve the same weights under the model name
(one server alone is known by its URL, see `OpenAIBackend.identity_for`, also in a "pool" of
one, which a Ray job makes so its tasks share that server's accounts).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from vidqa.errors import BackendError, ServerError, one_line
from vidqa.model.backends import POOL_IDENTITY, backend_class, server_urls
from vidqa.model.backends.base import Generation, Message

if TYPE_CHECKING:
    from vidqa.config import Config, ModelConfig

RECHECK_S = 30.0  # a server taken out is asked again after this long
MEMBER_RETRIES = 1  # a member retries a blip once; after that another server takes the request


@dataclass
class ServerCount:
    """One server's part in a run."""

    url: str
    in_flight: int = 0
    answered: int = 0  # replies (a request refused for its own fault counts: the server answered)
    failed: int = 0  # requests that failed with the server's fault (each then went elsewhere)
    busy_s: float = 0.0  # seconds spent on answered requests
    out: str = ""  # why it is out of the pool ("" while in)
    recheck_at: float = 0.0  # wall-clock time it is asked again


class Accounts(Protocol):
    """What a pool asks of its ledger (a `Ledger` here, or its Ray actor, `vidqa.cluster`)."""

    def acquire(self, exclude: tuple[str, ...] = ()) -> str | None: ...
    def release(self, url: str, ok: bool, seconds: float = 0.0, why: str = "") -> None: ...
    def due(self) -> list[str]: ...
    def back(self, url: str) -> None: ...
    def counts(self) -> list[dict]: ...


class Ledger:
    """Which server takes the next request, and what each did; thread-safe."""

    def __init__(self, urls: list[str], per_server: int, recheck_s: float = RECHECK_S):
        if not urls:
            raise ValueError("a ledger needs servers")
        self.per_server = max(1, int(per_server))
        self.recheck_s = recheck_s
        self._servers = {url: ServerCount(url) for url in urls}
        self._changed = threading.Condition()

    def acquire(self, exclude: tuple[str, ...] = ()) -> str | None:
        """The server that takes a request (its place held until `release`), waiting while
        every server that is in is full; None when no server outside `exclude` is in."""
        with self._changed:
            while True:
                ins = [s for s in self._servers.values() if not s.out and s.url not in exclude]
                if not ins:
                    return None
                free = [s for s in ins if s.in_flight < self.per_server]
                if free:
                    best = min(free, key=lambda s: (s.in_flight, s.answered + s.failed))
                    best.in_flight += 1
                    return best.url
                self._changed.wait(timeout=1.0)

    def release(self, url: str, ok: bool, seconds: float = 0.0, why: str = "") -> None:
        """The request on `url` ended: answered (`ok`), or failed by the server's fault, which
        takes the server out for `why`."""
        with self._changed:
            server = self._servers[url]
            server.in_flight = max(0, server.in_flight - 1)
            if ok:
                server.answered += 1
                server.busy_s += seconds
            else:
                server.failed += 1
                if not server.out:
                    server.out = why or "failed"
                    server.recheck_at = time.time() + self.recheck_s
            self._changed.notify_all()

    def due(self) -> list[str]:
        """Servers out long enough to be asked again; each is handed to one caller only (its
        next check is moved on)."""
        now = time.time()
        with self._changed:
            due = [s for s in self._servers.values() if s.out and s.recheck_at <= now]
            for server in due:
                server.recheck_at = now + self.recheck_s
            return [s.url for s in due]

    def back(self, url: str) -> None:
        """`url` answers again: it takes requests from now on."""
        with self._changed:
            self._servers[url].out = ""
            self._changed.notify_all()

    def counts(self) -> list[dict]:
        with self._changed:
            return [asdict(s) for s in self._servers.values()]


class ServerPool:
    """Several OpenAI-compatible servers of one model as one backend (see the module); what
    the openai backend's `from_config` gives for several servers."""

    name: ClassVar[str] = "openai"

    def __init__(self, model: str, urls: list[str], *, api_key: str | None = None,
                 timeout_s: float = 120.0, retries: int = 3, per_server: int = 4,
                 ledger: Accounts | None = None, recheck_s: float = RECHECK_S,
                 identity: str = POOL_IDENTITY) -> None:
        if not urls:
            raise BackendError("a pool of servers needs at least one --base-url")
        self.model = model
        self.identity = identity
        self.urls = list(urls)
        server = backend_class("openai")  # one OpenAI-compatible server
        self.members = {url: server(model, base_url=url, api_key=api_key, timeout_s=timeout_s,
                                    retries=min(retries, MEMBER_RETRIES))
                        for url in self.urls}
        self.ledger: Accounts = ledger or Ledger(self.urls, per_server, recheck_s)
        # threads one process runs at once (a captioned video's chunks): every place of the pool
        self.concurrency = max(1, per_server) * len(self.urls)

    @classmethod
    def from_config(cls, config: Config, *, api_key: str | None = None, pooled: bool = True,
                    ledger: Accounts | None = None) -> ServerPool:
        """A pool of the servers `config.model.base_url` names, even of one (`pooled`: always);
        `ledger`: the accounts it shares with other processes (see `vidqa.cluster`), its own
        otherwise."""
        m = config.model
        return cls(m.model, server_urls(m.base_url), api_key=api_key, timeout_s=m.timeout_s,
                   retries=m.retries, per_server=m.concurrency, ledger=ledger,
                   identity=cls.identity_for(m))

    @classmethod
    def identity_for(cls, settings: ModelConfig) -> str:
        """The openai backend's: "pool" for several servers, a pool of one's server's URL."""
        return backend_class("openai").identity_for(settings)

    def __repr__(self) -> str:
        return f"ServerPool(model={self.model!r}, urls={self.urls!r})"

    def generate(self, messages: list[Message], *, max_new_tokens: int = 1024,
                 temperature: float = 0.0) -> Generation:
        """One completion from the least busy server that answers (see the module)."""
        self._recheck()
        tried: list[str] = []
        reasons: dict[str, str] = {}
        while True:
            url = self.ledger.acquire(tuple(tried))
            if url is None:
                raise self._none_left(reasons)
            started = time.monotonic()
            try:
                generation = self.members[url].generate(messages, max_new_tokens=max_new_tokens,
                                                        temperature=temperature)
            except ServerError as exc:
                self.ledger.release(url, False, why=str(exc))
                tried.append(url)
                reasons[url] = str(exc)
                continue
            except BaseException:
                self.ledger.release(url, True, time.monotonic() - started)
                raise
            self.ledger.release(url, True, time.monotonic() - started)
            return generation

    def _recheck(self) -> None:
        """Servers out long enough are asked whether they serve the model again."""
        for url in self.ledger.due():
            served = self.members[url].served_models()
            if served is not None and self.model in served:
                self.ledger.back(url)

    def _none_left(self, reasons: dict[str, str]) -> BackendError:
        out = {c["url"]: c["out"] for c in self.ledger.counts() if c["out"]}
        why = "; ".join(f"{url}: {one_line(reasons.get(url) or out.get(url) or 'out', 200)}"
                        for url in self.urls if url in reasons or url in out)
        return BackendError(f"no server of the pool for model '{self.model}' answers ({why}); "
                            f"start them or fix --base-url (a server taken out is asked again "
                            f"after {RECHECK_S:g} s)")

    def context_tokens(self) -> int | None:
        """The model's context as the first server that reports one says."""
        for member in self.members.values():
            value = member.context_tokens()
            if value:
                return value
        return None

    def counts(self) -> list[dict]:
        return self.ledger.counts()

    def report(self) -> list[str]:
        """One line per server (what it answered and failed, whether it is out and why), or
        none when no request went out."""
        counts = self.counts()
        if not any(c["answered"] or c["failed"] for c in counts):
            return []
        lines = []
        for c in counts:
            mean = f", {c['busy_s'] / c['answered']:.2f} s each" if c["answered"] else ""
            state = f"; out: {one_line(c['out'], 160)}" if c["out"] else ""
            lines.append(f"{c['url']}: {c['answered']} answered, {c['failed']} failed"
                         f"{mean}{state}")
        return lines


__all__ = ["Accounts", "Ledger", "ServerCount", "ServerPool"]
