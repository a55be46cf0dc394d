"""The explorer end to end in a real headless browser: Debian's chromium, driven by Playwright.

`make test` installs chromium (tools/test_workspace.sh); where it is absent these tests skip
and say so. Each test serves a bag made in the test and uses the page as a person would:
keys, the scrubber, clicks on the error plot, the training form, a recording that grows.
"""

import importlib.util
import os
import threading
import time
from pathlib import Path

import pytest
from explorer_support import (
    GrowingBag, record_session, running_server, train_checkpoint, wait_until)

from devrobot_world_model.explorer.explorer_state import Explorer
from devrobot_world_model.explorer.sources import resolve

try:
    import playwright.sync_api as playwright_api
except ImportError:
    playwright_api = None

CHROMIUM = Path('/usr/bin/chromium')
# skipped by marks, never while being imported: launch_testing's plugin imports every test
# module, and a skip there would skip the package's whole folder (devrobot_core.testing)
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.is_file(), reason='Debian\'s chromium is not installed '
                       '(apt-get install chromium; make test installs it)'),
    pytest.mark.skipif(playwright_api is None, reason='playwright is not installed'),
    pytest.mark.skipif(importlib.util.find_spec('uvicorn') is None,
                       reason='uvicorn is not installed'),
]

CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                 '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']


@pytest.fixture
def page(tmp_path):
    """Give a fresh chromium page with its own profile; any script error fails the test."""
    errors = []
    with playwright_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / 'chromium-profile'), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={'width': 1280, 'height': 1000})
        try:
            page = context.new_page()
            page.on('pageerror', lambda error: errors.append(str(error)))
            page.set_default_timeout(30000)
            yield page
        finally:
            context.close()
    assert not errors, errors


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp('browser') / 'run'
    record_session(folder / 'bags' / 'session_a', steps=24, stopped_at=(5,))
    train_checkpoint(folder / 'bags' / 'session_a', folder)
    return folder


def shown(page) -> int:
    """The step the page has finished showing (its images loaded)."""
    page.wait_for_function('document.body.dataset.shownStep !== undefined')
    return int(page.evaluate('document.body.dataset.shownStep'))


def wait_shown(page, index: int) -> None:
    page.wait_for_function(f'document.body.dataset.shownStep === "{index}"')


def images_loaded(page, selector: str) -> list:
    return page.eval_on_selector_all(
        selector, 'images => images.map(i => i.complete ? i.naturalWidth : 0)')


def test_scrub_step_play_and_jump_from_the_error_plot(run, page):
    explorer = Explorer(resolve([run]), 'cpu')
    with running_server(explorer) as url:
        page.goto(url)
        wait_shown(page, 23)  # a run folder opens following its newest step
        page.click('#follow')  # stop following
        page.keyboard.press('Home')
        wait_shown(page, 0)
        for _ in range(3):
            page.keyboard.press('ArrowRight')
        wait_shown(page, 3)
        assert page.inner_text('#step-index') == '3'
        page.wait_for_selector('img[data-kind="prediction"][data-action="1"]')
        assert images_loaded(page, '#predictions img') == [16] * 4  # 2 predictions, 2 diffs
        assert images_loaded(page, '#images-top img') == [16] * 3
        sources = page.eval_on_selector_all('#predictions img', 'i => i.map(x => x.src)')
        assert all('/steps/3/images/' in s for s in sources)
        action = explorer.bags[0].steps[3].action
        assert page.get_attribute(f'img[data-kind="prediction"][data-action="{action}"]',
                                  'alt').startswith(f'predicted after {action}')
        assert page.eval_on_selector(
            f'img[data-kind="prediction"][data-action="{action}"]',
            'i => i.parentElement.className') == 'taken'

        page.keyboard.press('Shift+ArrowRight')
        wait_shown(page, 13)
        page.locator('#scrubber').fill('5')
        wait_shown(page, 5)
        assert 'STOPPED (stop requested)' in page.inner_text('#step-table')
        assert page.inner_text('#step-note') == 'stopped: stop requested'

        page.wait_for_function(
            'document.getElementById("error-plot").dataset.computed === "23"')
        box = page.locator('#error-plot').bounding_box()
        page.mouse.click(box['x'] + box['width'] * 0.5 + 1, box['y'] + box['height'] / 2)
        wait_shown(page, 12)  # the middle of 24 steps
        assert page.inner_text('#step-index') == '12'

        page.click('#play')
        page.wait_for_function('Number(document.body.dataset.shownStep) >= 14')
        page.click('#play')

        page.click('#sweep-section summary')
        page.wait_for_selector('#counterfactual-text')
        assert len(page.query_selector_all('#sweep table tr')) == 3  # header + 2 actions
        page.click('#attention-section summary')
        page.wait_for_selector('#attention table')
        header = page.inner_text('#attention table tr')
        assert all(name in header for name in ('APA', 'ALF', 'TTAR', 'RI@16', 'entropy'))
        page.wait_for_function('[...document.querySelectorAll("#attention img")]'
                               '.every(i => i.complete && i.naturalWidth > 0)')


def test_train_on_a_range_and_see_the_checkpoint_appear(run, page, tmp_path):
    explorer = Explorer(resolve([run]), 'cpu', train_out=str(tmp_path / 'trained'))
    with running_server(explorer) as url:
        page.goto(url)
        shown(page)
        page.wait_for_function('document.getElementById("model-info").textContent'
                               '.includes("updates")')
        before = page.inner_text('#model-info')
        page.click('#follow')
        page.click('#training-section summary')
        page.keyboard.press('Home')
        wait_shown(page, 0)
        page.click('#train-start-here')
        page.locator('#step-input').fill('15')
        page.locator('#step-input').press('Enter')
        wait_shown(page, 15)
        page.click('#train-stop-here')
        page.fill('#train-updates', '4')
        page.fill('#train-batch', '2')
        assert page.input_value('#train-out') == str(tmp_path / 'trained')
        page.click('#train-go')
        page.wait_for_selector('#train-status[data-state="finished"]', timeout=120000)
        status = page.inner_text('#train-status')
        assert '4 of 4 updates on steps 0–15' in status and 'saved' in status
        assert (tmp_path / 'trained' / 'checkpoints' / 'checkpoint.pt').is_file()
        page.wait_for_function('document.getElementById("model-info").title.includes('
                               '"trained")')
        updates = int(before.split()[1]) + 4
        page.wait_for_function('document.getElementById("model-info").textContent === '
                               f'"model: {updates} updates"')


def test_follow_a_live_recording(run, page, tmp_path):
    live_run = tmp_path / 'live'
    (live_run / 'bags').mkdir(parents=True)
    os.symlink(run / 'checkpoints', live_run / 'checkpoints')
    record_session(tmp_path / 'source', steps=120, size=16)
    explorer = Explorer(resolve([live_run]), 'cpu')
    with running_server(explorer) as url:
        page.goto(url)
        page.wait_for_function('document.getElementById("bag-info").textContent'
                               '.includes("waiting")')
        page.wait_for_function('document.getElementById("model-info").textContent'
                               '.includes("updates")', timeout=120000)  # the model is loaded
        growing = GrowingBag(tmp_path / 'source', live_run / 'bags' / 'session_live',
                             chunk_bytes=4096)  # a recorder flushing every few steps
        delays = []
        for fraction in (0.2, 0.4, 0.6, 0.8, 1.0):
            before = int(page.evaluate('document.body.dataset.shownStep || "-1"'))
            growing.grow(fraction)
            written = time.monotonic()
            page.wait_for_function(
                f'Number(document.body.dataset.shownStep || "-1") > {before}', timeout=10000)
            delays.append(time.monotonic() - written)
            assert page.is_visible('#live-info')
            assert images_loaded(page, '#predictions img[data-kind="prediction"]') == [16, 16]
            time.sleep(0.3)
        growing.finish()
        page.wait_for_function('document.body.dataset.shownStep === "119"')
        page.wait_for_function('document.getElementById("live-info").hidden')
    # the target is 1 s; on a machine this loaded (load average 13 on 2 cores has been seen
    # here) one delay in five may stretch, so the median is held to it and the worst to 3 s
    assert sorted(delays)[len(delays) // 2] < 1.0 and max(delays) < 3.0, delays


def test_a_new_bag_in_a_watched_run_folder_is_followed(run, page, tmp_path):
    watched = tmp_path / 'watched'
    record_session(watched / 'bags' / 'session_1', steps=4)
    explorer = Explorer(resolve([watched]), 'cpu')
    with running_server(explorer) as url:
        page.goto(url)
        wait_shown(page, 3)
        thread = threading.Thread(target=record_session,
                                  args=(watched / 'bags' / 'session_2',), kwargs={'steps': 9})
        thread.start()
        thread.join()
        page.wait_for_function('document.getElementById("bag-select").value === "1"')
        wait_shown(page, 8)
        wait_until(lambda: len(explorer.bags) == 2)
