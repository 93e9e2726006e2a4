/**
 * What GET .../operating-point shows: the threshold in force and where it comes from, the company's
 * own settings and their bounds, and the calibration's curves (FAR, FRR, FPIR at this company's size).
 * A pure function of the policy's answer, the calibration and the settings.
 */
import { OPERATING_POINT_BOUNDS, type CompanySettings, type OperatingPoint } from "../core/mod.ts";
import { expectedFpir, frrAt, type Calibration, type OperatingPointInForce } from "./operating-point.ts";

export function operatingPointView(a: {
  companyId: string;
  inForce: OperatingPointInForce;
  calibration: Calibration | null;
  settings: CompanySettings | null | undefined;
  revision?: number;
}): OperatingPoint {
  const { companyId, inForce: p, calibration: c, settings, revision } = a;
  return {
    companyId,
    users: p.users,
    multiFaceUsers: p.templates,
    threshold: p.threshold,
    source: p.source,
    fpirTarget: p.fpirTarget,
    expectedFpir: p.expectedFpir,
    expectedFrr: c ? frrAt(c, p.threshold) : null,
    settings: settings ? { ...settings } : null,
    bounds: { fpirTarget: { ...OPERATING_POINT_BOUNDS.fpirTarget }, threshold: { ...OPERATING_POINT_BOUNDS.threshold } },
    calibration: c
      ? {
          model: c.model,
          source: c.source,
          genuinePairs: c.genuinePairs,
          impostorPairs: c.impostorPairs,
          curve: c.thresholds.map((t, i) => ({
            threshold: t,
            far: c.far[i],
            frr: c.frr.length ? c.frr[i] : null,
            fpir: expectedFpir(c, t, p.users, p.templates),
          })),
        }
      : null,
    ...(revision !== undefined ? { revision } : {}),
  };
}
