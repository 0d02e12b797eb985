/**
 * A small SVG bar-chart writer for the bench results: one chart per scenario, a group
 * of bars per payload size, one bar per system, on a log scale (64 KiB rows sit an
 * order of magnitude below 100 B ones). Latency bars show p50 with a p99 whisker.
 * Plain SVG 1.1 text: readable in a browser, on GitHub, and in a diff.
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
  unit: string;
  groups: Array<{ label: string; bars: Bar[] }>;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number): string => (v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : v >= 1e4 ? `${Math.round(v / 1e3)}k` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : String(Math.round(v)));

export function barChart(c: Chart): string {
  const systems = [...new Set(c.groups.flatMap((g) => g.bars.map((b) => b.system)))];
  const color = new Map(systems.map((s, i) => [s, PALETTE[i % PALETTE.length]!]));
  const values = c.groups.flatMap((g) => g.bars.flatMap((b) => (b.note === undefined ? [b.value, b.whisker ?? b.value] : []))).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, 10)));
  const barW = 18;
  const gap = 28;
  const groupW = systems.length * barW + gap;
  const left = 70;
  const top = 40;
  const plotH = 260;
  const width = left + c.groups.length * groupW + 20;
  const legendY = top + plotH + 50;
  const height = legendY + Math.ceil(systems.length / 4) * 20 + 10;
  const y = (v: number): number => top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
    `<text x="12" y="${top + plotH / 2}" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">${esc(c.unit)} (log scale)</text>`,
  ];
  for (let d = lo; d <= hi; d *= 10) {
    out.push(`<line x1="${left}" x2="${width - 20}" y1="${y(d)}" y2="${y(d)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(d) + 4}" text-anchor="end">${fmt(d)}</text>`);
  }
  c.groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + gap / 2;
    out.push(`<text x="${x0 + (systems.length * barW) / 2}" y="${top + plotH + 16}" text-anchor="middle">${esc(g.label)}</text>`);
    systems.forEach((s, si) => {
      const b = g.bars.find((x) => x.system === s);
      const x = x0 + si * barW;
      if (b === undefined) return;
      if (b.note !== undefined || b.value <= 0) {
        out.push(`<text x="${x + barW / 2}" y="${top + plotH - 4}" text-anchor="middle" font-size="9" fill="#999" transform="rotate(-90 ${x + barW / 2} ${top + plotH - 4})">${esc(b.note ?? 'none')}</text>`);
        return;
      }
      const yv = y(b.value);
      out.push(`<rect x="${x + 1}" y="${yv}" width="${barW - 2}" height="${top + plotH - yv}" fill="${color.get(s)}"><title>${esc(`${s}, ${g.label}: ${fmt(b.value)}${b.whisker === undefined ? '' : ` (p99 ${fmt(b.whisker)})`} ${c.unit}`)}</title></rect>`);
      if (b.whisker !== undefined && b.whisker > b.value) {
        const yw = y(b.whisker);
        out.push(`<line x1="${x + barW / 2}" x2="${x + barW / 2}" y1="${yv}" y2="${yw}" stroke="#333"/>`,
          `<line x1="${x + 4}" x2="${x + barW - 4}" y1="${yw}" y2="${yw}" stroke="#333"/>`);
      }
    });
  });
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" x2="${width - 20}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  systems.forEach((s, i) => {
    const lx = left + (i % 4) * 150;
    const ly = legendY + Math.floor(i / 4) * 20;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color.get(s)}"/>`, `<text x="${lx + 16}" y="${ly}">${esc(s)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
