"""Each column rule of synth.column_plan on a small column built to trigger it, and on one built not to."""

import json

import numpy as np
import pandas as pd
import pytest

from synth.column_plan import ColumnPlan
from synth.errors import GeneratorInputError, ModelError

N = 600


def _rule(column: pd.Series, **options):
    return ColumnPlan.fit(pd.DataFrame({"c": column, "other": np.arange(N) % 3}), **options).by_name["c"]


def _round_trip(table: pd.DataFrame, plan: ColumnPlan, **kw) -> pd.DataFrame:
    return plan.inverse(plan.transform(table), seed=0, **kw)


def test_text_codes_unique_per_row_are_identifiers_regenerated_in_their_format():
    rng = np.random.default_rng(0)
    codes = pd.Series([f"{rng.integers(1000, 9999)}-{''.join(rng.choice(list('ABCDEFGH'), 5))}" for _ in range(N)])
    codes = codes.where(~codes.duplicated(), codes + "X")  # unique
    table = pd.DataFrame({"customerID": codes, "x": rng.normal(size=N)})
    plan = ColumnPlan.fit(table)
    assert plan.identifiers == ["customerID"] and plan.learned_columns == ["x"]
    assert "customerID" not in plan.transform(table)
    keys = plan.inverse(plan.transform(table), seed=3)["customerID"]
    assert keys.str.fullmatch(r"\d{4}-[A-Z]{5}").all() and keys.is_unique
    # row i's key does not depend on how the output is chunked, and changes with the seed
    later = plan.inverse(plan.transform(table).iloc[:10], seed=3, start=20)["customerID"]
    assert later.tolist() == keys.iloc[20:30].tolist()
    assert not plan.inverse(plan.transform(table), seed=4)["customerID"].equals(keys)


def test_a_prefix_every_code_shares_is_kept_and_keys_past_the_patterns_capacity_stay_unique():
    table = pd.DataFrame({"id": [f"CUST-{i:02d}" for i in range(N // 10)] * 10, "x": np.arange(N) % 7})
    table["id"] = [f"CUST-{i:03d}" for i in range(N)]
    plan = ColumnPlan.fit(table)
    assert plan.by_name["id"].pattern == ["=CUST-", "ddd"]
    keys = plan.fresh_keys("id", 2500, seed=0, start=0)
    assert keys.is_unique and keys.str.fullmatch(r"CUST-\d{3,4}").all()
    assert keys.iloc[:1000].str.fullmatch(r"CUST-\d{3}").all()


def test_integer_row_numbers_are_numbered_on_from_the_real_maximum():
    rule = _rule(pd.Series(np.arange(N) + 5000))
    assert rule.kind == "identifier"
    table = pd.DataFrame({"c": np.arange(N) + 5000, "other": np.arange(N) % 3})
    plan = ColumnPlan.fit(table)
    out = _round_trip(table, plan)
    assert out["c"].dtype == np.int64 and out["c"].min() == 5000 + N and out["c"].is_unique


def test_a_quantity_is_not_an_identifier():
    rng = np.random.default_rng(1)
    assert _rule(pd.Series(rng.normal(50, 10, N))).kind == "continuous"
    amounts = pd.Series(rng.permutation(N * 20)[:N] * 3 + 1)  # unique, sparse and unordered: a quantity
    assert _rule(amounts).kind == "continuous"


def test_integer_codes_are_learned_as_categories_and_every_value_comes_back():
    rng = np.random.default_rng(2)
    codes = pd.Series(rng.choice([-2, -1, 0, 1, 2, 8], N, p=[0.3, 0.3, 0.3, 0.05, 0.04, 0.01]))
    table = pd.DataFrame({"pay": codes, "target": rng.integers(0, 2, N)})
    plan = ColumnPlan.fit(table)
    learned = plan.transform(table)
    assert learned["pay"].dtype == object and set(learned["pay"]) == {"-2", "-1", "0", "1", "2", "8"}
    assert set(learned["target"]) == {"0", "1"}  # a 0/1 target is a category: it can be conditioned on
    out = plan.inverse(learned, seed=0)
    pd.testing.assert_frame_equal(out, table)
    assert plan.conditions({"target": 1}) == {"target": "1"}
    with pytest.raises(GeneratorInputError, match=r"condition target=5: not a value of this column \(values: 0, 1\)"):
        plan.conditions({"target": 5})


def test_integer_codes_can_stay_numbers_snapped_to_the_nearest_real_value():
    table = pd.DataFrame({"pay": [-2, -1, 0, 1, 2, 8] * 100, "other": np.arange(600) % 3})
    plan = ColumnPlan.fit(table, discrete="nearest")
    assert plan.transform(table)["pay"].dtype == np.int64  # learned as a number
    out = plan.inverse(pd.DataFrame({"pay": [-1.6, 4.9, 5.1, 100.0, np.nan], "other": [0] * 5}), seed=0)["pay"]
    assert out.tolist()[:4] == [-2, 2, 8, 8] and out.isna().tolist()[4]


def test_discrete_with_missing_values_keeps_nulls_and_a_nullable_dtype():
    column = pd.Series([1, 2, None, 3] * (N // 4), dtype="Int64")
    table = pd.DataFrame({"c": column, "other": np.arange(N) % 3})
    out = _round_trip(table, ColumnPlan.fit(table))
    pd.testing.assert_series_equal(out["c"], column, check_names=False)


def test_many_integer_values_stay_numeric():
    assert _rule(pd.Series(np.random.default_rng(3).integers(0, 200, N))).kind == "continuous"


def test_round_money_is_snapped_back_onto_its_grid_inside_the_real_range():
    rng = np.random.default_rng(4)
    table = pd.DataFrame({"limit": rng.integers(1, 80, N) * 10_000, "other": rng.normal(size=N)})
    plan = ColumnPlan.fit(table)
    assert plan.by_name["limit"].grid == 10_000
    generated = pd.DataFrame({"limit": [12_345.6, 795_000.0, -5.0, 2e7], "other": [0.0] * 4})
    out = plan.inverse(generated, seed=0)["limit"]
    assert out.tolist() == [10_000, 790_000, 10_000, 790_000] and out.dtype == np.int64


def test_fixed_decimals_are_kept():
    table = pd.DataFrame({"rate": np.round(np.random.default_rng(5).uniform(0, 5, N), 2), "other": np.zeros(N)})
    plan = ColumnPlan.fit(table)
    out = plan.inverse(pd.DataFrame({"rate": [1.23456, 4.999], "other": [0.0, 0.0]}), seed=0)["rate"]
    assert out.tolist() == [1.23, 5.0]


def test_full_precision_decimals_are_untouched():
    table = pd.DataFrame({"x": np.random.default_rng(6).normal(size=N), "other": np.zeros(N)})
    plan = ColumnPlan.fit(table)
    rule = plan.by_name["x"]
    assert rule.grid is None and rule.transform is None
    pd.testing.assert_series_equal(plan.transform(table)["x"], table["x"])


def test_heavy_tails_are_transformed_and_undone():
    rng = np.random.default_rng(7)
    table = pd.DataFrame({"amount": rng.lognormal(3, 1.5, N), "spread": rng.standard_t(1.2, N),
                          "n": rng.normal(size=N)})
    plan = ColumnPlan.fit(table)
    assert plan.by_name["amount"].transform == "log"
    assert plan.by_name["spread"].transform == "quantile"
    assert plan.by_name["n"].transform is None
    learned = plan.transform(table)
    assert learned["amount"].max() < np.log1p(table["amount"].max()) + 1e-9
    assert learned["spread"].abs().max() <= 3.72
    out = plan.inverse(learned, seed=0)
    np.testing.assert_allclose(out["amount"], table["amount"], rtol=1e-9)
    # the quantile transform is exact at its knots and monotone between them
    assert np.corrcoef(out["spread"].rank(), table["spread"].rank())[0, 1] > 0.999


def test_quantile_knots_hold_no_single_training_value():
    values = np.random.default_rng(8).standard_t(1.2, N)
    plan = ColumnPlan.fit(pd.DataFrame({"spread": values, "other": np.zeros(N)}))
    knots = plan.by_name["spread"].knots
    inner = set(np.sort(values)[1:-1].tolist())
    assert not inner & set(knots[1:-1])


def test_options_turn_rules_off():
    rng = np.random.default_rng(9)
    table = pd.DataFrame({"code": rng.integers(0, 5, N), "amount": rng.lognormal(3, 1.5, N), "id": np.arange(N)})
    plan = ColumnPlan.fit(table, discrete=None, transforms=False)
    assert plan.by_name["code"].kind == "continuous" and plan.by_name["amount"].transform is None
    assert ColumnPlan.fit(table, identifiers=False).by_name["id"].kind != "identifier"


def test_the_plan_is_plain_json_and_a_damaged_one_is_refused():
    rng = np.random.default_rng(10)
    table = pd.DataFrame({"code": rng.integers(0, 5, N), "amount": rng.standard_t(1.2, N)})
    plan = ColumnPlan.fit(table)
    config = json.loads(json.dumps(plan.to_config()))
    again = ColumnPlan.from_config(config, "m/config.json")
    pd.testing.assert_frame_equal(again.inverse(plan.transform(table), seed=0),
                                  plan.inverse(plan.transform(table), seed=0))
    config[0]["values"] = []
    with pytest.raises(ModelError, match="m/config.json: column_plan entry for 'code' is damaged"):
        ColumnPlan.from_config(config, "m/config.json")
    with pytest.raises(ModelError, match="column_plan is damaged"):
        ColumnPlan.from_config([{"name": "x", "kind": "keep", "dtype": "float64", "reason": "", "evil": 1}], "m")


def test_conditions_on_an_identifier_are_refused():
    table = pd.DataFrame({"id": [f"K{i:05d}" for i in range(N)], "x": np.zeros(N)})
    with pytest.raises(GeneratorInputError, match="cannot condition on 'id': it is an identifier"):
        ColumnPlan.fit(table).conditions({"id": "K00001"})


def test_the_card_says_what_was_done_per_changed_column():
    rng = np.random.default_rng(11)
    table = pd.DataFrame({"code": rng.integers(0, 5, N), "x": rng.normal(size=N), "id": np.arange(N)})
    described = {d["column"]: d["done"] for d in ColumnPlan.fit(table).describe()}
    assert set(described) == {"code", "id"}
    assert "5 categories" in described["code"] and "fresh unique keys" in described["id"]


def test_the_spec_checks_conditions_with_the_same_discrete_limit():
    from synth import profile, spec

    assert spec.DISCRETE_MAX_VALUES == profile.DISCRETE_MAX_VALUES
