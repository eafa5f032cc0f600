// Charts: uPlot (vendored, loaded the first time a page draws a chart, so the overview does not
// wait for it) for the report pages, and tiny SVG sparklines for the overview. Every chart carries
// a text summary as its accessible name; the table beside it stays the source of truth.

import {h, svg} from './dom.js';
import {t} from './i18n.js';
import {compact} from './format.js';

/** Series colours: each at least 4.5:1 against the white background. */
const COLOURS = ['#0b5394', '#b4460a', '#15803d', '#7e22ce'];

let uplot = null;

/** Loads uPlot once (a classic script defining the global `uPlot`). */
function loadUplot() {
  uplot ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/assets/vendor/uPlot.iife.min.js';
    script.onload = () => resolve(window.uPlot);
    script.onerror = () => {
      uplot = null;
      reject(new Error('uPlot did not load'));
    };
    document.head.append(script);
  });
  return uplot;
}

/** "Revenue: lowest 1,200 € (2025-02), highest 9,800 € (2025-11), latest 7,100 €" per series. */
function describe(labels, series) {
  return series.map((s) => {
    const points = s.values.map((v, i) => ({v, at: labels[i]})).filter((p) => p.v != null);
    if (points.length === 0) return `${s.label}: ${t('noData')}`;
    const low = points.reduce((a, b) => (b.v < a.v ? b : a));
    const high = points.reduce((a, b) => (b.v > a.v ? b : a));
    const last = points[points.length - 1];
    return t('seriesSummary', {
      label: s.label,
      low: compact(s.kind, low.v), lowAt: low.at,
      high: compact(s.kind, high.v), highAt: high.at,
      last: compact(s.kind, last.v), lastAt: last.at,
    });
  }).join('; ');
}

/**
 * A chart over categories (periods, stages, agents, ageing buckets, customers by rank).
 * labels: the x categories, named xLabel; series: [{label, values, kind, axis?: 'right'}];
 * type: 'line' | 'bars'.
 * Returns a <figure> at once; the chart is drawn into it when uPlot has loaded.
 */
export function chart({title, xLabel, labels, series, type = 'line'}) {
  const summary = `${title}. ${describe(labels, series)}`;
  const plot = h('div', {class: 'chart', role: 'img', 'aria-label': summary});
  const figure = h('figure', {class: 'chart-figure'}, h('figcaption', null, title), plot);
  if (labels.length === 0) {
    plot.append(h('p', {class: 'muted'}, t('noData')));
    return figure;
  }
  loadUplot().then((uPlot) => draw(uPlot, plot, {xLabel, labels, series, type})).catch(() => {
    plot.append(h('p', {class: 'muted'}, t('chartUnavailable')));
  });
  return figure;
}

function draw(uPlot, plot, {xLabel, labels, series, type}) {
  const xs = labels.map((_, i) => i);
  const width = () => Math.max(280, plot.clientWidth || 600);
  const bars = type === 'bars' ? uPlot.paths.bars({size: [0.7, 48], gap: 2}) : null;
  const rightKind = series.find((s) => s.axis === 'right')?.kind;
  const leftKind = series.find((s) => s.axis !== 'right')?.kind;
  // Only as many category labels as fit: every step-th.
  const splits = () => {
    const step = Math.max(1, Math.ceil(labels.length / Math.floor(width() / 80)));
    return xs.filter((i) => i % step === 0);
  };
  const options = {
    width: width(),
    height: 260,
    scales: {
      x: {time: false, range: (u, min, max) => [min - 0.5, max + 0.5]},
      y: {range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1]},
      ...(rightKind ? {right: {range: (u, min, max) => [0, Math.max(1, max)]}} : {}),
    },
    axes: [
      {splits, values: (u, ticks) => ticks.map((i) => labels[i] ?? ''), gap: 4},
      {values: (u, ticks) => ticks.map((v) => compact(leftKind, v)), size: 72},
      ...(rightKind ? [{scale: 'right', side: 1, grid: {show: false}, values: (u, ticks) => ticks.map((v) => compact(rightKind, v)), size: 60}] : []),
    ],
    series: [
      {label: xLabel, value: (u, i) => labels[i] ?? ''},
      ...series.map((s, k) => ({
        label: s.label,
        scale: s.axis === 'right' ? 'right' : 'y',
        stroke: COLOURS[k % COLOURS.length],
        fill: bars && s.axis !== 'right' ? `${COLOURS[k % COLOURS.length]}cc` : undefined,
        width: bars && s.axis !== 'right' ? 1 : 2,
        paths: s.axis === 'right' ? undefined : bars ?? undefined,
        points: {show: labels.length <= 36 && !bars},
        value: (u, v) => compact(s.kind, v),
      })),
    ],
  };
  const u = new uPlot(options, [xs, ...series.map((s) => s.values)], plot);
  let drawn = options.width;
  new ResizeObserver(() => {
    if (width() !== drawn) u.setSize({width: (drawn = width()), height: 260});
  }).observe(plot);
}

/** A sparkline: a small SVG line of a series, with its summary as the accessible name. */
export function sparkline(values, {label, kind, labels}) {
  const w = 120;
  const hgt = 32;
  const points = values.map((v) => v ?? 0);
  const root = svg('svg', {viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, class: 'spark', role: 'img', 'aria-label': describe(labels, [{label, values, kind}])});
  if (points.length < 2) return root;
  const min = Math.min(...points);
  const max = Math.max(...points);
  const y = (v) => (max === min ? hgt / 2 : hgt - 2 - ((v - min) / (max - min)) * (hgt - 4));
  const x = (i) => (i / (points.length - 1)) * (w - 2) + 1;
  root.append(svg('polyline', {
    points: points.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
    fill: 'none', stroke: COLOURS[0], 'stroke-width': 1.5, 'stroke-linejoin': 'round',
  }));
  const last = points.length - 1;
  root.append(svg('circle', {cx: x(last).toFixed(1), cy: y(points[last]).toFixed(1), r: 2.5, fill: COLOURS[0]}));
  return root;
}
