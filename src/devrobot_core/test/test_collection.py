"""The check that keeps a missing library from skipping a whole test folder."""

from devrobot_core.testing.collection import module_level_skips


def _package(tmp_path, text):
    (tmp_path / 'test').mkdir()
    (tmp_path / 'test' / 'test_a.py').write_text(text)
    return tmp_path


def test_skips_that_run_at_import_are_found(tmp_path):
    root = _package(tmp_path, 'import pytest\n'
                              "torch = pytest.importorskip('torch')\n"
                              'if True:\n'
                              "    pytest.skip('x', allow_module_level=True)\n"
                              'try:\n    import rclpy\nexcept ImportError:\n'
                              "    pytest.importorskip('launch')\n")
    assert module_level_skips(root) == ['test/test_a.py:2', 'test/test_a.py:4',
                                        'test/test_a.py:8']


def test_skips_inside_tests_and_skipif_marks_are_fine(tmp_path):
    root = _package(tmp_path, 'import pytest\n'
                              "pytestmark = pytest.mark.skipif(True, reason='no torch')\n\n\n"
                              'def test_x():\n'
                              "    torch = pytest.importorskip('torch')\n\n\n"
                              'class TestY:\n'
                              '    def test_y(self):\n'
                              "        pytest.skip('later')\n")
    assert module_level_skips(root) == []
