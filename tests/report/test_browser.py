"""The report in headless Chromium: cards, sorting, filtering, search, no errors, no network."""

from __future__ import annotations

import pytest

from autointerp.report import write_report
from autointerp.report.headless import Chromium, find_chromium

from .runs import RunSpec, make_run
from .test_render import EVIL

CARD_IDS = "[...document.querySelectorAll('#cards .card')].map(c => c.dataset.latent)"


@pytest.fixture(scope="module")
def browser():
    if not find_chromium():
        pytest.fail("chromium is missing: `make install` installs Debian's chromium (or set $CHROMIUM)")
    with Chromium(timeout=60) as b:
        yield b


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("report") / "small"
    spec = RunSpec(failed={("layers.5", 4)}, explanation_text={("layers.3", 1): EVIL})
    written = make_run(run_dir, spec)
    return run_dir, write_report(run_dir), written


def _open(browser, path):
    page = browser.open(path.as_uri())
    page.wait_for("document.documentElement.dataset.ready === '1'")
    return page


def _select(page, ident, value):
    page.evaluate(f"(() => {{ const s = document.getElementById({ident!r}); s.value = {value!r};"
                  f" s.dispatchEvent(new Event('change')); }})()")


def _expected(written, scorer, descending):
    have = [k for k in sorted(written) if scorer in written[k]]
    shown = {k: float(f"{written[k][scorer]:.4g}") for k in have}  # the page keeps 4 significant digits
    have.sort(key=lambda k: -shown[k] if descending else shown[k])  # stable: ties stay in latent order
    return [f"{hp}/{i}" for hp, i in have + [k for k in sorted(written) if scorer not in written[k]]]


def test_cards_sorting_and_no_console_errors(browser, small_run, tmp_path):
    run_dir, path, written = small_run
    page = _open(browser, path)
    assert page.evaluate("document.querySelectorAll('#cards .card').length") == len(written) == 12
    assert page.evaluate("document.getElementById('count').textContent").startswith("12 of 12 latents")
    _select(page, "sort", "score:fuzz:balanced_accuracy")
    assert page.evaluate(CARD_IDS) == _expected(written, "fuzz", descending=True)
    page.evaluate("document.getElementById('order').click()")
    assert page.evaluate(CARD_IDS) == _expected(written, "fuzz", descending=False)
    _select(page, "sort", "fr")
    rates = page.evaluate("JSON.parse(document.getElementById('report-data').textContent).latents"
                          ".map(c => [c.hp + '/' + c.i, c.fr])")
    assert page.evaluate(CARD_IDS) == [k for k, _ in sorted(rates, key=lambda r: r[1])]
    page.screenshot(tmp_path / "report-top.png")
    page.evaluate("document.getElementById('latents').scrollIntoView()")
    page.screenshot(tmp_path / "report-cards.png")
    assert (tmp_path / "report-top.png").stat().st_size > 10_000
    assert page.evaluate("document.getElementById('errors').hidden") is True
    assert page.console_errors() == []


def test_filters_search_and_hover_values(browser, small_run):
    _, path, written = small_run
    page = _open(browser, path)
    _select(page, "hookpoint", "layers.5")
    assert sorted(page.evaluate(CARD_IDS)) == [f"layers.5/{i}" for i in range(6)]
    page.evaluate("(() => { const f = document.getElementById('failed'); f.checked = true; f.dispatchEvent(new Event('change')); })()")
    assert page.evaluate(CARD_IDS) == ["layers.5/4"]
    _select(page, "hookpoint", "")
    page.evaluate("document.getElementById('failed').click()")
    page.evaluate("(() => { const s = document.getElementById('search'); s.value = 'onerror';"
                  " s.dispatchEvent(new Event('input')); })()")
    assert page.evaluate(CARD_IDS) == ["layers.3/1"]
    # the hostile explanation is shown as text and created no element
    assert page.evaluate("document.querySelector('.card .explanation').textContent") == EVIL
    assert page.evaluate("document.querySelectorAll('img').length + document.scripts.length") == 2
    # every shaded token's hover text gives its activation
    title, shaded = page.evaluate("(() => { const t = document.querySelector('.card .tok[style]');"
                                  " return [t.title, t.style.backgroundColor]; })()")
    assert "activation" in title and float(title.rsplit(" ", 1)[1]) > 0 and shaded.startswith("rgba(249, 115, 22")
    assert page.console_errors() == []


def test_page_makes_no_network_request(browser, small_run, tmp_path):
    _, path, _ = small_run
    page = _open(browser, path)
    page.evaluate("document.getElementById('next').click()")
    assert page.requested_urls() == [path.as_uri()]
    # the check itself can fail: a page that fetches something is caught
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<img src="http://203.0.113.1/pixel.png"><script>document.documentElement.dataset.ready="1"</script>')
    other = _open(browser, leaky)
    for _ in range(100):  # each evaluate also collects the events that arrived meanwhile
        if "http://203.0.113.1/pixel.png" in other.requested_urls():
            break
        other.evaluate("1")
    assert "http://203.0.113.1/pixel.png" in other.requested_urls()


def test_pages_of_twenty_five(browser, tmp_path):
    run_dir = tmp_path / "big"
    make_run(run_dir, RunSpec(hookpoints=("layers.1",), latents_per_hookpoint=30, n_train=2, n_test=2, n_negatives=2, ctx=8))
    page = _open(browser, write_report(run_dir))
    assert page.evaluate("window.autointerpReport.pageSize") == 25
    assert page.evaluate("document.querySelectorAll('#cards .card').length") == 25
    page.evaluate("document.getElementById('next').click()")
    assert page.evaluate("document.querySelectorAll('#cards .card').length") == 5
    assert page.evaluate("document.getElementById('count').textContent") == "30 of 30 latents, showing 26–30"
    assert page.evaluate("document.getElementById('next').disabled") is True
    assert page.console_errors() == []


def test_a_missing_browser_is_a_clear_error(tmp_path):
    from autointerp.report.headless import ChromiumError

    with pytest.raises(ChromiumError, match="could not start chromium at .*nope"):
        Chromium(binary=str(tmp_path / "nope"))


def test_output_tokens_are_shown_as_text(browser, small_run):
    """Each card lists its record's logit-lens tokens verbatim (markup stays text)."""
    _, path, written = small_run
    page = _open(browser, path)
    shown = page.evaluate("[...document.querySelectorAll('#cards .card')].map(c =>"
                          " [...c.querySelectorAll('.top-tokens span')].map(s => s.textContent))")
    with_record = [t for t in shown if t]
    assert with_record and all(t == [" cat", " dog", "<b>"] for t in with_record)
    assert page.evaluate("document.querySelectorAll('.top-tokens b').length") == 0


def test_summary_tables_fit_their_blocks_with_long_hookpoint_names(browser, tmp_path):
    run_dir = tmp_path / "long"
    make_run(run_dir, RunSpec(hookpoints=("model.layers.11.post_feedforward_layernorm", "model.layers.5.mlp"),
                              latents_per_hookpoint=2, n_train=2, n_test=2, n_negatives=2, ctx=8))
    page = _open(browser, write_report(run_dir))  # the browser's window is 1280 px wide
    overflowing = page.evaluate(
        "[...document.querySelectorAll('.block')].filter(b => b.scrollWidth > b.clientWidth).map(b => b.id)")
    assert overflowing == []
    # the last cache column (mean_l0) lies inside the cache block, not cut off at its edge
    inside = page.evaluate("(() => { const b = document.getElementById('cache').getBoundingClientRect();"
                           " const th = [...document.querySelectorAll('#cache th')].pop();"
                           " const r = th.getBoundingClientRect();"
                           " return th.textContent === 'mean_l0' && r.left >= b.left && r.right <= b.right; })()")
    assert inside is True
