/**
 * Cost-quality frontiers, as RouterBench defines them: a router's (cost, quality) points
 * are joined by their non-decreasing convex hull (mixing two policies at random reaches
 * any point on the segment between them, and spending more never has to lose quality).
 */
export interface Point {
  cost: number;
  quality: number;
}

/** The upper-left hull: increasing in cost and quality, concave. */
export function nonDecreasingHull(points: readonly Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a.cost - b.cost || b.quality - a.quality);
  // Drop points that a cheaper point already beats on quality.
  const rising: Point[] = [];
  for (const point of sorted) {
    if (rising.length > 0 && point.quality <= rising[rising.length - 1]!.quality) continue;
    rising.push(point);
  }
  const hull: Point[] = [];
  for (const point of rising) {
    while (hull.length >= 2 && cross(hull[hull.length - 2]!, hull[hull.length - 1]!, point) >= 0) hull.pop();
    hull.push(point);
  }
  return hull;
}

function cross(o: Point, a: Point, b: Point): number {
  return (a.cost - o.cost) * (b.quality - o.quality) - (a.quality - o.quality) * (b.cost - o.cost);
}

/** The hull's quality at a cost: 0 below its cheapest point, flat after its last. */
export function hullQualityAt(hull: readonly Point[], cost: number): number {
  if (hull.length === 0 || cost < hull[0]!.cost) return 0;
  for (let index = 1; index < hull.length; index++) {
    const left = hull[index - 1]!;
    const right = hull[index]!;
    if (cost <= right.cost) return left.quality + ((cost - left.cost) / (right.cost - left.cost)) * (right.quality - left.quality);
  }
  return hull[hull.length - 1]!.quality;
}

/**
 * Average quality over a cost range: the area under the hull from `min` to `max`, over
 * the range's width (RouterBench's AIQ). The range is the single models' costs, so
 * routers are compared on the same span.
 */
export function aiq(points: readonly Point[], range: { min: number; max: number }): number {
  const hull = nonDecreasingHull(points);
  if (range.max <= range.min) return hullQualityAt(hull, range.max);
  const cuts = [range.min, ...hull.map((point) => point.cost).filter((cost) => cost > range.min && cost < range.max), range.max];
  let area = 0;
  for (let index = 1; index < cuts.length; index++) {
    const [a, b] = [cuts[index - 1]!, cuts[index]!];
    // Nothing below the hull's cheapest point (a step there); linear between hull points.
    if (hull.length === 0 || b <= hull[0]!.cost) continue;
    area += ((hullQualityAt(hull, a) + hullQualityAt(hull, b)) / 2) * (b - a);
  }
  return area / (range.max - range.min);
}

/** The cheapest cost at which the hull reaches a quality, or null when it never does. */
export function costToReach(points: readonly Point[], quality: number): number | null {
  const hull = nonDecreasingHull(points);
  for (let index = 0; index < hull.length; index++) {
    const point = hull[index]!;
    if (point.quality >= quality - 1e-12) {
      if (index === 0) return point.cost;
      const left = hull[index - 1]!;
      return left.cost + ((quality - left.quality) / (point.quality - left.quality)) * (point.cost - left.cost);
    }
  }
  return null;
}
