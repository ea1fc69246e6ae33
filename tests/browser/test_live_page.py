"""The live page (/live) in a real headless Chromium, on every backend mix: register
through the page, upload a file through its file input, choose steps, submit, and watch
the job reach SUCCEEDED, its result rendered at the expected size and the recent-jobs
list updated live; then a reload lists it from the `jobs` query.

The screenshot taken after success goes to the test's temporary directory; with
IMGFLOW_LIVE_SCREENSHOT=<path> it is also written there, optimised (that is how
scripts/refresh-live-screenshot updates docs/live-page.png).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select

from tests.browser.chromium import WINDOW, Browser, off_machine
from tests.conftest import Server

SOURCE_SIZE = (640, 480)
RESULT_SIZE = (320, 240)  # resize width=320 keeps the aspect ratio
RESULT_FORMAT = "WEBP"
JOB_TIMEOUT = 60
SCREENSHOT_TARGET = "IMGFLOW_LIVE_SCREENSHOT"
RESULT_IMAGE_SIZE = """
const image = document.getElementById("result-image");
return image.complete && image.naturalWidth > 0 ? [image.naturalWidth, image.naturalHeight] : null;
"""


def landscape(path: Path) -> Path:
    """A picture worth looking at in the screenshot: sky, sun and hills."""
    width, height = SOURCE_SIZE
    y, x = np.mgrid[0:height, 0:width]
    sky = np.stack([90 + 100 * y / height, 150 + 60 * y / height, 235 - 20 * y / height], axis=2)
    sun = (x - 470) ** 2 + (y - 130) ** 2 < 55**2
    hills = y > 330 + 40 * np.sin(x / 70) + 25 * np.sin(x / 23)
    pixels = sky
    pixels[sun] = (255, 205, 60)
    pixels[hills] = np.stack([40 + 0 * x, 120 + 40 * np.sin(x / 50), 60 + 0 * x], axis=2)[hills]
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def by_id(browser: Browser, element_id: str) -> WebElement:
    return browser.driver.find_element(By.ID, element_id)


def register(browser: Browser, server: Server) -> str:
    email = f"live-{uuid.uuid4().hex[:12]}@example.com"
    browser.driver.get(f"{server.base_url}/live")
    by_id(browser, "email").send_keys(email)
    by_id(browser, "password").send_keys("correct horse battery")
    by_id(browser, "register").click()
    browser.wait_for(lambda d: by_id(browser, "app").is_displayed())
    assert by_id(browser, "who-email").text == email
    return email


def add_step(browser: Browser, kind: str) -> WebElement:
    Select(by_id(browser, "step-kind")).select_by_value(kind)
    by_id(browser, "add-step").click()
    return browser.driver.find_elements(By.CSS_SELECTOR, f'#steps .step[data-kind="{kind}"]')[-1]


def set_field(step: WebElement, name: str, value: str) -> None:
    field = step.find_element(By.NAME, name)
    if field.tag_name == "select":
        Select(field).select_by_visible_text(value)
    else:
        field.clear()
        field.send_keys(value)


def submit_job(browser: Browser, image: Path) -> str:
    by_id(browser, "file").send_keys(str(image))
    set_field(add_step(browser, "resize"), "width", str(RESULT_SIZE[0]))
    set_field(add_step(browser, "convert"), "format", RESULT_FORMAT)
    by_id(browser, "submit-job").click()
    job_id: str = browser.wait_for(lambda d: by_id(browser, "job-id").text)
    return job_id


def final_status(browser: Browser) -> str | None:
    shown = by_id(browser, "job-status").text
    return shown if shown in ("SUCCEEDED", "FAILED", "CANCELLED") else None


def result_size(browser: Browser) -> tuple[int, int]:
    loaded = browser.wait_for(lambda d: d.execute_script(RESULT_IMAGE_SIZE), 10, "the result")
    width, height = loaded
    return width, height


def listed_status(browser: Browser, job_id: str) -> str | None:
    items = browser.driver.find_elements(
        By.CSS_SELECTOR, f'#recent-jobs li[data-job-id="{job_id}"]'
    )
    return items[0].get_attribute("data-status") if items else None


def save_screenshot(browser: Browser, directory: Path) -> Path:
    browser.driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur()")
    raw = directory / "live-page-raw.png"
    browser.driver.save_screenshot(str(raw))
    optimised = directory / "live-page.png"
    # A page of flat colours: a 256-colour palette keeps it sharp at a fraction of the size.
    Image.open(raw).convert("RGB").quantize(256).save(optimised, optimize=True)
    target = os.environ.get(SCREENSHOT_TARGET)
    if target:
        Path(target).write_bytes(optimised.read_bytes())
    return optimised


def test_live_page_follows_a_job_to_its_result(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    register(browser, server)
    job_id = submit_job(browser, landscape(tmp_path / "landscape.png"))

    assert browser.wait_for(lambda d: final_status(browser), JOB_TIMEOUT) == "SUCCEEDED", by_id(
        browser, "job-failure"
    ).text
    timeline = by_id(browser, "timeline").text
    assert "QUEUED" in timeline
    assert "SUCCEEDED" in timeline
    assert result_size(browser) == RESULT_SIZE
    assert by_id(browser, "result-info").text.startswith(
        f"{RESULT_SIZE[0]} \N{MULTIPLICATION SIGN} {RESULT_SIZE[1]} · {RESULT_FORMAT} · "
    )
    # Only jobsUpdated brings the list past the QUEUED answer of the submission.
    browser.wait_for(lambda d: listed_status(browser, job_id) == "SUCCEEDED", 10, "the list")

    screenshot = save_screenshot(browser, tmp_path)
    assert Image.open(screenshot).size == WINDOW

    browser.driver.refresh()  # the session survives; the list comes from the jobs query
    show = browser.wait_for(
        lambda d: d.find_elements(
            By.CSS_SELECTOR, f'#recent-jobs li[data-job-id="{job_id}"] button'
        )
    )[0]
    assert listed_status(browser, job_id) == "SUCCEEDED"
    show.send_keys(Keys.ENTER)  # keyboard: the list's buttons open a job again
    browser.wait_for(lambda d: final_status(browser) == "SUCCEEDED", 10, "the job shown again")
    assert result_size(browser) == RESULT_SIZE

    assert off_machine(browser.requested_urls()) == []
    assert browser.console_errors() == []  # a CSP violation would be one


def test_a_file_the_browser_cannot_show_gets_a_message_not_a_broken_picture(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    register(browser, server)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n")
    by_id(browser, "file").send_keys(str(notes))
    note = browser.wait_for(lambda d: by_id(browser, "preview-note").is_displayed(), 10)
    assert note
    assert "notes.txt" in by_id(browser, "preview-note").text
    assert not by_id(browser, "preview").is_displayed()

    by_id(browser, "file").send_keys(str(landscape(tmp_path / "landscape.png")))
    browser.wait_for(lambda d: by_id(browser, "preview").is_displayed(), 10, "the preview")
    assert not by_id(browser, "preview-note").is_displayed()


def test_live_page_shows_every_output_of_a_srcset_job(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    """Widths typed in the form, no steps: each width listed with its size and format
    once stored, the srcset attribute, and the width wider than the image as skipped."""
    register(browser, server)
    by_id(browser, "file").send_keys(str(landscape(tmp_path / "landscape.png")))
    by_id(browser, "srcset-widths").send_keys("160, 80, 4000")
    by_id(browser, "submit-job").click()
    browser.wait_for(lambda d: final_status(browser), JOB_TIMEOUT)
    assert final_status(browser) == "SUCCEEDED", by_id(browser, "job-failure").text
    items = browser.wait_for(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#output-list li[data-stored]")
            if len(d.find_elements(By.CSS_SELECTOR, "#output-list li[data-stored]")) == 2
            else None
        ),
        10,
        "the outputs",
    )
    texts = sorted(item.text for item in items)
    assert texts == [
        "w160 160 \N{MULTIPLICATION SIGN} 120 · PNG · " + texts[0].rsplit("· ", 1)[1],
        "w80 80 \N{MULTIPLICATION SIGN} 60 · PNG · " + texts[1].rsplit("· ", 1)[1],
    ]
    assert by_id(browser, "progress").text == "2 of 2 stored"
    srcset = by_id(browser, "srcset-value").text
    assert [entry.rsplit(" ", 1)[1] for entry in srcset.split(", ")] == ["80w", "160w"]
    assert "4000" in by_id(browser, "skipped-widths").text
    assert browser.console_errors() == []


PLACEHOLDER_PIXELS = """
const canvas = document.getElementById("placeholder");
if (canvas.hidden || !canvas.width) return null;
const context = canvas.getContext("2d");
const at = (x) => Array.from(context.getImageData(x, canvas.height >> 1, 1, 1).data.slice(0, 3));
return [at(1), at(canvas.width - 2), canvas.width, canvas.height];
"""


def test_analysis_paints_the_placeholder_and_the_colours(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    register(browser, server)
    pixels = np.zeros((200, 300, 3), np.uint8)
    pixels[:, :200], pixels[:, 200:] = (220, 30, 30), (30, 40, 220)
    image = tmp_path / "red-and-blue.png"
    Image.fromarray(pixels).save(image)
    by_id(browser, "file").send_keys(str(image))
    by_id(browser, "analyze").click()  # and no steps: an analysis-only job
    by_id(browser, "submit-job").click()

    assert browser.wait_for(lambda d: final_status(browser), JOB_TIMEOUT) == "SUCCEEDED", by_id(
        browser, "job-failure"
    ).text
    left, right, width, height = browser.wait_for(
        lambda d: d.execute_script(PLACEHOLDER_PIXELS), 10, "the placeholder"
    )
    assert (width, height) == (32, 21)  # the source's 3:2 shape
    assert left[0] > 150 > left[2]  # red where the picture is red
    assert right[2] > 150 > right[0]  # blue where it is blue
    colours = [c.text for c in browser.driver.find_elements(By.CSS_SELECTOR, "#colors .swatch")]
    assert colours[:2] == ["#dc1e1e", "#1e28dc"], colours
    assert not by_id(browser, "result").is_displayed()  # nothing to download
    assert browser.console_errors() == []  # a CSP violation would be one
