"""A student's Markdown made safe for formgrader (autograder.text.markdown_for_formgrader), without a server."""

import time

from autograder.text import MAX_RENDERED_TAGS, markdown_for_formgrader

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def test_a_pasted_image_is_inlined_and_a_missing_one_is_a_dead_link():
    """Red team, 2026-12-05: an image pasted into a written answer (what Jupyter stores on paste) made nbconvert
    raise "missing attachment", and the student's notebook never reached formgrader."""
    shown = markdown_for_formgrader("My derivation: ![image.png](attachment:image.png) $x^2$",
                                    {"image.png": {"image/png": PNG}})
    assert f'src="data:image/png;base64,{PNG}"' in shown and "$x^2$" in shown
    assert 'src=""' in markdown_for_formgrader("![image.png](attachment:image.png)", None)
    assert 'src=""' in markdown_for_formgrader("![a](attachment:other.png)", {"image.png": {"image/png": PNG}})


def test_only_image_data_urls_and_web_links_survive():
    shown = markdown_for_formgrader('<a href="data:text/html,<b>x</b>">y</a> <img src="data:image/svg+xml,abc"> '
                                    '<a href="javascript:alert(1)">j</a> [l](javascript:alert(1)) <script>s</script> '
                                    '[ok](https://example.org)')
    assert "data:text" not in shown and "svg" not in shown and "javascript" not in shown and "<script" not in shown
    assert 'href="https://example.org"' in shown


def test_deeply_nested_markup_cannot_stall_the_batch():
    """Red team, 2026-12-05: 50,000 nested <div> (250 kB) kept the grader's main loop busy for minutes (the HTML
    cleaner is worse than linear in nesting). Beyond the bounds the answer is shown as text, at once."""
    for source in ("<div>" * 50_000, "<div>" * (MAX_RENDERED_TAGS + 1), "* *a*\n" * 20_000):
        start = time.perf_counter()
        shown = markdown_for_formgrader(source)
        assert time.perf_counter() - start < 2.0
        assert shown.startswith('<div class="autograder-student-raw"><pre>[shown as text')
        assert "<div><div>" not in shown
