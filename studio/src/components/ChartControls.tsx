// The controls shared by a page's metric charts (x axis, smoothing, log scale), apart from
// the chart itself so pages render them without loading uPlot (see LazyChart.tsx).
export type XMode = "step" | "relative" | "wall";

export function ChartControls({
  xMode,
  setXMode,
  smoothing,
  setSmoothing,
  logScale,
  setLogScale,
}: {
  xMode: XMode;
  setXMode: (m: XMode) => void;
  smoothing: number;
  setSmoothing: (s: number) => void;
  logScale: boolean;
  setLogScale: (b: boolean) => void;
}) {
  return (
    <div className="chart-controls">
      <label className="row">
        X axis
        <select aria-label="x axis" value={xMode} onChange={(e) => setXMode(e.target.value as XMode)}>
          <option value="step">Step</option>
          <option value="relative">Relative time (s)</option>
          <option value="wall">Wall time</option>
        </select>
      </label>
      <label className="row">
        Smoothing
        <input
          type="range"
          aria-label="smoothing"
          min={0}
          max={0.99}
          step={0.01}
          value={smoothing}
          onChange={(e) => setSmoothing(Number(e.target.value))}
        />
        <span className="mono">{smoothing.toFixed(2)}</span>
      </label>
      <label className="row">
        <input type="checkbox" checked={logScale} onChange={(e) => setLogScale(e.target.checked)} /> Log scale
      </label>
      <span className="muted small">Drag on a chart to zoom (fetches detail), double-click to reset.</span>
    </div>
  );
}
