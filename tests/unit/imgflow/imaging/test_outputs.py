"""A job's outputs as plain values: what a spec asks for, the rules it must keep, the
srcset widths fitted to the prefix's image, the queue, and the whole job's plan."""

from __future__ import annotations

import pytest

from imgflow.domain import QueueName
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.imaging.formats import ImageFormat
from imgflow.imaging.info import ImageInfo, ImageLimits
from imgflow.imaging.operations import Convert, Crop, ForceResize, Grayscale, Resize, Rotate
from imgflow.imaging.outputs import (
    DEFAULT_OUTPUT,
    JobSpec,
    Output,
    Srcset,
    StoredImage,
    Variant,
    check_spec,
    fit_widths,
    main_output,
    outputs_from_json,
    outputs_to_json,
    planned_outputs,
)
from imgflow.imaging.planning import check_outputs
from imgflow.imaging.routing import route_outputs

LIMITS = dict(max_outputs=20, max_operations=20)


def refused(spec: JobSpec) -> ImgflowError:
    with pytest.raises(ImgflowError) as caught:
        check_spec(spec, **LIMITS)
    return caught.value


def test_a_job_without_variants_or_srcset_has_one_default_output() -> None:
    spec = JobSpec((Rotate(90),))
    assert planned_outputs(spec) == [Output(DEFAULT_OUTPUT)]
    check_spec(spec, **LIMITS)


def test_variants_come_first_then_one_output_per_width() -> None:
    spec = JobSpec(
        (Crop(0, 0, 10, 10),),
        (Variant("thumb", (Resize(4, 4),)),),
        Srcset((640, 320), ImageFormat.WEBP, 70),
    )
    assert planned_outputs(spec) == [
        Output("thumb", (Resize(4, 4),)),
        Output("w640", (Resize(width=640), Convert(ImageFormat.WEBP, 70)), srcset_width=640),
        Output("w320", (Resize(width=320), Convert(ImageFormat.WEBP, 70)), srcset_width=320),
    ]


def test_an_analysis_only_spec_has_no_outputs() -> None:
    assert planned_outputs(JobSpec(analyze=True)) == []
    check_spec(JobSpec(analyze=True), **LIMITS)


@pytest.mark.parametrize("name", ["Thumb", "-a", "a b", "a" * 41, "", "é", "a/b"])
def test_variant_names_are_plain(name: str) -> None:
    with pytest.raises(ImgflowError) as caught:
        Variant(name)
    assert caught.value.code is ErrorCode.BAD_USER_INPUT


@pytest.mark.parametrize("name", ["a", "0", "card_2x", "w-1", "a" * 40, "default"])
def test_good_variant_names(name: str) -> None:
    assert Variant(name).name == name


def test_names_are_unique_across_variants_and_widths() -> None:
    error = refused(JobSpec(variants=(Variant("w320"),), srcset=Srcset((320,))))
    assert error.code is ErrorCode.BAD_USER_INPUT
    assert "w320" in error.message


def test_at_most_max_outputs() -> None:
    variants = tuple(Variant(f"v{n}") for n in range(15))
    error = refused(JobSpec(variants=variants, srcset=Srcset(tuple(range(10, 70, 10)))))
    assert error.code is ErrorCode.TOO_MANY_OUTPUTS
    assert "got 21" in error.message


def test_each_outputs_pipeline_counts_the_prefix() -> None:
    spec = JobSpec((Grayscale(),) * 15, (Variant("a", (Grayscale(),) * 6),))
    assert "got 21" in refused(spec).message


def test_a_default_output_needs_an_operation() -> None:
    assert "at least one operation" in refused(JobSpec()).message


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"widths": ()}, "at least one width"),
        ({"widths": (0,)}, "between 1 and"),
        ({"widths": (100, 100)}, "repeat"),
        ({"widths": (100,), "quality": 80}, "needs srcset.format"),
        ({"widths": (100,), "format": ImageFormat.JPEG, "quality": 0}, "between 1 and 100"),
    ],
)
def test_bad_srcsets(arguments: dict[str, object], words: str) -> None:
    with pytest.raises(ImgflowError) as caught:
        Srcset(**arguments)  # type: ignore[arg-type]
    assert words in caught.value.message


def test_widths_over_the_prefix_image_are_skipped_and_listed() -> None:
    outputs = planned_outputs(JobSpec(srcset=Srcset((320, 640, 1280))))
    kept, skipped = fit_widths(outputs, 640)
    assert [o.name for o in kept] == ["w320", "w640"]
    assert skipped == [1280]


def test_with_every_width_skipped_the_ladder_is_the_images_own_width() -> None:
    outputs = planned_outputs(JobSpec(srcset=Srcset((640, 1280), ImageFormat.PNG)))
    kept, skipped = fit_widths(outputs, 200)
    assert kept == [Output("w200", (Resize(width=200), Convert(ImageFormat.PNG)), srcset_width=200)]
    assert skipped == [640, 1280]


def test_variants_are_never_skipped() -> None:
    outputs = [Output("big", (ForceResize(5000, 5000),))]
    assert fit_widths(outputs, 10) == (outputs, [])


def test_outputs_round_trip_through_json() -> None:
    info = ImageInfo(ImageFormat.WEBP, 320, 240, 1, 1234)
    outputs = [
        Output("w320", (Resize(width=320),), srcset_width=320, image=StoredImage("k", info)),
        Output("gray", (Grayscale(),)),
    ]
    assert outputs_from_json(outputs_to_json(outputs)) == outputs


def test_the_main_output_is_default_else_the_first() -> None:
    first, default = Output("a"), Output(DEFAULT_OUTPUT)
    assert main_output([first, default]) is default
    assert main_output([first]) is first
    assert main_output([]) is None


def test_a_job_goes_to_the_heaviest_queue_of_its_outputs() -> None:
    fit, webp = (Resize(width=10),), (Convert(ImageFormat.WEBP),)
    assert route_outputs((), [fit, fit]) is QueueName.RESIZE
    assert route_outputs((), [fit, (Rotate(90),)]) is QueueName.ROTATE
    assert route_outputs((), [fit, (Rotate(90),), webp]) is QueueName.CONVERT
    assert route_outputs((Rotate(90),), [()]) is QueueName.ROTATE, "one output: as before"
    assert route_outputs((Rotate(90),), [fit]) is QueueName.RESIZE, "its last queued step"


def test_the_whole_job_is_held_to_the_pixel_budget() -> None:
    limits = ImageLimits(max_pixels=50_000_000, max_total_pixels=100_000_000)
    big = Output("a", (ForceResize(5000, 5000),))
    sizes = [(100, 100)]
    check_outputs(sizes, ImageFormat.PNG, (), [big] * 4, limits)
    with pytest.raises(ImgflowError) as caught:
        check_outputs(sizes, ImageFormat.PNG, (), [big] * 5, limits)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert "5 outputs" in caught.value.message


def test_each_outputs_path_is_planned_from_the_prefix() -> None:
    crop = Output("a", (Crop(0, 0, 60, 60),))
    with pytest.raises(ImgflowError) as caught:
        check_outputs([(100, 100)], ImageFormat.PNG, (Resize(width=50),), [crop], ImageLimits())
    assert caught.value.code is ErrorCode.INVALID_OPERATION
