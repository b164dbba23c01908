import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Logarithmic x axis (for sweeps over decades, e.g. t_job 0.01–10 s). */
  logX?: boolean;
  /** A dashed horizontal line, e.g. a target. */
  reference?: { y: number; label: string };
}

const WIDTH = 640;
const HEIGHT = 400;
const PAD = { left: 70, right: 170, top: 40, bottom: 50 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** 3 significant digits at most, no trailing zeros. */
const label = (v: number) => String(Number(v.toPrecision(3)));

/** About five round tick values covering [lo, hi]. */
function linearTicks(lo: number, hi: number): number[] {
  const step0 = (hi - lo) / 5 || 1;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= step0) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step / 1e6; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/**
 * A self-contained SVG line chart (no fonts or scripts to fetch): axes with ticks, one coloured
 * polyline with dots per series, a legend, an optional dashed reference line. Small on purpose:
 * the benchmarks need a handful of curves, not a plotting library.
 */
export function renderLineChart(chart: LineChart): string {
  const points = chart.series.flatMap((s) => s.points);
  const xs = points.map(([x]) => (chart.logX ? Math.log10(x) : x));
  const ys = [...points.map(([, y]) => y), ...(chart.reference ? [chart.reference.y] : [])];
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  const y1 = Math.max(...ys, 0) * 1.1 || 1;
  const yTicks = linearTicks(0, y1);
  const yTop = Math.max(y1, yTicks.at(-1) ?? y1);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const px = (x: number) => PAD.left + (((chart.logX ? Math.log10(x) : x) - x0) / (x1 - x0)) * plotW;
  const py = (y: number) => PAD.top + plotH - (y / yTop) * plotH;
  const xTicks = chart.logX
    ? linearTicks(Math.floor(x0), Math.ceil(x1))
        .filter((e) => Number.isInteger(e) && e >= x0 - 1e-9 && e <= x1 + 1e-9)
        .map((e) => 10 ** e)
    : linearTicks(x0, x1).filter((t) => t >= x0 && t <= x1);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${xml(chart.title)}</text>`,
    `<line x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${PAD.left + plotW}" y2="${PAD.top + plotH}" stroke="black"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotH}" stroke="black"/>`,
  ];
  for (const t of yTicks) {
    out.push(
      `<line x1="${PAD.left}" y1="${py(t)}" x2="${PAD.left + plotW}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${PAD.left - 6}" y="${py(t) + 4}" text-anchor="end">${label(t)}</text>`,
    );
  }
  for (const t of xTicks) {
    out.push(
      `<line x1="${px(t)}" y1="${PAD.top + plotH}" x2="${px(t)}" y2="${PAD.top + plotH + 5}" stroke="black"/>`,
      `<text x="${px(t)}" y="${PAD.top + plotH + 18}" text-anchor="middle">${label(t)}</text>`,
    );
  }
  out.push(
    `<text x="${PAD.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">${xml(chart.xLabel)}</text>`,
    `<text transform="translate(16 ${PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle">${xml(chart.yLabel)}</text>`,
  );
  if (chart.reference) {
    const y = py(chart.reference.y);
    out.push(
      `<line x1="${PAD.left}" y1="${y}" x2="${PAD.left + plotW}" y2="${y}" stroke="#555" stroke-dasharray="6 4"/>`,
      `<text x="${PAD.left + plotW - 4}" y="${y - 5}" text-anchor="end" fill="#555">${xml(chart.reference.label)}</text>`,
    );
  }
  chart.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const line = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    out.push(`<polyline points="${line}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const [x, y] of s.points) {
      out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    }
    const ly = PAD.top + 10 + i * 18;
    out.push(
      `<line x1="${WIDTH - PAD.right + 12}" y1="${ly}" x2="${WIDTH - PAD.right + 32}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${WIDTH - PAD.right + 38}" y="${ly + 4}">${xml(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

export async function writeLineChart(file: string, chart: LineChart): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, renderLineChart(chart));
}
