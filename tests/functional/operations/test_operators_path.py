"""The operators' path runs, not just parses.

The image installs requirements.txt alone, so a fresh virtualenv with nothing else must boot gunicorn
as the image's CMD does. The Dockerfile passes hadolint and the manifests validate against the
Kubernetes schemas (both tools pinned in requirements-dev.txt)."""
import os
import subprocess
import sys

import pytest
import requests
import yaml

from launch.embedded_postgres import free_port
from support.engine import JWT_SECRET, ROOT
from support.waiting import wait_until

BIN = os.path.dirname(sys.executable)
K8S = os.path.join(ROOT, "deploy", "k8s")
MANIFESTS = sorted(os.path.join(K8S, name) for name in os.listdir(K8S)
                   if name.endswith(".yaml") and name != "kustomization.yaml")


@pytest.mark.slow
def test_requirements_txt_alone_boots_gunicorn_as_the_image_does(tmp_path, database_url):
    venv = tmp_path / "image-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # pip's wheel cache keeps this to seconds after the first run; nothing from the dev environment leaks in.
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                              "-r", os.path.join(ROOT, "requirements.txt")], capture_output=True, text=True,
                             timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(PATH=f"{venv / 'bin'}:/usr/bin:/bin", DATABASE_URL=database_url, JWT_SECRET=JWT_SECRET,
               BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", LOG_LEVEL="WARNING")
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        # The Dockerfile's CMD, with the fresh environment's gunicorn.
        server = subprocess.Popen(["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        def live():
            assert server.poll() is None, f"gunicorn exited: {log_path.read_text()[-3000:]}"
            try:
                return requests.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200
            except requests.RequestException:
                return False
        wait_until(live, timeout=60, message="gunicorn from requirements.txt alone")
        assert requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code == 200
        assert "Traceback" not in log_path.read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_dockerfile_passes_hadolint(tmp_path):
    result = subprocess.run([os.path.join(BIN, "hadolint"), "--no-color", "Dockerfile"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # The linter really looks: an unpinned base image is reported.
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:latest\nRUN pip install flask\n")
    refused = subprocess.run([os.path.join(BIN, "hadolint"), "--no-color", str(broken)], capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode != 0 and "DL3007" in refused.stdout


def test_the_kubernetes_manifests_validate_against_the_schemas(tmp_path):
    assert len(MANIFESTS) >= 6
    result = subprocess.run([os.path.join(BIN, "kubernetes-validate"), "--strict", *MANIFESTS],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    documents = 0
    for path in MANIFESTS:
        with open(path) as handle:
            documents += sum(1 for document in yaml.safe_load_all(handle) if document)
    assert result.stdout.count("passed") == documents, result.stdout
    # Strict validation refuses a misspelt field.
    with open(os.path.join(K8S, "deployment.yaml")) as handle:
        deployment = yaml.safe_load(handle)
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    broken = tmp_path / "deployment.yaml"
    broken.write_text(yaml.safe_dump(deployment))
    refused = subprocess.run([os.path.join(BIN, "kubernetes-validate"), "--strict", str(broken)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
