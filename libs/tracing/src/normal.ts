/**
 * The standard normal distribution, for planning only (a trace's decisions never use it): the
 * colluders' side of the plan is a normal approximation, see plan.ts.
 */

/** P[Z > z]. erfc by Chebyshev fit (Numerical Recipes erfcc), relative error < 1.2e-7. */
export function normalUpper(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/** z with P[Z > z] = alpha, for 0 < alpha < 1 (Acklam's rational approximation, relative error 1.2e-9). */
export function normalUpperQuantile(alpha: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const q = Math.min(alpha, 1 - alpha);
  // lower: the x with P[Z < x] = q (≤ 0); the upper quantile of q is −lower.
  let lower: number;
  if (q < 0.02425) {
    const u = Math.sqrt(-2 * Math.log(q));
    lower = (((((c[0] * u + c[1]) * u + c[2]) * u + c[3]) * u + c[4]) * u + c[5]) / ((((d[0] * u + d[1]) * u + d[2]) * u + d[3]) * u + 1);
  } else {
    const u = q - 0.5;
    const s = u * u;
    lower = ((((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * u) / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
  }
  return alpha <= 0.5 ? -lower : lower;
}
