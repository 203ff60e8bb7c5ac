"""The worker side of ``service.jobs`` stands without the HTTP edge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEB = ("flask", "werkzeug", "flask_smorest", "marshmallow", "service.observability",
       "service.api")


def _loaded_after(module: str) -> list[str]:
    code = (f"import json, sys; import {module}; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def test_importing_the_worker_loads_no_flask():
    loaded = _loaded_after("service.jobs.worker")
    assert "service.jobs.worker" in loaded and "service.jobs.task" in loaded
    web = [m for m in loaded if m.split(".")[0] in WEB or m.startswith(WEB)]
    assert web == []


def test_job_modules_import_alone_in_any_order():
    # each module first in a fresh interpreter: a hidden import circle fails one of these
    for name in ("queue", "task", "stores", "liveness", "handler", "worker", "events"):
        assert f"service.jobs.{name}" in _loaded_after(f"service.jobs.{name}")


def test_the_worker_process_sets_up_without_flask(tmp_path):
    # nnserve worker's own setup (JSON logs, worker metrics), minus the blocking consumer
    code = f"""
import json, logging, sys
from service.config import Settings
import service.jobs.worker as worker
worker.run_worker = lambda *a, **k: logging.getLogger("nnserve.jobs").info("would run")
worker.main(Settings.from_env({{"store": {str(tmp_path)!r}, "worker_metrics_port": 0}},
                              environ={{}}))
print(json.dumps(sorted(sys.modules)))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    loaded = json.loads(done.stdout)
    assert json.loads(done.stderr.splitlines()[-1])["message"] == "would run"  # JSON logs
    assert [m for m in loaded if m.split(".")[0] in WEB or m.startswith(WEB)] == []
