"""Names that moved in the restructuring stay reachable from their old places for one release:
the background market's modules through ``jaxmarket.lob`` (with a DeprecationWarning) and the
dealer heuristics through ``jaxmarket.baselines``."""

from __future__ import annotations

import importlib

import pytest

import jaxmarket


@pytest.mark.parametrize("name", ["background", "agents", "clock", "fundamental", "order_size"])
def test_background_modules_resolve_from_lob_with_a_warning(name):
    new = "jaxmarket.background" if name == "background" else f"jaxmarket.background.{name}"
    with pytest.warns(DeprecationWarning, match=f"jaxmarket.lob.{name} moved to {new}"):
        moved = getattr(jaxmarket.lob, name)
    assert moved is importlib.import_module(new)


def test_an_unknown_lob_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        jaxmarket.lob.nothing_here  # noqa: B018


def test_the_dealer_heuristics_stay_in_baselines():
    from jaxmarket.baselines import dealer
    from jaxmarket.otc import dealer as otc_dealer

    assert dealer is otc_dealer


def test_the_dealer_module_imports_from_its_old_path():
    import jaxmarket.baselines.dealer as old
    from jaxmarket.otc import dealer

    assert old is dealer
