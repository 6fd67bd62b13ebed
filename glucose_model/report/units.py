"""The glucose unit a report is printed in: mg/dL or mmol/L, as the person chooses."""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

from glucose_model.records import RecordError, mg_dl_to_mmol_l


class DisplayUnit(enum.StrEnum):
    MG_DL = "mg/dL"
    MMOL_L = "mmol/L"

    @classmethod
    def parse(cls, text: str) -> DisplayUnit:
        """Accept the usual spellings ("mg/dl", "mmol/l", "mmol") and refuse anything else by name."""
        key = text.strip().lower().replace(" ", "")
        if key in ("mg/dl", "mgdl", "mg"):
            return cls.MG_DL
        if key in ("mmol/l", "mmoll", "mmol"):
            return cls.MMOL_L
        raise RecordError(f"unknown glucose unit {text!r}; use 'mg/dL' or 'mmol/L'")

    @property
    def decimals(self) -> int:
        # Clinical convention: whole mg/dL, one decimal in mmol/L (70 mg/dL = 3.9 mmol/L).
        return 0 if self is DisplayUnit.MG_DL else 1

    def convert(self, glucose_mg_dl: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The values in this unit (the input is always mg/dL, the unit used inside)."""
        if self is DisplayUnit.MG_DL:
            return np.asarray(glucose_mg_dl, dtype=np.float64)
        return mg_dl_to_mmol_l(glucose_mg_dl)

    def text(self, glucose_mg_dl: float, with_unit: bool = True) -> str:
        """One glucose value as printed: '152 mg/dL' or '8.4 mmol/L'."""
        number = f"{float(self.convert(glucose_mg_dl)):.{self.decimals}f}"
        return f"{number} {self.value}" if with_unit else number

    def text_delta(self, delta_mg_dl: float) -> str:
        """A change in glucose with its sign: '+46 mg/dL'."""
        # Rounded before the sign is chosen, so -0.3 mg/dL prints as +0, never -0.
        number = f"{round(float(self.convert(delta_mg_dl)), self.decimals) + 0.0:+.{self.decimals}f}"
        return f"{number} {self.value}"
