/** One person: their faces, add a face (file, drop or webcam), delete a face or the person. */
import { describeError } from "./api.ts";
import type { ViewContext } from "./context.ts";
import { fmt, h, replace, seg } from "./dom.ts";
import { enrollPhoto } from "./enroll.ts";
import { photoPicker, type Photo } from "./photo.ts";
import { Deleted, FaceIds, UserInfo } from "./schemas.ts";

export async function personView(ctx: ViewContext, main: HTMLElement, company: string, userId: string): Promise<void> {
  const base = `/v1/companies/${seg(company)}/users/${seg(userId)}`;
  const faces = h("ul", { class: "faces", id: "faces" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  let photo: Photo | null = null;
  const add = h("button", { type: "submit", class: "primary", id: "add-face-go", disabled: true }, "Add this face");
  const picker = photoPicker({
    idPrefix: "face",
    signal: ctx.signal,
    onPhoto: (p) => {
      photo = p;
      add.disabled = !p;
    },
  });
  const outcomes = h("ul", { class: "outcomes", id: "face-outcomes", "aria-live": "polite" });
  const addForm = h("form", { class: "card", id: "add-face-form" }, h("h2", {}, "Add a face"), picker, h("div", { class: "row" }, add), outcomes);
  const deletePerson = h("button", { type: "button", class: "danger", id: "delete-person" }, `Delete ${userId}`);
  let count = 0;

  // the display name (what the kiosk greets): optional; saved by PATCH, emptied = removed
  const nameInput = h("input", { id: "person-name", type: "text", maxlength: 200, placeholder: "no name: the kiosk shows the id", "aria-label": "display name" }) as HTMLInputElement;
  const nameStatus = h("span", { class: "status", id: "person-name-status", role: "status" });
  const nameForm = h(
    "form",
    { class: "row", id: "person-name-form", onsubmit: (e: Event) => (e.preventDefault(), void saveName()) },
    nameInput,
    h("button", { type: "submit" }, "Save name"),
    nameStatus,
  );
  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: `#/c/${seg(company)}/people` }, `‹ People in ${company}`)),
    h("h1", { id: "person-title" }, userId),
    nameForm,
    status,
    h("section", { class: "card", "aria-label": "faces" }, h("h2", {}, "Faces"), faces, h("div", { class: "row" }, deletePerson)),
    addForm,
  );

  const saveName = async (): Promise<void> => {
    const name = nameInput.value.trim();
    try {
      const u = await ctx.api.call("PATCH", base, UserInfo, { json: { name: name === "" ? null : name } });
      nameInput.value = u.name ?? "";
      nameStatus.textContent = u.name ? "Saved." : "Name removed.";
      nameStatus.className = "status";
    } catch (error) {
      nameStatus.textContent = describeError(error, "Saving the name");
      nameStatus.className = "status error";
    }
  };

  const load = async (): Promise<void> => {
    ctx.api
      .get(base, UserInfo, { signal: ctx.signal })
      .then((u) => {
        if (document.activeElement !== nameInput) nameInput.value = u.name ?? "";
      })
      .catch(() => {}); // a person without a record yet: no name to show
    try {
      const { face_ids } = await ctx.api.get(`${base}/faces`, FaceIds, { signal: ctx.signal });
      count = face_ids.length;
      replace(
        faces,
        ...face_ids.map((id) =>
          h(
            "li",
            { "data-face": id },
            h("span", { class: "face-id" }, id),
            h("button", { type: "button", class: "danger small", "aria-label": `delete face ${id}`, onclick: () => void removeFace(id) }, "Delete"),
          ),
        ),
        face_ids.length === 0 ? h("li", { class: "muted" }, "No faces: this person is not enrolled (or has no face left).") : null,
      );
    } catch (error) {
      status.textContent = describeError(error);
      status.className = "status error";
    }
  };

  const removeFace = async (faceId: string): Promise<void> => {
    const last = count === 1 ? " It is the last face: the person stays, but can no longer be recognized." : "";
    if (!(await ctx.confirm(`Delete face ${faceId}?`, `This removes the face ${faceId} of ${userId}.${last}`, "Delete the face"))) return;
    try {
      await ctx.api.call("DELETE", `${base}/faces/${seg(faceId)}`, Deleted);
      ctx.toast(`Face ${faceId} deleted.`, "ok");
      await load();
    } catch (error) {
      ctx.toast(describeError(error), "error");
    }
  };

  deletePerson.addEventListener("click", async () => {
    const ok = await ctx.confirm(
      `Delete ${userId}?`,
      `This removes ${userId} and ${fmt.int(count)} ${count === 1 ? "face" : "faces"} from ${company}. It cannot be undone.`,
      `Delete ${userId}`,
    );
    if (!ok) return;
    try {
      const r = await ctx.api.call("DELETE", base, Deleted);
      ctx.toast(r.deleted ? `${userId} deleted.` : `${userId} was already gone.`, "ok");
      ctx.navigate(`#/c/${seg(company)}/people`);
    } catch (error) {
      ctx.toast(describeError(error), "error");
    }
  });

  addForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!photo) return;
    add.disabled = true;
    const result = await enrollPhoto(ctx.api, company, userId, photo, false);
    outcomes.prepend(result.card);
    if (result.ok) {
      (picker as HTMLElement & { clear(): void }).clear();
      await load();
    } else add.disabled = false;
  });
  await load();
}
