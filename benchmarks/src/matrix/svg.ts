/**
 * Two charts as plain SVG (no chart library): throughput ratios by contender and scenario, and
 * throughput against concurrency beside the Little's-law line.
 */
import { cellOf, type MatrixResult } from './report.js';

const COLOURS = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];
/** One colour per contender id, the same in both charts and every run. */
const CONTENDER_COLOURS: Record<string, string> = {
  raw: '#4e79a7',
  'raw-consume': '#2f4b7c',
  'raw-flowing': '#8cb0d9',
  rx: '#e15759',
  'rx-tuned': '#f28e2b',
  kafkajs: '#59a14f',
  platformatic: '#edc948',
  ckjs: '#b07aa1',
  go: '#76b7b2',
  streams: '#9c755f',
};
const colourOf = (id: string, i: number): string => CONTENDER_COLOURS[id] ?? COLOURS[i % COLOURS.length] ?? '#888';
const esc = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const FONT = 'font-family="system-ui, sans-serif"';

/** Horizontal grouped bars: one group per throughput case, one bar per contender (ratio to the baseline). */
export function throughputSvg(result: MatrixResult): string {
  const cases = result.cases.filter((c) => c.scenario === 'consume' || c.scenario === 'passthrough');
  const who = result.contenders.filter((k) => cases.some((c) => cellOf(result, c.id, k.id)?.recordsPerSecond));
  const bar = 15;
  const groupGap = 22;
  const left = 300;
  const width = 980;
  const plotW = width - left - 70;
  const ratioOf = (caseId: string, id: string, baseline?: string): number | undefined => {
    const cell = cellOf(result, caseId, id);
    if (cell?.recordsPerSecond === undefined) return undefined;
    return baseline === id ? 1 : cell.vsBaseline?.median;
  };
  let maxRatio = 1.2;
  for (const c of cases) for (const k of who) maxRatio = Math.max(maxRatio, ratioOf(c.id, k.id, c.baseline) ?? 0);
  const step = maxRatio <= 2 ? 0.2 : maxRatio <= 4 ? 0.5 : maxRatio <= 10 ? 1 : 2;
  maxRatio = Math.ceil(maxRatio / step) * step;
  const x = (r: number): number => left + (r / maxRatio) * plotW;
  const top = 64;
  const groups = cases.map((c) => ({ c, rows: who.filter((k) => ratioOf(c.id, k.id, c.baseline) !== undefined) }));
  const plotH = groups.reduce((h, g) => h + g.rows.length * bar + groupGap, 0) - groupGap;
  const legendCols = 3;
  const height = top + plotH + 40 + Math.ceil(who.length / legendCols) * 18 + 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" ${FONT} font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="20" y="22" font-size="15" font-weight="600">Throughput against the fair raw node-rdkafka loop (ratio within a round, median of ${String(result.rounds)} rounds)</text>`,
    `<text x="20" y="42" fill="#555">1.0 = as fast as raw node-rdkafka in the same round (consume only: its consume loop); 1-min load average ${result.machine.loadAverage.join(' → ')}; ${esc(result.machine.date.slice(0, 16))}Z</text>`,
  ];
  for (let t = 0; t <= maxRatio + 1e-9; t += step) {
    const xx = x(t);
    const one = Math.abs(t - 1) < 1e-9;
    parts.push(
      `<line x1="${xx.toFixed(1)}" y1="${String(top - 6)}" x2="${xx.toFixed(1)}" y2="${String(top + plotH + 4)}" stroke="${one ? '#333' : '#e3e3e3'}" stroke-width="${one ? 1.5 : 1}"/>`,
      `<text x="${xx.toFixed(1)}" y="${String(top + plotH + 18)}" text-anchor="middle" fill="#555">${t.toFixed(step < 1 ? 1 : 0)}</text>`,
    );
  }
  let y0 = top;
  for (const { c, rows } of groups) {
    parts.push(
      `<text x="${String(left - 10)}" y="${(y0 + (rows.length * bar) / 2 + 4).toFixed(1)}" text-anchor="end" font-weight="600">${esc(c.title)}</text>`,
    );
    rows.forEach((k, i) => {
      const r = ratioOf(c.id, k.id, c.baseline) ?? 0;
      const y = y0 + i * bar;
      parts.push(
        `<rect x="${String(left)}" y="${String(y + 1)}" width="${Math.max(1, x(r) - left).toFixed(1)}" height="${String(bar - 2)}" fill="${colourOf(k.id, i)}"><title>${esc(k.label)}: ${r.toFixed(2)}</title></rect>`,
        `<text x="${(x(r) + 4).toFixed(1)}" y="${String(y + bar - 3)}" fill="#333">${r.toFixed(2)}</text>`,
      );
    });
    y0 += rows.length * bar + groupGap;
  }
  const ly = top + plotH + 40;
  who.forEach((k, i) => {
    const lx = 20 + (i % legendCols) * 310;
    const yy = ly + Math.floor(i / legendCols) * 18;
    parts.push(
      `<rect x="${String(lx)}" y="${String(yy - 10)}" width="12" height="12" fill="${colourOf(k.id, i)}"/>`,
      `<text x="${String(lx + 16)}" y="${String(yy)}">${esc(k.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** One panel per delay: records/s (log) against concurrency (log₂), one line per contender and ordering, and the bound. */
export function concurrencySvg(result: MatrixResult): string {
  const io = result.cases.filter((c) => c.scenario === 'io' && c.id.startsWith('io-'));
  const delays = [...new Set(io.map((c) => c.delayMs ?? 0))].sort((a, b) => a - b);
  const concurrencies = [...new Set(io.map((c) => c.concurrency ?? 1))].sort((a, b) => a - b);
  const who = result.contenders.filter((k) => io.some((c) => cellOf(result, c.id, k.id)?.recordsPerSecond));
  const panelW = 430;
  const panelH = 320;
  const margin = { left: 70, top: 60, right: 80, bottom: 50 };
  const width = Math.max(940, margin.left + delays.length * (panelW + margin.right) + 10);
  const legendRows = Math.ceil((who.length + 1) / 4);
  const height = margin.top + panelH + margin.bottom + legendRows * 18 + 20;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" ${FONT} font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="20" y="22" font-size="15" font-weight="600">I/O-bound handler: records/s against concurrency, beside Little's law (concurrency ÷ latency)</text>`,
    `<text x="20" y="40" fill="#555">solid: unordered; dashed: key mode (1,000 keys); black: the bound; median of ${String(result.rounds)} rounds; load average ${result.machine.loadAverage.join(' → ')}</text>`,
  ];
  if (io.length === 0 || concurrencies.length === 0) {
    parts.push('<text x="70" y="100">no I/O cases in this run</text></svg>');
    return `${parts.join('\n')}\n`;
  }
  const cMin = concurrencies[0] ?? 1;
  const cMax = concurrencies.at(-1) ?? 1;
  delays.forEach((delay, pi) => {
    const ox = margin.left + pi * (panelW + margin.right);
    const oy = margin.top;
    const bound = (c: number): number => (c * 1000) / delay;
    let yMax = bound(cMax);
    let yMin = Infinity;
    for (const c of io.filter((k) => k.delayMs === delay))
      for (const k of who) {
        const v = cellOf(result, c.id, k.id)?.recordsPerSecond?.median;
        if (v !== undefined && v > 0) {
          yMax = Math.max(yMax, v);
          yMin = Math.min(yMin, v);
        }
      }
    yMin = Math.min(yMin, bound(cMin));
    const lo = Math.pow(10, Math.floor(Math.log10(Math.max(1, yMin))));
    const hi = Math.pow(10, Math.ceil(Math.log10(yMax)));
    const xs = (c: number): number =>
      ox +
      (cMax === cMin ? panelW / 2 : ((Math.log2(c) - Math.log2(cMin)) / (Math.log2(cMax) - Math.log2(cMin))) * panelW);
    const ys = (v: number): number =>
      oy + panelH - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * panelH;
    parts.push(
      `<rect x="${String(ox)}" y="${String(oy)}" width="${String(panelW)}" height="${String(panelH)}" fill="none" stroke="#ccc"/>`,
    );
    parts.push(
      `<text x="${String(ox + panelW / 2)}" y="${String(oy - 6)}" text-anchor="middle" font-weight="600">handler awaits ${String(delay)} ms</text>`,
    );
    for (let v = lo; v <= hi * 1.0001; v *= 10) {
      parts.push(
        `<line x1="${String(ox)}" y1="${ys(v).toFixed(1)}" x2="${String(ox + panelW)}" y2="${ys(v).toFixed(1)}" stroke="#eee"/>`,
        `<text x="${String(ox - 6)}" y="${(ys(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${v >= 1e6 ? `${String(v / 1e6)}M` : v >= 1000 ? `${String(v / 1000)}k` : String(v)}</text>`,
      );
    }
    for (const c of concurrencies) {
      parts.push(
        `<line x1="${xs(c).toFixed(1)}" y1="${String(oy)}" x2="${xs(c).toFixed(1)}" y2="${String(oy + panelH)}" stroke="#f2f2f2"/>`,
        `<text x="${xs(c).toFixed(1)}" y="${String(oy + panelH + 16)}" text-anchor="middle" fill="#555">${String(c)}</text>`,
      );
    }
    parts.push(
      `<text x="${String(ox + panelW / 2)}" y="${String(oy + panelH + 34)}" text-anchor="middle" fill="#333">concurrency</text>`,
    );
    if (pi === 0)
      parts.push(
        `<text transform="translate(${String(ox - 52)},${String(oy + panelH / 2)}) rotate(-90)" text-anchor="middle" fill="#333">records/s (log)</text>`,
      );
    const boundPts = concurrencies.map((c) => `${xs(c).toFixed(1)},${ys(bound(c)).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline points="${boundPts}" fill="none" stroke="#000" stroke-width="2"/>`,
      ...concurrencies.map(
        (c) =>
          `<rect x="${(xs(c) - 3.5).toFixed(1)}" y="${(ys(bound(c)) - 3.5).toFixed(1)}" width="7" height="7" fill="#000"><title>bound ${String(Math.round(bound(c)))}/s</title></rect>`,
      ),
    );
    who.forEach((k, i) => {
      for (const ordering of ['unordered', 'key'] as const) {
        const pts: string[] = [];
        for (const c of concurrencies) {
          const v = cellOf(result, `io-${String(delay)}ms-c${String(c)}-${ordering}`, k.id)?.recordsPerSecond?.median;
          if (v !== undefined && v > 0) pts.push(`${xs(c).toFixed(1)},${ys(v).toFixed(1)}`);
        }
        if (pts.length === 0) continue;
        const colour = colourOf(k.id, i);
        parts.push(
          `<polyline points="${pts.join(' ')}" fill="none" stroke="${colour}" stroke-width="1.8"${ordering === 'key' ? ' stroke-dasharray="5,4"' : ''}><title>${esc(k.label)} ${ordering}</title></polyline>`,
          ...pts.map((p) => {
            const [px, py] = p.split(',');
            return `<circle cx="${px ?? '0'}" cy="${py ?? '0'}" r="2.5" fill="${colour}"/>`;
          }),
        );
      }
    });
  });
  const ly = margin.top + panelH + margin.bottom + 12;
  const entries: { label: string; colour: string; dash: boolean }[] = [
    { label: "Little's law bound", colour: '#000', dash: false },
  ];
  who.forEach((k, i) => {
    entries.push({ label: k.label, colour: colourOf(k.id, i), dash: false });
  });
  entries.forEach((e, i) => {
    const lx = 20 + (i % 4) * 225;
    const yy = ly + Math.floor(i / 4) * 18;
    parts.push(
      `<line x1="${String(lx)}" y1="${String(yy - 4)}" x2="${String(lx + 22)}" y2="${String(yy - 4)}" stroke="${e.colour}" stroke-width="2"${e.dash ? ' stroke-dasharray="5,4"' : ''}/>`,
      `<text x="${String(lx + 28)}" y="${String(yy)}">${esc(e.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
