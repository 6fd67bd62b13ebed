// The whole impact answer (curve, peak, spike, Shapley contributions to the peak rise and to the 2-h iAUC,
// what-ifs, calibration) against the Python predictor's unrounded result for the same request, on the
// personal graph of models/ and on the population graph kept in golden/population; and the requests the
// server refuses with 422, refused here the same way before any model runs.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import { CALIBRATION, IAUC_WINDOW_MIN, UNAVAILABLE_WHAT_IFS, WHAT_IF, predictImpact, positiveIncrementalAuc, type ImpactMetadata } from "../src/impact.ts";
import { isPersonal, type CarbsInterval, type ImpactRequest } from "../src/response.ts";
import { fromJson, maxAbsDiff, toNumbers, type JsonTensor } from "../src/tensors.ts";
import { GOLDEN, responseMetadataFor, session, type ModelRef } from "./golden-models.ts";
import {
  BASELINE_WINDOW_MIN,
  CLOCK_SKEW_MIN,
  GLUCOSE_MAX_MG_DL,
  GLUCOSE_MIN_MG_DL,
  MIN_MEASURED_SHARE,
  MIN_VALID_LAST_HOUR,
  RequestRefused,
  checkAnswer,
  closestField,
  editDistance,
  validateForecastRequest,
  validateImpactRequest,
} from "../src/validate.ts";

const doc = JSON.parse(readFileSync(path.join(GOLDEN, "glucose.json"), "utf8"));
interface Case {
  name: string;
  route: string;
  request: ImpactRequest;
  // /v1/meals/analyze: the carbohydrate and its p10-p90 interval the recognizer gave the predictor.
  meal_as_predicted?: { carbs_g: number; carbs_p10_g: number; carbs_p90_g: number };
  calls: { model: ModelRef; inputs: Record<string, JsonTensor>; outputs: Record<string, JsonTensor> }[];
  result: PythonResult;
}

/** glucose_model.impact.ImpactResult.as_dict(): the server's answer before rounding. */
interface PythonResult {
  curve: { minute: number[]; glucose_mg_dl: number[]; low_mg_dl: number[]; high_mg_dl: number[] };
  peak: { glucose_mg_dl: number; minute: number; rise_mg_dl: number };
  spike: { probability: number; threshold_mg_dl: number };
  explanation: {
    contributions: { group: string; peak_rise_mg_dl: number; iauc_2h_mg_dl_min: number }[];
    reference_peak_rise_mg_dl: number;
    reference_iauc_2h_mg_dl_min: number;
    predicted_peak_rise_mg_dl: number;
    predicted_iauc_2h_mg_dl_min: number;
    reference: string;
  };
  what_if: { name: string; description: string; available: boolean; peak_glucose_mg_dl: number | null; spike_probability: number | null }[];
  calibration: null | {
    n_meals: number;
    adjustment: { scale: number; offset_mg_dl: number };
    applied: boolean;
    reason: string;
    loo_peak_rise_mae_before_mg_dl: number | null;
    loo_peak_rise_mae_after_mg_dl: number | null;
  };
}

function metadataFor(c: Case): ImpactMetadata {
  return responseMetadataFor(doc, c) as ImpactMetadata;
}

const impactCases = (doc.cases as Case[]).filter((c) => ["/v1/meals/impact", "/v1/meals/analyze"].includes(c.route) && c.result !== undefined);

/** The request and options as an app makes them: for a photo, the recognizer's estimate and interval. */
function asApp(c: Case): { request: ImpactRequest; carbs?: CarbsInterval } {
  const photo = c.meal_as_predicted;
  if (photo === undefined) return { request: c.request };
  return {
    request: { ...c.request, meal: { ...c.request.meal, carbs_g: photo.carbs_g } },
    carbs: { p10G: photo.carbs_p10_g, p90G: photo.carbs_p90_g },
  };
}
const now = new Date(doc.refused.now);
// Worst |JavaScript - Python| per output over every case, printed at the end (mobile/README.md quotes it).
const worst: Record<string, number> = {};

function close(label: string, output: string, got: number | null, want: number | null, tolerance: number): void {
  if (want === null || got === null) {
    assert.equal(got, want, `${label}: ${output}`);
    return;
  }
  const diff = Math.abs(got - want);
  worst[output] = Math.max(worst[output] ?? 0, diff);
  assert.ok(diff <= tolerance, `${label}: ${output} differs by ${diff} > ${tolerance} (JavaScript ${got}, Python ${want})`);
}

describe("the impact answer from the graph alone, as the server computes it", () => {
  test("golden cases on a personal and a population graph, with past meals, and a calibrated one", () => {
    const kinds = impactCases.map((c) => isPersonal(metadataFor(c)));
    assert.ok(kinds.includes(true) && kinds.includes(false), "a personal and a population case");
    assert.ok(impactCases.some((c) => !isPersonal(metadataFor(c)) && c.result.calibration?.applied === true), "a calibrated population case");
    assert.ok(impactCases.some((c) => c.meal_as_predicted !== undefined), "a photo's carbohydrate interval (/v1/meals/analyze)");
  });

  test("the constants mirrored from Python (what-ifs, iAUC, calibration, refusals) are Python's", () => {
    const k = doc.constants;
    assert.deepEqual(
      { walkMin: k.what_if.walk_min, extraFiberG: k.what_if.extra_fiber_g, halfPortionColumns: k.what_if.half_portion_columns },
      WHAT_IF,
    );
    assert.deepEqual(UNAVAILABLE_WHAT_IFS, k.unavailable_what_ifs);
    assert.equal(IAUC_WINDOW_MIN, k.iauc_window_min);
    assert.deepEqual({ priorMeals: k.calibration.prior_meals, minMealsToApply: k.calibration.min_meals_to_apply, scaleLimits: k.calibration.scale_limits }, CALIBRATION);
    const v = k.validation;
    assert.deepEqual(
      [GLUCOSE_MIN_MG_DL, GLUCOSE_MAX_MG_DL, MIN_VALID_LAST_HOUR, BASELINE_WINDOW_MIN, MIN_MEASURED_SHARE, CLOCK_SKEW_MIN],
      [v.glucose_min_mg_dl, v.glucose_max_mg_dl, v.min_valid_last_hour, v.baseline_window_min, v.min_measured_share, v.clock_skew_min],
    );
  });

  for (const c of impactCases) {
    test(c.name, async (t) => {
      const meta = metadataFor(c);
      const call = c.calls.find((x) => x.model.name === "glucose_response");
      assert.ok(call !== undefined);
      const s = await session(call.model);
      const { request, carbs } = asApp(c);
      const answer = await predictImpact((feeds) => s.run(feeds), request, meta, { now, carbs });
      // The batch is the server's, row for row (coalitions, what-ifs, past meals on a population graph).
      for (const [name, tensor] of Object.entries(answer.batch.feeds)) {
        assert.deepEqual([...tensor.dims], call.inputs[name].shape, `${c.name}: batch input ${name} shape`);
        assert.ok(maxAbsDiff(toNumbers(tensor), toNumbers(fromJson(call.inputs[name]))) <= 1e-4, `${c.name}: batch input ${name}`);
      }
      const want = c.result;
      const tol = doc.tolerance as number;
      answer.curve.glucoseMgDl.forEach((v, i) => close(c.name, "curve p50", v, want.curve.glucose_mg_dl[i], tol));
      answer.curve.lowMgDl.forEach((v, i) => close(c.name, "curve p10", v, want.curve.low_mg_dl[i], tol));
      answer.curve.highMgDl.forEach((v, i) => close(c.name, "curve p90", v, want.curve.high_mg_dl[i], tol));
      assert.deepEqual(answer.curve.minute, want.curve.minute);
      close(c.name, "peak glucose", answer.peak.glucoseMgDl, want.peak.glucose_mg_dl, tol);
      close(c.name, "peak rise", answer.peak.riseMgDl, want.peak.rise_mg_dl, tol);
      assert.equal(answer.peak.minute, want.peak.minute, `${c.name}: peak minute`);
      close(c.name, "spike probability", answer.spike.probability, want.spike.probability, tol);
      close(c.name, "spike threshold", answer.spike.thresholdMgDl, want.spike.threshold_mg_dl, tol);
      const e = answer.explanation;
      assert.deepEqual(e.contributions.map((x) => x.factor), want.explanation.contributions.map((x) => x.group));
      e.contributions.forEach((x, g) => {
        close(c.name, "peak-rise contribution", x.peakRiseMgDl, want.explanation.contributions[g].peak_rise_mg_dl, tol);
        close(c.name, "iAUC contribution", x.iauc2hMgDlMin, want.explanation.contributions[g].iauc_2h_mg_dl_min, tol);
      });
      close(c.name, "reference peak rise", e.referencePeakRiseMgDl, want.explanation.reference_peak_rise_mg_dl, tol);
      close(c.name, "predicted peak rise", e.predictedPeakRiseMgDl, want.explanation.predicted_peak_rise_mg_dl, tol);
      close(c.name, "reference iAUC", e.referenceIauc2hMgDlMin, want.explanation.reference_iauc_2h_mg_dl_min, tol);
      close(c.name, "predicted iAUC", e.predictedIauc2hMgDlMin, want.explanation.predicted_iauc_2h_mg_dl_min, tol);
      assert.equal(e.reference, want.explanation.reference);
      // The Shapley values add up: contributions = predicted - reference.
      const sum = e.contributions.reduce((s2, x) => s2 + x.iauc2hMgDlMin, 0);
      assert.ok(Math.abs(sum - (e.predictedIauc2hMgDlMin - e.referenceIauc2hMgDlMin)) <= 1e-6 * Math.max(1, Math.abs(sum)));
      assert.deepEqual(answer.whatIf.map((w) => [w.name, w.description, w.available]), want.what_if.map((w) => [w.name, w.description, w.available]));
      answer.whatIf.forEach((w, i) => {
        close(c.name, "what-if peak glucose", w.peakGlucoseMgDl, want.what_if[i].peak_glucose_mg_dl, tol);
        close(c.name, "what-if spike probability", w.spikeProbability, want.what_if[i].spike_probability, tol);
      });
      if (want.calibration === null) assert.equal(answer.calibration, null, `${c.name}: calibration`);
      else {
        const got = answer.calibration;
        assert.ok(got !== null, `${c.name}: calibration`);
        assert.deepEqual([got.nMeals, got.applied, got.reason], [want.calibration.n_meals, want.calibration.applied, want.calibration.reason]);
        close(c.name, "calibration scale", got.scale, want.calibration.adjustment.scale, tol);
        close(c.name, "calibration offset", got.offsetMgDl, want.calibration.adjustment.offset_mg_dl, tol);
        close(c.name, "calibration LOO MAE", got.looPeakRiseMaeBeforeMgDl, want.calibration.loo_peak_rise_mae_before_mg_dl, tol);
        close(c.name, "calibration LOO MAE", got.looPeakRiseMaeAfterMgDl, want.calibration.loo_peak_rise_mae_after_mg_dl, tol);
      }
      t.diagnostic(`what-if peaks: ${answer.whatIf.map((w) => `${w.name} ${w.peakGlucoseMgDl?.toFixed(2)}`).join(", ")}`);
    });
  }

  test("worst |JavaScript - Python| per output", (t) => {
    assert.ok(Object.keys(worst).length > 0);
    for (const [output, diff] of Object.entries(worst)) t.diagnostic(`${output}: ${diff.toExponential(2)}`);
  });
});

describe("iAUC", () => {
  test("the positive area above the baseline, with the triangle where the curve crosses it", () => {
    assert.equal(positiveIncrementalAuc([0, 5, 10], [0, 10, 0]), 50);
    assert.equal(positiveIncrementalAuc([0, 5], [10, -10]), 12.5); // crosses at 2.5 min
    assert.equal(positiveIncrementalAuc([0, 5], [-3, -1]), 0);
    assert.equal(positiveIncrementalAuc([0, 5], [5e-7, 5e-7]), 0); // rounding noise counts as none
  });
});

interface RefusedCase {
  name: string;
  route: string;
  request: unknown;
  problem: { type: string; detail: string; errors?: { loc: (string | number)[]; msg: string; type: string }[] };
}

describe("requests the server refuses with 422 (impact and forecast) are refused here, before any model runs", () => {
  const refused = doc.refused.cases as RefusedCase[];
  const meta = doc.metadata.glucose_response as ImpactMetadata;
  test("refused cases cover the schema, the records and thin CGM", () => {
    const kinds = new Set(refused.map((c) => c.problem.type.split("/").pop()));
    for (const kind of ["validation-error", "bad-unit", "value-out-of-range", "timestamps-out-of-order", "timestamp-in-future", "too-few-cgm-readings", "stale-cgm"]) {
      assert.ok(kinds.has(kind), kind);
    }
    assert.ok(refused.some((c) => c.route === "/v1/glucose/forecast") && refused.some((c) => c.route === "/v1/meals/impact"));
    // Unknown keys (misspelt fields, a glycemic index) on both routes, and unit errors beside other errors.
    for (const route of ["/v1/meals/impact", "/v1/glucose/forecast"]) {
      assert.ok(refused.some((c) => c.route === route && (c.problem.errors ?? []).some((e) => e.type === "extra_forbidden")), route);
    }
    assert.ok(refused.some((c) => /glycemic_index' is not accepted/.test(c.problem.detail)));
    assert.ok(refused.some((c) => c.problem.type.endsWith("/bad-unit") && c.problem.detail.includes("; history[")));
    assert.ok(refused.some((c) => c.problem.type.endsWith("/validation-error") && (c.problem.errors ?? []).some((e) => e.loc.at(-1) === "unit")));
  });
  test("a near field name is offered as the server offers it", () => {
    assert.equal(editDistance("fibre_g", "fiber_g"), 1);
    assert.equal(closestField("Carbs", ["time", "carbs_g"]), "carbs_g");
    assert.equal(closestField("x", ["tz"]), null);
  });
  test("the accepted forecast cases pass the forecast's checks", () => {
    for (const c of (doc.cases as { route: string; request: unknown }[]).filter((x) => x.route === "/v1/glucose/forecast")) {
      validateForecastRequest(c.request, { now, maxCgmAgeMin: doc.refused.max_cgm_age_min });
    }
  });
  for (const c of refused) {
    test(c.name, async () => {
      const problem = c.problem.type.split("/").pop();
      let error: unknown;
      const forecast = c.route === "/v1/glucose/forecast";
      try {
        if (forecast) validateForecastRequest(c.request, { now, maxCgmAgeMin: doc.refused.max_cgm_age_min });
        else validateImpactRequest(c.request, meta, { now });
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof RequestRefused, `${c.name}: not refused (the server said: ${c.problem.detail})`);
      assert.equal(error.problem, problem, `${c.name}: ${error.message}`);
      if (problem === "validation-error") {
        // The server lists every field; this client names the first it meets, in the server's words.
        const server = (c.problem.errors ?? []).map((x) => ({ loc: x.loc.slice(1).join("."), msg: x.msg }));
        const ours = { loc: error.loc.join("."), msg: error.detail.slice(error.detail.indexOf(": ") + 2) };
        assert.ok(server.some((x) => x.loc === ours.loc && x.msg === ours.msg), `${c.name}: ${JSON.stringify(ours)} not in ${JSON.stringify(server)}`);
      } else {
        assert.equal(error.detail, c.problem.detail, c.name);
      }
      if (forecast) return;
      // predictImpact refuses it too, and never calls the graph.
      let ran = false;
      await assert.rejects(
        predictImpact(async () => ((ran = true), {}), c.request as ImpactRequest, meta, { now }),
        RequestRefused,
      );
      assert.equal(ran, false);
    });
  }

  test("CGM values that are missing (NaN) are refused, not fed to the graph", () => {
    const base = (doc.cases as Case[]).find((c) => c.name === "impact_example");
    assert.ok(base !== undefined);
    const request = structuredClone(base.request);
    for (const r of request.cgm.readings) r.value = NaN;
    assert.throws(() => validateImpactRequest(request, meta, { now }), (e: RequestRefused) => e.problem === "value-out-of-range" && /cgm\.readings\[0\]/.test(e.detail));
  });

  test("an answer with a non-finite or impossible number is refused as the server's output check does", () => {
    const answer = {
      curve: { glucoseMgDl: [100, NaN], lowMgDl: [90, 90], highMgDl: [110, 110] },
      peak: { glucoseMgDl: 120, riseMgDl: 20 },
      spike: { probability: 0.1, thresholdMgDl: 180 },
      explanation: { contributions: [], referencePeakRiseMgDl: 1, predictedPeakRiseMgDl: 1, referenceIauc2hMgDlMin: 1, predictedIauc2hMgDlMin: 1 },
      whatIf: [],
    };
    assert.throws(() => checkAnswer(answer), (e: RequestRefused) => e.problem === "prediction-out-of-range" && e.loc[0] === "curve[1].glucose_mg_dl");
    answer.curve.glucoseMgDl[1] = 700;
    assert.throws(() => checkAnswer(answer), /curve\[1\]\.glucose_mg_dl would be outside 0\.\.600/);
  });
});
