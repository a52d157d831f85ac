// The charts, loaded with the first page that draws one (Recharts is most
// of their weight), so signing in and searching do not wait for them.

import { lazy, Suspense, type ComponentProps, type ComponentType } from "react";
import { Loader } from "@mantine/core";

const charts = () => import("./Charts");
const Aging = lazy(() => charts().then((module) => ({ default: module.AgingChart })));
const Balance = lazy(() => charts().then((module) => ({ default: module.BalanceChart })));
const Exposure = lazy(() => charts().then((module) => ({ default: module.ExposureChart })));

/** `Chart` once its code is loaded; a spinner until then. */
function loaded<P extends object>(Chart: ComponentType<P>) {
  return function Loaded(props: P) {
    return (
      <Suspense fallback={<Loader size="sm" aria-label="Drawing the chart" />}>
        <Chart {...props} />
      </Suspense>
    );
  };
}

export const AgingChart = loaded<ComponentProps<typeof Aging>>(Aging);
export const BalanceChart = loaded<ComponentProps<typeof Balance>>(Balance);
export const ExposureChart = loaded<ComponentProps<typeof Exposure>>(Exposure);
