/** The library is importable by its package name, as another TypeScript app would import it. */
import { describe, expect, test } from "bun:test";

describe("package exports", () => {
  test("facegate (core): schemas, errors, gallery, FaceApi operation names", async () => {
    const core = await import("facegate");
    expect(new core.FaceError("NO_FACE", "x").status).toBe(422);
    expect(core.OPERATIONS.recognizeFace).toBe("recognize_face");
    expect(core.IdSchema.safeParse("").success).toBe(false);
    expect(typeof core.Gallery).toBe("function");
  });

  test("facegate/engine, facegate/service, facegate/nats", async () => {
    const engine = await import("facegate/engine");
    const service = await import("facegate/service");
    const nats = await import("facegate/nats");
    expect(typeof engine.createEngine).toBe("function");
    expect(typeof service.LocalFaceService.create).toBe("function");
    expect(typeof nats.FaceClient.connect).toBe("function");
    expect(typeof nats.FaceWorker).toBe("function");
  });
});
