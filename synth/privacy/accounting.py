"""Privacy accounting: one (ε, δ) budget for everything that touches the training rows.

Every mechanism in a private fit is a Gaussian mechanism: the preprocessing
statistics are Gaussian-noised counts (sensitivity 1, sampling rate 1) and
DP-SGD is the Poisson-subsampled Gaussian mechanism. So all of them go into
one Opacus accountant as `(noise_multiplier, sample_rate, steps)` entries and
are composed *jointly* (RDP or PRV), which is tighter than adding the ε of
each part. The ledger still states each part's ε on its own, for a reader
who wants to see where the budget went.

Neighbouring datasets differ by adding or removing one row (the adjacency
Opacus' accountants assume). The one extra term is the δ of private category
discovery (`selection_delta`), a probability added to δ, not composed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

from synth.errors import GeneratorInputError

#: Accountants the spec can name (Opacus' RDP and PRV accountants).
ACCOUNTANTS = ("rdp", "prv")
#: Bisection stops when the planned ε is within this share of the target (always at or below it).
RELATIVE_TOLERANCE = 0.005
#: A noise multiplier above this means the budget cannot pay for the plan.
MAX_NOISE_MULTIPLIER = 1e5

Entry = tuple[float, float, int]  # (noise multiplier σ, sampling rate q, steps)


class BudgetTooSmall(GeneratorInputError):
    """No noise multiplier up to `MAX_NOISE_MULTIPLIER` fits the mechanisms into the ε they were given."""


def default_delta(n_rows: int) -> float:
    """The largest power of ten strictly below 1/n (26,049 rows → 1e-5).

    Only the order of magnitude of n is used. δ is the probability that the
    guarantee fails outright, so it must be well below the chance of picking
    any one person (1/n).
    """
    return 10.0 ** -(math.floor(math.log10(max(n_rows, 1))) + 1)


def epsilon(history: Iterable[Entry], delta: float, accountant: str = "rdp",
            orders: Sequence[float] | None = None) -> float:
    """ε after the mechanisms in `history`, computed by Opacus' own accountant (its default RDP orders / PRV error).

    `orders` (RDP only) replaces the default orders; fewer orders can only give a larger ε.
    """
    from opacus.accountants import create_accountant

    history = [(float(s), float(q), int(t)) for s, q, t in history if int(t) > 0]
    if not history:
        return 0.0
    acc = create_accountant(mechanism=accountant)
    acc.history = history
    with warnings.catch_warnings():
        # RDP: "optimal order is the largest alpha" only means the bound could be tighter (it is still valid);
        # PRV: log(0) warnings for sampling rate 1 are harmless (that branch is masked out).
        warnings.simplefilter("ignore")
        if orders is not None:
            return float(acc.get_epsilon(delta=delta, alphas=list(orders)))
        return float(acc.get_epsilon(delta=delta))


#: RDP orders for the first, rough search of `calibrate_noise`: mostly integers, which Opacus computes
#: in closed form (its default orders are 150, most of them fractional and slow for sampling rates below 1).
SEARCH_ORDERS = (1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 128, 256)


def calibrate_noise(
    target_epsilon: float,
    delta: float,
    *,
    sample_rate: float,
    steps: int,
    accountant: str = "rdp",
    before: Sequence[Entry] = (),
) -> float:
    """The noise multiplier σ for `steps` more Gaussian steps at `sample_rate` so that, composed with
    the mechanisms already run (`before`), the total ε is at most `target_epsilon` (and within
    `RELATIVE_TOLERANCE` of it, so the budget is used, not wasted).

    Bisection on σ like Opacus' `get_noise_multiplier` (which cannot take mechanisms run before),
    in two stages for speed: a rough search with `SEARCH_ORDERS` gives a σ that is certainly enough
    (fewer RDP orders only overstate ε, and PRV is tighter than RDP), then the named accountant
    itself narrows it down. The returned σ is always checked with the named accountant.
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")

    def exact(sigma: float) -> float:
        return epsilon([*before, (sigma, sample_rate, steps)], delta, accountant)

    def rough(sigma: float) -> float:
        return epsilon([*before, (sigma, sample_rate, steps)], delta, "rdp", SEARCH_ORDERS)

    already = epsilon(before, delta, accountant)
    if already >= target_epsilon:
        raise GeneratorInputError(
            f"the privacy budget ε={target_epsilon:g} is already spent before training (ε={already:.3g}); "
            "lower privacy.preprocessing_share or raise privacy.epsilon"
        )
    # 1. rough: the smallest σ (to 1%) whose overstated ε fits the budget
    low, high = _bisect(rough, target_epsilon, 0.01, steps, sample_rate)
    # 2. exact: step down until the accountant's own ε overspends, then bisect in between
    while True:
        candidate = high * 0.9
        if exact(candidate) > target_epsilon:
            low = candidate
            break
        high = candidate
    _, high = _bisect(exact, target_epsilon, RELATIVE_TOLERANCE, steps, sample_rate, low=low, high=high)
    return high


def _bisect(total, target: float, tolerance: float, steps: int, sample_rate: float, low: float = 0.0,
            high: float | None = None):
    """(low, high) around the σ where `total(σ)` meets `target`, with total(high) <= target within `tolerance`."""
    if high is None:
        high = 1.0
        while total(high) > target:
            low, high = high, high * 2
            if high > MAX_NOISE_MULTIPLIER:
                raise BudgetTooSmall(
                    f"privacy.epsilon={target:g} is too small for {steps} Gaussian steps at sampling rate "
                    f"{sample_rate:.3g}: the noise would drown the signal; raise epsilon, or lower epochs"
                )
    while total(high) < target * (1 - tolerance) and high - low > 1e-4:
        middle = (low + high) / 2
        if total(middle) <= target:
            high = middle
        else:
            low = middle
    return low, high


def selection_threshold(sigma: float, delta: float) -> float:
    """Noisy-count threshold for releasing a category found in the data (Gaussian partition selection).

    A value that only one row holds is released with probability
    P[1 + N(0, σ²) > τ] = `delta`; a value that every other row lacks thus
    adds `delta` to δ for the row that holds it, and nothing else (Korolova
    et al. 2009; Desfontaines et al. 2022). τ = 1 + σ·Φ⁻¹(1 − δ).
    """
    from statistics import NormalDist

    return 1.0 + sigma * NormalDist().inv_cdf(1.0 - delta)
