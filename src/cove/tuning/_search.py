"""How a tuning job searches: an Optuna study per Strategy, and SageMaker's early-stopping rule.

- Bayesian → TPE (multivariate, constant liar so parallel trials spread out).  Optuna's GP
  sampler needs PyTorch, which cove does not require; TPE handles categorical and conditional
  spaces natively and is cheap per ask.  ``bench/tuning.py`` measures it against Random.
- Random → Optuna's RandomSampler.
- Grid → every combination in the order the ranges list them, queued into the study
  (``enqueue_trial``), so the sampler never invents a point.
- Hyperband → TPE with Optuna's HyperbandPruner, fed the objective metric's time series.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: TrainingJobEarlyStoppingType Auto needs this many finished trials before it judges one.
EARLY_STOPPING_MIN_TRIALS = 2
#: StaticHyperParameters from which Hyperband infers MaxResource (as SageMaker documents).
EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")


def new_study(config: Mapping[str, Any], static: Mapping[str, str], max_jobs: int) -> optuna.Study:
    strategy = config["Strategy"]
    seed = config.get("RandomSeed")
    minimize = config["HyperParameterTuningJobObjective"]["Type"] == "Minimize"
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    sampler: optuna.samplers.BaseSampler
    if strategy in ("Bayesian", "Hyperband"):
        sampler = optuna.samplers.TPESampler(
            seed=seed, multivariate=True, constant_liar=True,
            n_startup_trials=min(10, max(3, max_jobs // 3)))
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    if strategy == "Hyperband":
        low, high = hyperband_resources(config, static)
        pruner = optuna.pruners.HyperbandPruner(min_resource=low, max_resource=high)
    return optuna.create_study(direction="minimize" if minimize else "maximize",
                               sampler=sampler, pruner=pruner)


def hyperband_resources(config: Mapping[str, Any], static: Mapping[str, str]) -> tuple[int, int]:
    """(MinResource, MaxResource); MaxResource falls back to an epochs hyperparameter."""
    hb = config.get("StrategyConfig", {}).get("HyperbandStrategyConfig", {})
    low = int(hb.get("MinResource", 1))
    high = hb.get("MaxResource")
    if high is None:
        for key in EPOCH_KEYS:
            if key in static:
                try:
                    high = int(float(static[key].strip('"')))
                except ValueError:
                    continue
                break
    if high is None:
        raise ValueError("Hyperband needs StrategyConfig.HyperbandStrategyConfig.MaxResource, "
                         f"or one of the static hyperparameters {', '.join(EPOCH_KEYS)} to "
                         "infer it from.")
    if not 1 <= low < int(high):
        raise ValueError(f"Hyperband needs 1 <= MinResource < MaxResource; they are {low} "
                         f"and {high}.")
    return low, int(high)


def worse_than_median(current: list[float], previous: list[list[float]], minimize: bool) -> bool:
    """SageMaker's early-stopping rule for ``TrainingJobEarlyStoppingType: Auto``.

    At the current job's latest step t (from the second on), take each earlier job's running
    average of the objective over its first t values, and their median; the current job stops
    if its value at step t is worse than that median.
    """
    t = len(current)
    if t < 2:
        return False
    averages = [statistics.fmean(values[:t]) for values in previous if len(values) >= t]
    if len(averages) < EARLY_STOPPING_MIN_TRIALS:
        return False
    median = statistics.median(averages)
    return current[-1] > median if minimize else current[-1] < median
