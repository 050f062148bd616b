// The metric chart, loaded on first use: uPlot and the chart code are their own chunk, so
// pages without charts neither load nor run them. A page that will chart calls
// `preloadChart()` as soon as it renders, so the chunk arrives while its data loads.
import { Suspense, lazy, type ComponentProps } from "react";
import type { MetricChart as Chart } from "./MetricChart";
import { Loading } from "./ui";

const load = () => import("./MetricChart");
const Lazy = lazy(() => load().then((m) => ({ default: m.MetricChart })));

/** Starts loading the chart's chunk; loading it twice costs nothing. */
export function preloadChart() {
  void load();
}

export function MetricChart(props: ComponentProps<typeof Chart>) {
  return (
    <Suspense fallback={<Loading what="Loading chart" />}>
      <Lazy {...props} />
    </Suspense>
  );
}
