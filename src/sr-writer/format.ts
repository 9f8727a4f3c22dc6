/** Human-readable ages for the burned-in text. */
export function formatAge(months: number): string {
  const total = Math.round(months);
  const y = Math.floor(total / 12);
  const m = total % 12;
  if (y === 0) return `${m} mo`;
  return m === 0 ? `${y} y` : `${y} y ${m} mo`;
}
