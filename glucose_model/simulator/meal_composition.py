"""How what is eaten with the carbohydrate changes how fast it reaches the blood.

Fat, protein and fibre slow gastric emptying (fat: Collier & O'Dea 1983, Gentilcore et al. 2006;
protein: Ma et al. 2009; viscous fibre: Jenkins et al. 1978), and the glycaemic index ranks how fast
a food's carbohydrate is absorbed (Foster-Powell et al. 2002). The simulator scales the stomach's
emptying rates (kmax, kmin, kgri) and the gut's absorption rate (kabs) of Dalla Man's model:

    emptying_scale   = (1 + ref_fat/F + ref_protein/P + ref_fiber/Fi) / (1 + fat/F + protein/P + fiber/Fi)
    absorption_scale = glycemic_index / REFERENCE_GLYCEMIC_INDEX

each clipped to a plausible band. The form is hyperbolic (each gram slows less than the one before,
as the dose-response of fat on emptying flattens) and is normalised to the mixed meal Dalla Man's
parameters were fitted on (10 kcal/kg: 45 % carbohydrate, 15 % protein, 40 % fat), so that meal
reproduces the published rates exactly and a sugary drink empties faster.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Grams that, on their own, halve the emptying rate relative to carbohydrate eaten alone.
FAT_HALF_EMPTYING_G = 40.0
PROTEIN_HALF_EMPTYING_G = 80.0
FIBER_HALF_EMPTYING_G = 20.0
# Dalla Man 2007's test meal for a 78 kg subject: 88 g carbohydrate, 29 g protein, 35 g fat, ~5 g fibre.
REFERENCE_MEAL_FAT_G = 35.0
REFERENCE_MEAL_PROTEIN_G = 29.0
REFERENCE_MEAL_FIBER_G = 5.0
REFERENCE_GLYCEMIC_INDEX = 60.0  # a mixed Western meal
EMPTYING_SCALE_RANGE = (0.4, 2.5)
ABSORPTION_SCALE_RANGE = (0.5, 1.7)


def _slowing(fat_g: npt.ArrayLike, protein_g: npt.ArrayLike, fiber_g: npt.ArrayLike) -> FloatArray:
    fat, protein, fiber = (np.asarray(v, dtype=np.float64) for v in (fat_g, protein_g, fiber_g))
    return 1.0 + fat / FAT_HALF_EMPTYING_G + protein / PROTEIN_HALF_EMPTYING_G + fiber / FIBER_HALF_EMPTYING_G


def emptying_scale(fat_g: npt.ArrayLike, protein_g: npt.ArrayLike, fiber_g: npt.ArrayLike) -> FloatArray:
    """Multiplier on the gastric emptying rates; 1 for the reference mixed meal, < 1 slower."""
    reference = _slowing(REFERENCE_MEAL_FAT_G, REFERENCE_MEAL_PROTEIN_G, REFERENCE_MEAL_FIBER_G)
    return np.clip(reference / _slowing(fat_g, protein_g, fiber_g), *EMPTYING_SCALE_RANGE)


def absorption_scale(glycemic_index: npt.ArrayLike) -> FloatArray:
    """Multiplier on the gut absorption rate kabs; 1 at the reference glycaemic index."""
    gi = np.asarray(glycemic_index, dtype=np.float64)
    return np.clip(gi / REFERENCE_GLYCEMIC_INDEX, *ABSORPTION_SCALE_RANGE)
