/**
 * The console's logic that needs no browser: the server-sent events parser, the /metrics reader,
 * the operating-point arithmetic, CSV cells, face ids from file names and the enrolled card's text.
 */
import { describe, expect, test } from "bun:test";
import { csvCell } from "../../admin-web/src/csv.ts";
import { enrolledDetail, faceIdFor } from "../../admin-web/src/enroll.ts";
import { at, fpirFromFar, thresholdForTarget } from "../../admin-web/src/operating.ts";
import { histogram, interval, parseMetrics, total } from "../../admin-web/src/prom.ts";
import { SseParser, type SseMessage } from "../../admin-web/src/sse.ts";
import type { CurvePoint } from "../../admin-web/src/schemas.ts";

describe("SseParser", () => {
  test("messages split anywhere across chunks, CRLF or LF, comments, multi-line data, id and retry", () => {
    const text = "retry: 2000\r\n: facegate events\r\n\r\nid: 01A\nevent: identified\ndata: {\"a\":1,\ndata: \"b\":2}\n\n: keepalive\n\nid: 01B\r\nevent: identified\r\ndata: x\r\n\r\n";
    for (const size of [1, 2, 3, 7, text.length]) {
      const parser = new SseParser();
      const got: SseMessage[] = [];
      for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size), (m) => got.push(m));
      expect({ size, got }).toEqual({
        size,
        got: [
          { id: "01A", event: "identified", data: '{"a":1,\n"b":2}' },
          { id: "01B", event: "identified", data: "x" },
        ],
      });
      expect(parser.id).toBe("01B");
      expect(parser.retryMs).toBe(2000);
    }
  });
  test("a message without a blank line is not emitted yet; one without event is 'message'", () => {
    const parser = new SseParser();
    const got: SseMessage[] = [];
    parser.push("data: half", (m) => got.push(m));
    expect(got).toEqual([]);
    parser.push("\n\n", (m) => got.push(m));
    expect(got).toEqual([{ id: "", event: "message", data: "half" }]);
  });
});

describe("metrics", () => {
  const scrape = (count: number, sum: number, buckets: number[]) =>
    parseMetrics(
      [
        "# HELP facegate_operation_duration_seconds x",
        "# TYPE facegate_operation_duration_seconds histogram",
        ...[0.01, 0.05, 0.1].map((le, i) => `facegate_operation_duration_seconds_bucket{operation="recognize_face",outcome="ok",le="${le}"} ${buckets[i]}`),
        `facegate_operation_duration_seconds_bucket{operation="recognize_face",outcome="ok",le="+Inf"} ${count}`,
        `facegate_operation_duration_seconds_sum{operation="recognize_face",outcome="ok"} ${sum}`,
        `facegate_operation_duration_seconds_count{operation="recognize_face",outcome="ok"} ${count}`,
        'facegate_http_requests_total{method="GET",route="/metrics",status="200"} 9',
        'facegate_http_requests_total{method="POST",route="/v1/companies/:company/recognize",status="200"} 4',
        "facegate_admission_queued 3",
      ].join("\n"),
    );
  test("labels, sums with a filter, histograms and the interval between two scrapes", () => {
    const a = scrape(10, 0.5, [2, 8, 10]);
    const b = scrape(30, 1.5, [2, 10, 29]);
    expect(total(a, "facegate_admission_queued")).toBe(3);
    expect(total(a, "facegate_http_requests_total", (l) => l.route !== "/metrics")).toBe(4);
    expect(Number.isNaN(total(a, "absent"))).toBe(true);
    const iv = interval(histogram(a, "facegate_operation_duration_seconds"), histogram(b, "facegate_operation_duration_seconds"));
    expect(iv.count).toBe(20);
    expect(iv.mean).toBeCloseTo(0.05, 10);
    // 19 of the 20 new observations are ≤ 0.1 s: the 95th percentile's bucket edge.
    expect(iv.p95).toBe(0.1);
    expect(interval(histogram(a, "facegate_operation_duration_seconds"), histogram(a, "facegate_operation_duration_seconds")).count).toBe(0);
  });
});

describe("operating point arithmetic", () => {
  const curve: CurvePoint[] = [
    { threshold: 0.3, far: 1e-2, frr: 0.01, fpir: null },
    { threshold: 0.4, far: 1e-4, frr: 0.04, fpir: null },
    { threshold: 0.5, far: 1e-6, frr: 0.1, fpir: null },
  ];
  test("FPIR = 1 − (1 − FAR)^N, stable for tiny rates", () => {
    expect(fpirFromFar(0.01, 1)).toBeCloseTo(0.01, 12);
    expect(fpirFromFar(1e-4, 1000)).toBeCloseTo(1 - (1 - 1e-4) ** 1000, 12);
    expect(fpirFromFar(1e-12, 10)).toBeCloseTo(1e-11, 20);
    expect(fpirFromFar(0.5, 0)).toBe(0);
  });
  test("interpolation between calibration points; the server's FPIR wins when given", () => {
    const mid = at(curve, 0.35, 100);
    expect(mid.far).toBeCloseTo((1e-2 + 1e-4) / 2, 12);
    expect(mid.frr).toBeCloseTo(0.025, 12);
    expect(mid.fpir).toBeCloseTo(fpirFromFar(mid.far, 100), 12);
    const withFpir = curve.map((p) => ({ ...p, fpir: p.far * 50 }));
    expect(at(withFpir, 0.4, 100).fpir).toBeCloseTo(5e-3, 12);
  });
  test("the threshold for a target is the lowest one whose expected FPIR is within it", () => {
    expect(thresholdForTarget(curve, 100, 0.02)).toBe(0.4); // 100 people at 1e-4: ~1 %
    expect(thresholdForTarget(curve, 1, 0.02)).toBe(0.3);
    expect(thresholdForTarget(curve, 1e9, 1e-3)).toBeNull();
  });
});

test("CSV cells: quotes, and no spreadsheet formulas from person ids", () => {
  expect(csvCell("plain")).toBe("plain");
  expect(csvCell('say "hi", ok')).toBe('"say ""hi"", ok"');
  expect(csvCell("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
  expect(csvCell("-0.5")).toBe("-0.5");
  expect(csvCell(null)).toBe("");
});

test("face ids from file names", () => {
  const p = (name: string) => ({ name, blob: new Blob([]) });
  expect(faceIdFor(p("ann-2.jpg"))).toBe("ann-2");
  expect(faceIdFor(p("camera-083512.jpg"))).toBe("camera-083512");
  expect(faceIdFor(p(".png"))).toBe("photo");
  expect(faceIdFor(p(`${"x".repeat(300)}.jpeg`))).toHaveLength(100);
});

describe("enrolledDetail", () => {
  test("a group photo says how many faces it had and which one was enrolled; one face says nothing more", () => {
    expect(enrolledDetail({ face_id: "team", detection_score: 0.987, faces_found: 3 })).toBe(
      "Stored as face “team”, detection score 0.99. The photo has 3 faces: the largest, boxed, was enrolled.",
    );
    expect(enrolledDetail({ face_id: "ann", detection_score: 0.9, faces_found: 1 })).toBe("Stored as face “ann”, detection score 0.90.");
    expect(enrolledDetail({ face_id: "ann" })).toBe("Stored as face “ann”.");
  });
});
