"""tests/conftest.py's speedups change no test's outcome."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import conftest
import pytest


def test_a_test_module_that_skips_itself_on_import_does_not_stop_a_parallel_run(tmp_path, monkeypatch):
    # The controller imports every test module before the workers start; a
    # module-level pytest.importorskip raises Skipped, which is no Exception.
    # The second module sorts after the first: it shows the loop went on.
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_zz_skips_on_import.py").write_text(
        "import pytest\npytest.importorskip('no_such_module_for_the_harness_test')\n", "utf-8")
    (tmp_path / "tests" / "test_zzz_imports_after_it.py").write_text("LOADED = True\n", "utf-8")
    monkeypatch.setattr(conftest, "ROOT", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "tests"))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    try:
        try:
            conftest.pytest_configure(SimpleNamespace(option=SimpleNamespace(numprocesses=2)))
        except pytest.skip.Exception as exc:  # would end the whole run before any test
            pytest.fail(f"the controller let a module's skip escape: {exc}")
        assert sys.modules["test_zzz_imports_after_it"].LOADED  # the modules after it are still imported
    finally:
        sys.modules.pop("test_zzz_imports_after_it", None)
        sys.modules.pop("test_zz_skips_on_import", None)
