// CGM readings onto the 5-minute clock grid: glucose_model/resample.py, line for line. Grid times are
// multiples of the step since the epoch; a grid time gets the reading at that second if there is one,
// else the straight line between the readings around it if they are at most `maxGapMin` apart, else NaN.

export interface Readings {
  timesUtcS: number[]; // ascending, whole seconds
  glucoseMgDl: number[]; // NaN (or null in JSON) for a missing value
}

export interface Grid {
  timesUtcS: number[];
  glucoseMgDl: Float64Array; // NaN marks a gap
  measured: boolean[];
  interpolated: boolean[];
}

function searchSorted(values: number[], target: number, right: boolean): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (right ? values[mid] <= target : values[mid] < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function resampleToGrid(readings: Readings, stepMin = 5, maxGapMin = 20): Grid {
  if (stepMin <= 0) throw new Error(`grid step must be positive, got ${stepMin} min`);
  const times: number[] = [];
  const values: number[] = [];
  readings.timesUtcS.forEach((t, i) => {
    const v = readings.glucoseMgDl[i];
    if (v !== null && Number.isFinite(v)) {
      if (times.length > 0 && t <= times[times.length - 1]) throw new Error("reading times must increase");
      times.push(t);
      values.push(v);
    }
  });
  const step = stepMin * 60;
  if (times.length === 0) return { timesUtcS: [], glucoseMgDl: new Float64Array(0), measured: [], interpolated: [] };
  const first = Math.ceil(times[0] / step) * step;
  const last = Math.floor(times[times.length - 1] / step) * step;
  const grid: number[] = [];
  for (let t = first; t <= last; t += step) grid.push(t);
  const glucose = new Float64Array(grid.length).fill(NaN);
  const measured = grid.map(() => false);
  const interpolated = grid.map(() => false);
  grid.forEach((g, i) => {
    const before = searchSorted(times, g, true) - 1;
    const after = searchSorted(times, g, false);
    if (after < times.length && times[after] === g) {
      glucose[i] = values[after];
      measured[i] = true;
    } else if (before >= 0 && after < times.length) {
      const span = times[after] - times[before];
      if (span <= maxGapMin * 60) {
        const weight = (g - times[before]) / span;
        glucose[i] = values[before] + weight * (values[after] - values[before]);
        interpolated[i] = true;
      }
    }
  });
  return { timesUtcS: grid, glucoseMgDl: glucose, measured, interpolated };
}

/** `length` grid values from `firstTimeUtcS` on (NaN outside the grid): a model's CGM window. */
export function gridWindow(grid: Grid, firstTimeUtcS: number, length: number, stepMin = 5): Float32Array {
  const out = new Float32Array(length).fill(NaN);
  if (grid.timesUtcS.length === 0) return out;
  const offset = Math.round((firstTimeUtcS - grid.timesUtcS[0]) / (stepMin * 60));
  for (let i = 0; i < length; i++) {
    const j = offset + i;
    if (j >= 0 && j < grid.glucoseMgDl.length) out[i] = grid.glucoseMgDl[j];
  }
  return out;
}
