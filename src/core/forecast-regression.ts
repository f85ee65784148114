import { mean } from './forecast-quantiles.js';
import { residuals } from './forecast-signal.js';

/**
 * Slopes of a log-scale target on log-scale features, fitted within cells (group and
 * model) so that they say how cost moves with, say, input size inside one pipeline, not
 * how pipelines differ. A small ridge keeps them finite when features barely vary.
 * Missing values must already be imputed by the caller.
 */
export function withinCellSlopes(rows: readonly number[][], targets: readonly number[], cells: readonly string[], ridge = 1): number[] {
  const width = rows[0]?.length ?? 0;
  if (width === 0 || rows.length < 10) return new Array<number>(width).fill(0);
  const columns = Array.from({ length: width }, (_, column) => residuals(rows.map((row) => row[column]!), cells));
  const y = residuals(targets, cells);
  const gram = Array.from({ length: width }, (_, i) => Array.from({ length: width }, (_, j) => dot(columns[i]!, columns[j]!) + (i === j ? ridge : 0)));
  const moment = columns.map((column) => dot(column, y));
  const slopes = solve(gram, moment);
  return slopes.map((slope) => (Number.isFinite(slope) ? slope : 0));
}

function dot(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let index = 0; index < a.length; index++) sum += a[index]! * b[index]!;
  return sum;
}

/** Gaussian elimination with partial pivoting; the system is small (a few features). */
function solve(matrix: number[][], vector: number[]): number[] {
  const n = vector.length;
  const a = matrix.map((row, index) => [...row, vector[index]!]);
  for (let column = 0; column < n; column++) {
    let pivot = column;
    for (let row = column + 1; row < n; row++) if (Math.abs(a[row]![column]!) > Math.abs(a[pivot]![column]!)) pivot = row;
    [a[column], a[pivot]] = [a[pivot]!, a[column]!];
    const lead = a[column]![column]!;
    if (Math.abs(lead) < 1e-12) return new Array<number>(n).fill(0);
    for (let row = 0; row < n; row++) {
      if (row === column) continue;
      const factor = a[row]![column]! / lead;
      for (let k = column; k <= n; k++) a[row]![k]! -= factor * a[column]![k]!;
    }
  }
  return a.map((row, index) => row[n]! / row[index]!);
}

/** Column means of the present values, per cell and overall, for imputing the missing ones. */
export function imputationMeans(values: readonly (number | undefined)[], cells: readonly string[]): { byCell: Map<string, number>; overall: number } {
  const byCellValues = new Map<string, number[]>();
  const present: number[] = [];
  values.forEach((value, index) => {
    if (value === undefined) return;
    present.push(value);
    const list = byCellValues.get(cells[index]!) ?? [];
    list.push(value);
    byCellValues.set(cells[index]!, list);
  });
  const byCell = new Map<string, number>();
  for (const [cell, list] of byCellValues) byCell.set(cell, mean(list));
  return { byCell, overall: mean(present) };
}
