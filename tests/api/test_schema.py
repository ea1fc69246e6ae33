"""The committed schema.graphql is what the code serves: clients generate from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_code(tmp_path: Path) -> None:
    exported = tmp_path / "schema.graphql"
    subprocess.run(
        [sys.executable, "-m", "imgflow.cli", "export-schema", "--output", str(exported)],
        check=True,
        cwd=ROOT,
    )
    committed = (ROOT / "schema.graphql").read_text()
    assert exported.read_text() == committed, "run `imgflow export-schema` and commit the result"


def test_contract_names_are_present() -> None:
    sdl = (ROOT / "schema.graphql").read_text()
    for name in (
        "scalar Upload",
        "enum JobStatus",
        "enum QueueName",
        "enum ImageFormat",
        "input OperationInput @oneOf",
        "submitImage(file: Upload!, operations: [OperationInput!] = null, "
        "variants: [VariantInput!] = null, srcset: SrcsetInput = null, "
        "analyze: Boolean! = false, preset: String = null, "
        "idempotencyKey: String = null): Job!",
        "submitImages(files: [Upload!]!, operations: [OperationInput!] = null, "
        "variants: [VariantInput!] = null, srcset: SrcsetInput = null, "
        "analyze: Boolean! = false, preset: String = null): [Job!]!",
        "createPreset(name: String!, operations: [OperationInput!] = null, "
        "variants: [VariantInput!] = null, srcset: SrcsetInput = null, "
        "analyze: Boolean! = false): Preset!",
        "presets: [Preset!]!",
        "deletePreset(name: String!): Preset!",
        "analysis: ImageAnalysis",
        "dominantColors: [String!]!",
        "input VariantInput",
        "input SrcsetInput",
        "outputs: [Output!]!",
        "progress: JobProgress!",
        "cancelJob(id: ID!): Job!",
        "retryJob(id: ID!): Job!",
        "jobUpdated(id: ID!): Job!",
        "jobs(first: Int = 20, after: String = null, status: JobStatus = null): JobConnection!",
    ):
        assert name in sdl, name
