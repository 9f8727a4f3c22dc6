/** The Grad-CAM heat map as a PNG: the radiograph in grey with the map blended in colour. */
import sharp from 'sharp';
import type { FloatImage } from '../pixel/index.ts';
import type { Heatmap } from './engine.ts';

/** A perceptual blue-green-yellow-red ramp for t in [0,1]. */
function ramp(t: number): [number, number, number] {
  const stops: [number, number, number, number][] = [
    [0, 0, 0, 128],
    [0.25, 0, 96, 255],
    [0.5, 0, 200, 120],
    [0.75, 255, 220, 0],
    [1, 220, 20, 20],
  ];
  for (let i = 1; i < stops.length; i++) {
    const [t1, r1, g1, b1] = stops[i]!;
    const [t0, r0, g0, b0] = stops[i - 1]!;
    if (t <= t1) {
      const u = (t - t0) / (t1 - t0);
      return [r0 + u * (r1 - r0), g0 + u * (g1 - g0), b0 + u * (b1 - b0)];
    }
  }
  return [220, 20, 20];
}

/**
 * RGB PNG of the radiograph (grey) with the heat map overlaid where it is above `floor`
 * (opacity grows with the value). `maxSide` downsizes large radiographs (default 1024).
 */
export async function heatmapPng(radiograph: FloatImage, heatmap: Heatmap, opts: { floor?: number; opacity?: number; maxSide?: number } = {}): Promise<Buffer> {
  const { width, height } = heatmap;
  if (radiograph.width !== width || radiograph.height !== height) throw new Error('heat map and radiograph sizes differ');
  const floor = opts.floor ?? 0.15;
  const opacity = opts.opacity ?? 0.55;
  const rgb = Buffer.alloc(width * height * 3);
  const lut: [number, number, number][] = Array.from({ length: 256 }, (_, i) => ramp(i / 255));
  for (let i = 0; i < width * height; i++) {
    const g = Math.max(0, Math.min(1, radiograph.data[i]!)) * 255;
    const h = heatmap.data[i]!;
    let r = g;
    let gg = g;
    let b = g;
    if (h > floor) {
      const a = opacity * Math.min(1, (h - floor) / (1 - floor) + 0.25);
      const c = lut[Math.round(h * 255)]!;
      r = g * (1 - a) + c[0] * a;
      gg = g * (1 - a) + c[1] * a;
      b = g * (1 - a) + c[2] * a;
    }
    rgb[3 * i] = r;
    rgb[3 * i + 1] = gg;
    rgb[3 * i + 2] = b;
  }
  const maxSide = opts.maxSide ?? 1024;
  let img = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (Math.max(width, height) > maxSide) img = img.resize({ width: maxSide, height: maxSide, fit: 'inside' });
  return img.png().toBuffer();
}
