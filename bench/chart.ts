/**
 * The benches' SVG charts, plain text with no dependency: horizontal bar charts (bench/http.ts's
 * CPU per request) and line charts (bench/soak.ts's RSS and fds over requests). Both share one
 * frame: a white page, a bold title, grey subtitle lines and a footnote at the bottom right.
 */

const WIDTH = 760

/** `text` escaped for SVG text and attribute values. */
const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** Where a chart's body starts, below the title and `subtitle` lines. */
const bodyTop = (subtitle: string[]) => 44 + 16 * subtitle.length

/** One SVG document: the frame around `body` (lines of SVG elements), whose bottom is at `bottom`. */
function page(title: string, subtitle: string[], footnote: string, body: string[], bottom: number): string {
  const height = bottom + 24
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="13">`,
    `  <rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `  <text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${xml(title)}</text>`,
    ...subtitle.map((line, i) => `  <text x="${WIDTH / 2}" y="${44 + 16 * i}" text-anchor="middle" font-size="11" fill="#495057">${xml(line)}</text>`),
    ...body,
    `  <text x="${WIDTH - 20}" y="${height - 10}" text-anchor="end" font-size="11" fill="#495057">${xml(footnote)}</text>`,
    '</svg>',
    '',
  ].join('\n')
}

/** One bar: its label, its value (NaN: drawn as n/a) and whether it is drawn in the accent colour. */
export interface Bar { label: string; value: number; highlight: boolean }

/** Horizontal bar charts, one panel per scenario with its own scale, as one SVG document. */
export function barChart(title: string, subtitle: string[], footnote: string, panels: { title: string; bars: Bar[] }[]): string {
  const labelWidth = 270 // bar labels, right-aligned against the bars
  const valueWidth = 70 // room for the value printed after the longest bar
  const barArea = WIDTH - labelWidth - valueWidth - 20
  const barHeight = 22
  const gap = 8
  const lines: string[] = []
  let y = bodyTop(subtitle)
  for (const panel of panels) {
    lines.push(`  <text x="${labelWidth}" y="${y + 14}" font-weight="bold">${xml(panel.title)}</text>`)
    y += 24
    const max = Math.max(...panel.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)), 1e-9)
    const top = y
    for (const b of panel.bars) {
      const w = Number.isFinite(b.value) ? Math.max(1, (b.value / max) * barArea) : 0
      const value = !Number.isFinite(b.value) ? 'n/a' : b.value < 10 ? b.value.toFixed(2) : b.value.toFixed(1)
      lines.push(
        `  <text x="${labelWidth - 10}" y="${y + barHeight / 2}" text-anchor="end" dominant-baseline="middle">${xml(b.label)}</text>`,
        `  <rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${b.highlight ? '#d9480f' : '#868e96'}"/>`,
        `  <text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + barHeight / 2}" dominant-baseline="middle" font-weight="bold">${value}</text>`,
      )
      y += barHeight + gap
    }
    lines.push(`  <line x1="${labelWidth}" y1="${top - gap / 2}" x2="${labelWidth}" y2="${y - gap / 2}" stroke="#212529"/>`)
    y += 10
  }
  return page(title, subtitle, footnote, lines, y)
}

/** A step for about `count` ticks from 0 to `max`: 1, 2 or 5 times a power of ten. */
function tickStep(max: number, count = 5): number {
  const raw = max / count
  const power = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw)!
}

/** A tick's label: no more decimals than its step needs. */
const tickLabel = (value: number, step: number) => value.toFixed(Math.max(0, -Math.floor(Math.log10(step))))

/** One line-chart panel: its title and its points [x, y], drawn from y = 0 up. */
export interface LinePanel { title: string; points: [number, number][] }

/**
 * Line charts sharing one x axis (`xLabel`), one panel each, stacked, every y axis from 0 so a
 * flat line looks flat; `marker` draws a dashed vertical line at that x with its label.
 */
export function lineChart(
  title: string, subtitle: string[], footnote: string, xLabel: string, panels: LinePanel[], marker?: { x: number; label: string },
): string {
  const left = 70
  const right = WIDTH - 30
  const plotHeight = 150
  const xMax = Math.max(...panels.flatMap((p) => p.points.map(([x]) => x)), 1e-9)
  const xStep = tickStep(xMax, 8)
  const xEnd = Math.ceil(xMax / xStep) * xStep
  const px = (x: number) => (left + (x / xEnd) * (right - left)).toFixed(1)
  const lines: string[] = []
  let y = bodyTop(subtitle)
  for (const panel of panels) {
    lines.push(`  <text x="${left}" y="${y + 14}" font-weight="bold">${xml(panel.title)}</text>`)
    const top = y + 26
    const bottom = top + plotHeight
    const yMax = Math.max(...panel.points.map(([, v]) => v), 1e-9)
    const yStep = tickStep(yMax, 4)
    const yEnd = Math.ceil((yMax * 1.05) / yStep) * yStep // a little headroom above the highest point
    const py = (v: number) => (bottom - (v / yEnd) * plotHeight).toFixed(1)
    for (let v = 0; v <= yEnd + yStep / 2; v += yStep) {
      lines.push(
        `  <line x1="${left}" y1="${py(v)}" x2="${right}" y2="${py(v)}" stroke="#e9ecef"/>`,
        `  <text x="${left - 8}" y="${py(v)}" text-anchor="end" dominant-baseline="middle" font-size="11">${tickLabel(v, yStep)}</text>`,
      )
    }
    if (marker) {
      lines.push(
        `  <line x1="${px(marker.x)}" y1="${top}" x2="${px(marker.x)}" y2="${bottom}" stroke="#868e96" stroke-dasharray="4 3"/>`,
        `  <text x="${(Number(px(marker.x)) + 4).toFixed(1)}" y="${top + 10}" font-size="11" fill="#495057">${xml(marker.label)}</text>`,
      )
    }
    const path = panel.points.map(([x, v]) => `${px(x)},${py(v)}`).join(' ')
    lines.push(
      `  <polyline points="${path}" fill="none" stroke="#d9480f" stroke-width="2"/>`,
      `  <line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#212529"/>`,
      `  <line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#212529"/>`,
    )
    y = bottom + 8
  }
  for (let x = 0; x <= xEnd + xStep / 2; x += xStep) {
    lines.push(`  <text x="${px(x)}" y="${y + 10}" text-anchor="middle" font-size="11">${tickLabel(x, xStep)}</text>`)
  }
  lines.push(`  <text x="${(left + right) / 2}" y="${y + 30}" text-anchor="middle">${xml(xLabel)}</text>`)
  return page(title, subtitle, footnote, lines, y + 40)
}
