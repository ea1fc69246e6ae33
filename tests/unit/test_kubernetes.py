"""deploy/kubernetes, rendered as `kubectl apply -k` would (tests/kustomize.py), validated
offline against the Kubernetes API schemas (kubernetes-validate) and the CRDs of KEDA and
the Prometheus Operator (tests/schemas), and checked against the code: real commands,
real settings, real routes and ports, the queues the code declares, the image the
Dockerfile builds, and resources and grace periods that follow from the settings. No
cluster runs here."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from imgflow.backends.broker.rabbitmq.topology import Topology
from imgflow.cli import build_parser, load_settings, parse_queues
from imgflow.domain import QueueName
from imgflow.secret_policy import checked
from imgflow.settings import Settings
from tests.kustomize import Manifest, containers, image_name, load, pod_spec, render
from tests.unit.test_deploy import SERVICES as COMPOSE_SERVICES
from tests.unit.test_deploy import WORKERS as COMPOSE
from tests.unit.test_deploy import health_routes, option

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
PRODUCTION = DEPLOY / "overlays" / "production"
KEDA = "../../components/keda"
CPU_AUTOSCALING = "../../components/cpu-autoscaling"
VARIANTS = {"keda": {}, "cpu-autoscaling": {KEDA: CPU_AUTOSCALING}}
"""The production overlay as shipped, and as a cluster without KEDA edits it."""
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
"""The oldest release with every field used (the preStop `sleep` handler is on by
default from 1.30) and the newest the validator knows."""
AWS_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}
PROCESS_BASELINE_BYTES = 150 * 2**20
"""An idle worker process (interpreter, libraries, pools), measured around 100 MiB."""
BYTES_PER_PIXEL = 4  # RGBA, CMYK, I and F: Pillow's widest modes
DOCKERFILE = (ROOT / "Dockerfile").read_text()


@pytest.fixture(scope="module", params=list(VARIANTS))
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    return render(PRODUCTION, VARIANTS[request.param])


def of_kind(objects: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in objects if m["kind"] == kind}


def deployments(objects: list[Manifest]) -> dict[str, Manifest]:
    return of_kind(objects, "Deployment")


def workers(objects: list[Manifest]) -> dict[str, Manifest]:
    return {n: d for n, d in deployments(objects).items() if command(d)[1] == "worker"}


def container(manifest: Manifest) -> dict[str, Any]:
    spec = pod_spec(manifest)
    assert spec is not None
    (only,) = spec["containers"]
    return dict(only)


def command(manifest: Manifest) -> list[str]:
    return list(container(manifest)["command"])


def environment(objects: list[Manifest], manifest: Manifest) -> dict[str, str]:
    """What the container's process sees: envFrom's ConfigMaps and Secrets, then env."""
    configs, secrets = of_kind(objects, "ConfigMap"), of_kind(objects, "Secret")
    env: dict[str, str] = {}
    for source in container(manifest).get("envFrom", []):
        if "configMapRef" in source:
            env |= configs[source["configMapRef"]["name"]]["data"]
        else:
            env |= secrets[source["secretRef"]["name"]]["stringData"]
    env |= {item["name"]: item["value"] for item in container(manifest).get("env", [])}
    return env


def quantity(text: str | int) -> float:
    """A Kubernetes quantity (`512Mi`, `2`, `250m`) as a number of bytes or cores."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3, "": 1}
    number, unit = re.fullmatch(r"([\d.]+)(Ki|Mi|Gi|m|)", str(text)).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The template's placeholder secret is checked on its own (below).
    monkeypatch.setenv("IMGFLOW_JWT_SECRET", "k8s-test-" + "aZ3" * 16)
    return Settings(_env_file=None)  # type: ignore[call-arg]


# --- the objects are what the Kubernetes API and KEDA accept ---


def crd_schema(path: Path) -> dict[str, Any]:
    """A CRD's openAPIV3Schema as JSON Schema, as strict as the API server's field
    validation: an object with declared properties takes no others."""
    crd = next(doc for doc in load(path) if doc["kind"] == "CustomResourceDefinition")
    (served,) = crd["spec"]["versions"]
    schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            if "(?i)" in node.get("pattern", ""):
                # Go's RE2 takes a flag mid-pattern (`^(?i)...`), Python's re only first.
                node["pattern"] = "(?i)" + node["pattern"].replace("(?i)", "")
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): crd_schema(
        ROOT / "tests" / "schemas" / "keda.sh_scaledobjects.yaml"
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): crd_schema(
        ROOT / "tests" / "schemas" / "monitoring.coreos.com_prometheusrules.yaml"
    ),
}


@pytest.mark.parametrize("kubernetes", KUBERNETES_VERSIONS)
def test_every_object_is_valid_for_its_schema(rendered: list[Manifest], kubernetes: str) -> None:
    for manifest in rendered:
        custom = CUSTOM_SCHEMAS.get((manifest["apiVersion"], manifest["kind"]))
        if custom is not None:
            jsonschema.validate(manifest, custom)
        else:
            kubernetes_validate.validate(manifest, kubernetes, strict=True)


def test_the_validation_refuses_a_misspelt_field() -> None:
    """The checks above can fail: a typo in a Deployment or a ScaledObject is caught."""
    objects = render(PRODUCTION)
    deployment = deployments(objects)["imgflow-api"]
    container_spec = deployment["spec"]["template"]["spec"]["containers"][0]
    container_spec["readinesProbe"] = container_spec.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    scaled = of_kind(objects, "ScaledObject")["imgflow-worker-convert"]
    scaled["spec"]["maxReplicas"] = scaled["spec"].pop("maxReplicaCount")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, CUSTOM_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")])


def test_selectors_match_their_pods(rendered: list[Manifest]) -> None:
    """The API server only checks this at apply time: a Deployment, Service or budget
    whose selector misses its pods."""
    pods = {
        n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments(rendered).items()
    }
    for name, deployment in deployments(rendered).items():
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pods[name].items()
    service = of_kind(rendered, "Service")["imgflow-api"]
    assert service["spec"]["selector"].items() <= pods["imgflow-api"].items()
    budgets = of_kind(rendered, "PodDisruptionBudget")
    for budget in budgets.values():
        wanted = budget["spec"]["selector"]["matchLabels"].items()
        selected = [name for name, labels in pods.items() if wanted <= labels.items()]
        assert selected == [budget["metadata"]["name"]]
    # Every Deployment that may run several pods has a budget; the single cron has none
    # (a budget would block every node drain).
    assert set(budgets) == {n for n, d in deployments(rendered).items() if command(d)[1] != "cron"}


# --- the manifests agree with the code ---


def test_every_process_kind_runs_a_real_command(rendered: list[Manifest]) -> None:
    kinds = [command(m)[1] for m in rendered if pod_spec(m) is not None]
    assert sorted(set(kinds)) == ["api", "cron", "migrate", "worker"]
    assert kinds.count("api") == kinds.count("cron") == kinds.count("migrate") == 1
    for manifest in rendered:
        if pod_spec(manifest) is not None:
            assert command(manifest)[0] == "imgflow"
            assert callable(build_parser().parse_args(command(manifest)[1:]).run)


def test_every_variable_is_a_real_setting(rendered: list[Manifest]) -> None:
    fields = {f"IMGFLOW_{field.upper()}" for field in Settings.model_fields}
    for manifest in rendered:
        if pod_spec(manifest) is None:
            continue
        names = set(environment(rendered, manifest))
        assert {n for n in names if n.startswith("IMGFLOW_")} <= fields
        assert {n for n in names if not n.startswith("IMGFLOW_")} <= AWS_VARIABLES


def test_the_settings_load_and_the_template_secret_is_refused(
    rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for manifest in rendered:
        if pod_spec(manifest) is not None:
            settings = settings_of(environment(rendered, manifest), monkeypatch)
            assert settings.environment == "production"
    template = of_kind(rendered, "Secret")["imgflow-secrets"]["stringData"]["IMGFLOW_JWT_SECRET"]
    with pytest.raises(ValueError, match="placeholder"):
        checked(template, production=True)  # nobody runs on the template by mistake


def test_one_worker_deployment_per_compose_queue_group(
    rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    groups = {n: parse_queues(option(command(d), "--queues")) for n, d in workers(rendered).items()}
    assert sorted(q for group in groups.values() for q in group) == sorted(QueueName)
    compose = [parse_queues(option(COMPOSE_SERVICES[n]["command"], "--queues")) for n in COMPOSE]
    assert sorted(map(sorted, groups.values())) == sorted(map(sorted, compose))
    for name, deployment in workers(rendered).items():
        for key, value in environment(rendered, deployment).items():
            monkeypatch.setenv(key, value)
        settings = load_settings(build_parser().parse_args(command(deployment)[1:]))
        # The process consumes exactly its group's queues.
        assert {q for q, n in settings.concurrency.items() if n > 0} == groups[name]


def test_probes_and_ports_are_the_processes_own(rendered: list[Manifest]) -> None:
    routes = health_routes()
    for name, deployment in deployments(rendered).items():
        spec = container(deployment)
        if command(deployment)[1] == "cron":
            # `imgflow cron` serves no HTTP: its probes run its own check command.
            assert "port" not in vars(build_parser().parse_args(["cron"]))
            assert not {"ports", "readinessProbe"} & set(spec)
            for probe in ("startupProbe", "livenessProbe"):
                check = spec[probe]["exec"]["command"]
                assert check == ["imgflow", "cron", "--check"]
                assert build_parser().parse_args(check[1:]).check
            continue
        (port,) = spec["ports"]
        assert port["containerPort"] == int(option(command(deployment), "--port")), name
        assert option(command(deployment), "--host") == "0.0.0.0"  # reachable by the kubelet
        assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert spec[probe]["httpGet"]["path"] in routes
            assert spec[probe]["httpGet"]["port"] == port["name"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port["containerPort"])
        assert annotations["prometheus.io/path"] in routes
    service = of_kind(rendered, "Service")["imgflow-api"]
    (service_port,) = service["spec"]["ports"]
    (api_port,) = container(deployments(rendered)["imgflow-api"])["ports"]
    assert service_port["targetPort"] == api_port["name"]


def test_images_are_the_one_the_dockerfile_builds(rendered: list[Manifest]) -> None:
    base = render(DEPLOY / "base")
    compose_image = COMPOSE_SERVICES["api"]["image"]  # what `docker compose build` tags
    assert {c["image"] for c in containers(base)} == {compose_image}
    (override,) = yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())["images"]
    assert override["name"] == image_name(compose_image)
    assert override["newTag"] == version("imgflow")  # the release the image is built from
    released = f"{override['newName']}:{override['newTag']}"
    assert {c["image"] for c in containers(rendered)} == {released}
    # The image runs `imgflow` (installed from the wheel) as its own user.
    uid = re.search(r"useradd .*--uid (\d+) imgflow", DOCKERFILE)
    assert uid is not None
    for manifest in rendered:
        if (spec := pod_spec(manifest)) is not None:
            assert spec["securityContext"]["runAsUser"] == int(uid.group(1))
            assert spec["securityContext"]["runAsNonRoot"] is True


def writable_paths(spec: dict[str, Any]) -> set[str]:
    (only,) = spec["containers"]
    return {mount["mountPath"] for mount in only.get("volumeMounts", [])}


def test_a_read_only_image_still_has_the_directories_it_writes(rendered: list[Manifest]) -> None:
    data_dir = re.search(r"^ENV IMGFLOW_DATA_DIR=(\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert data_dir is not None
    for manifest in rendered:
        if (spec := pod_spec(manifest)) is None:
            continue
        assert container(manifest)["securityContext"]["readOnlyRootFilesystem"] is True
        kind = command(manifest)[1]
        if kind in ("api", "worker"):
            assert "/tmp" in writable_paths(spec)  # uploads are spooled there
        if kind == "migrate":  # `imgflow migrate` creates IMGFLOW_DATA_DIR
            assert data_dir.group(1) in writable_paths(spec)


def test_termination_grace_outlasts_the_shutdown_grace(
    rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, deployment in deployments(rendered).items():
        settings = settings_of(environment(rendered, deployment), monkeypatch)
        spec = pod_spec(deployment)
        assert spec is not None
        pre_stop = container(deployment).get("lifecycle", {}).get("preStop", {})
        waited = pre_stop.get("sleep", {}).get("seconds", 0)
        # Requests or jobs get the grace, then a few seconds of closing connections.
        needed = waited + settings.shutdown_grace_seconds + 5
        assert spec["terminationGracePeriodSeconds"] >= needed, name


def test_worker_memory_limit_holds_the_documented_bound(
    rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, deployment in workers(rendered).items():
        settings = settings_of(environment(rendered, deployment), monkeypatch)
        # Per Pillow thread: a step's input and output at the pixel bound, and the
        # encoded source and result at the upload limit.
        per_thread = 2 * settings.max_total_pixels * BYTES_PER_PIXEL + 2 * settings.max_upload_bytes
        bound = settings.image_threads * per_thread + PROCESS_BASELINE_BYTES
        limits = container(deployment)["resources"]["limits"]
        assert quantity(limits["memory"]) >= bound, name
        assert quantity(limits["cpu"]) == settings.image_threads, name  # one core per thread


def test_every_container_requests_no_more_than_its_limits(rendered: list[Manifest]) -> None:
    for manifest in rendered:
        if pod_spec(manifest) is None:
            continue
        resources = container(manifest)["resources"]
        for resource in ("cpu", "memory"):
            requested, limit = resources["requests"][resource], resources["limits"][resource]
            assert quantity(requested) <= quantity(limit)


def test_the_cron_runs_alone(rendered: list[Manifest]) -> None:
    cron = deployments(rendered)["imgflow-cron"]
    assert cron["spec"]["replicas"] == 1
    assert cron["spec"]["strategy"] == {"type": "Recreate"}  # never two during a rollout
    autoscaled = {m["spec"]["scaleTargetRef"]["name"] for m in autoscalers(rendered)}
    assert "imgflow-cron" not in autoscaled


def autoscalers(objects: list[Manifest]) -> Iterator[Manifest]:
    for manifest in objects:
        if manifest["kind"] in ("ScaledObject", "HorizontalPodAutoscaler"):
            yield manifest


def test_every_scaled_deployment_has_one_autoscaler_and_no_fixed_count(
    rendered: list[Manifest],
) -> None:
    targets = [m["spec"]["scaleTargetRef"]["name"] for m in autoscalers(rendered)]
    assert sorted(targets) == sorted(["imgflow-api", *workers(rendered)])
    for name in targets:
        # A fixed count would be reset on every `kubectl apply`, fighting the autoscaler.
        assert "replicas" not in deployments(rendered)[name]["spec"]


def test_keda_counts_the_queues_each_worker_consumes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    objects = render(PRODUCTION)
    scaled = of_kind(objects, "ScaledObject")
    assert set(scaled) == set(workers(objects))
    for name, deployment in workers(objects).items():
        env = environment(objects, deployment)
        topology = Topology(settings_of(env, monkeypatch).namespace)
        triggers = scaled[name]["spec"]["triggers"]
        queues = parse_queues(option(command(deployment), "--queues"))
        assert sorted(t["metadata"]["queueName"] for t in triggers) == sorted(
            topology.queue(q) for q in queues
        )
        for trigger in triggers:
            assert trigger["type"] == "rabbitmq"
            # KEDA reads the broker address from the worker's own environment.
            assert trigger["metadata"]["hostFromEnv"] == "IMGFLOW_BROKER_URL"
            assert env["IMGFLOW_BROKER_URL"].startswith("amqp://")
        # Never to zero: held (unacked) messages do not count as waiting.
        assert scaled[name]["spec"]["minReplicaCount"] >= 1


def test_the_cpu_variant_replaces_keda_entirely() -> None:
    objects = render(PRODUCTION, VARIANTS["cpu-autoscaling"])
    assert not of_kind(objects, "ScaledObject")
    hpas = of_kind(objects, "HorizontalPodAutoscaler")
    assert set(hpas) == {"imgflow-api", *workers(objects)}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_renderer_agrees_with_kustomize(variant: str, tmp_path: Path) -> None:
    """tests/kustomize.py against the real kustomize built into kubectl, where present."""
    tree = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, tree)
    overlay = tree / "overlays" / "production"
    for old, new in VARIANTS[variant].items():
        text = (overlay / "kustomization.yaml").read_text()
        (overlay / "kustomization.yaml").write_text(text.replace(f"- {old}\n", f"- {new}\n"))
    printed = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    real = [doc for doc in yaml.safe_load_all(printed) if doc]

    def key(manifest: Manifest) -> tuple[str, str]:
        return manifest["kind"], manifest["metadata"]["name"]

    assert sorted(render(overlay), key=key) == sorted(real, key=key)


def test_the_readme_applies_the_migration_first_with_what_it_needs() -> None:
    """The README's first `kubectl apply -l ...` creates the Job with its namespace,
    ConfigMap and Secret, and starts no process that would run on an old schema."""
    readme = (ROOT / "README.md").read_text()
    selector = re.search(r"kubectl apply -k \$K -l '([\w./-]+) notin \(([\w,-]+)\)'", readme)
    assert selector is not None
    key, excluded = selector.group(1), set(selector.group(2).split(","))
    objects = render(PRODUCTION)
    first = [m for m in objects if m["metadata"].get("labels", {}).get(key) not in excluded]
    kinds = {m["kind"] for m in first}
    assert {"Namespace", "ConfigMap", "Secret", "Job"} <= kinds
    assert not kinds & {"Deployment", "ScaledObject", "HorizontalPodAutoscaler"}
    job = of_kind(first, "Job")["imgflow-migrate"]
    needed = {s.get("configMapRef", s.get("secretRef"))["name"] for s in container(job)["envFrom"]}
    assert needed <= {m["metadata"]["name"] for m in first}
    waited = re.search(r"kubectl -n (\S+) wait --for=condition=complete job/(\S+)", readme)
    assert waited is not None
    assert (job["metadata"]["namespace"], job["metadata"]["name"]) == waited.groups()
