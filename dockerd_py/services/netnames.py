"""Names of running containers on networks, from the network service's sandbox records.

Pure functions over ``{container id: sandbox record}`` (see `networks`): the
embedded DNS server's answers on user-defined networks, and the legacy links
of the default bridge (/etc/hosts entries and environment variables).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Records = Mapping[str, Mapping[str, Any]]


def dns_names(rec: Mapping[str, Any], ep: Mapping[str, Any]) -> list[str]:
    """Docker's DNSNames of an endpoint: name, aliases, short id, hostname."""
    names = [rec.get("name", ""), *(ep.get("config", {}).get("Aliases") or []),
             rec["container_id"][:12], rec.get("hostname", "")]
    return list(dict.fromkeys(n for n in names if n))


def lookup(records: Records, asker: str, name: str) -> list[str] | None:
    """Addresses of the containers called `name` on the user networks `asker` is on:
    by name, alias, short id or hostname, also as ``<name>.<network>``, and the
    asker's own ``--link target:alias`` there. None when there is none (the query
    goes upstream)."""
    query = name.rstrip(".").lower()
    rec = records.get(asker)
    if rec is None:
        return None
    found: list[str] = []
    for net_id, mine in rec["endpoints"].items():
        if not mine.get("user"):
            continue
        wanted = {query}
        suffix = "." + mine["network"].lower()
        if query.endswith(suffix):
            wanted.add(query[: -len(suffix)])
        for link in mine.get("config", {}).get("Links") or ():
            target, _, alias = link.partition(":")
            if (alias or target).lower() in wanted:
                wanted.add(target.lstrip("/").lower())
        for other in records.values():
            ep = other["endpoints"].get(net_id)
            if other.get("ready") and ep and ep.get("ip") and wanted & {n.lower() for n in dns_names(other, ep)}:
                found += [ep["ip"], *([ep["ip6"]] if ep.get("ip6") else [])]  # A and AAAA
    return list(dict.fromkeys(found)) or None


def reverse(records: Records, asker: str, address: str) -> str | None:
    """PTR: "<name>.<network>" of the container with `address` on a user network `asker` is on."""
    rec = records.get(asker)
    if rec is None:
        return None
    for net_id, mine in rec["endpoints"].items():
        if not mine.get("user"):
            continue
        for other in records.values():
            ep = other["endpoints"].get(net_id)
            if other.get("ready") and ep and address in (ep.get("ip"), ep.get("ip6") or ""):
                return f"{dns_names(other, ep)[0]}.{mine['network']}"
    return None


def linked(records: Records, bridge_id: str, links: Iterable[str]
           ) -> list[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """Legacy links (``name:alias``) to running containers on the default bridge:
    [(alias, their record, their endpoint there)]."""
    out = []
    for link in links:
        target, _, alias = link.partition(":")
        target = target.lstrip("/")
        alias = (alias or target).rsplit("/", 1)[-1]
        rec = next((r for r in records.values()
                    if r.get("ready") and (r.get("name") == target or r["container_id"].startswith(target))), None)
        ep = rec and rec["endpoints"].get(bridge_id)
        if ep:
            out.append((alias, rec, ep))
    return out


def extra_hosts(records: Records, bridge_id: str, links: Iterable[str]) -> list[str]:
    """/etc/hosts entries ("names:ip") of legacy links: the alias, the linked container's
    hostname and (if not the alias) its name, as Docker writes them."""
    out = []
    for alias, rec, ep in linked(records, bridge_id, links):
        names = [alias, rec.get("hostname") or rec["container_id"][:12]]
        if alias != rec.get("name"):
            names.append(rec.get("name", ""))
        out += [f"{' '.join(n for n in names if n)}:{ip}" for ip in (ep["ip"], ep.get("ip6")) if ip]
    return out


def link_env(records: Records, bridge_id: str, links: Iterable[str], own_name: str,
             env_of: Callable[[str], Iterable[str]] | None = None) -> list[str]:
    """Legacy links' environment variables, in Docker's order: ALIAS_PORT, the
    ``_START``/``_END`` variables of each run of three or more consecutive ports, each
    port's ALIAS_PORT_<n>_<PROTO>*, ALIAS_NAME, then the linked container's own
    environment (``env_of(container_id)``) as ALIAS_ENV_* without HOME and PATH.
    A name given twice keeps its first place, as in Docker's resulting environment."""
    env: dict[str, str] = {}

    def add(key: str, value: Any) -> None:
        env[key] = str(value)

    for alias, rec, ep in linked(records, bridge_id, links):
        prefix = re.sub(r"[^A-Za-z0-9]", "_", alias).upper()
        ip = ep["ip"]
        # Docker's order: by number, tcp before another protocol of the same number
        ports = sorted(((int(k.split("/")[0]), k.partition("/")[2] or "tcp") for k in rec.get("port_keys") or []),
                       key=lambda p: (p[0], p[1] != "tcp"))
        if ports:
            add(f"{prefix}_PORT", f"{ports[0][1]}://{ip}:{ports[0][0]}")
        i = 0
        while i < len(ports):
            j = _next_contiguous(ports, i)
            if j > i + 1:
                (port, proto), (end, end_proto) = ports[i], ports[j]
                key = f"{prefix}_PORT_{port}_{proto.upper()}"
                add(f"{key}_START", f"{proto}://{ip}:{port}")
                add(f"{key}_ADDR", ip)
                add(f"{key}_PROTO", proto)
                add(f"{key}_PORT_START", port)
                key = f"{prefix}_PORT_{port}_{end_proto.upper()}"
                add(f"{key}_END", f"{end_proto}://{ip}:{end}")
                add(f"{key}_PORT_END", end)
                i = j + 1
            else:
                i += 1
        for port, proto in ports:
            key = f"{prefix}_PORT_{port}_{proto.upper()}"
            add(key, f"{proto}://{ip}:{port}")
            add(f"{key}_ADDR", ip)
            add(f"{key}_PORT", port)
            add(f"{key}_PROTO", proto)
        add(f"{prefix}_NAME", f"/{own_name.lstrip('/')}/{alias}")
        for var in (env_of(rec["container_id"]) if env_of else ()):
            name, sep, value = var.partition("=")
            if sep and name not in ("HOME", "PATH"):
                add(f"{prefix}_ENV_{name}", value)
    return [f"{k}={v}" for k, v in env.items()]


def _next_contiguous(ports: list[tuple[int, str]], index: int) -> int:
    """The index of the last port of the run of consecutive numbers starting at `index`
    (Docker's nextContiguous, which counts a number given for two protocols as a step)."""
    value = ports[index][0]
    for i in range(index + 1, len(ports)):
        if ports[i][0] > value + 1:
            return i - 1
        value += 1
    return len(ports) - 1
