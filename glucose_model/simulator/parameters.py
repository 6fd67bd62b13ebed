"""Virtual subjects: published mean parameters per kind of person, log-normal variation, basal state.

Means follow Dalla Man, Rizza & Cobelli 2007 (IEEE TBME 54:1740, Table I: normal and type 2) and,
for type 1, the adult virtual patients of the UVA/Padova simulator as distributed with `simglucose`
(means of its 10 adults). Pre-diabetes (impaired glucose tolerance) lies between normal and type 2
with lower insulin sensitivity and a reduced first-phase (derivative) secretion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from glucose_model.records import DiabetesKind, RecordError

FloatArray = npt.NDArray[np.float64]

PMOL_PER_UNIT_INSULIN = 6000.0  # 1 U of insulin = 6000 pmol (UVA/Padova convention)
HEPATIC_EXTRACTION_BASAL = 0.6  # HEb, the same for every kind in Dalla Man 2007

# Per kind: name -> (mean, coefficient of variation of the log-normal person-to-person spread).
# cv 0 means a fixed constant. Units: volumes dL/kg (vg) or L/kg (vi), rates 1/min, glucose mg/kg
# or mg/dL, insulin pmol/kg or pmol/L, fluxes mg/kg/min or pmol/kg/min.
_NORMAL: dict[str, tuple[float, float]] = {
    "body_weight_kg": (78.0, 0.15),
    "insulin_basal_pmol_l": (25.49, 0.30),
    "egp_basal": (1.92, 0.12),
    "vg": (1.88, 0.10),
    "k1": (0.065, 0.15),
    "k2": (0.079, 0.15),
    "vi": (0.05, 0.10),
    "m1": (0.190, 0.15),
    "m2": (0.484, 0.15),
    "m4": (0.194, 0.15),
    "m5": (0.0304, 0.15),
    "kmax": (0.0558, 0.20),
    "kmin": (0.0080, 0.20),
    "kabs": (0.057, 0.25),
    "f": (0.90, 0.0),
    "b": (0.82, 0.0),
    "c": (0.010, 0.0),
    "kp2": (0.0021, 0.20),
    "kp3": (0.009, 0.25),
    "kp4": (0.0618, 0.20),
    "ki": (0.0079, 0.15),
    "fcns": (1.0, 0.0),
    "vmx": (0.047, 0.30),
    "km0": (225.59, 0.10),
    "p2u": (0.0331, 0.20),
    "k_sec": (2.30, 0.30),
    "alpha_sec": (0.050, 0.20),
    "beta_sec": (0.11, 0.25),
    "gamma_sec": (0.5, 0.0),
    "ke1": (0.0005, 0.0),
    "ke2": (339.0, 0.0),
    # Counter-regulation (glucagon, adrenaline) below COUNTERREGULATION_THRESHOLD_MG_DL, extra EGP in
    # mg/kg/min per mg/dL: ~3 mg/kg/min more at 50 mg/dL, EGP doubling to tripling as with a full
    # glucagon and adrenaline response; see physiology.
    "counterregulation_gain": (0.15, 0.30),
    # Subcutaneous insulin kinetics: used only by type 1 subjects (simglucose adult means).
    "kd": (0.0159, 0.0),
    "ka1": (0.0034, 0.0),
    "ka2": (0.0159, 0.0),
}

# Healthy adults today: Dalla Man's normal means give, in this implementation, a rise of ~54 mg/dL
# peaking at ~77 min for a 60 g mixed meal; free-living CGM of healthy adults shows a median rise of
# ~30 mg/dL peaking near 50 min (Zignoli et al. 2024). Dalla Man's cohort was middle-aged and
# overweight (age ~56, BMI ~26). Raising peripheral insulin sensitivity (Vmx x3), its speed (p2U x2)
# and the dynamic secretion (K x1.5) brings the simulated healthy subjects onto the CGM data while
# keeping their plasma insulin peak physiological (median ~170 pmol/L); checked by
# tests/unit/test_glucose_simulator_physiology.py.
_HEALTHY: dict[str, tuple[float, float]] = {
    **_NORMAL,
    "vmx": (0.141, 0.30),
    "p2u": (0.0662, 0.20),
    "k_sec": (3.45, 0.30),
}

_TYPE2: dict[str, tuple[float, float]] = {
    **_NORMAL,
    "body_weight_kg": (91.0, 0.15),
    "insulin_basal_pmol_l": (54.81, 0.35),
    "egp_basal": (2.10, 0.12),
    "vg": (1.49, 0.10),
    "k1": (0.042, 0.15),
    "k2": (0.071, 0.15),
    "vi": (0.04, 0.10),
    "m1": (0.379, 0.15),
    "m2": (0.673, 0.15),
    "m4": (0.269, 0.15),
    "m5": (0.0526, 0.15),
    "kmax": (0.0465, 0.20),
    "kmin": (0.0076, 0.20),
    "kabs": (0.023, 0.25),
    "b": (0.68, 0.0),
    "c": (0.09, 0.0),
    "kp2": (0.0007, 0.20),
    "kp3": (0.005, 0.25),
    "kp4": (0.0786, 0.20),
    "ki": (0.0066, 0.15),
    "vmx": (0.034, 0.30),
    "km0": (466.21, 0.10),
    "p2u": (0.0840, 0.20),
    "k_sec": (0.99, 0.30),
    "alpha_sec": (0.013, 0.20),
    "beta_sec": (0.05, 0.25),
}


def _between(low: float, high: float, weight: float) -> float:
    """Geometric interpolation: parameters spread multiplicatively, so their midpoints do too."""
    return float(np.exp((1.0 - weight) * np.log(low) + weight * np.log(high)))


# Impaired glucose tolerance: 40 % of the way from healthy to type 2 on every parameter, then the two
# defects the literature names set explicitly (peripheral insulin sensitivity ~40 % of healthy;
# first-phase secretion, the derivative term K, reduced to ~45 %: Abdul-Ghani et al. 2006 Diabetes
# Care 29:1130).
_PREDIABETES: dict[str, tuple[float, float]] = {
    name: (_between(_HEALTHY[name][0], _TYPE2[name][0], 0.4), _HEALTHY[name][1]) for name in _HEALTHY
}
_PREDIABETES.update(
    {
        "vmx": (0.055, 0.30),
        "k_sec": (1.5, 0.30),
        "insulin_basal_pmol_l": (40.0, 0.30),
        "b": (0.76, 0.0),
        "c": (0.04, 0.0),
    }
)

# Type 1: the UVA/Padova adult virtual patients (means of simglucose's adult#001..#010); no
# secretion; subcutaneous insulin (kd, ka1, ka2) carries basal and boluses.
_TYPE1: dict[str, tuple[float, float]] = {
    **_NORMAL,
    "body_weight_kg": (86.0, 0.15),
    "insulin_basal_pmol_l": (108.0, 0.20),
    "egp_basal": (2.40, 0.12),
    "vg": (1.85, 0.08),
    "k1": (0.0625, 0.20),
    "k2": (0.129, 0.30),
    "vi": (0.0525, 0.15),
    "m1": (0.200, 0.25),
    "m2": (0.277, 0.20),
    "m4": (0.111, 0.20),
    "m5": (0.0, 0.0),
    "kmax": (0.0387, 0.25),
    "kmin": (0.0074, 0.30),
    "kabs": (0.155, 0.40),
    "b": (0.785, 0.0),
    "c": (0.179, 0.0),
    "kp2": (0.0042, 0.30),
    "kp3": (0.0095, 0.30),
    "kp4": (0.0, 0.0),
    "ki": (0.0084, 0.30),
    "vmx": (0.0537, 0.35),
    "km0": (236.7, 0.10),
    "p2u": (0.0339, 0.30),
    "k_sec": (0.0, 0.0),
    "alpha_sec": (0.0, 0.0),
    "beta_sec": (0.0, 0.0),
    # The glucagon answer to a low is lost within a few years of type 1 (Gerich 1973); adrenaline
    # remains, blunted: a third of the non-diabetic gain.
    "counterregulation_gain": (0.05, 0.40),
    "kd": (0.0159, 0.15),
    "ka1": (0.0034, 0.20),
    "ka2": (0.0159, 0.25),
}

POPULATION_PARAMETERS: dict[DiabetesKind, dict[str, tuple[float, float]]] = {
    DiabetesKind.NONE: _HEALTHY,
    DiabetesKind.PREDIABETES: _PREDIABETES,
    DiabetesKind.TYPE2: _TYPE2,
    DiabetesKind.TYPE1: _TYPE1,
}

# Fasting plasma glucose (mg/dL): normal distribution, truncated to the diagnostic band of each kind
# (ADA: normal < 100, impaired 100-125, diabetes >= 126); type 1 under treatment, fasting 100-180.
FASTING_GLUCOSE_MG_DL: dict[DiabetesKind, tuple[float, float, float, float]] = {
    DiabetesKind.NONE: (91.0, 5.0, 76.0, 99.0),  # mean, sd, low, high (CGM mean ~99: Shah et al. 2019)
    DiabetesKind.PREDIABETES: (106.0, 6.0, 100.0, 125.0),
    DiabetesKind.TYPE2: (150.0, 20.0, 126.0, 220.0),
    DiabetesKind.TYPE1: (135.0, 18.0, 100.0, 180.0),
}

# Sensor and daily-life traits: interstitial lag time constant 5-10 min (Basu et al. 2013: ~5-6 min
# physiological lag, plus the sensor's own filtering), resting heart rate, carbohydrate-counting
# error of type 1 subjects.
SENSOR_LAG_MIN_RANGE = (5.0, 10.0)
RESTING_HEART_RATE_BPM = (66.0, 8.0)  # mean, sd
CARB_COUNT_ERROR_CV = 0.25  # adults with T1D miscount meal carbohydrate by ~20 % (Brazeau et al. 2013)
# The 500 rule (carb ratio = 500 g / total daily insulin; total daily ≈ 2 x basal), the rule
# clinicians start from; `insulin_therapy.fit_carb_ratios` then titrates each subject's ratio.
CARB_RATIO_RULE_G = 500.0


@dataclass(frozen=True)
class PersonParameters:
    """Parameters of P virtual subjects, each field a (P,) array (kind is a tuple of P kinds).

    The first block is drawn; the second is solved from it so that each subject rests at its own
    fasting glucose with no meal (see `solve_basal`).
    """

    kind: tuple[DiabetesKind, ...]
    body_weight_kg: FloatArray
    glucose_basal_mg_dl: FloatArray
    insulin_basal_pmol_l: FloatArray
    egp_basal: FloatArray  # mg/kg/min
    vg: FloatArray
    k1: FloatArray
    k2: FloatArray
    vi: FloatArray
    m1: FloatArray
    m2: FloatArray
    m4: FloatArray
    m5: FloatArray
    kmax: FloatArray
    kmin: FloatArray
    kabs: FloatArray
    f: FloatArray
    b: FloatArray
    c: FloatArray
    kp2: FloatArray
    kp3: FloatArray
    kp4: FloatArray
    ki: FloatArray
    fcns: FloatArray
    vmx: FloatArray
    km0: FloatArray
    p2u: FloatArray
    k_sec: FloatArray
    alpha_sec: FloatArray
    beta_sec: FloatArray
    gamma_sec: FloatArray
    ke1: FloatArray
    ke2: FloatArray
    counterregulation_gain: FloatArray
    kd: FloatArray
    ka1: FloatArray
    ka2: FloatArray
    sensor_lag_min: FloatArray
    heart_rate_rest_bpm: FloatArray
    carb_ratio_g_per_unit: FloatArray  # type 1 only (NaN otherwise)
    # Solved basal state:
    gp_basal: FloatArray  # mg/kg
    gt_basal: FloatArray  # mg/kg
    ip_basal: FloatArray  # pmol/kg
    il_basal: FloatArray  # pmol/kg
    ipo_basal: FloatArray  # pmol/kg, portal insulin
    secretion_basal: FloatArray  # pmol/kg/min
    m6: FloatArray
    m30: FloatArray
    kp1: FloatArray
    vm0: FloatArray
    basal_infusion: FloatArray  # pmol/kg/min, type 1 subcutaneous basal (0 otherwise)

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def is_type1(self) -> npt.NDArray[np.bool_]:
        return np.array([k is DiabetesKind.TYPE1 for k in self.kind], dtype=bool)

    @property
    def basal_units_per_day(self) -> FloatArray:
        return self.basal_infusion * self.body_weight_kg * 1440.0 / PMOL_PER_UNIT_INSULIN

    def take(self, index: npt.ArrayLike) -> PersonParameters:
        """The subjects at `index` (array of positions), in that order."""
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        values = {f.name: getattr(self, f.name)[idx] for f in fields(self) if f.name != "kind"}
        return PersonParameters(kind=tuple(self.kind[i] for i in idx), **values)

    def with_values(self, **values: FloatArray) -> PersonParameters:
        """A copy with some drawn values replaced and the basal state solved again."""
        drawn = {f.name: getattr(self, f.name) for f in fields(self) if f.name in _DRAWN_FIELDS}
        drawn.update(
            {k: np.broadcast_to(np.asarray(v, float), (len(self),)).copy() for k, v in values.items()}
        )
        return solve_basal(self.kind, drawn)

    def as_columns(self) -> dict[str, FloatArray]:
        """Every numeric field by name, for people.csv."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "kind"}


_SOLVED_FIELDS = frozenset(
    {"gp_basal", "gt_basal", "ip_basal", "il_basal", "ipo_basal", "secretion_basal", "m6", "m30", "kp1"}
    | {"vm0", "basal_infusion"}
)
_DRAWN_FIELDS = frozenset(f.name for f in fields(PersonParameters)) - _SOLVED_FIELDS - {"kind"}


def solve_basal(kind: Sequence[DiabetesKind], drawn: dict[str, FloatArray]) -> PersonParameters:
    """Solve each subject's steady state at its fasting glucose (Dalla Man 2007, eqs. 6, 9, 12, 20, 22).

    Plasma glucose and insulin at rest are the drawn fasting values; tissue glucose, the
    insulin-dependent utilisation Vm0, EGP's kp1, basal secretion (or, in type 1, the basal
    subcutaneous infusion) follow from setting every derivative to zero.
    """
    d = drawn
    is_type1 = np.array([k is DiabetesKind.TYPE1 for k in kind], dtype=bool)
    he_b = HEPATIC_EXTRACTION_BASAL
    gp_b = d["glucose_basal_mg_dl"] * d["vg"]
    ip_b = d["insulin_basal_pmol_l"] * d["vi"]
    m30 = he_b * d["m1"] / (1.0 - he_b)
    renal_b = d["ke1"] * np.maximum(gp_b - d["ke2"], 0.0)
    # Type 1: the liver receives insulin only from plasma; otherwise plasma insulin is in balance with
    # what the liver passes on (dIp/dt = 0), and basal secretion makes up the liver's losses.
    il_b = np.where(is_type1, d["m2"] * ip_b / (d["m1"] + m30), (d["m2"] + d["m4"]) * ip_b / d["m1"])
    secretion_b = np.where(is_type1, 0.0, (d["m1"] + m30) * il_b - d["m2"] * ip_b)
    basal_infusion = np.where(is_type1, (d["m2"] + d["m4"]) * ip_b - d["m1"] * il_b, 0.0)
    ipo_b = secretion_b / d["gamma_sec"]
    m6 = he_b + d["m5"] * secretion_b
    uid_b = d["egp_basal"] - d["fcns"] - renal_b
    gt_b = (d["fcns"] + renal_b + d["k1"] * gp_b - d["egp_basal"]) / d["k2"]
    if np.any(uid_b <= 0) or np.any(gt_b <= 0) or np.any(basal_infusion < 0):
        bad = int(np.flatnonzero((uid_b <= 0) | (gt_b <= 0) | (basal_infusion < 0))[0])
        raise RecordError(
            f"subject {bad} has no physiological steady state (EGPb {d['egp_basal'][bad]:.2f} mg/kg/min, "
            f"Gb {d['glucose_basal_mg_dl'][bad]:.0f} mg/dL); widen EGPb above the CNS uptake or lower k1"
        )
    vm0 = uid_b * (d["km0"] + gt_b) / gt_b
    kp1 = d["egp_basal"] + d["kp2"] * gp_b + d["kp3"] * d["insulin_basal_pmol_l"] + d["kp4"] * ipo_b
    return PersonParameters(
        kind=tuple(kind),
        **{name: np.asarray(d[name], dtype=np.float64) for name in _DRAWN_FIELDS},
        gp_basal=gp_b,
        gt_basal=gt_b,
        ip_basal=ip_b,
        il_basal=il_b,
        ipo_basal=ipo_b,
        secretion_basal=secretion_b,
        m6=m6,
        m30=m30,
        kp1=kp1,
        vm0=vm0,
        basal_infusion=basal_infusion,
    )


def draw_people(kinds: Sequence[DiabetesKind], rng: np.random.Generator) -> PersonParameters:
    """Draw one virtual subject per entry of `kinds`: log-normal around the kind's means."""
    if len(kinds) == 0:
        raise RecordError("no people to draw; give at least one, e.g. --people healthy:10")
    n = len(kinds)
    drawn: dict[str, FloatArray] = {name: np.empty(n) for name in _NORMAL}
    for name in _NORMAL:
        for i, kind in enumerate(kinds):
            mean, cv = POPULATION_PARAMETERS[kind][name]
            # log-normal with the given mean and coefficient of variation
            sigma = np.sqrt(np.log1p(cv * cv))
            drawn[name][i] = mean * np.exp(sigma * rng.standard_normal() - 0.5 * sigma * sigma)
    glucose = np.empty(n)
    for i, kind in enumerate(kinds):
        mean, sd, low, high = FASTING_GLUCOSE_MG_DL[kind]
        glucose[i] = np.clip(rng.normal(mean, sd), low, high)
    drawn["glucose_basal_mg_dl"] = glucose
    drawn["sensor_lag_min"] = rng.uniform(*SENSOR_LAG_MIN_RANGE, size=n)
    drawn["heart_rate_rest_bpm"] = np.clip(rng.normal(*RESTING_HEART_RATE_BPM, size=n), 48.0, 90.0)
    drawn["carb_ratio_g_per_unit"] = np.full(n, np.nan)
    people = solve_basal(kinds, drawn)
    is_type1 = people.is_type1
    if np.any(is_type1):
        total_daily_units = 2.0 * people.basal_units_per_day[is_type1]
        drawn["carb_ratio_g_per_unit"][is_type1] = CARB_RATIO_RULE_G / total_daily_units
        people = solve_basal(kinds, drawn)
    return people
