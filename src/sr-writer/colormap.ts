/**
 * carpus's own perceptual colour map for heat maps: a path through OKLab (Ottosson 2020,
 * https://bottosson.github.io/posts/oklab/) from deep violet to pale yellow with lightness
 * rising monotonically (so it reads correctly in greyscale and for colour-blind viewers), built
 * from five anchor colours chosen here and interpolated in OKLCh. Not a copy of any published map.
 */

/** Anchors in OKLCh: position t, lightness L, chroma C, hue h (degrees). */
const ANCHORS: ReadonlyArray<readonly [t: number, L: number, C: number, h: number]> = [
  [0.0, 0.28, 0.11, 300],
  [0.25, 0.45, 0.13, 265],
  [0.5, 0.61, 0.11, 200],
  [0.75, 0.76, 0.15, 140],
  [1.0, 0.93, 0.17, 102],
];

function oklabToSrgb(L: number, a: number, b: number): [number, number, number] {
  const l_ = L + 0.3963377774 * a + 0.2158037573 * b;
  const m_ = L - 0.1055613458 * a - 0.0638541728 * b;
  const s_ = L - 0.0894841775 * a - 1.291485548 * b;
  const l = l_ ** 3;
  const m = m_ ** 3;
  const s = s_ ** 3;
  const lin = [
    4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
    -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s,
  ];
  return lin.map((x) => {
    const c = Math.min(1, Math.max(0, x));
    const g = c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
    return Math.round(g * 255);
  }) as [number, number, number];
}

/** Colour at t in [0,1]. */
export function colourAt(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  let i = 1;
  while (i < ANCHORS.length - 1 && x > ANCHORS[i]![0]) i++;
  const [t0, L0, C0, h0] = ANCHORS[i - 1]!;
  const [t1, L1, C1, h1] = ANCHORS[i]!;
  const u = (x - t0) / (t1 - t0);
  const L = L0 + u * (L1 - L0);
  const C = C0 + u * (C1 - C0);
  const h = ((h0 + u * (h1 - h0)) * Math.PI) / 180;
  return oklabToSrgb(L, C * Math.cos(h), C * Math.sin(h));
}

/** 256-entry RGB lookup table (index = round(t*255)). */
export const COLOUR_LUT: Uint8Array = (() => {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) lut.set(colourAt(i / 255), i * 3);
  return lut;
})();

export function hex(rgb: readonly number[]): string {
  return `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}
