#!/usr/bin/env python3
"""Mean-square stability of two-point zeroth-order SGD on quadratics: the formula of
`Sources/Training/Loop/AutoLearningRate.swift` (derivation in docs/lr-auto.md) against a simulation.

On L(θ) = ½ θᵀHθ with H = diag(λ) and ε → 0, a step with q perturbations is
    θ' = θ − (η/q) Σ_k z_k z_kᵀ H θ.
The formula: mean-square stable iff  Σ_i ηλ_i / (q (2 − c ηλ_i)) < 1, with c = 1 + 1/q for Gaussian
z and c = 1 − 1/q for Rademacher z (H diagonal in the coordinates z is drawn in).

Measurement, independent of the derivation: R independent runs of the iteration itself (numpy,
exact directional derivative zᵀHθ), started at θ0 = 1; E‖θ_t‖² is estimated by the mean over runs,
and the iteration counts as divergent at η when log(mean ‖θ_T‖²) − log(mean ‖θ_{T/2}‖²) > 0. The
measured threshold is found by bisection on η (same random streams at every η), and compared with
the formula's root.

    python3 tools/experiments/zo_stability.py            # table for the spectra below; exit 1 if any misses 10%
    python3 tools/experiments/zo_stability.py --json out.json
"""
import argparse
import json
import sys

import numpy as np


def formula_threshold(lam, q, dist):
    """Root in η of Σ ηλ/(q(2 − cηλ)) = 1 on (0, 2/(c λmax)) by bisection."""
    c = 1 + 1 / q if dist == "gaussian" else 1 - 1 / q
    hi = 2 / (c * lam.max()) if c > 0 else 4 * q / lam.sum() * 10
    lo = 0.0

    def f(eta):
        return np.sum(eta * lam / (q * (2 - c * eta * lam))) - 1

    for _ in range(200):
        mid = (lo + hi) / 2
        if c > 0 and mid >= 2 / (c * lam.max()):
            hi = mid
            continue
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def growth(lam, q, dist, eta, runs, steps, seed):
    """log mean ‖θ_T‖² − log mean ‖θ_{T/2}‖² over `runs` runs (a positive value: divergence)."""
    rng = np.random.default_rng(seed)
    d = lam.size
    theta = np.ones((runs, d))
    half = None
    for t in range(steps):
        step = np.zeros_like(theta)
        for _ in range(q):
            if dist == "gaussian":
                z = rng.standard_normal((runs, d))
            else:
                z = rng.integers(0, 2, (runs, d)) * 2.0 - 1.0
            g = np.sum(z * (theta * lam), axis=1, keepdims=True)   # zᵀHθ: the ε → 0 two-point estimate
            step += g * z
        theta = theta - (eta / q) * step
        if t == steps // 2 - 1:
            half = np.log(np.mean(np.sum(theta ** 2, axis=1)))
    return np.log(np.mean(np.sum(theta ** 2, axis=1))) - half


def measured_threshold(lam, q, dist, guess, runs, steps, seed):
    lo, hi = 0.5 * guess, 1.5 * guess
    for _ in range(12):
        mid = (lo + hi) / 2
        if growth(lam, q, dist, mid, runs, steps, seed) > 0:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


SPECTRA = {
    "flat (d=50, λ=1)": np.ones(50),
    "linear (d=50, λ=1..50)": np.arange(1, 51, dtype=float),
    "power law (d=100, λ=1/i)": 1 / np.arange(1, 101, dtype=float),
    "one outlier (d=50, λ=1, λmax=20)": np.concatenate([np.ones(49), [20.0]]),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=4000)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    worst = 0.0
    print(f"{'spectrum':36} {'z':10} {'q':>2} {'2q/tr(H)':>10} {'formula η*':>11} {'measured η*':>12} {'diff':>7}")
    for name, lam in SPECTRA.items():
        for dist in ("gaussian", "rademacher"):
            for q in (1, 4):
                f = formula_threshold(lam, q, dist)
                m = measured_threshold(lam, q, dist, f, args.runs, args.steps, seed=1)
                diff = m / f - 1
                worst = max(worst, abs(diff))
                rows.append(dict(spectrum=name, z=dist, q=q, trace_limit=2 * q / lam.sum(), formula=f, measured=m,
                                 relative_difference=diff))
                print(f"{name:36} {dist:10} {q:2d} {2 * q / lam.sum():10.4g} {f:11.4g} {m:12.4g} {diff:+7.1%}")
    print(f"worst |measured/formula − 1| = {worst:.1%}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(runs=args.runs, steps=args.steps, rows=rows, worst=worst), fh, indent=1)
    sys.exit(0 if worst <= 0.10 else 1)


if __name__ == "__main__":
    main()
