"""The shared image corpus and its manifest, when it is there (it is not in a user's clone)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    name: str
    expected: str

    @property
    def should_process(self) -> bool:
        # HEIC/HEIF rows say "process if the service enables pillow-heif": imgflow reads
        # them with pi-heif (pillow-heif's decode-only build), so those are processed too.
        return self.expected.startswith("process")


def corpus_dir() -> Path | None:
    configured = os.environ.get("IMGFLOW_CORPUS_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared" / "corpus")
    return next((c for c in candidates if (c / "MANIFEST.tsv").is_file()), None)


def corpus_files() -> list[CorpusFile]:
    root = corpus_dir()
    if root is None:
        return []
    with (root / "MANIFEST.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [CorpusFile(root / r["file"], r["file"], r["expected_service_behaviour"]) for r in rows]


def corpus_params() -> list[object]:
    files = corpus_files()
    if not files:
        return [
            pytest.param(
                None,
                marks=pytest.mark.skip(
                    reason="../shared/corpus is absent (set IMGFLOW_CORPUS_DIR)"
                ),
            )
        ]
    return [pytest.param(f, id=f.name) for f in files]
