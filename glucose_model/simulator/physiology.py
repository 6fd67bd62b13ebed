"""The Dalla Man 2007 meal model (UVA/Padova family) as vectorised differential equations.

State is an (S, P) array: one column per virtual subject. Units: stomach and gut in mg, glucose
masses in mg/kg, insulin masses in pmol/kg, concentrations in mg/dL and pmol/L, time in minutes.
Equation numbers refer to Dalla Man, Rizza & Cobelli 2007, IEEE TBME 54:1740; subcutaneous insulin
follows Dalla Man et al. 2014 (J Diabetes Sci Technol 8:26); exercise see `lifestyle`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from glucose_model.simulator import lifestyle
from glucose_model.simulator.parameters import PersonParameters

FloatArray = npt.NDArray[np.float64]

# Glucagon and adrenaline start to answer falling glucose near 65-70 mg/dL (Cryer 2008, the
# glycaemic thresholds of counter-regulation); Dalla Man's 2007 model has none, so without it a
# large insulin response leaves EGP suppressed for hours and glucose falls without limit.
COUNTERREGULATION_THRESHOLD_MG_DL = 70.0
COUNTERREGULATION_TIME_CONSTANT_MIN = 15.0

# Hepatic extraction is a fraction; keep it inside (0, 1) when secretion is far above basal.
_HEPATIC_EXTRACTION_RANGE = (0.05, 0.95)


class Compartment(enum.IntEnum):
    """Row of each state in the (S, P) state array."""

    QSTO1 = 0  # solid stomach, mg
    QSTO2 = 1  # liquid stomach, mg
    QGUT = 2  # gut, mg
    GP = 3  # plasma glucose, mg/kg
    GT = 4  # tissue glucose, mg/kg
    IP = 5  # plasma insulin, pmol/kg
    IL = 6  # liver insulin, pmol/kg
    X = 7  # insulin action on utilisation, pmol/L
    I1 = 8  # delayed insulin signal, pmol/L
    ID = 9  # delayed insulin on production, pmol/L
    Y = 10  # glucose-proportional (static) secretion, pmol/kg/min
    IPO = 11  # portal insulin, pmol/kg
    ISC1 = 12  # subcutaneous insulin, non-monomeric, pmol/kg
    ISC2 = 13  # subcutaneous insulin, monomeric, pmol/kg
    GSC = 14  # interstitial glucose seen by the CGM, mg/dL
    HR_RISE = 15  # filtered heart rate above rest, bpm
    EFFORT = 16  # Breton's Z, 0..1
    COUNTERREGULATION = 17  # extra EGP from glucagon and adrenaline, mg/kg/min


STATE_SIZE = len(Compartment)


@dataclass
class Drive:
    """What acts on the subjects during one integration step, each (P,)."""

    carbs_mg_per_min: FloatArray  # carbohydrate being swallowed
    insulin_pmol_kg_min: FloatArray  # subcutaneous boluses (basal infusion is a parameter)
    hr_rise_bpm: FloatArray  # heart rate above rest, target of the filtered state
    sensitivity_scale: FloatArray  # peripheral and hepatic insulin sensitivity multiplier (sleep)
    meal_dose_mg: FloatArray  # D of the nonlinear emptying: carbohydrate of the current meal
    emptying_scale: FloatArray  # meal composition on kmax, kmin, kgri
    absorption_scale: FloatArray  # glycaemic index on kabs

    @classmethod
    def resting(cls, people: int) -> Drive:
        zeros = np.zeros(people)
        return cls(
            zeros, zeros.copy(), zeros.copy(), np.ones(people), zeros.copy(), np.ones(people), np.ones(people)
        )


def basal_state(people: PersonParameters) -> FloatArray:
    """(S, P) steady state of each subject with no meal, no exercise."""
    x = np.zeros((STATE_SIZE, len(people)))
    x[Compartment.GP] = people.gp_basal
    x[Compartment.GT] = people.gt_basal
    x[Compartment.IP] = people.ip_basal
    x[Compartment.IL] = people.il_basal
    x[Compartment.I1] = people.insulin_basal_pmol_l
    x[Compartment.ID] = people.insulin_basal_pmol_l
    x[Compartment.IPO] = people.ipo_basal
    # Subcutaneous depots at steady state under the basal infusion u: Isc1 = u/(ka1+kd), Isc2 = kd Isc1/ka2.
    isc1 = people.basal_infusion / (people.ka1 + people.kd)
    x[Compartment.ISC1] = isc1
    x[Compartment.ISC2] = people.kd * isc1 / people.ka2
    x[Compartment.GSC] = people.glucose_basal_mg_dl
    return x


@dataclass(frozen=True)
class _StepRates:
    """Rates that the drive fixes for a whole step, computed once instead of in every RK stage."""

    kgri: FloatArray  # = kmax of the meal (solid grinding)
    kmax: FloatArray
    kmin: FloatArray
    alpha: FloatArray  # 1/mg, rate of decrease to kmin
    beta: FloatArray  # 1/mg, rate of increase back to kmax
    b_dose: FloatArray  # mg
    c_dose: FloatArray  # mg
    has_dose: npt.NDArray[np.bool_]
    kabs: FloatArray
    appearance_per_mg: FloatArray  # f kabs / BW
    vmx: FloatArray  # sensitivity-scaled (sleep)
    kp3: FloatArray  # sensitivity-scaled (sleep)
    secretes: npt.NDArray[np.bool_]
    sc_rate: FloatArray  # pmol/kg/min into the subcutaneous depot


def _step_rates(p: PersonParameters, drive: Drive) -> _StepRates:
    kmax = p.kmax * drive.emptying_scale
    dose = np.maximum(drive.meal_dose_mg, 1e-9)
    kabs = p.kabs * drive.absorption_scale
    return _StepRates(
        kgri=kmax,
        kmax=kmax,
        kmin=p.kmin * drive.emptying_scale,
        alpha=5.0 / (2.0 * dose * (1.0 - p.b)),
        beta=5.0 / (2.0 * dose * p.c),
        b_dose=p.b * dose,
        c_dose=p.c * dose,
        has_dose=drive.meal_dose_mg > 0,
        kabs=kabs,
        appearance_per_mg=p.f * kabs / p.body_weight_kg,
        vmx=p.vmx * drive.sensitivity_scale,
        kp3=p.kp3 * drive.sensitivity_scale,
        secretes=p.gamma_sec > 0,
        sc_rate=p.basal_infusion + drive.insulin_pmol_kg_min,
    )


def gastric_emptying_rate(stomach_mg: FloatArray, p: PersonParameters, drive: Drive) -> FloatArray:
    """kempt(Qsto), 1/min: fast when the stomach is full or nearly empty, slow in between (eq. 13)."""
    return _emptying(stomach_mg, _step_rates(p, drive))


def _emptying(stomach_mg: FloatArray, r: _StepRates) -> FloatArray:
    shape = np.tanh(r.alpha * (stomach_mg - r.b_dose)) - np.tanh(r.beta * (stomach_mg - r.c_dose)) + 2.0
    return np.where(r.has_dose, r.kmin + 0.5 * (r.kmax - r.kmin) * shape, r.kmax)


def derivatives(
    x: FloatArray, p: PersonParameters, drive: Drive, rates: _StepRates | None = None
) -> FloatArray:
    """dx/dt (S, P) of the whole model.

    One function on purpose: the subsystems feed each other within the same instant (secretion needs
    dG/dt, EGP needs portal insulin), and it reads top to bottom like the paper's equations.
    """
    r = _step_rates(p, drive) if rates is None else rates
    c = Compartment
    qsto1, qsto2, qgut = x[c.QSTO1], x[c.QSTO2], x[c.QGUT]
    gp, gt = np.maximum(x[c.GP], 0.0), np.maximum(x[c.GT], 0.0)
    ip, il, ins_action = x[c.IP], x[c.IL], x[c.X]
    dx = np.empty_like(x)

    # Stomach and gut (eqs. 13-15): the solid phase is ground at kgri = kmax.
    kempt = _emptying(qsto1 + qsto2, r)
    dx[c.QSTO1] = -r.kgri * qsto1 + drive.carbs_mg_per_min
    dx[c.QSTO2] = -kempt * qsto2 + r.kgri * qsto1
    dx[c.QGUT] = -r.kabs * qgut + kempt * qsto2
    appearance = r.appearance_per_mg * qgut  # Ra, mg/kg/min (eq. 16)

    # Endogenous production (eq. 10), utilisation (eqs. 18-19) with exercise, renal excretion (eq. 27).
    egp = np.maximum(p.kp1 - p.kp2 * gp - r.kp3 * x[c.ID] - p.kp4 * x[c.IPO], 0.0) + x[c.COUNTERREGULATION]
    amplification = 1.0 + lifestyle.EFFORT_INSULIN_AMPLIFICATION * x[c.EFFORT]
    vm = p.vm0 + r.vmx * amplification * ins_action
    exercise_uptake = (
        lifestyle.UPTAKE_PER_BPM * np.maximum(x[c.HR_RISE] - lifestyle.LIGHT_MOVEMENT_BPM, 0.0) * gt
    )
    uid = np.maximum(vm, 0.0) * gt / (p.km0 + gt) + exercise_uptake
    renal = p.ke1 * np.maximum(gp - p.ke2, 0.0)
    dx[c.GP] = egp + appearance - p.fcns - renal - p.k1 * gp + p.k2 * gt
    dx[c.GT] = -uid + p.k1 * gp - p.k2 * gt
    glucose = gp / p.vg
    glucose_rate = dx[c.GP] / p.vg
    deficit = np.maximum(COUNTERREGULATION_THRESHOLD_MG_DL - glucose, 0.0)
    dx[c.COUNTERREGULATION] = (
        p.counterregulation_gain * deficit - x[c.COUNTERREGULATION]
    ) / COUNTERREGULATION_TIME_CONSTANT_MIN

    # Secretion (eqs. 23-26): static Y towards beta (G - Gb), dynamic K dG/dt when glucose rises.
    excess = p.beta_sec * (glucose - p.glucose_basal_mg_dl)
    dx[c.Y] = np.where(
        excess >= -p.secretion_basal,
        -p.alpha_sec * (x[c.Y] - excess),
        -p.alpha_sec * x[c.Y] - p.alpha_sec * p.secretion_basal,
    )
    portal_in = np.maximum(x[c.Y] + p.k_sec * np.maximum(glucose_rate, 0.0) + p.secretion_basal, 0.0)
    portal_in = np.where(r.secretes, portal_in, 0.0)
    dx[c.IPO] = -p.gamma_sec * x[c.IPO] + portal_in
    secretion = p.gamma_sec * x[c.IPO]

    # Insulin kinetics (eqs. 3-7) with hepatic extraction falling as secretion rises, plus the
    # subcutaneous depots of type 1 (basal infusion + boluses).
    hepatic_extraction = np.clip(p.m6 - p.m5 * secretion, *_HEPATIC_EXTRACTION_RANGE)
    m3 = hepatic_extraction * p.m1 / (1.0 - hepatic_extraction)
    dx[c.ISC1] = r.sc_rate - (p.ka1 + p.kd) * x[c.ISC1]
    dx[c.ISC2] = p.kd * x[c.ISC1] - p.ka2 * x[c.ISC2]
    dx[c.IL] = -(p.m1 + m3) * il + p.m2 * ip + secretion
    dx[c.IP] = -(p.m2 + p.m4) * ip + p.m1 * il + p.ka1 * x[c.ISC1] + p.ka2 * x[c.ISC2]
    insulin = ip / p.vi
    dx[c.X] = -p.p2u * ins_action + p.p2u * (insulin - p.insulin_basal_pmol_l)
    dx[c.I1] = -p.ki * (x[c.I1] - insulin)
    dx[c.ID] = -p.ki * (x[c.ID] - x[c.I1])

    # Sensor: interstitial glucose follows plasma with a first-order lag.
    dx[c.GSC] = (glucose - x[c.GSC]) / p.sensor_lag_min

    # Exercise states (Breton 2008).
    dx[c.HR_RISE] = (drive.hr_rise_bpm - x[c.HR_RISE]) / lifestyle.HEART_RATE_TIME_CONSTANT_MIN
    activation = lifestyle.effort_activation(x[c.HR_RISE])
    dx[c.EFFORT] = activation - (activation + 1.0 / lifestyle.EFFORT_DECAY_MIN) * x[c.EFFORT]
    return dx


def step(x: FloatArray, p: PersonParameters, drive: Drive, dt_min: float = 1.0) -> FloatArray:
    """One classical Runge-Kutta step with the drive held over the step.

    RK4 at 1 min is stable here: the fastest rates (insulin exchange m1 + m3, m2 + m4, the secretion
    filter gamma, Breton's Z when active) stay below ~1.5/min, inside RK4's stability bound of 2.78.
    """
    rates = _step_rates(p, drive)
    k1 = derivatives(x, p, drive, rates)
    k2 = derivatives(x + 0.5 * dt_min * k1, p, drive, rates)
    k3 = derivatives(x + 0.5 * dt_min * k2, p, drive, rates)
    k4 = derivatives(x + dt_min * k3, p, drive, rates)
    out = x + (dt_min / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    # Masses cannot go negative; RK4 can overshoot a compartment that is emptying quickly.
    np.maximum(out[: Compartment.X], 0.0, out=out[: Compartment.X])
    np.maximum(
        out[Compartment.ISC1 : Compartment.HR_RISE], 0.0, out=out[Compartment.ISC1 : Compartment.HR_RISE]
    )
    return out
