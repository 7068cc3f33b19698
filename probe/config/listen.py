"""A ``HOST:PORT`` to listen on (``listen`` in kanari.yaml, ``--listen``): parsed once, here, for the
configuration's validation and for the HTTP server that binds it."""

from __future__ import annotations

import ipaddress
import re

from probe.errors import ListenError

# A DNS name or a dotted IPv4 address (which has the same shape); whether it resolves is the bind's
# question, answered there with the address named.
_HOST_NAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")
_EXAMPLES = "e.g. 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464"


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[IPv6]:PORT`` for IPv6) as (host, port), checked: port 1-65535, or 0 for a free
    one the kernel picks. A malformed value is a :class:`ListenError` naming it and what is wrong."""
    host, separator, port = listen.rpartition(":")
    if not separator:
        raise ListenError(f"{listen!r} is not HOST:PORT ({_EXAMPLES})")
    if not (port.isascii() and port.isdigit()):
        raise ListenError(f"{listen!r}: the port {port!r} is not a number ({_EXAMPLES})")
    number = int(port)
    if number > 65535:
        raise ListenError(f"{listen!r}: the port {number} is out of range (1-65535, or 0 for a free one)")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ListenError(f"{listen!r}: {host} is not an IPv6 address in brackets") from None
        return host[1:-1], number
    if ":" in host:
        raise ListenError(f"{listen!r}: an IPv6 address goes in brackets, e.g. [::1]:{port}")
    if not host:
        raise ListenError(f"{listen!r}: the host is missing (0.0.0.0:{port} listens on every interface)")
    if not _HOST_NAME.match(host):
        raise ListenError(f"{listen!r}: {host!r} is not a host name or IP address ({_EXAMPLES})")
    return host, number
