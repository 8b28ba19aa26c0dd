"""Which proxy an http step uses: curl's rules, exactly.

- http:// URLs use `http_proxy`; the uppercase HTTP_PROXY is ignored (the "httpoxy" rule: a CGI
  program gets a request's `Proxy:` header as HTTP_PROXY, so curl never trusts that name);
- https:// URLs use `https_proxy`, else `HTTPS_PROXY`;
- either falls back to `all_proxy`, else `ALL_PROXY`;
- `no_proxy` (else `NO_PROXY`) lists hosts that go direct: `*` for all; a name matches itself
  and its subdomains (a leading dot is optional); an IP address matches itself, a CIDR block
  its addresses. Ports are not compared.
A lowercase name is read before its uppercase twin, as curl does. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def proxy_for(scheme: str, host: str, env: Mapping[str, str]) -> str | None:
    """The proxy URL for a request to scheme://host, or None to connect directly."""
    names = ("http_proxy",) if scheme == "http" else ("https_proxy", "HTTPS_PROXY")
    proxy = _first(env, *names) or _first(env, "all_proxy", "ALL_PROXY")
    if proxy is None or bypassed(host, _first(env, "no_proxy", "NO_PROXY") or ""):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def bypassed(host: str, no_proxy: str) -> bool:
    """`host` is in the no_proxy list."""
    host = host.strip("[]").lower().rstrip(".")
    address = _address(host)
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.strip("[]").rstrip(".")
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.lstrip(".")
        if host == entry or (address is None and host.endswith("." + entry)):
            return True
    return False


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
