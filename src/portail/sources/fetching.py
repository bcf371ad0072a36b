"""Fetching a URL source, from public addresses only unless the instance allows more.

A load from a URL (the management API's ``source_url`` and ``data/url``, ``portail dataset
ingest <url>``, a reload, ``portail refdata install``) makes the server send a GET and read
the answer back as a dataset. Whoever holds a management token (or stole one) could make it
read its own loopback services (Redis, a database's HTTP port), the cloud metadata address
169.254.169.254 or intranet hosts (SSRF). So a download connects only to public addresses,
and to the networks and host names ``Settings.fetch_allow`` lists (a data lake on the
intranet).

The check is made where each connection is opened, not on the URL before the request: every
connection (the first and each redirect's) resolves its host once, keeps the addresses
allowed and connects to one of those very addresses. A check on a resolution of its own is
passed by a name that answers a public address to it and 127.0.0.1 to the connection (DNS
rebinding); a check of the first URL only, by a redirect.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import os
import queue
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from portail.config import FETCH_TIMEOUT
from portail.ingest.errors import IngestError
from portail.sources.redaction import MARK, redacted_text, redacted_url, userinfo_cut_short

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: IPv6 ranges whose last 32 bits are an IPv4 address that a packet to them reaches: NAT64's
#: well-known prefix and the deprecated IPv4-compatible addresses (``::127.0.0.1``).
_CARRYING_IPV4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"),
                  ipaddress.ip_network("::ffff:0:0:0/96"))  # and SIIT's IPv4-translated addresses
#: IPv6 ranges of a site's own, which Python 3.11 calls global: the local-use translation prefix
#: (RFC 8215: a site's NAT64 reaching its own IPv4 network, 10.0.0.0/8 included) and the
#: deprecated site-local addresses, still routed inside some networks.
_SITE_LOCAL = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("fec0::/10"))
#: The setting a refusal names, for the operator to allow an intranet source.
SETTING = "PORTAIL_FETCH_ALLOW"
#: The longest wait for any one connection, read or write of a download.
STEP_TIMEOUT = 60.0


class LookupThreads:
    """At most ``size`` daemon threads running name lookups, started as lookups come.

    ``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits: a
    lookup stuck on a resolver that never answers held ``portail dataset ingest`` alive for
    minutes after it had reported its deadline. A lookup has nothing to finish or clean up, so
    these threads are daemons, which exit does not wait for. Each lookup is a ``Future``, as the
    executor's: one not started yet can be cancelled."""

    def __init__(self, size: int, name: str):
        self.size = size
        self.name = name
        self._waiting: queue.SimpleQueue[tuple[concurrent.futures.Future, Callable[[], Any]]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._starting = threading.Lock()
        os.register_at_fork(after_in_child=self._forget_threads)

    def _forget_threads(self) -> None:
        """In a process forked from this one: none of the parent's threads is there, and the queue
        and lock they waited on are as the fork caught them (the queue's lock taken by a thread
        gone, at times). Kept, every lookup of the child waited for a thread that never came."""
        self._waiting = queue.SimpleQueue()
        self._threads = []
        self._starting = threading.Lock()

    def submit(self, work: Callable[[], Any]) -> concurrent.futures.Future:
        """The future of ``work()``, run on the first thread free. A thread that could not start
        (no more threads allowed: an error for the caller) is not counted as one."""
        lookup: concurrent.futures.Future = concurrent.futures.Future()
        with self._starting:
            if len(self._threads) < self.size:
                thread = threading.Thread(target=self._run, name=f"{self.name}_{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)
        self._waiting.put((lookup, work))
        return lookup

    def _run(self) -> None:
        while True:
            lookup, work = self._waiting.get()
            if not lookup.set_running_or_notify_cancel():  # cancelled while waiting
                continue
            try:
                lookup.set_result(work())
            except BaseException as error:  # the waiter's to judge, as the executor's threads do
                lookup.set_exception(error)


#: The threads name lookups run on (``resolve``): as many as downloads usually run at once.
_LOOKUPS = LookupThreads(4, "portail-resolve")


@dataclass(frozen=True)
class Allowance:
    """What may be fetched from besides public addresses (``Settings.fetch_allow``)."""

    networks: tuple[Network, ...] = ()
    names: frozenset[str] = frozenset()

    def admits(self, host: str, address: Address) -> bool:
        """Whether a connection to ``host`` may go to ``address``. A host named here may be at
        any address: an intranet name is answered for by the institution's own DNS."""
        if _bare_name(host) in self.names:
            return True
        carried = _carried_ipv4(address)
        return any(each in network for network in self.networks for each in (address, carried) if each is not None)


def allowance(entries: Iterable[str]) -> Allowance:
    """The ``Allowance`` of ``Settings.fetch_allow``'s entries: networks (``10.20.0.0/16``, or
    one address), else host names (the setting checked them)."""
    networks: list[Network] = []
    names: set[str] = set()
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(_bare_name(entry))
    return Allowance(tuple(networks), frozenset(names))


def _bare_name(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _carried_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped (``::ffff:127.0.0.1``, which a dual-stack
    socket reaches as 127.0.0.1), 6to4 (``2002:7f00:1::``), NAT64 or IPv4-compatible. Python
    3.11 calls the last three global whatever they carry."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if any(address in network for network in _CARRYING_IPV4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def public(address: Address) -> bool:
    """Whether ``address`` is on the public internet: ``is_global`` (false for loopback,
    private, link-local, shared CGNAT, reserved and unspecified addresses), multicast excluded
    (global to Python 3.11) and so are a site's own IPv6 ranges (``_SITE_LOCAL``), an IPv6
    address carrying an IPv4 one judged by the IPv4 one."""
    carried = _carried_ipv4(address)
    if carried is not None:
        return public(carried)
    return address.is_global and not address.is_multicast and not any(address in net for net in _SITE_LOCAL)


class AddressRefused(Exception):
    """A connection the instance's rules refuse. Raised inside httpx's connection pool, which
    lets through unchanged the exceptions that are not httpcore's own."""

    def __init__(self, host: str, address: Address):
        self.host = host
        self.address = address
        super().__init__(self.reason())

    def reason(self) -> str:
        named = self.host if not _is_address(self.host) else None
        what = f"{named} is {self.address}, which is" if named else f"{self.address} is"
        return f"{what} not a public address; allow it with {SETTING}='[\"{self.host}\"]' (or its network)"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(host: str, port: int, wait: float | None = None) -> list[Address]:
    """The addresses of ``host``, in the resolver's order (an address is its own), found within
    ``wait`` seconds; a name that does not resolve is httpcore's ``ConnectError``, one not
    resolved in time its ``ConnectTimeout``, which httpx reports as its own.

    ``getaddrinfo`` takes no timeout: a resolver that never answers held the download past its
    deadline (glibc's own timeouts, retries and search domains add up to minutes). So it runs on
    one of ``_LOOKUPS``' few threads and is waited for at most ``wait``: a lookup given up keeps
    its thread until the resolver gives up too (a daemon: it does not hold the process's exit),
    and one not started yet is cancelled, so stuck lookups hold at most those threads, never a
    new one each. An address is its own without them: stuck lookups filling them do not fail a
    download from an address too."""
    if _is_address(host):
        return [ipaddress.ip_address(host)]
    lookup = _LOOKUPS.submit(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    if not concurrent.futures.wait([lookup], timeout=wait).done:  # not ``result(timeout)``: its TimeoutError is
        lookup.cancel()                                            # also a lookup's own (socket.timeout)
        raise httpcore.ConnectTimeout(f"resolving {host} took too long")
    try:
        found = lookup.result()
    except (OSError, UnicodeError) as error:
        raise httpcore.ConnectError(f"cannot resolve {host} ({getattr(error, 'strerror', None) or error})") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))


class CheckedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, connecting only to the addresses an ``Allowance`` admits.

    httpcore opens every connection through its pool's network backend, ``connect_tcp(host,
    port)``, then starts TLS on the stream it returns with the URL's host as
    ``server_hostname``, and httpx writes the Host header from the URL. So this backend
    resolves the host itself, checks the addresses and hands the address it checked to the
    plain socket backend, while certificate checks, SNI and virtual hosts still see the name.
    Redirects come through it too: httpx follows each with a new request on the same pool.
    Network backends are httpcore's public extension point (httpcore 1.0); rewriting URLs to
    addresses instead breaks TLS and Host, and resolving apart before the request loses to DNS
    rebinding.
    """

    def __init__(self, allowed: Allowance, deadline: float):
        self.allowed = allowed
        self.deadline = deadline
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> httpcore.NetworkStream:
        *others, last = self._admitted(host, port, _until(self.deadline, timeout, httpcore.ConnectTimeout))
        for address in others:  # the next address when one does not answer, as ``socket.create_connection``
            try:
                return self._connect(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return self._connect(last, port, timeout, local_address, socket_options)

    def _connect(self, address: Address, port: int, timeout: float | None, local_address: str | None,
                 socket_options: Iterable[httpcore.SOCKET_OPTION] | None) -> httpcore.NetworkStream:
        wait = _until(self.deadline, timeout, httpcore.ConnectTimeout)
        stream = self._sockets.connect_tcp(str(address), port, wait, local_address, socket_options)
        return DeadlineStream(stream, self.deadline)

    def _admitted(self, host: str, port: int, wait: float) -> list[Address]:
        """The addresses of ``host`` that may be connected to, resolved within ``wait``; none
        is an ``AddressRefused``. Those refused are skipped rather than the host: the
        connection never goes to them."""
        found = resolve(host, port, wait)
        admitted = [address for address in found if public(address) or self.allowed.admits(host, address)]
        if not admitted:
            raise AddressRefused(host, found[0])
        return admitted

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


def _until(deadline: float, timeout: float | None, late: type[httpcore.TimeoutException]) -> float:
    """``timeout`` shortened to what is left before ``deadline`` (``time.monotonic``); ``late``
    once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise late("the download's time is up")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends by the download's deadline. httpx's timeouts bound
    each read alone: a server sending a byte every few seconds (or headers a byte at a time)
    held a download, its worker and its temporary file for ever."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self.stream = stream
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, _until(self.deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, _until(self.deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        wait = _until(self.deadline, timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self.stream.start_tls(ssl_context, server_hostname, wait), self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class CheckedTransport(httpx.HTTPTransport):
    """httpx's own transport (its request and response mapping, its errors) over a connection
    pool whose backend is ``CheckedBackend``. httpx 0.28 takes no ``network_backend`` yet
    (encode/httpx#3749 adds it), so the pool it built is replaced by one that does: the one
    private name used (``_pool``), to drop for that argument when it comes."""

    def __init__(self, allowed: Allowance, deadline: float):
        context: ssl.SSLContext = httpx.create_ssl_context()  # SSL_CERT_FILE honoured, as before
        super().__init__(verify=context)
        self._pool = httpcore.ConnectionPool(ssl_context=context, network_backend=CheckedBackend(allowed, deadline))


def checked_client(allowed: Allowance, hops: list[httpx.Request], deadline: float) -> httpx.Client:
    """A client connecting only where ``allowed`` says, following redirects, noting each request
    it sends in ``hops``, done by ``deadline`` (``time.monotonic``). Given a transport, httpx
    ignores ``HTTP(S)_PROXY``: a proxy would open the connections, out of this check's reach."""
    return httpx.Client(transport=CheckedTransport(allowed, deadline), follow_redirects=True, timeout=STEP_TIMEOUT,
                        event_hooks={"request": [hops.append]})


def download(url: str, folder: Path, limit: int, allowed: Allowance, seconds: float = FETCH_TIMEOUT) -> Path:
    """``url`` downloaded into a new file of ``folder``, streamed, size-capped and done within
    ``seconds`` (``Settings.fetch_timeout``), from the addresses ``allowed`` admits. Every
    failure (refused, unreachable, an HTTP error status, too large, too slow, a host name IDNA
    refuses, a password cut short: ``userinfo_cut_short``) is an ``IngestError`` naming the URL
    without its credentials (``redacted_url``; httpx's words too), and leaves no file."""
    try:
        parts = urlsplit(url)
    except ValueError as error:  # shown without the URL: its credentials could not be told apart
        raise IngestError(f"not a valid URL ({error})") from None
    shown = redacted_url(url)
    if parts.scheme not in ("http", "https"):
        raise IngestError("only http and https URLs can be fetched", source=shown)
    if userinfo_cut_short(url):  # httpx refuses the port, or connects to the user's name as a host
        raise IngestError("the URL's password holds an unencoded /, ? or #, which ends its host for any client: "
                          "write them %2F, %3F and %23 (an @ in the path, %40)", source=shown)
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(urlsplit(shown).path).name  # the file's, in the load's report: not a token ending the path
    name = "download" if name in ("", MARK) else name
    fd, tmp = tempfile.mkstemp(prefix="fetch-", suffix="-" + name, dir=folder)
    hops: list[httpx.Request] = []
    size = 0
    deadline = time.monotonic() + seconds
    try:
        with open(fd, "wb") as out, checked_client(allowed, hops, deadline) as client, \
                client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise IngestError(f"download failed with HTTP {response.status_code}", source=shown)
            for chunk in response.iter_bytes(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise IngestError(f"the download is larger than the {limit:,} bytes allowed", source=shown)
                out.write(chunk)
    except AddressRefused as error:
        Path(tmp).unlink(missing_ok=True)
        raise IngestError(f"download refused{_redirected(hops)}: {error}", source=shown) from None
    except httpx.TimeoutException as error:
        Path(tmp).unlink(missing_ok=True)
        late = f"took longer than the {seconds:g} seconds allowed" if time.monotonic() >= deadline else str(error)
        raise IngestError(f"download failed{_redirected(hops)}: {redacted_text(late)}", source=shown) from None
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as error:  # UnicodeError: IDNA's (``xn--a``)
        Path(tmp).unlink(missing_ok=True)
        raise IngestError(f"download failed{_redirected(hops)}: {redacted_text(str(error))}", source=shown) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _redirected(hops: list[httpx.Request]) -> str:
    """Where a redirect led, when it did, to say which URL was refused or failed."""
    return f" (redirected to {redacted_url(str(hops[-1].url))})" if len(hops) > 1 else ""
