/** Numbers and times as people read them: 0.9823, 12,345.7, 1.2e-7, "3 min ago". */

/** A value for a table cell or a label; numbers get at most 4 significant decimals. */
export function formatValue(v: unknown): string {
  if (v == null) {
    return '–';
  }
  if (typeof v === 'number') {
    return formatNumber(v);
  }
  if (typeof v === 'boolean') {
    return v ? 'True' : 'False';
  }
  if (typeof v === 'object') {
    return JSON.stringify(v);
  }
  return String(v);
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) {
    return String(v);
  }
  if (Number.isInteger(v)) {
    return Math.abs(v) < 1e15 ? v.toLocaleString('en-US') : v.toExponential(3);
  }
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e9)) {
    return v.toExponential(3);
  }
  const digits = abs >= 1000 ? 1 : abs >= 1 ? 3 : 4;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** "2026-12-06 10:02" in the browser's time zone. */
export function formatTime(seconds: number | null | undefined): string {
  if (seconds == null) {
    return '–';
  }
  const d = new Date(seconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** "850 ms", "4.2 s", "2 min 5 s", "1 h 3 min". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null) {
    return '–';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  }
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** "12.3 MB". */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}
