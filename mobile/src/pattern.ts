// The test image training/mobile_golden.py's pattern_image draws: (H, W, 3) uint8, same formula.
import type { RgbImage } from "./resize.ts";

export function testPattern(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const v = x * 7 + y * 13 + c * 50 + ((x * y) % 17) * 5 + ((Math.floor(x / 9) + Math.floor(y / 7)) % 2) * 90;
        data[(y * width + x) * 3 + c] = v % 256;
      }
    }
  }
  return { width, height, data };
}
