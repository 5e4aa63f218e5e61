"""The decision rule: n keys asked, m exact matches, null match rate p0; the p-value is
P[Bin(n, p0) >= m] and the verdict is "fingerprinted" when it is at most alpha."""
import math


def _log_pmf(n, i, p):
    if p <= 0.0:
        return 0.0 if i == 0 else float("-inf")
    if p >= 1.0:
        return 0.0 if i == n else float("-inf")
    return math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p) + (n - i) * math.log1p(-p)


def binomial_tail(n, m, p):
    """P[Bin(n, p) >= m], summed in log space (exact for the small p-values that matter here)."""
    if m <= 0:
        return 1.0
    if m > n:
        return 0.0
    logs = [_log_pmf(n, i, p) for i in range(m, n + 1)]
    top = max(logs)
    if top == float("-inf"):
        return 0.0
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def binomial_cdf(n, m, p):
    """P[Bin(n, p) <= m], summed over the m + 1 terms of the lower side in log space, so a bound
    on a rate measured over ten million trials with few successes costs a few terms, not n."""
    if m < 0:
        return 0.0
    if m >= n:
        return 1.0
    logs = [_log_pmf(n, i, p) for i in range(0, m + 1)]
    top = max(logs)
    if top == float("-inf"):
        return 0.0
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def upper_bound(n, m, confidence=0.99):
    """Clopper-Pearson upper bound on a rate from m successes in n trials."""
    if n == 0:
        return 1.0
    if m >= n:
        return 1.0
    lo, hi = m / n, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if binomial_cdf(n, m, mid) > 1.0 - confidence:
            lo = mid
        else:
            hi = mid
    return hi


def null_rate(null_matches, null_asked, floor=1e-3, confidence=0.99):
    """p0 used by the verdict: the upper confidence bound of the rate measured on unmarked models, never below the floor."""
    measured = null_matches / null_asked if null_asked else None
    bound = upper_bound(null_asked, null_matches, confidence) if null_asked else 1.0
    return max(floor, bound if null_asked else floor), measured


def verdict(n, m, p0, alpha=1e-6):
    p_value = binomial_tail(n, m, p0)
    return {"asked": n, "matched": m, "null_rate": p0, "p_value": p_value, "alpha": alpha, "fingerprinted": p_value <= alpha}
