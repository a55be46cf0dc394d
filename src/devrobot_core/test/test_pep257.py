"""Docstring gate: ament's pep257 convention over this package.

Two checks are added to ament's ignore list: D213 (ament requires the summary on the second
line; this codebase writes it on the first, PEP 257's own example) and D401 (imperative mood,
which misreads summaries of properties and classes such as 'The current view.').
"""

import pytest

ament_pep257 = pytest.importorskip('ament_pep257.main')


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    rc = ament_pep257.main(argv=['.', 'test', '--add-ignore', 'D213', 'D401'])
    assert rc == 0, 'Found code style errors / warnings'
