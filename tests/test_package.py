"""The package documents itself: every module and subpackage of waelib is named in the
waelib docstring and in the README's module map."""
import pkgutil
from pathlib import Path

import waelib

ROOT = Path(__file__).resolve().parent.parent


def _modules():
    return sorted(m.name for m in pkgutil.iter_modules(waelib.__path__) if not m.name.startswith("_"))


def test_every_module_is_listed_in_the_package_docstring_and_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing_doc = [m for m in _modules() if f":mod:`waelib.{m}`" not in waelib.__doc__]
    missing_readme = [m for m in _modules() if f"`waelib.{m}`" not in readme]
    assert not missing_doc, f"add to waelib/__init__.py's docstring: {missing_doc}"
    assert not missing_readme, f"add to the README's module map: {missing_readme}"


def test_no_module_is_much_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "waelib").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 650}
    assert not long, f"split these modules along their seams: {long}"


def test_readme_tells_a_newcomer_what_issue_11_found_missing():
    """Issue #11 item 15: a rerun reuses runs/<profile> and retrain trains again; data_root is the
    folder that contains celeba/; .venv is about 6 GB; the TensorBoard command."""
    readme = (ROOT / "README.md").read_text()
    for needle in ("runs/<profile>/<model>", "-p retrain True", "*contains* `celeba/`",
                   "about 6 GB", "tensorboard --logdir"):
        assert needle in readme, needle
