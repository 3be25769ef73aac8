"""An instance runs one gunicorn worker per usable core unless WEB_CONCURRENCY says otherwise, and no
deployment file pins another count (compose, k8s, the image and the local cluster agree)."""
import os
import runpy

import pytest
import yaml

from support.engine import ROOT


def settings(monkeypatch, tmp_path, **env):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config would make a directory
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(os.path.join(ROOT, "gunicorn.conf.py"))


def test_workers_default_to_the_usable_cores(monkeypatch, tmp_path):
    config = settings(monkeypatch, tmp_path)
    assert config["workers"] == config["_usable_cores"]()
    assert 1 <= config["workers"] <= os.cpu_count()
    if not os.path.exists("/sys/fs/cgroup/cpu.max") or open("/sys/fs/cgroup/cpu.max").read().startswith("max"):
        assert config["workers"] == os.cpu_count()


def test_web_concurrency_still_overrides(monkeypatch, tmp_path):
    assert settings(monkeypatch, tmp_path, WEB_CONCURRENCY="3")["workers"] == 3


@pytest.mark.parametrize("path", ["compose.yaml", "deploy/k8s/configmap.yaml", "deploy/k8s/deployment.yaml",
                                  "Dockerfile"])
def test_no_deployment_file_pins_the_worker_count(path):
    text = open(os.path.join(ROOT, path)).read()
    if path.endswith(".yaml"):
        documents = [d for d in yaml.safe_load_all(text) if d]
        text = yaml.safe_dump_all(documents)  # comments dropped: only settings count
    else:
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "WEB_CONCURRENCY" not in text


def test_the_local_cluster_leaves_the_default_alone(monkeypatch):
    """Without --workers, an instance's environment carries no WEB_CONCURRENCY of the cluster's own."""
    import loadtests.cluster as cluster_module

    class Spawned(Exception):
        pass

    def record(args, log_name, env=None):
        raise Spawned(env)

    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setattr(cluster_module, "_spawn", record)  # the command and environment, not a process
    cluster = cluster_module.Cluster({"workers": None, "db_pool": 10, "instances": [1], "pids": {},
                                      "balancer_port": 1, "database_url": "postgresql://unused"})
    with pytest.raises(Spawned) as spawned:
        cluster._start_instance(0)
    assert "WEB_CONCURRENCY" not in spawned.value.args[0]
