import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Image, User } from "../lib/api";
import { draft, photoKept, resetDrafts } from "../lib/draft.svelte";
import { route } from "../lib/router.svelte";
import { session } from "../lib/session.svelte";
import { resetTasks } from "../lib/tasks.svelte";
import ImageView from "./ImageView.svelte";

const OWNER = "0b7d6c9e-0000-4000-8000-000000000001";
const PICTURE = "0b7d6c9e-0000-4000-8000-00000000000a";
const later = () => new Date(Date.now() + 180_000).toISOString();

function picture(over: Partial<Image> = {}): Image {
  return {
    id: PICTURE,
    owner_id: OWNER,
    kind: "generated",
    title: "nordic bedroom",
    width: 64,
    height: 64,
    public: false,
    size_bytes: 100,
    content_type: "image/png",
    created_at: new Date().toISOString(),
    url: `/files/${PICTURE}.png`,
    thumb_url: `/files/${PICTURE}.webp`,
    urls_expire_at: later(),
    rating: { average: null, count: 0, mine: null },
    ...over,
  } as Image;
}

/** The API as ImageView sees it: GET /tasks with each task's levels (upscale: Pro-Tier only), the picture. */
function fakeApi(images: Record<string, Image>) {
  const asked: string[] = [];
  vi.stubGlobal("fetch", async (input: Request | string) => {
    const request = typeof input === "string" ? new Request(new URL(input, "http://app.test")) : input;
    const { pathname } = new URL(request.url);
    asked.push(`${request.method} ${pathname}`);
    if (pathname.startsWith("/files/"))
      return new Response(new Uint8Array([137, 80, 78, 71]), { headers: { "Content-Type": "image/png" } });
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (pathname === "/tasks") {
      const levels: Record<string, string[]> = { text2img: ["Free-Tier", "Pro-Tier"], upscale: ["Pro-Tier"] };
      return json({
        workers: 1,
        tasks: Object.entries(levels).map(([name, lv]) => ({ name, available: true, state: "offered", workers: 1, levels: lv })),
      });
    }
    const id = pathname.match(/^\/images\/([^/]+)$/)?.[1];
    if (id && images[id]) return json(images[id]);
    return json({ detail: "not found" }, 404);
  });
  return asked;
}

function signedIn(level: string) {
  session.user = { id: OWNER, role: "user", subscription_level: level, email: "ann@example.com" } as User;
  session.ready = true;
  route.current = { path: `/images/${PICTURE}`, params: new URLSearchParams(), parts: ["images", PICTURE] };
}

describe("ImageView: a task the user's plan lacks is marked before any request", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    resetTasks();
    session.user = null;
  });

  it("marks Enlarge with the plan that has it, off, with the reason and a link to Plans", async () => {
    const asked = fakeApi({ [PICTURE]: picture() });
    signedIn("Free-Tier");
    render(ImageView);
    const group = await screen.findByRole("group", { name: "Enlarge — Pro" });
    for (const name of ["Enlarge ×2", "Enlarge ×4"]) {
      const button = screen.getByRole("button", { name }) as HTMLButtonElement;
      expect(group.contains(button)).toBe(true);
      expect(button.disabled).toBe(true);
      expect(button.getAttribute("aria-describedby")).toContain("enlarge-plan");
      expect(document.getElementById("enlarge-plan")?.textContent).toContain("Enlarge is in the Pro-Tier plan; you are on Free-Tier.");
    }
    expect(screen.getByRole("link", { name: "See the plans" }).getAttribute("href")).toBe("#/plans");
    expect(asked.filter((a) => a.startsWith("POST"))).toEqual([]);
  });

  it("leaves Enlarge on for a plan that includes it", async () => {
    fakeApi({ [PICTURE]: picture() });
    signedIn("Pro-Tier");
    render(ImageView);
    const button = (await screen.findByRole("button", { name: "Enlarge ×2" })) as HTMLButtonElement;
    await vi.waitFor(() => expect(screen.getByRole("group", { name: "Enlarge" })).toBeTruthy());
    expect(button.disabled).toBe(false);
    expect(screen.queryByRole("link", { name: "See the plans" })).toBeNull();
  });
});

describe("ImageView: Use these settings brings an inpaint's painted area back", () => {
  const SOURCE = "0b7d6c9e-0000-4000-8000-00000000000b";
  const MASK = "0b7d6c9e-0000-4000-8000-00000000000c";
  const inpainted = picture({
    recipe: {
      job_id: "0b7d6c9e-0000-4000-8000-0000000000f1",
      task: "inpaint",
      prompt: "white oak floor",
      negative_prompt: "",
      seed: 5,
      params: { width: 96, height: 64, steps: 3, strength: 0.6, guidance_scale: 7.5 },
      source_image_id: SOURCE,
      mask_image_id: MASK,
      control_image_id: null,
    },
  } as Partial<Image>);
  const photo = picture({ id: SOURCE, kind: "upload", title: "room", width: 96, height: 64, url: `/files/${SOURCE}.png` });
  const mask = picture({ id: MASK, kind: "mask", width: 96, height: 64, url: `/files/${MASK}.png` });

  /** The browser's decoder as far as jsdom lacks it: the stored PNG reads as its left half white. */
  function decoder() {
    vi.stubGlobal("createImageBitmap", async () => ({ close() {} }));
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL: () => "blob:photo", revokeObjectURL: () => {} }));
    const drawn: number[][] = [];
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue({
      imageSmoothingEnabled: true,
      drawImage: (_: unknown, ...box: number[]) => drawn.push(box),
      getImageData: (_x: number, _y: number, w: number, h: number) => {
        const data = new Uint8ClampedArray(w * h * 4);
        for (let i = 0; i < w * h; i++) data.fill(i % w < w / 2 ? 255 : 0, i * 4, i * 4 + 4);
        return { data };
      },
    } as unknown as CanvasRenderingContext2D);
    return drawn;
  }

  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
    resetTasks();
    resetDrafts();
    session.user = null;
    location.hash = "";
  });

  it("puts the stored mask over the photo's pixels, reused as it is (no new upload)", async () => {
    const asked = fakeApi({ [PICTURE]: inpainted, [SOURCE]: photo, [MASK]: mask });
    const drawn = decoder();
    signedIn("Pro-Tier");
    render(ImageView);
    // Pressed as soon as it shows, before the screen has read the source picture: recall reads it.
    await fireEvent.click(await screen.findByRole("button", { name: "Use these settings" }));
    await vi.waitFor(() => expect(location.hash).toBe("#/photo?recall=1"));
    expect(draft.photo.mode).toBe("inpaint");
    expect(draft.photo.prompt).toBe("white oak floor");
    expect(photoKept.source?.id).toBe(SOURCE);
    expect(photoKept.mask?.width).toBe(96);
    expect(photoKept.mask?.coverage()).toBe(0.5);
    expect(photoKept.maskUpload).toEqual({ revision: photoKept.mask?.revision, id: MASK });
    expect(drawn).toEqual([[0, 0, 96, 64]]);
    expect(asked).toContain(`GET /images/${MASK}`);
    expect(asked.filter((a) => a.startsWith("POST"))).toEqual([]);
  });

  it("says so when the mask is no longer kept, and brings the rest", async () => {
    fakeApi({ [PICTURE]: inpainted, [SOURCE]: photo }); // the mask: 404
    decoder();
    signedIn("Pro-Tier");
    render(ImageView);
    await screen.findByRole("link", { name: "room" }); // the source picture is read
    await fireEvent.click(screen.getByRole("button", { name: "Use these settings" }));
    await vi.waitFor(() => expect(location.hash).toBe("#/photo?recall=1&mask=gone"));
    expect(photoKept.source?.id).toBe(SOURCE);
    expect(photoKept.mask).toBeNull();
    expect(draft.photo.mode).toBe("inpaint");
  });
});
