/** Chart axes that read: a padded, rounded range with tick values (a constant series gets a small range around it). */

function niceStep(span: number, ticks: number): number {
  const raw = span / Math.max(1, ticks);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / power;
  return (f >= Math.sqrt(50) ? 10 : f >= Math.sqrt(10) ? 5 : f >= Math.sqrt(2) ? 2 : 1) * power; // as d3's ticks
}

/** [low, high] rounded to a step, and the tick values from low to high. */
export function niceScale(
  values: readonly number[],
  ticks = 4
): { lo: number; hi: number; ticks: number[] } {
  const finite = values.filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.05 || 1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const step = niceStep(hi - lo, ticks);
  lo = Math.floor(lo / step + 1e-9) * step;
  hi = Math.ceil(hi / step - 1e-9) * step;
  const out: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return { lo: out[0], hi: out[out.length - 1], ticks: out };
}
