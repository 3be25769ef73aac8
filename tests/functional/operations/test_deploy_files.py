"""Deployment files parse and point at things that exist: env names, ports, paths, commands."""
import os
import re

import pytest
import yaml

from support.engine import JWT_SECRET, ROOT

K8S = os.path.join(ROOT, "deploy", "k8s")


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return handle.read()


def k8s(name):
    return yaml.safe_load(read("deploy", "k8s", name))


@pytest.fixture(scope="module")
def known_env():
    """Every variable the service, gunicorn.conf.py or the image reads."""
    names = set(re.findall(r'_(?:int|float|str|list)\("([A-Z_]+)"', read("app", "config.py")))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', read("gunicorn.conf.py")))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', read("demo_backend", "__main__.py")))
    names |= {"PROMETHEUS_MULTIPROC_DIR", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR"}
    return names


@pytest.fixture(scope="module")
def routes():
    os.environ.setdefault("JWT_SECRET", JWT_SECRET)
    from app import create_app
    from app.config import Config

    app = create_app(Config())
    return {rule.rule for rule in app.url_map.iter_rules()}


def test_dockerfile_runs_gunicorn_as_non_root_with_a_real_health_check(routes):
    dockerfile = read("Dockerfile")
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[0] not in ("root", "0") and users[-1] not in ("root", "0")
    health = re.search(r"HEALTHCHECK.*?(http://127\.0\.0\.1:(\d+)(/[\w/]+))", dockerfile, re.S)
    assert health and health.group(3) in routes
    assert "EXPOSE " + health.group(2) in dockerfile and f"BIND=0.0.0.0:{health.group(2)}" in dockerfile
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]' in dockerfile
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert os.path.exists(os.path.join(ROOT, path)), path


def test_compose_wires_postgres_migration_three_engines_nginx_backend_and_locust(known_env):
    compose = yaml.safe_load(read("compose.yaml"))
    services = compose["services"]
    assert {"postgres", "migrate", "engine", "nginx", "demo-backend", "locust-master", "locust-worker"} <= set(services)
    assert services["engine"]["deploy"]["replicas"] == 3
    assert services["postgres"]["healthcheck"] and services["postgres"]["volumes"]
    assert "db upgrade" in services["migrate"]["command"]
    assert services["locust-master"]["profiles"] == ["load"] and services["locust-worker"]["profiles"] == ["load"]
    for name, service in services.items():
        depends = service.get("depends_on", [])
        for dependency in depends if isinstance(depends, list) else depends.keys():
            assert dependency in services, (name, dependency)
        if service.get("image", "").startswith("chat-engine"):
            for key in service.get("environment", {}):
                assert key in known_env, (name, key)
    for name in ("JWT_SECRET", "SIGNING_KEY"):
        # Required, never defaulted: compose stops with the message instead of using a published key.
        assert re.fullmatch(r"\$\{" + name + r":\?[^}]+\}", compose["x-engine-env"][name]), name
    demo_secret = services["demo-backend"]["environment"]["DEMO_WEBHOOK_SECRET"]
    assert demo_secret == services["migrate"]["environment"]["DEMO_WEBHOOK_SECRET"] and ":?" in demo_secret
    assert "--webhook-secret-env DEMO_WEBHOOK_SECRET" in services["migrate"]["command"]
    assert ":-" not in read("compose.yaml"), "no variable of compose.yaml may fall back to a published default"
    mount = services["nginx"]["volumes"][0].split(":")[0]
    assert os.path.exists(os.path.join(ROOT, mount))
    demo_port = services["demo-backend"]["command"][services["demo-backend"]["command"].index("--port") + 1]
    assert f"demo-backend:{demo_port}" in services["migrate"]["command"]


def test_nginx_config_streams_to_the_engine_port():
    conf = read("deploy", "nginx", "nginx.conf")
    assert "server engine:8000" in conf and "proxy_buffering off" in conf and "proxy_http_version 1.1" in conf
    assert "ip_hash" not in conf and "sticky" not in conf


def test_kubernetes_manifests_agree_with_each_other_and_the_app(known_env, routes):
    kustomization = k8s("kustomization.yaml")
    for resource in kustomization["resources"]:
        assert os.path.exists(os.path.join(K8S, resource)), resource
    deployment = k8s("deployment.yaml")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] >= 3 and spec["selector"]["matchLabels"] == labels
    assert container["readinessProbe"]["httpGet"]["path"] in routes
    assert container["livenessProbe"]["httpGet"]["path"] in routes
    assert container["resources"]["requests"] and container["resources"]["limits"]
    port = container["ports"][0]["containerPort"]
    assert {"name": "BIND", "value": f"0.0.0.0:{port}"} in container["env"]

    config = k8s("configmap.yaml")["data"]
    secret_keys = documented_secret_keys()
    assert {"DATABASE_URL", "JWT_SECRET", "SIGNING_KEY"} <= secret_keys
    for key in [*config, *secret_keys, *(e["name"] for e in container["env"])]:
        assert key in known_env, key
    referenced = {ref["secretRef"]["name"] for ref in container["envFrom"] if "secretRef" in ref}
    assert referenced == {"chat-engine-secrets"}
    assert pod["terminationGracePeriodSeconds"] > int(config["GRACEFUL_TIMEOUT"]) > int(config["STREAM_GRACE_SECONDS"])

    service = k8s("service.yaml")
    assert service["spec"]["selector"] == labels and service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = k8s("hpa.yaml")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 3 and hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = k8s("pdb.yaml")
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    job = k8s("migration-job.yaml")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["flask", "--app", "wsgi", "db", "upgrade"]


def documented_secret_keys():
    """The keys of the operator's `kubectl create secret generic chat-engine-secrets` in docs/operations.md."""
    command = re.search(r"kubectl create secret generic chat-engine-secrets(.*?)```",
                        read("docs", "operations.md"), re.S)
    assert command, "docs/operations.md shows how to create the Secret"
    return set(re.findall(r"--from-literal=([A-Z_]+)=", command.group(1)))


def test_kubernetes_manifests_ship_no_secret_values():
    for name in sorted(os.listdir(K8S)):
        for document in yaml.safe_load_all(read("deploy", "k8s", name)):
            assert document.get("kind") != "Secret", name
            assert not {"data", "stringData"} & set(document) or document["kind"] == "ConfigMap", name
        text = read("deploy", "k8s", name)
        assert not re.search(r"(?i)(JWT_SECRET|SIGNING_KEY|PASSWORD)\s*:", text), name
    for workload in ("deployment.yaml", "migration-job.yaml"):
        container = k8s(workload)["spec"]["template"]["spec"]["containers"][0]
        assert {"secretRef": {"name": "chat-engine-secrets"}} in container["envFrom"], workload


def test_migration_command_exists_in_the_cli():
    from app.cli import db_cli

    assert "upgrade" in db_cli.commands
