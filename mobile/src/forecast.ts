// The forecast model's inputs from what a phone has: raw CGM readings and the person's diabetes kind.
// The graph does the rest (masks, scaling, features): its metadata says how long a CGM window it takes
// (`cgm_steps` slots of `grid_step_min`, oldest first, the origin last) and the code of each kind.
import * as ort from "onnxruntime-node";

import { gridWindow, resampleToGrid, type Readings } from "./cgm.ts";

export interface ForecastMetadata {
  cgm_steps: number;
  grid_step_min: number;
  horizons_min: number[];
  quantiles: number[];
  kind_codes: Record<string, number>;
  inputs: string[]; // [cgm input, kind input]
}

export interface ForecastFeeds {
  originUtcS: number; // the grid time at or just before the last reading
  feeds: Record<string, ort.Tensor>;
}

/** Feeds for one forecast; `kind` one of metadata.kind_codes' keys ("unknown" when not known). */
export function forecastFeeds(readings: Readings, kind: string | undefined, meta: ForecastMetadata, maxGapMin = 20): ForecastFeeds {
  const grid = resampleToGrid(readings, meta.grid_step_min, maxGapMin);
  if (grid.timesUtcS.length === 0) throw new Error("no CGM reading to forecast from");
  const step = meta.grid_step_min * 60;
  const origin = grid.timesUtcS[grid.timesUtcS.length - 1];
  const cgm = gridWindow(grid, origin - (meta.cgm_steps - 1) * step, meta.cgm_steps, meta.grid_step_min);
  const code = meta.kind_codes[kind ?? "unknown"] ?? meta.kind_codes.unknown ?? -1;
  const [cgmName, kindName] = meta.inputs;
  return {
    originUtcS: origin,
    feeds: {
      [cgmName]: new ort.Tensor("float32", cgm, [1, meta.cgm_steps]),
      [kindName]: new ort.Tensor("float32", Float32Array.from([code]), [1, 1]),
    },
  };
}

/** (horizon, quantile) glucose from the graph's output, as horizons_min x quantiles says. */
export function forecastPoints(output: ort.Tensor, meta: ForecastMetadata): { horizonMin: number; mgDl: number[] }[] {
  const values = output.data as Float32Array;
  const q = meta.quantiles.length;
  return meta.horizons_min.map((horizonMin, i) => ({ horizonMin, mgDl: Array.from(values.subarray(i * q, (i + 1) * q)) }));
}
