"""The facts docs/operations.md states about the Dockerfile and docker-compose.yml.

No Docker engine runs here: these parse the files (hadolint and docker-compose's schema check
run in ``.ci/container-checks``).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from service.config import SETTINGS, Settings

yaml = pytest.importorskip("yaml", reason="PyYAML (dev extra) parses docker-compose.yml")

ROOT = Path(__file__).resolve().parent.parent
STORE = "/var/lib/nnserve"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, args = line.partition(" ")
        instructions.append((word.upper(), args.strip()))
    assert not pending
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instr, args in dockerfile():
        if instr == "FROM":
            result.append([])
        if result:
            result[-1].append((instr, args))
    return result


def final(instr: str) -> list[str]:
    return [args for i, args in stages()[-1] if i == instr]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


# --- Dockerfile --------------------------------------------------------------------------------

def test_base_image_is_an_arg_used_by_every_stage():
    instructions = dockerfile()
    assert instructions[0] == ("ARG", "PYTHON_IMAGE=python:3.11-slim")
    froms = [args for instr, args in instructions if instr == "FROM"]
    assert len(froms) >= 2, "multi-stage: a builder and the runtime image"
    assert all(args.split()[0] == "${PYTHON_IMAGE}" for args in froms)


def test_dependencies_are_installed_in_a_layer_before_the_code():
    builder = stages()[0]
    steps = [f"{instr} {args}" for instr, args in builder]

    def index(pattern: str) -> int:
        hits = [n for n, step in enumerate(steps) if re.search(pattern, step)]
        assert hits, pattern
        return hits[0]

    deps = index(r"^RUN pip install .*--require-hashes -r requirements\.lock$")
    assert index(r"^COPY requirements\.lock ") < deps
    assert deps < index(r"^COPY service ") and deps < index(r"^COPY models ")
    assert deps < index(r"^COPY pyproject\.toml ")
    assert index(r"^COPY service ") < index(r"^RUN pip install .*--no-deps .*\.")
    copies_before_deps = [s for s in steps[:deps] if s.startswith("COPY")]
    assert copies_before_deps == ["COPY requirements.lock ./"]
    runtime_copies = final("COPY")
    assert runtime_copies == ["--from=builder /opt/venv /opt/venv"]


def test_the_lock_pins_every_dependency_within_pyproject_with_hashes():
    """requirements.lock (pip-compile --generate-hashes --all-build-deps, see README) holds one
    exact version of each runtime and build requirement, inside pyproject's ranges."""
    locked: dict[str, str] = {}
    hashes: dict[str, int] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        pin = re.match(r"([A-Za-z0-9._-]+)==(\S+)", line)
        if pin:
            name = canonicalize_name(pin.group(1))
            locked[name], hashes[name] = pin.group(2), 0
        elif re.fullmatch(r"\s+--hash=sha256:[0-9a-f]{64}( \\)?", line):
            hashes[name] += 1
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = project["project"]["dependencies"] + project["build-system"]["requires"]
    for spec in map(Requirement, wanted):
        name = canonicalize_name(spec.name)
        assert name in locked, f"{spec.name} is not in requirements.lock"
        assert spec.specifier.contains(locked[name]), f"{name}=={locked[name]} is not {spec}"
    assert all(hashes.values()), [name for name, count in hashes.items() if not count]


def test_runs_as_a_non_root_user():
    users = final("USER")
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    instructions = stages()[-1]
    assert max(n for n, (i, _) in enumerate(instructions) if i == "USER") > \
        max(n for n, (i, _) in enumerate(instructions) if i == "RUN"), "no RUN as root after"


def test_port_volume_store_and_environment():
    assert final("EXPOSE") == ["8000"]
    assert json.loads(final("VOLUME")[0]) == [STORE]
    env = " ".join(final("ENV"))
    assert f"NNSERVE_STORE={STORE}" in env
    assert "NNSERVE_HOST=0.0.0.0" in env and "NNSERVE_PORT=8000" in env


def test_healthcheck_probes_healthz_with_python_in_exec_form():
    (check,) = final("HEALTHCHECK")
    options, _, command = check.partition("CMD ")
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"] and "/healthz" in argv[2]
    assert "urllib.request" in argv[2] and "8000" in argv[2]
    assert "--interval=" in options and "--timeout=" in options


def test_cmd_is_exec_form_nnserve_serve():
    (cmd,) = final("CMD")
    argv = json.loads(cmd)
    assert argv[:2] == ["nnserve", "serve"]
    assert "--insecure" not in argv, "the image requires NNSERVE_API_KEYS"
    assert not final("ENTRYPOINT")


def test_dockerignore_keeps_the_context_to_the_package():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "var", "tests", "**/__pycache__"} <= ignored
    needed = {"requirements.lock", "pyproject.toml", "README.md", "models", "service"}
    assert not needed & ignored


# --- docker-compose.yml ------------------------------------------------------------------------

def test_services_and_commands():
    services = compose()["services"]
    assert set(services) == {"nginx", "api", "worker", "redis"}
    assert services["api"]["command"] == ["nnserve", "serve", "--no-worker"]
    assert services["worker"]["command"] == ["nnserve", "worker"]
    assert services["redis"]["image"].startswith("redis:7")
    assert "version" not in compose(), "the Compose Specification has no version"


def test_the_store_is_one_named_volume_shared_by_api_and_workers():
    doc = compose()
    assert "store" in doc["volumes"]
    for name in ("api", "worker"):
        assert f"store:{STORE}" in doc["services"][name]["volumes"]
    assert doc["services"]["api"]["image"] == doc["services"]["worker"]["image"]


def test_start_order_waits_for_healthy_redis():
    services = compose()["services"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    api_check = services["api"]["healthcheck"]["test"]
    assert api_check[0] == "CMD" and "/readyz" in api_check[-1]
    assert services["worker"]["healthcheck"] == {"disable": True}


def test_worker_is_scalable():
    worker = compose()["services"]["worker"]
    for fixed in ("container_name", "ports", "hostname"):
        assert fixed not in worker, f"{fixed} would stop `--scale worker=N`"


def test_stop_grace_period_outlasts_gunicorns_graceful_timeout():
    services = compose()["services"]
    default = Settings.from_env(environ={}).graceful_timeout
    for name in ("api", "worker"):
        graceful = int(services[name]["environment"].get("NNSERVE_GRACEFUL_TIMEOUT", default))
        assert seconds(services[name]["stop_grace_period"]) >= graceful + 10


def test_configuration_is_by_environment():
    services = compose()["services"]
    for name in ("api", "worker"):
        assert services[name]["environment"]["NNSERVE_QUEUE"] == "redis://redis:6379/0"
    keys = services["api"]["environment"]["NNSERVE_API_KEYS"]
    assert keys.startswith("${NNSERVE_API_KEYS:?"), "required, never a default key"
    assert "NNSERVE_API_KEYS" not in services["worker"]["environment"]


def test_every_nnserve_variable_is_a_setting():
    known = {var for var, *_ in SETTINGS}
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "Dockerfile").read_text()
    used = set(re.findall(r"\b(NNSERVE_[A-Z_]+)\b", text)) - {"NNSERVE_PUBLISH"}
    assert used <= known, f"not in service.config.SETTINGS: {sorted(used - known)}"


def test_published_port_defaults_to_loopback():
    """Only the front door is published; the API is reached through it."""
    services = compose()["services"]
    (port,) = services["nginx"]["ports"]
    assert port == "${NNSERVE_PUBLISH:-127.0.0.1:8000}:8080"
    assert "ports" not in services["api"] and services["api"]["expose"] == ["8000"]


def test_front_door_config_matches_nnserve():
    """nginx's limits are nnserve's defaults, and nnserve trusts X-Forwarded-For from the
    compose network only."""
    doc = compose()
    nginx = doc["services"]["nginx"]
    assert nginx["image"].startswith("nginx:")
    assert "./deploy/nginx/nnserve.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert nginx["depends_on"] == {"api": {"condition": "service_healthy"}}
    conf = (ROOT / "deploy" / "nginx" / "nnserve.conf").read_text()
    defaults = Settings.from_env(environ={})
    assert f"client_max_body_size {defaults.max_body_mb:g}m;" in conf
    assert f"client_header_timeout {defaults.header_timeout:g}s;" in conf
    assert "server api:8000;" in conf and "listen 8080;" in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    (subnet,) = [c["subnet"] for c in doc["networks"]["default"]["ipam"]["config"]]
    assert doc["services"]["api"]["environment"]["NNSERVE_TRUSTED_PROXIES"] == subnet


def test_operations_doc_matches_the_files():
    doc = (ROOT / "docs" / "operations.md").read_text()
    text = (ROOT / "docker-compose.yml").read_text()
    services = compose()["services"]
    for var, default in re.findall(r"\$\{(NNSERVE_\w+):-([^}]*)\}", text):
        assert f"| `{var}` | `{default}` |" in doc, var
    for var in re.findall(r"\$\{(NNSERVE_\w+):\?", text):
        assert f"| `{var}` | required |" in doc, var
    assert f"stop_grace_period: {services['api']['stop_grace_period']}" in doc
    fixed = services["worker"]["environment"]
    for var in ("NNSERVE_QUEUE", "NNSERVE_GRACEFUL_TIMEOUT", "NNSERVE_WORKER_METRICS_PORT"):
        assert f"`{var}={fixed[var]}`" in doc, var
    assert f"port {fixed['NNSERVE_WORKER_METRICS_PORT']}" in doc
    uid = final("USER")[-1].split(":")[0]
    assert f"(uid {uid})" in doc
    assert f"`{json.loads(final('VOLUME')[0])[0]}`" in doc
    assert "`redis-data`" in doc and "`store`" in doc
