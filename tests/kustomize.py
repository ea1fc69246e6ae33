"""Renders a kustomization as `kustomize build` does, for the subset deploy/kubernetes uses.

No kustomize binary installs from the package registries this project uses, so the
tests build the manifests with this: `resources` (files and directories), `components`,
`patches` given as files (strategic merge, the target named by the patch's own kind and
name), `namespace` and `images`. Any other field of a kustomization is refused rather
than ignored, so using a new kustomize feature in deploy/ fails here until it is added.
Where `kubectl` is installed (it carries kustomize), tests/unit/test_kubernetes.py
checks that this renders the same objects as the real thing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "components", "patches", "namespace"}
SUPPORTED_FIELDS |= {"images"}
CLUSTER_SCOPED_KINDS = {"Namespace", "CustomResourceDefinition", "ClusterRole"}
CLUSTER_SCOPED_KINDS |= {"ClusterRoleBinding"}
# Strategic merge: the lists of the Kubernetes API merged item by item on a key (as their
# `x-kubernetes-patch-merge-key` says); every other list is replaced whole.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "topologySpreadConstraints": "topologyKey",
}
CONTAINER_PORT_KEY = "containerPort"
SERVICE_PORT_KEY = "port"


def render(directory: Path, swap: dict[str, str] | None = None) -> list[Manifest]:
    """The objects `kustomize build directory` would print (in file order). `swap`
    replaces a component entry of `directory`'s kustomization by another, as an operator
    editing that line would (e.g. the CPU autoscaling instead of KEDA)."""
    return build(directory, [], swap or {})


def build(directory: Path, inherited: list[Manifest], swap: dict[str, str]) -> list[Manifest]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise ValueError(f"{directory}: kustomize fields not rendered by the tests: {unsupported}")
    objects = list(inherited)
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects += build(path, [], {}) if path.is_dir() else load(path)
    for entry in kustomization.get("components", []):
        objects = build(directory / swap.get(entry, entry), objects, {})
    transform(directory, kustomization, objects)
    return objects


def transform(directory: Path, kustomization: dict[str, Any], objects: list[Manifest]) -> None:
    for patch in kustomization.get("patches", []):
        for change in load(directory / patch["path"]):
            apply_patch(objects, change)
    if namespace := kustomization.get("namespace"):
        for manifest in objects:
            if manifest["kind"] not in CLUSTER_SCOPED_KINDS:
                manifest["metadata"]["namespace"] = namespace
    for image in kustomization.get("images", []):
        for container in containers(objects):
            retag(container, image)


def load(path: Path) -> list[Manifest]:
    return [copy.deepcopy(doc) for doc in yaml.safe_load_all(path.read_text()) if doc]


def apply_patch(objects: list[Manifest], change: Manifest) -> None:
    targets = [
        manifest
        for manifest in objects
        if manifest["kind"] == change["kind"]
        and manifest["metadata"]["name"] == change["metadata"]["name"]
    ]
    if len(targets) != 1:
        # kustomize refuses a patch that matches nothing, or more than one object.
        raise ValueError(f"patch {change['kind']}/{change['metadata']['name']}: {len(targets)}")
    merged = merge(targets[0], change)
    targets[0].clear()
    targets[0].update(merged)


def merge(base: Any, change: Any, field: str = "") -> Any:
    if isinstance(base, dict) and isinstance(change, dict):
        result = dict(base)
        for key, value in change.items():
            if value is None:
                result.pop(key, None)  # strategic merge: null deletes
            elif key in result:
                result[key] = merge(result[key], value, key)
            else:
                result[key] = copy.deepcopy(value)
        return result
    if isinstance(base, list) and isinstance(change, list):
        key = merge_key(field, base + change)
        if key is None:
            return copy.deepcopy(change)
        result = list(base)
        for item in change:
            index = next((i for i, old in enumerate(result) if old.get(key) == item[key]), None)
            if index is None:
                result.append(copy.deepcopy(item))
            else:
                result[index] = merge(result[index], item)
        return result
    return copy.deepcopy(change)


def merge_key(field: str, items: list[Any]) -> str | None:
    if not all(isinstance(item, dict) for item in items):
        return None
    if field == "ports":
        in_containers = all(CONTAINER_PORT_KEY in item for item in items)
        return CONTAINER_PORT_KEY if in_containers else SERVICE_PORT_KEY
    return MERGE_KEYS.get(field)


def pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    """The pod template's spec of a Deployment or a Job; None for other kinds."""
    if manifest["kind"] in ("Deployment", "Job"):
        spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
        return spec
    return None


def containers(objects: list[Manifest]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for manifest in objects:
        if (spec := pod_spec(manifest)) is not None:
            found += spec.get("initContainers", []) + spec["containers"]
    return found


def image_name(reference: str) -> str:
    """`registry:5000/imgflow:1.0` -> `registry:5000/imgflow`: the tag is after the last
    colon that follows the last slash."""
    head, _, last = reference.rpartition("/")
    name = last.split("@")[0].split(":")[0]
    return f"{head}/{name}" if head else name


def retag(container: dict[str, Any], image: dict[str, str]) -> None:
    if image_name(container["image"]) != image["name"]:
        return
    name = image.get("newName", image["name"])
    tag = image.get("newTag")
    if tag is None:
        reference: str = container["image"]
        tag = reference[len(image_name(reference)) + 1 :] or None
    container["image"] = f"{name}:{tag}" if tag else name
