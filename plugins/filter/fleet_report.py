# Copyright (c) 2026, virtops.libvirt_admin contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter fleet_report: the data of role fleet_report's report (documented in fleet_report.yml).

From what each host of a play registered when it looped libvirt_admin_server_info and then
libvirt_admin_client_info over its daemons: one row per host, daemon and server with its severity,
flags and problems, worst first; per host its daemons; the counts. The HTML page, the JSON file and
the summary of the role all show this one structure, so its keys and their order are a format.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

# Severities, each the index of its level. (One name a line: ansible-doc reads this file's assignments.)
LEVELS = ("ok", "warning", "critical", "failed")
OK = 0
WARNING = 1
CRITICAL = 2
FAILED = 3
# The one result of a host whose variables hold no results at all: it failed before its daemons were read.
NOT_READ = {
    "uri": "none read",
    "problem": "no data",
    "msg": "the host failed before its daemons were read: the play output says why",
}
ADMIN_SERVER = "admin"
# The two client limits of a server, each reached (critical) or near (warning, from client_warn_ratio on):
# (count, its limit, flag when reached, flag when near, what the problem calls it, after the counts).
CLIENT_LIMITS = (
    ("clients", "max_clients", "client_limit_reached", "near_client_limit", "client", " clients"),
    ("unauth_clients", "max_unauth_clients", "unauth_limit_reached", "near_unauth_limit", "unauthenticated client", ""),
)


def fleet_report(
    hosts,
    hostvars,
    server_info,
    client_info,
    client_warn_ratio=0.9,
    worker_warn_ratio=0.9,
    title="libvirt fleet report",
    generated=None,
):
    """The report of hosts (in play order), from the results each registered in hostvars under the
    names server_info and client_info."""
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, Sequence):
        raise AnsibleFilterError(f"fleet_report: the input must be a list of host names, not {type(hosts).__name__}")
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError(f"fleet_report: hostvars must be a mapping, not {type(hostvars).__name__}")
    for name, value in (("server_info", server_info), ("client_info", client_info)):
        if not isinstance(value, str):
            raise AnsibleFilterError(f"fleet_report: {name} must be the name of a registered variable")
    thresholds = {
        "client_warn_ratio": _ratio_option("client_warn_ratio", client_warn_ratio),
        "worker_warn_ratio": _ratio_option("worker_warn_ratio", worker_warn_ratio),
    }
    rows, entries = [], {}
    for host in hosts:
        variables = _variables_of(hostvars, host)
        daemons, host_rows = host_report(host, variables.get(server_info), variables.get(client_info), thresholds)
        severity = max([OK, *(row["severity"] for row in host_rows)])
        entries[host] = {"host": host, "severity": severity, "level": LEVELS[severity], "daemons": daemons}
        rows.extend(host_rows)
    rows.sort(key=worst_first)
    ordered = [entries[host] for host in host_order(rows, hosts)]
    return {
        "title": title,
        "generated": generated if generated is not None else _now(),
        "thresholds": thresholds,
        "summary": summary(rows, ordered),
        "servers": rows,
        "hosts": ordered,
    }


def host_report(host, server_info, client_info, thresholds) -> tuple:
    """(daemons, rows) of one host: one daemon per result of its server_info loop, paired by position
    with the results of its client_info loop; a daemon that could not be read is one failed row."""
    if isinstance(server_info, Mapping) and "results" in server_info:
        results = list(server_info["results"])
    else:
        results = [NOT_READ]
    listings = list(client_info.get("results", [])) if isinstance(client_info, Mapping) else []
    daemons, rows = [], []
    for index, result in enumerate(results):
        listed = listings[index] if index < len(listings) and isinstance(listings[index], Mapping) else {}
        daemon = daemon_entry(result, listed)
        daemons.append(daemon)
        if "servers" not in result:
            rows.append(failed_row(host, daemon, result))
        logging = daemon["logging"] or {}
        logs = (logging.get("outputs", []), logging.get("filters", []))
        rows.extend(server_row(host, daemon, server, logs, thresholds) for server in result.get("servers", []))
    return daemons, rows


def daemon_entry(result, listed) -> dict:
    """What the report keeps of one daemon: its server_info result and its client_info result."""
    readable = "servers" in result
    clients_error = None
    if readable and "clients" not in listed:
        clients_error = listed.get("msg", "the clients could not be listed")
    return {
        "uri": result.get("uri", requested_uri(result)),
        "version": result.get("version"),
        "unreachable": boolean(result.get("unreachable", False), strict=False),
        "error": None if readable else str(result.get("msg", "no result")),
        "logging": result.get("logging"),
        "clients_server": listed.get("server"),
        "clients": listed.get("clients", []),
        "clients_error": clients_error,
    }


def requested_uri(result) -> str:
    """The daemon a loop result was asked for: its item's uri or daemon, else libvirt's default."""
    item = result.get(result.get("ansible_loop_var", "item"))
    if isinstance(item, Mapping):
        if "uri" in item:
            return item["uri"]
        if "daemon" in item:
            return f"{item['daemon']}:///system"
    return "default admin URI"


def failed_row(host, daemon, result) -> dict:
    unreachable = daemon["unreachable"]
    return {
        "host": host,
        "daemon": daemon["uri"],
        "version": None,
        "server": None,
        "severity": FAILED,
        "level": LEVELS[FAILED],
        "flags": ["unreachable" if unreachable else "failed"],
        "problems": [result.get("problem", "host unreachable" if unreachable else "cannot read the daemon")],
        "error": daemon["error"],
        "unreachable": unreachable,
        "exhausted": False,
        "threadpool": None,
        "clients": None,
        "log_outputs": [],
        "log_filters": [],
        "busy_ratio": 0,
        "client_ratio": 0,
        "unauth_ratio": 0,
        "job_queue_depth": 0,
    }


def server_row(host, daemon, server, logs, thresholds) -> dict:
    pool, limits = server["threadpool"], server["clients"]
    found = problems(server, daemon["clients_error"], thresholds)
    severity = max([OK, *(level for _flag, level, _text in found)])
    return {
        "host": host,
        "daemon": daemon["uri"],
        "version": daemon["version"],
        "server": server["name"],
        "severity": severity,
        "level": LEVELS[severity],
        "flags": [flag for flag, _level, _text in found],
        "problems": [text for _flag, _level, text in found],
        "error": None,
        "unreachable": False,
        "exhausted": boolean(server.get("exhausted", False), strict=False),
        "threadpool": pool,
        "clients": limits,
        "log_outputs": logs[0],
        "log_filters": logs[1],
        "busy_ratio": round(ratio(pool["busy_workers"], pool["max_workers"]), 3),
        "client_ratio": round(ratio(limits["clients"], limits["max_clients"]), 3),
        "unauth_ratio": round(ratio(limits["unauth_clients"], limits["max_unauth_clients"]), 3),
        "job_queue_depth": pool["job_queue_depth"],
    }


def problems(server, clients_error, thresholds) -> list:
    """(flag, severity, text) of each problem of a server, in the order the report lists them."""
    pool, limits = server["threadpool"], server["clients"]
    busy, max_workers = pool["busy_workers"], pool["max_workers"]
    found = []
    if server.get("exhausted"):
        text = f"worker pool exhausted: {busy}/{max_workers} workers busy, {pool['job_queue_depth']} jobs waiting"
        found.append(("exhausted", CRITICAL, text))
    elif max_workers and ratio(busy, max_workers) >= thresholds["worker_warn_ratio"]:
        found.append(("near_worker_limit", WARNING, f"near the worker limit: {busy}/{max_workers} workers busy"))
    for used_key, limit_key, reached, near, words, unit in CLIENT_LIMITS:
        used, limit = limits[used_key], limits[limit_key]
        if limit and used >= limit:
            found.append((reached, CRITICAL, f"{words} limit reached: {used}/{limit}{unit}, new clients wait"))
        elif limit and ratio(used, limit) >= thresholds["client_warn_ratio"]:
            found.append((near, WARNING, f"near the {words} limit: {used}/{limit}{unit}"))
    # The admin server's clients are not listed (client_info lists the daemon's own server's).
    if clients_error is not None and server["name"] != ADMIN_SERVER:
        found.append(("clients_unlisted", WARNING, f"the clients could not be listed: {clients_error}"))
    return found


def ratio(used, limit):
    """used / limit, or 0 where there is no limit."""
    return used / limit if limit else 0


def worst_first(row) -> tuple:
    """Severity, then jobs waiting, share of busy workers, of clients, of unauthenticated clients, all
    descending; then host name (case folded as Jinja's sort folds it); else the order rows were made in
    (host, daemon, server: sort is stable)."""
    host = row["host"]
    return (
        -row["severity"],
        -row["job_queue_depth"],
        -row["busy_ratio"],
        -row["client_ratio"],
        -row["unauth_ratio"],
        host.lower() if isinstance(host, str) else host,
    )


def host_order(rows, hosts) -> list:
    """Hosts in the order of their worst row, then those without rows in play order."""
    order = list(dict.fromkeys(row["host"] for row in rows))
    placed = set(order)
    return order + [host for host in hosts if host not in placed]


def summary(rows, hosts) -> dict:
    count = {level: sum(1 for row in rows if row["level"] == level) for level in LEVELS}
    return {
        "hosts": len(hosts),
        "hosts_with_problems": sum(1 for host in hosts if host["severity"] > OK),
        "servers": sum(1 for row in rows if isinstance(row["server"], str)),
        "rows": len(rows),
        "problems": sum(1 for row in rows if row["severity"] > OK),
        "failed": count["failed"],
        "critical": count["critical"],
        "warning": count["warning"],
        "ok": count["ok"],
        "worst": LEVELS[max(row["severity"] for row in rows)] if rows else "ok",
    }


def _variables_of(hostvars, host) -> Mapping:
    try:
        variables = hostvars[host]
    except KeyError:
        return {}
    return variables if isinstance(variables, Mapping) else {}


def _ratio_option(name, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"fleet_report: {name} must be a number, not {value!r}") from None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FilterModule:
    def filters(self):
        return {"fleet_report": fleet_report}
