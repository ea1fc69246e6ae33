"""The load test's job mix with a srcset: what each job asks for and what it expects."""

from __future__ import annotations

from loadtest.api import job_arguments
from loadtest.images import InputImage
from loadtest.mix import job_mix


def test_variant_jobs_expect_the_widths_the_input_allows() -> None:
    image = InputImage("in.png", b"", "PNG", (1000, 800))
    (plain,) = job_mix(1, [image])
    assert job_arguments(plain) == {"operations": [plain.operation]}
    (spec,) = job_mix(1, [image], (320, 640, 2000))
    assert spec.expected_widths() == [320, 640]
    assert job_arguments(spec)["variants"] == [{"name": "main", "operations": [spec.operation]}]
    (wide,) = job_mix(1, [image], (2000,))
    assert wide.expected_widths() == [1000]
