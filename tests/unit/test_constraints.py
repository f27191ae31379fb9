"""synth.constraints on its own: parsing, checks before training, the learned table, and what sampling keeps."""

import numpy as np
import pandas as pd
import pytest

from synth.constraints import ConstraintSet, parse
from synth.errors import GeneratorInputError, ModelError, SpecError


def _table(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    education = rng.choice(["HS", "Bachelors", "Masters"], n)
    gain = np.where(rng.random(n) < 0.8, 0, rng.integers(1, 9000, n))
    loss = np.where(gain > 0, 0, np.where(rng.random(n) < 0.9, 0, rng.integers(1, 2000, n)))
    price = rng.integers(1, 100, n)
    tax = rng.integers(0, 10, n)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    return pd.DataFrame({
        "age": rng.integers(17, 90, n),
        "education": education,
        "education-num": pd.Series(education).map({"HS": 9, "Bachelors": 13, "Masters": 14}).to_numpy(),
        "capital-gain": gain, "capital-loss": loss,
        "price": price, "tax": tax, "total": price + tax,
        "start": start, "end": start + pd.to_timedelta(rng.integers(0, 30, n), unit="D"),
    })


RULES = ["age >= 17", "end >= start", "capital-gain == 0 or capital-loss == 0", "age between 17 and 90",
         "fixed combinations of education, education-num", "total = price + tax", "start >= 2020-01-01"]


@pytest.mark.parametrize("text, kind", [
    ("age >= 17", "compare"), ("end >= start", "compare"), ("a == 0 or b == 0", "compare"),
    ("hours between 1 and 99", "compare"), ("fixed combinations of a, b", "fixed"),
    ("total = price + tax - discount", "derived"), ("`my col` < 3", "compare"), ("d >= 2020-01-31", "compare"),
])
def test_each_form_parses(text, kind):
    assert parse(text).kind == kind


def test_a_mapping_form_for_fixed_combinations():
    assert parse({"fixed": ["a", "b"]}).columns == ["a", "b"]


@pytest.mark.parametrize("text, message", [
    ("age is old", "not a rule this project knows"),
    ("x between 5 and 1", "low bound is above"),
    ("fixed combinations of a", "two or more column names"),
    ("t = t + a", "cannot be one of its own parts"),
    ("t = a + 3", "not numbers"),
    ("a > inf", "must be finite"),
    ("", "not a rule"),
])
def test_bad_rules_are_one_line(text, message):
    with pytest.raises(ValueError, match=message):
        parse(text)


def test_the_real_table_keeps_all_the_rules():
    table = _table()
    rules = ConstraintSet.from_spec(RULES)
    rules.check(table)  # no error


@pytest.mark.parametrize("rule, message", [
    ("height > 3", r"constraints\[0\] 'height > 3': column 'height' is not in the table"),
    ("age >= 30", r"the real data breaks it \(\d+ of 200 rows, the first at row \d+: age=\d+\)"),
    ("total = price - tax", r"the real data breaks it .*total=\d+ but the parts give \d+"),
    ("education > 3", "column 'education' is text; only numbers and dates can be ordered"),
    ("total = price + education", "column 'education' is text; a derived column adds numbers only"),
    ("end > age", "'end' is datetime but 'age' is number"),
    ("age >= 2020-01-01", "is a date but column 'age' is number"),
])
def test_bad_rules_for_this_table_are_refused_before_training(rule, message):
    with pytest.raises(SpecError, match=message):
        ConstraintSet.from_spec([rule]).check(_table())


def test_contradictory_bounds_are_refused():
    with pytest.raises(SpecError, match="'age > 50' and 'age < 40' contradict each other"):
        ConstraintSet.from_spec(["age > 50", "age < 40"])._check_contradictions("constraints")
    ConstraintSet.from_spec(["age > 50 or age < 40"])._check_contradictions("constraints")  # an "or" is fine


def test_a_column_in_two_construction_rules_is_refused():
    with pytest.raises(SpecError, match="already used by"):
        ConstraintSet.from_spec(["total = price + tax", "fixed combinations of total, education"]).check(_table())


def test_the_learned_table_and_back():
    table = _table()
    rules = ConstraintSet.from_spec(RULES)
    rules.check(table)
    rules.fit(table)
    learned = rules.transform(table)
    assert "total" not in learned and "education" not in learned and "education-num" not in learned
    assert learned["fixed(education, education-num)"].nunique() == 3
    back = rules.inverse(learned, dict(table.dtypes))
    pd.testing.assert_frame_equal(back, table)


def test_sampled_rows_keep_construction_rules_whatever_the_generator_makes():
    table = _table()
    rules = ConstraintSet.from_spec(RULES).fit(table)
    learned = rules.transform(table)
    # a "generator" that shuffles each column on its own: no relation survives
    rng = np.random.default_rng(1)
    fake = pd.DataFrame({c: rng.permutation(learned[c].to_numpy()) for c in learned.columns})
    out = rules.inverse(fake, dict(table.dtypes))
    assert (out["total"] == out["price"] + out["tax"]).all()
    pairs = set(zip(out["education"], out["education-num"], strict=True))
    assert pairs <= set(zip(table["education"], table["education-num"], strict=True))
    # rules kept by rejection are judged by `valid`
    ok = rules.valid(out)
    broken = out[~ok]
    assert len(broken) > 0
    assert (~((broken["capital-gain"] == 0) | (broken["capital-loss"] == 0)) | (broken["end"] < broken["start"])).all()


def test_missing_values_are_not_judged():
    rules = ConstraintSet.from_spec(["a >= 1", "a <= b"])
    frame = pd.DataFrame({"a": [None, 0.0, 2.0, 2.0], "b": [0.0, 5.0, None, 1.0]})
    assert rules.valid(frame).tolist() == [True, False, True, False]


def test_conditions_meet_the_rules():
    table = _table()
    rules = ConstraintSet.from_spec(RULES).fit(table)
    out = rules.conditions({"education": "Masters", "age": 40})
    assert out["age"] == 40 and "education" not in out
    assert out["fixed(education, education-num)"] == '["Masters", 14]'
    assert rules.conditions({"education-num": 13}) != {"education-num": 13}
    with pytest.raises(GeneratorInputError, match="cannot condition on 'total': it is derived"):
        rules.conditions({"total": 10})
    with pytest.raises(GeneratorInputError, match="the condition age=10 breaks the constraint 'age >= 17'"):
        rules.conditions({"age": 10})
    with pytest.raises(GeneratorInputError, match="is not one of the combinations"):
        rules.conditions({"education": "PhD"})


def test_a_condition_on_part_of_a_many_to_one_combination_is_refused_with_what_to_add():
    table = pd.DataFrame({"city": ["a", "b", "c", "d"] * 10, "state": ["X", "X", "Y", "Y"] * 10})
    rules = ConstraintSet.from_spec(["fixed combinations of city, state"]).fit(table)
    assert len(rules.conditions({"city": "c"})) == 1
    with pytest.raises(GeneratorInputError, match="matches 2 combinations .* add a condition on city"):
        rules.conditions({"state": "X"})


def test_config_round_trip_and_damage():
    table = _table()
    rules = ConstraintSet.from_spec(RULES).fit(table)
    again = ConstraintSet.from_config(rules.to_config(), "m/config.json")
    learned = rules.transform(table)
    pd.testing.assert_frame_equal(again.inverse(learned, dict(table.dtypes)),
                                  rules.inverse(learned, dict(table.dtypes)))
    damaged = rules.to_config()
    damaged["rules"][4]["combinations"] = []
    with pytest.raises(ModelError, match="m/config.json: constraints are damaged"):
        ConstraintSet.from_config(damaged, "m/config.json")


def test_the_card_lists_each_rule_and_how_it_was_kept():
    rules = ConstraintSet.from_spec(RULES)
    rules.valid(pd.DataFrame({"age": [10, 20, 30, 40], "start": pd.NaT, "end": pd.NaT, "capital-gain": 0,
                              "capital-loss": 0}), tally=True)
    described = rules.describe()
    assert [d["constraint"] for d in described] == RULES
    assert described[0]["rejection_rate"] == 0.25 and "rejection" in described[0]["enforced_by"]
    assert described[1]["rejection_rate"] == 0  # missing values are not judged
    assert "construction" in described[5]["enforced_by"] and "rejection_rate" not in described[5]


def test_init_proposals_are_the_rules_the_rows_keep_and_nothing_by_coincidence():
    from synth.constraints import propose

    table = _table(2000)
    proposed = dict(propose(table))
    assert set(proposed) == {"fixed combinations of education, education-num", "price <= total", "start <= end",
                             "capital-gain == 0 or capital-loss == 0", "total = price + tax"}
    assert "each of the 3 values of education" in proposed["fixed combinations of education, education-num"]
    # every proposal passes the checks on the whole table, so uncommenting it cannot fail a run
    ConstraintSet.from_spec(list(proposed)).check(table)


def test_no_proposals_on_independent_columns():
    from synth.constraints import propose

    rng = np.random.default_rng(3)
    table = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500), "c": rng.choice(["x", "y"], 500),
                          "d": rng.choice(["p", "q", "r"], 500)})
    assert propose(table) == []


def test_combinations_that_never_occur_although_independence_would_fill_them_are_proposed():
    from synth.constraints import propose

    rng = np.random.default_rng(4)
    internet = rng.choice(["DSL", "Fiber", "No"], 1500)
    support = np.where(internet == "No", "No internet service", rng.choice(["Yes", "No"], 1500))
    proposed = dict(propose(pd.DataFrame({"InternetService": internet, "TechSupport": support})))
    assert list(proposed) == ["fixed combinations of TechSupport, InternetService"] or \
        list(proposed) == ["fixed combinations of InternetService, TechSupport"]


def test_a_date_in_a_rule_is_read_in_the_columns_zone():
    # 23:30 UTC on New Year's Eve is already 2024 in Amsterdam: the rule reads its date where the column's times are
    when = pd.Series(pd.to_datetime(["2023-12-31 23:30", "2023-12-31 22:30"]).tz_localize("UTC")).dt.tz_convert(
        "Europe/Amsterdam")
    rules = ConstraintSet.from_spec(["when >= 2024-01-01"])
    assert rules.valid(pd.DataFrame({"when": when})).tolist() == [True, False]
