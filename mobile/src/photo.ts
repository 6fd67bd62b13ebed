// A photo as the recognizer takes it: JPEG bytes -> upright RGB -> shorter side resized -> centre crop,
// uint8 HWC. The sizes and filter come from the model's `preprocess` metadata (vision/preprocess.py's
// PreprocessSpec); normalisation is inside the graph, so nothing here subtracts a mean.
import jpeg from "jpeg-js";

import { resize, type RgbImage } from "./resize.ts";

export interface PreprocessSpec {
  resize_short_side_px: number;
  crop_px: number;
  interpolation: string;
  colour_order: string;
  layout: string;
  dtype: string;
}

export interface DecodeOptions {
  /** How a large JPEG is reduced before resizing, imitating the server's decoder (which scales in the
   * DCT): "draft" by 1/2, 1/4 or 1/8 (Pillow's draft mode), "eighths" by the smallest n/8 keeping both
   * sides >= the resize target (libjpeg-turbo through simplejpeg), "none" for a full decode.
   * DEFAULT_DECODE says what the server does today; the golden test fails if the server changes. */
  scaling?: "draft" | "eighths" | "none";
  /** Place the centre crop as on the full photo ("source") or as on the reduced one ("decoded"). */
  cropOn?: "source" | "decoded";
  /** @deprecated use scaling: false is scaling "none". */
  draft?: boolean;
}

export const DEFAULT_DECODE: Required<Pick<DecodeOptions, "scaling" | "cropOn">> = { scaling: "eighths", cropOn: "source" };

/** The size the server's decoder produces for a (width, height) photo wanted at `size` px. */
export function decodedSize(width: number, height: number, size: number, scaling: DecodeOptions["scaling"]): [number, number] {
  if (scaling === "draft") {
    const s = draftScale(width, height, size);
    return [Math.ceil(width / s), Math.ceil(height / s)];
  }
  if (scaling === "eighths") {
    for (let n = 1; n <= 8; n++) {
      const w = Math.ceil((width * n) / 8);
      const h = Math.ceil((height * n) / 8);
      if (w >= size && h >= size) return [w, h];
    }
  }
  return [width, height];
}

/** EXIF orientation (1-8) from a JPEG's APP1 segment; 1 when absent. */
export function exifOrientation(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0xffd8) return 1;
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    const marker = view.getUint16(offset);
    const length = view.getUint16(offset + 2);
    if (marker === 0xffe1 && view.getUint32(offset + 4) === 0x45786966) {
      const tiff = offset + 10;
      const little = view.getUint16(tiff) === 0x4949;
      const ifd = tiff + view.getUint32(tiff + 4, little);
      const entries = view.getUint16(ifd, little);
      for (let i = 0; i < entries; i++) {
        const entry = ifd + 2 + i * 12;
        if (view.getUint16(entry, little) === 0x0112) return view.getUint16(entry + 8, little);
      }
      return 1;
    }
    if (marker === 0xffda || (marker & 0xff00) !== 0xff00) return 1; // image data starts: no EXIF before it
    offset += 2 + length;
  }
  return 1;
}

/** The image turned upright as EXIF orientation `o` says (Pillow's ImageOps.exif_transpose). */
export function orient(image: RgbImage, o: number): RgbImage {
  if (o <= 1 || o > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = o >= 5;
  const outW = swap ? h : w;
  const outH = swap ? w : h;
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let sx: number;
      let sy: number;
      switch (o) {
        case 2: [sx, sy] = [w - 1 - x, y]; break; // mirrored
        case 3: [sx, sy] = [w - 1 - x, h - 1 - y]; break; // 180
        case 4: [sx, sy] = [x, h - 1 - y]; break; // flipped
        case 5: [sx, sy] = [y, x]; break; // transposed
        case 6: [sx, sy] = [y, h - 1 - x]; break; // rotated 90 clockwise to be upright
        case 7: [sx, sy] = [w - 1 - y, h - 1 - x]; break; // transverse
        default: [sx, sy] = [w - 1 - y, x]; break; // 8: rotated 90 counter-clockwise
      }
      const s = (sy * w + sx) * 3;
      const d = (y * outW + x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width: outW, height: outH, data: out };
}

/** The reduction Pillow's JPEG draft picks for a square request of `size` px: 1, 2, 4 or 8. */
export function draftScale(width: number, height: number, size: number): number {
  const scale = Math.min(Math.floor(width / size), Math.floor(height / size));
  for (const s of [8, 4, 2]) if (scale >= s) return s;
  return 1;
}

/** Block average by `scale` (sizes rounded up, as libjpeg's scaled decoding gives). */
export function reduce(image: RgbImage, scale: number): RgbImage {
  if (scale === 1) return image;
  const width = Math.ceil(image.width / scale);
  const height = Math.ceil(image.height / scale);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sums = [0, 0, 0];
      let n = 0;
      for (let dy = 0; dy < scale && y * scale + dy < image.height; dy++) {
        for (let dx = 0; dx < scale && x * scale + dx < image.width; dx++) {
          const p = ((y * scale + dy) * image.width + x * scale + dx) * 3;
          sums[0] += image.data[p];
          sums[1] += image.data[p + 1];
          sums[2] += image.data[p + 2];
          n++;
        }
      }
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = Math.round(sums[c] / n);
    }
  }
  return { width, height, data: out };
}

export interface DecodedPhoto {
  image: RgbImage; // upright, possibly reduced
  sourceSize: [number, number]; // upright full size
}

/** JPEG bytes -> upright RGB (jpeg-js, pure JavaScript), reduced as the server's decoder would. */
export function decodeJpegPhoto(bytes: Uint8Array, spec: PreprocessSpec, options: DecodeOptions = {}): DecodedPhoto {
  const decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
  let image: RgbImage = { width: decoded.width, height: decoded.height, data: decoded.data };
  const scaling = options.draft === false ? "none" : (options.scaling ?? DEFAULT_DECODE.scaling);
  const [w, h] = decodedSize(image.width, image.height, spec.resize_short_side_px, scaling);
  if (scaling === "draft") image = reduce(image, draftScale(image.width, image.height, spec.resize_short_side_px));
  else if (w !== image.width || h !== image.height) image = resize(image, w, h, "box");
  const orientation = exifOrientation(bytes);
  const upright = orient(image, orientation);
  const sourceSize: [number, number] = orientation >= 5 ? [decoded.height, decoded.width] : [decoded.width, decoded.height];
  return { image: upright, sourceSize };
}

/** JPEG bytes -> upright RGB (jpeg-js, pure JavaScript). */
export function decodeJpeg(bytes: Uint8Array, spec: PreprocessSpec, options: DecodeOptions = {}): RgbImage {
  return decodeJpegPhoto(bytes, spec, options).image;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** (width, height) with the shorter side at `short`, the long side truncated (vision/preprocess.py). */
export function resizedSize(width: number, height: number, short: number): [number, number] {
  if (width <= height) return [short, Math.trunc((short * height) / width)];
  return [Math.trunc((short * width) / height), short];
}

/** The model input as a box (left, top, right, bottom) in a photo's own pixels: the centre crop of the
 * photo resized to `resize_short_side_px`, with torchvision's sizes and offsets (vision/preprocess.py). */
export function centreCropBox(width: number, height: number, spec: PreprocessSpec): [number, number, number, number] {
  const [rw, rh] = resizedSize(width, height, spec.resize_short_side_px);
  const left = roundHalfEven((rw - spec.crop_px) / 2);
  const top = roundHalfEven((rh - spec.crop_px) / 2);
  const xs = width / rw;
  const ys = height / rh;
  return [left * xs, top * ys, (left + spec.crop_px) * xs, (top + spec.crop_px) * ys];
}

/** Upright RGB -> (crop, crop, 3) uint8 model input: Pillow resamples just the centre crop's box.
 * `sourceSize`: (width, height) of the photo before a reduced-scale decode, to place the crop as on it. */
export function preprocessImage(image: RgbImage, spec: PreprocessSpec, sourceSize?: [number, number]): Uint8Array {
  if (spec.colour_order !== "RGB" || spec.layout !== "NHWC" || spec.dtype !== "uint8") {
    throw new Error("only RGB, NHWC, uint8 inputs are supported");
  }
  const [width, height] = sourceSize ?? [image.width, image.height];
  const [left, top, right, bottom] = centreCropBox(width, height, spec);
  const xs = image.width / width;
  const ys = image.height / height;
  const box: [number, number, number, number] = [left * xs, top * ys, right * xs, bottom * ys];
  return resize(image, spec.crop_px, spec.crop_px, spec.interpolation, box).data;
}

/** JPEG bytes -> the recognizer's input tensor data (1 x crop x crop x 3, uint8). */
export function preprocessJpeg(bytes: Uint8Array, spec: PreprocessSpec, options: DecodeOptions = {}): Uint8Array {
  const { image, sourceSize } = decodeJpegPhoto(bytes, spec, options);
  const cropOn = options.cropOn ?? DEFAULT_DECODE.cropOn;
  return preprocessImage(image, spec, cropOn === "source" ? sourceSize : undefined);
}
