// Pillow's Image.resize (bicubic or bilinear, 8-bit RGB), bit for bit: separable convolution with
// Pillow's fixed-point coefficients (libImaging/Resample.c), horizontal pass first, rounded to uint8
// between the passes. The Python server resizes with Pillow, so the same integer arithmetic here
// gives the same pixels from the same decoded image.

export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array; // RGB, row-major, 3 bytes per pixel
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

type Filter = { support: number; weight: (x: number) => number };

const FILTERS: Record<string, Filter> = {
  box: { support: 0.5, weight: (x: number) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) },
  bicubic: {
    support: 2.0,
    weight: (x: number) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    },
  },
  bilinear: {
    support: 1.0,
    weight: (x: number) => {
      x = Math.abs(x);
      return x < 1.0 ? 1.0 - x : 0.0;
    },
  },
};

interface Coefficients {
  ksize: number;
  bounds: Int32Array; // (outSize * 2): first input index, count
  kk: Float64Array; // (outSize * ksize) fixed-point weights
}

function coefficients(inSize: number, in0: number, in1: number, outSize: number, filter: Filter): Coefficients {
  // Pillow passes the box as C floats: single precision, and their difference too.
  const scale = Math.fround(Math.fround(in1) - Math.fround(in0)) / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Float64Array(outSize * ksize);
  const weights = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = Math.fround(in0) + (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * ss);
      weights[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const w = x < xmax ? (ww !== 0.0 ? weights[x] / ww : weights[x]) : 0;
      // C's (int) cast truncates toward zero after adding +-0.5: round half away from zero.
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(value: number): number {
  if (value >= ONE * 256) return 255;
  if (value <= 0) return 0;
  return Math.floor(value / ONE);
}

/** Pillow's `image.resize((width, height), filter, box)` for an RGB image; box = (left, top, right, bottom). */
export function resize(
  image: RgbImage,
  width: number,
  height: number,
  interpolation = "bicubic",
  box: [number, number, number, number] = [0, 0, image.width, image.height],
): RgbImage {
  const filter = FILTERS[interpolation];
  if (filter === undefined) throw new Error(`interpolation ${interpolation} is not supported`);
  const [b0, b1, b2, b3] = box.map(Math.fround);
  const needHorizontal = width !== image.width || b0 !== 0 || b2 !== width;
  const needVertical = height !== image.height || b1 !== 0 || b3 !== height;
  const horizontal = coefficients(image.width, b0, b2, width, filter);
  const vertical = coefficients(image.height, b1, b3, height, filter);
  let source = image;
  const firstRow = vertical.bounds[0];
  const lastRow = vertical.bounds[height * 2 - 2] + vertical.bounds[height * 2 - 1];
  const rowBounds = Int32Array.from(vertical.bounds);
  if (needHorizontal) {
    for (let i = 0; i < height; i++) rowBounds[i * 2] -= firstRow;
    const rows = lastRow - firstRow;
    const out = new Uint8Array(width * rows * 3);
    const { ksize, bounds, kk } = horizontal;
    for (let yy = 0; yy < rows; yy++) {
      const rowStart = (yy + firstRow) * image.width * 3;
      for (let xx = 0; xx < width; xx++) {
        const xmin = bounds[xx * 2];
        const xmax = bounds[xx * 2 + 1];
        let s0 = ONE / 2;
        let s1 = ONE / 2;
        let s2 = ONE / 2;
        for (let x = 0; x < xmax; x++) {
          const k = kk[xx * ksize + x];
          const p = rowStart + (x + xmin) * 3;
          s0 += image.data[p] * k;
          s1 += image.data[p + 1] * k;
          s2 += image.data[p + 2] * k;
        }
        const o = (yy * width + xx) * 3;
        out[o] = clip8(s0);
        out[o + 1] = clip8(s1);
        out[o + 2] = clip8(s2);
      }
    }
    source = { width, height: rows, data: out };
  } else {
    rowBounds.set(vertical.bounds);
  }
  if (!needVertical) return source;
  const out = new Uint8Array(width * height * 3);
  const { ksize, kk } = vertical;
  for (let yy = 0; yy < height; yy++) {
    const ymin = rowBounds[yy * 2];
    const ymax = rowBounds[yy * 2 + 1];
    for (let xx = 0; xx < width; xx++) {
      let s0 = ONE / 2;
      let s1 = ONE / 2;
      let s2 = ONE / 2;
      for (let y = 0; y < ymax; y++) {
        const k = kk[yy * ksize + y];
        const p = ((y + ymin) * source.width + xx) * 3;
        s0 += source.data[p] * k;
        s1 += source.data[p + 1] * k;
        s2 += source.data[p + 2] * k;
      }
      const o = (yy * width + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { width, height, data: out };
}
