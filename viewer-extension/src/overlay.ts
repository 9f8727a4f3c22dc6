/**
 * The heat map as an overlay on the displayed radiograph, drawn in cornerstone's pixel coordinate
 * system after each render, so it follows zoom, pan and rotation pixel for pixel.
 *
 * Where the overlay comes from: carpus's heat-map Secondary Capture (src/sr-writer/sc.ts) is a
 * header band of burned-in text over the radiograph with the heat map blended in colour. Its
 * Columns equal the radiograph's and its last `Rows(source)` rows are the radiograph's pixel grid
 * (the header band is `Rows(SC) - Rows(source)` rows high). The writer leaves pixels with no heat
 * (below its floor) pure grey (R = G = B) and colours the others, so the overlay is the SC's
 * coloured pixels of that region, every grey pixel transparent. This reads results already stored
 * in any archive; nothing beyond the SC and its Source Image Sequence is needed.
 */
export interface RgbImage {
  rows: number;
  columns: number;
  /** 3 (RGB) or 4 (RGBA) values a pixel, row by row. */
  data: ArrayLike<number>;
  channels: 3 | 4;
}

/** Builds the overlay canvas (the radiograph's size) from the SC's pixels. */
export function overlayFromSecondaryCapture(sc: RgbImage, source: { rows: number; columns: number }): HTMLCanvasElement {
  if (sc.columns !== source.columns || sc.rows < source.rows) {
    throw new Error(`the heat-map SC (${sc.columns}x${sc.rows}) does not share the radiograph's geometry (${source.columns}x${source.rows})`);
  }
  const header = sc.rows - source.rows;
  const canvas = document.createElement('canvas');
  canvas.width = source.columns;
  canvas.height = source.rows;
  const ctx = canvas.getContext('2d')!;
  const out = ctx.createImageData(source.columns, source.rows);
  const n = source.rows * source.columns;
  const ch = sc.channels;
  const off = header * sc.columns * ch;
  for (let i = 0; i < n; i++) {
    const r = sc.data[off + i * ch]!;
    const g = sc.data[off + i * ch + 1]!;
    const b = sc.data[off + i * ch + 2]!;
    // The blend rounds each channel on its own: a grey pixel differs by at most 1 between channels.
    const coloured = Math.max(r, g, b) - Math.min(r, g, b) > 1;
    out.data[i * 4] = r;
    out.data[i * 4 + 1] = g;
    out.data[i * 4 + 2] = b;
    out.data[i * 4 + 3] = coloured ? 255 : 0;
  }
  ctx.putImageData(out, 0, 0);
  return canvas;
}

/** Minimal view of cornerstone-core 2.x used here. */
export interface CornerstoneLike {
  setToPixelCoordinateSystem(enabledElement: unknown, context: CanvasRenderingContext2D, scale?: number): void;
  updateImage(element: HTMLElement, invalidated?: boolean): void;
  EVENTS: { IMAGE_RENDERED: string };
}

export class HeatmapOverlay {
  private visibleFlag = true;
  private opacityValue: number;
  private readonly listener: (e: Event) => void;

  constructor(
    private readonly cornerstone: CornerstoneLike,
    private readonly element: HTMLElement,
    readonly canvas: HTMLCanvasElement,
    opacity = 0.6,
  ) {
    this.opacityValue = opacity;
    this.listener = (e: Event) => this.draw((e as CustomEvent).detail);
    element.addEventListener(cornerstone.EVENTS.IMAGE_RENDERED, this.listener);
    cornerstone.updateImage(element);
  }

  private draw(detail: { canvasContext?: CanvasRenderingContext2D; enabledElement: unknown }): void {
    if (!this.visibleFlag || this.opacityValue <= 0) return;
    const ctx = detail.canvasContext ?? ((detail.enabledElement as { canvas: HTMLCanvasElement }).canvas.getContext('2d') as CanvasRenderingContext2D);
    ctx.save();
    this.cornerstone.setToPixelCoordinateSystem(detail.enabledElement, ctx);
    ctx.globalAlpha = this.opacityValue;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.canvas, 0, 0);
    ctx.restore();
  }

  get visible(): boolean {
    return this.visibleFlag;
  }
  set visible(v: boolean) {
    this.visibleFlag = v;
    this.cornerstone.updateImage(this.element);
  }
  toggle(): boolean {
    this.visible = !this.visibleFlag;
    return this.visibleFlag;
  }
  get opacity(): number {
    return this.opacityValue;
  }
  set opacity(v: number) {
    this.opacityValue = Math.min(1, Math.max(0, v));
    this.cornerstone.updateImage(this.element);
  }
  dispose(): void {
    this.element.removeEventListener(this.cornerstone.EVENTS.IMAGE_RENDERED, this.listener);
    this.cornerstone.updateImage(this.element);
  }
}
