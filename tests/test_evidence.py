"""The one evidence rule (hw1.report.evidence): its tests are scipy's, its verdict words follow the data."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hw1.report import evidence as ev


def design(values: dict, seeds: int | None = None) -> pd.DataFrame:
    """One row per (condition, run) from {condition: [values of its runs]}."""
    return pd.DataFrame([{"x": x, "y": v, "seed": i} for x, vs in values.items() for i, v in enumerate(vs)])


SEPARATED = {1: [0.31, 0.30, 0.33, 0.29, 0.32], 2: [0.20, 0.21, 0.19, 0.22, 0.18], 4: [0.010, 0.011, 0.009, 0.012,
             0.008], 7: [0.004, 0.005, 0.003, 0.0045, 0.0035]}


def test_a_completely_separated_unpaired_design_is_resolved_and_words_say_so():
    e = ev.trend(design(SEPARATED), "x", "y")
    assert e.test == "Jonckheere–Terpstra" and e.direction == -1 and e.reversals == ()
    pooled = design(SEPARATED)
    assert e.p == pytest.approx(stats.kendalltau(pooled["x"], pooled["y"]).pvalue)
    assert e.effect == pytest.approx(0.004 / 0.31 - 1)
    text = ev.verdict(e, -1, "deeper nets fit better", "Eldan and Shamir (2016)")
    assert text.startswith("Agrees with Eldan and Shamir (2016): deeper nets fit better (Jonckheere–Terpstra p = ")
    assert "Not monotone" not in text
    assert ev.verdict(e, +1, "shallower fits better", "X").startswith("Contradicts X")


def test_two_separated_groups_get_the_exact_mann_whitney_p():
    e = ev.difference(SEPARATED[1], SEPARATED[7])
    assert e.test == "Mann–Whitney U" and e.direction == -1
    assert e.p == pytest.approx(2 / 252)  # exact two-sided: 2 of C(10, 5) orderings are as extreme


def test_three_against_three_can_never_pass_a_two_sided_rank_test():
    e = ev.difference([1.0, 1.1, 1.2], [5.0, 5.1, 5.2])
    assert e.p == pytest.approx(0.1) and not e.resolved
    assert ev.verdict(e, +1, "b is larger", "Y").startswith("Not resolved by this run: Y: b is larger; the test does")


def test_the_unpaired_verdict_does_not_depend_on_how_seeds_are_paired():
    rng = np.random.default_rng(0)
    frame = design(SEPARATED)
    shuffled = frame.copy()
    for x in SEPARATED:
        rows = shuffled.index[shuffled["x"] == x]
        shuffled.loc[rows, "seed"] = rng.permutation(shuffled.loc[rows, "seed"].to_numpy())
    assert ev.trend(frame, "x", "y") == ev.trend(shuffled, "x", "y")


def test_a_non_monotone_trend_names_the_step_that_goes_the_other_way():
    values = {1: [0.17, 0.18, 0.16, 0.175], 2: [0.55, 0.56, 0.54, 0.553], 4: [0.02, 0.03, 0.025, 0.021],
              7: [0.005, 0.004, 0.006, 0.0045]}
    e = ev.trend(design(values), "x", "y")
    assert e.direction == -1 and e.reversals == ((1, 2),)
    text = ev.verdict(e, -1, "deeper fits better", "Z", name=lambda d: f"{d} hidden layers")
    assert "Not monotone: from 1 hidden layers to 2 hidden layers it goes the other way in every run." in text


def test_an_effect_inside_the_margin_is_not_resolved():
    values = {1: [1.00, 1.01, 1.02], 2: [1.03, 1.04, 1.05], 3: [1.06, 1.07, 1.08]}
    assert ev.trend(design(values), "x", "y").direction == 1
    e = ev.trend(design(values), "x", "y", margin=0.10)
    assert not e.resolved and "within the stated margin" in e.reason
    absolute = ev.trend(design(values), "x", "y", margin=0.05, relative=False)
    assert absolute.direction == 1 and absolute.effect == pytest.approx(0.06)


def test_paired_designs_use_page_with_seeds_as_blocks():
    values = {16: [1.0, 1.1, 0.9], 64: [2.0, 2.2, 2.1], 256: [3.0, 3.1, 2.9], 1024: [4.0, 4.2, 3.9]}
    frame = design(values)
    e = ev.trend(frame, "x", "y", paired=True)
    wide = frame.pivot(index="seed", columns="x", values="y").to_numpy()
    assert e.test == "Page's trend test" and e.direction == 1
    assert e.p == pytest.approx(2 * stats.page_trend_test(wide).pvalue)


def test_holm_adjusts_in_step_down_order_and_can_unresolve():
    strong = ev.trend(design(SEPARATED), "x", "y")
    weak = ev.difference([1.0, 1.2, 1.1, 1.35, 1.3], [1.4, 1.5, 1.25, 1.6, 1.45])
    assert weak.p < 0.05 and weak.resolved
    adjusted = ev.holm([weak, strong])
    assert adjusted[1].p == pytest.approx(2 * strong.p)
    assert adjusted[0].p == pytest.approx(max(2 * strong.p, weak.p))
    assert all(a.adjusted_over == 2 for a in adjusted)
    three = ev.holm([weak, weak, strong])
    assert three[0].p == pytest.approx(2 * weak.p) and not three[0].resolved


def test_diverged_runs_are_left_out():
    frame = design(SEPARATED)
    frame.loc[0, "y"] = np.nan
    assert ev.trend(frame, "x", "y").n == len(frame) - 1


def test_association_is_kendalls_tau_over_models_with_a_margin_on_tau():
    rng = np.random.default_rng(1)
    a = rng.normal(size=27)
    frame = pd.DataFrame({"a": a, "b": 2 * a + 0.3 * rng.normal(size=27), "c": rng.normal(size=27)})
    e = ev.association(frame, "a", "b")
    ref = stats.kendalltau(frame["a"], frame["b"])
    assert e.direction == 1 and e.effect == pytest.approx(ref.statistic) and e.p == pytest.approx(ref.pvalue)
    assert "Kendall's τ = " in e.summary()
    assert not ev.association(frame, "a", "c").resolved
    assert not ev.association(frame, "a", "b", margin=0.99).resolved


def test_kind_names_the_verdict_of_a_claim():
    e = ev.difference([1.0, 1.1, 1.2, 1.3], [2.0, 2.1, 2.2, 2.3])
    assert ev.kind(e, +1) == "agrees" and ev.kind(e, -1) == "contradicts"
    assert ev.kind(ev.difference([1.0, 1.1], [1.05, 1.15]), +1) == "unresolved"


def test_single_runs_per_condition_name_no_reversal():
    frame = pd.DataFrame({"x": [1, 2, 3, 4, 5, 6], "y": [1, 3, 2, 4, 6, 5], "seed": 0})
    assert ev.trend(frame, "x", "y").reversals == ()
