// Tensors as the golden JSON files write them (training/mobile_golden.py: encode_array): dtype, shape,
// flat values with null for NaN, or base64 bytes for uint8.
import * as ort from "onnxruntime-node";

export interface JsonTensor {
  dtype: string;
  shape: number[];
  data?: (number | null)[];
  base64?: string;
}

export function fromJson(t: JsonTensor): ort.Tensor {
  if (t.dtype === "uint8") {
    return new ort.Tensor("uint8", new Uint8Array(Buffer.from(t.base64 ?? "", "base64")), t.shape);
  }
  const values = (t.data ?? []).map((v) => (v === null ? NaN : v));
  switch (t.dtype) {
    case "float32":
      return new ort.Tensor("float32", Float32Array.from(values), t.shape);
    case "float64":
      return new ort.Tensor("float64", Float64Array.from(values), t.shape);
    case "int64":
      return new ort.Tensor("int64", BigInt64Array.from(values.map((v) => BigInt(v))), t.shape);
    case "int32":
      return new ort.Tensor("int32", Int32Array.from(values), t.shape);
    case "bool":
      return new ort.Tensor("bool", Uint8Array.from(values), t.shape);
    default:
      throw new Error(`tensor dtype ${t.dtype} is not supported`);
  }
}

export function toNumbers(t: ort.Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Largest |a - b| over two equally long series; NaN in both places counts as equal, in one as Infinity. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Infinity;
      continue;
    }
    worst = Math.max(worst, Math.abs(x - y));
  }
  return worst;
}
