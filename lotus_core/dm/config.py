"""The Decision-Maker's settings: the `dm:` section of lotus.yaml, validated here.

Every default is explained in docs/dm.md. Units: weights are fractions of equity, returns
and costs are bps, times are seconds unless the name says _ms.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, model_validator

from lotus_core.coin_list import default_coins
from lotus_core.strict import StrictModel


class CalibrationSettings(StrictModel):
    horizons_s: tuple[int, ...] = (60, 300)  # evaluation horizons calibrated (signal_eval)
    train_days: int = Field(default=7, ge=1, le=90)  # earlier days in the training window
    min_windows: int = Field(default=60, ge=5)  # fewer done windows: the conservative prior
    min_days: int = Field(default=1, ge=1)  # fewer distinct training days: the conservative prior
    folds: int = Field(default=5, ge=2, le=20)  # time-blocked folds for out-of-fold reliability
    coin_shrink_k: float = Field(default=200.0, ge=0.0)  # per-coin offset weight n_c / (n_c + k)
    prior_sigma_bps: float = Field(default=10.0, gt=0.0)  # sigma of the prior (no history)
    interval_z: float = Field(default=1.645, gt=0.0)  # 90 % two-sided intervals
    corr_min_overlap: int = Field(default=20, ge=3)  # co-occurring buckets needed for a correlation
    # the training window above this many windows: a uniform hash sample of them
    # (lotus_core.dm.training_window); 3 coins x 7 days x 24 h is ~166,000, just below it
    max_windows: int | None = Field(default=170_000, ge=1_000)


class FusionSettings(StrictModel):
    tau0_bps2: float = Field(default=1.0, ge=0.0)  # w_i ∝ reliability_i / (σ_i² + τ0)
    half_life_s: dict[int, float] = Field(default_factory=lambda: {60: 60.0, 300: 300.0})
    max_age_half_lives: float = Field(default=4.0, gt=0.0)  # an alpha older than this is dropped
    # alphas whose realised returns correlate above this are merged
    rho_max: float = Field(default=0.6, ge=0.0, le=1.0)
    base_horizon_s: int = 300  # the long horizon: the base target
    tilt_horizon_s: int = 60  # the short horizon: a tilt within tilt_turnover of the base
    tilt_turnover: float = Field(default=0.05, ge=0.0, le=2.0)  # |w - w_base|_1 the tilt may add


class AllocatorSettings(StrictModel):
    risk_aversion: float = Field(default=5.0, gt=0.0)  # λ in μᵀw − λ wᵀΣw
    tether: float = Field(default=1e-3, ge=0.0)  # γ in − γ‖w − w₀‖² (anti-whipsaw)
    gross_max: float = Field(default=1.0, gt=0.0)  # Σ|w| budget before the drawdown ratchet
    leverage_max: float = Field(default=2.0, gt=0.0)  # hard account limit on Σ|w|
    net_max: float = Field(default=0.5, ge=0.0)  # |Σw|
    asset_max: float = Field(default=0.25, gt=0.0)  # |w_i|
    kelly_fraction: float = Field(default=0.25, gt=0.0, le=1.0)  # |w_i| ≤ f·μ_i/σ_ii
    risk_target_bps: float = Field(default=50.0, gt=0.0)  # σ of the book over the base horizon
    # Σ|Δw| per day before multipliers, paced: any trailing `turnover_window_s` may use
    # turnover_day × window / 1 day (6.0 over 3600 s: 0.25 per hour; 86_400 gives a plain
    # rolling 24 h budget)
    turnover_day: float = Field(default=6.0, ge=0.0)
    turnover_window_s: int = Field(default=3600, gt=0, le=86_400)
    # fees: the venue's schedule (trader.venues[].taker_fee), priced by lotus_core/costs.py
    impact_ref_trade: float = Field(default=0.02, ge=0.0)  # the trade (weight) impact is priced at
    liquidity_frac: float = Field(default=0.1, gt=0.0, le=1.0)  # |Δw_i|·equity ≤ frac·depth
    liquidity_bps: float = Field(default=10.0, gt=0.0)  # N: depth counted within N bps of mid
    equity: float = Field(default=100_000.0, gt=0.0)  # quote units (paper book)
    drawdown_start: float = Field(default=0.05, ge=0.0, lt=1.0)  # ratchet starts here
    drawdown_stop: float = Field(default=0.20, gt=0.0, le=1.0)  # gross budget at its floor
    drawdown_floor: float = Field(default=0.25, ge=0.0, le=1.0)  # gross multiplier at drawdown_stop
    min_trade: float = Field(default=1e-4, ge=0.0)  # |Δw| below this is not worth a ticket
    cov_halflife_s: float = Field(default=1800.0, gt=0.0)  # EWMA of MicroTape returns
    cov_method: str = Field(default="ledoit_wolf", pattern="^(ledoit_wolf|ewma)$")
    solver: str = "CLARABEL"

    @model_validator(mode="after")
    def _drawdown_order(self) -> AllocatorSettings:
        if self.drawdown_stop <= self.drawdown_start:
            raise ValueError("drawdown_stop must be above drawdown_start")
        return self


class BudgetSettings(StrictModel):
    """Meta-signal multipliers: each in [low, high]; they scale risk and turnover budgets."""

    low: float = Field(default=0.75, gt=0.0)
    high: float = Field(default=1.25, gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> BudgetSettings:
        if not self.low <= 1.0 <= self.high:
            raise ValueError("budget multipliers need low <= 1 <= high")
        return self


class CuratorSettings(StrictModel):
    stale_ms: int = Field(default=10_000, ge=0)  # data older than this at decision time: veto
    kappa: float = Field(default=0.10, ge=0.0, le=0.10)  # bound of a confidence nudge (log space)


REMOVED = {
    "fee_bps": "the DM prices the venue's own fee schedule (trader.venues[].taker_fee / "
               "maker_fee, through lotus_core/costs.py), the fee the Trader charges",
}
"""Keys a lotus.yaml may still set, per section of `dm:`, and why they went."""


def _removed(data: Any) -> Any:
    """An old key names itself and why it went (not just 'extra inputs')."""
    if not isinstance(data, dict):
        return data
    for where, body in (("dm", data), ("dm.allocator", data.get("allocator"))):
        if isinstance(body, dict):
            for key, why in REMOVED.items():
                if key in body:
                    raise ValueError(f"{where}.{key} is no longer a setting: {why}; remove "
                                     "it from lotus.yaml")
    return data


class DmSettings(StrictModel):
    portfolio_id: str = "paper"
    # the allocator's universe (one compiled problem of this size); default: the coin list
    coins: tuple[str, ...] = Field(default_factory=default_coins)  # lotus_core/coin_list.py
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    fusion: FusionSettings = Field(default_factory=FusionSettings)
    allocator: AllocatorSettings = Field(default_factory=AllocatorSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    curators: CuratorSettings = Field(default_factory=CuratorSettings)

    @model_validator(mode="before")
    @classmethod
    def _no_removed_keys(cls, data: Any) -> Any:
        return _removed(data)


class DmConfigError(ValueError):
    """A `dm:` setting is unknown or out of range; the message names the key."""


def load_dm_settings(section: dict[str, Any] | DmSettings | None = None) -> DmSettings:
    """Validate the `dm:` section (a dict from lotus.yaml, or None for the defaults)."""
    if isinstance(section, DmSettings):
        return section
    try:
        return DmSettings.model_validate(section or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"dm.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"]
            else str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise DmConfigError(f"invalid dm settings: {problems}") from None
