/**
 * A small SVG bar-chart writer for the bench results: one chart per scenario, one
 * panel per payload size, one bar per system. Each panel has its own linear scale
 * starting at zero (64 KiB rows sit orders of magnitude below 100 B ones, and a log
 * scale would hide a 2x difference), and every bar carries its value. Latency bars
 * show p50 with a p99 whisker. Plain SVG 1.1 text: readable in a browser, on GitHub
 * and in a diff.
 */
export interface Bar {
  system: string;
  value: number;
  /** Upper whisker (p99), drawn as a line above the bar. */
  whisker?: number;
  /** Shown instead of a bar: "skipped", "n/a", "failed". */
  note?: string;
}

export interface Chart {
  title: string;
  /** The run and machine, on the second line. */
  subtitle?: string;
  unit: string;
  groups: Array<{ label: string; bars: Bar[] }>;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
export const fmt = (v: number): string =>
  v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : v >= 1e4 ? `${Math.round(v / 1e3)}k` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v >= 10 ? String(Math.round(v)) : v.toFixed(1);

/** A round number a little above `max`, for the top of a panel's scale. */
function niceTop(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= max * 1.05) return m * p;
  return 10 * p;
}

export function barChart(c: Chart): string {
  const systems = [...new Set(c.groups.flatMap((g) => g.bars.map((b) => b.system)))];
  const color = new Map(systems.map((s, i) => [s, PALETTE[i % PALETTE.length]!]));
  const barW = 26;
  const panelW = Math.max(120, systems.length * barW + 50);
  const left = 20;
  const top = 56;
  const plotH = 220;
  // Wide enough for the title line at about 7.5 px per character of 13 px bold text.
  const width = Math.max(left + c.groups.length * panelW + 10, Math.ceil(c.title.length * 7.5) + 2 * left);
  const legendY = top + plotH + 40;
  const height = legendY + Math.ceil(systems.length / 4) * 20 + 6;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="13" font-weight="bold">${esc(c.title)}</text>`,
    `<text x="${left}" y="36" fill="#555">${esc(c.unit)}; each panel has its own scale from zero${c.subtitle === undefined ? '' : `; ${esc(c.subtitle)}`}</text>`,
  ];
  c.groups.forEach((g, gi) => {
    const x0 = left + gi * panelW + 40;
    const peak = Math.max(...g.bars.flatMap((b) => (b.note === undefined ? [b.value, b.whisker ?? 0] : [0])));
    const topV = niceTop(peak);
    const y = (v: number): number => top + plotH - (Math.min(v, topV) / topV) * plotH;
    for (const f of [0, 0.5, 1]) {
      out.push(`<line x1="${x0}" x2="${x0 + systems.length * barW}" y1="${y(topV * f)}" y2="${y(topV * f)}" stroke="${f === 0 ? '#333' : '#ddd'}"/>`,
        `<text x="${x0 - 4}" y="${y(topV * f) + 4}" text-anchor="end" fill="#555">${fmt(topV * f)}</text>`);
    }
    out.push(`<text x="${x0 + (systems.length * barW) / 2}" y="${top + plotH + 16}" text-anchor="middle" font-weight="bold">${esc(g.label)}</text>`);
    systems.forEach((s, si) => {
      const b = g.bars.find((x) => x.system === s);
      if (b === undefined) return;
      const x = x0 + si * barW;
      const mid = x + barW / 2;
      if (b.note !== undefined || b.value <= 0) {
        out.push(`<text x="${mid}" y="${top + plotH - 4}" text-anchor="start" font-size="9" fill="#999" transform="rotate(-90 ${mid} ${top + plotH - 4})">${esc(b.note ?? 'none')}</text>`);
        return;
      }
      const yv = y(b.value);
      out.push(`<rect x="${x + 2}" y="${yv}" width="${barW - 4}" height="${top + plotH - yv}" fill="${color.get(s)}"><title>${esc(`${s}, ${g.label}: ${fmt(b.value)}${b.whisker === undefined ? '' : ` (p99 ${fmt(b.whisker)})`} ${c.unit}`)}</title></rect>`);
      let labelY = yv - 3;
      if (b.whisker !== undefined && b.whisker > b.value) {
        const yw = y(b.whisker);
        out.push(`<line x1="${mid}" x2="${mid}" y1="${yv}" y2="${yw}" stroke="#333"/>`,
          `<line x1="${x + 7}" x2="${x + barW - 7}" y1="${yw}" y2="${yw}" stroke="#333"/>`);
        labelY = Math.min(labelY, yw - 3);
      }
      out.push(`<text x="${mid}" y="${labelY}" text-anchor="start" font-size="9" transform="rotate(-90 ${mid} ${labelY})">${esc(fmt(b.value))}</text>`);
    });
  });
  systems.forEach((s, i) => {
    const lx = left + (i % 4) * 140;
    const ly = legendY + Math.floor(i / 4) * 20;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color.get(s)}"/>`, `<text x="${lx + 16}" y="${ly}">${esc(s)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
