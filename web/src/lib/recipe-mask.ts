/**
 * Recall of an inpaint's painted area: "Use these settings" on a picture drawn from a painted area
 * brings its mask back into the mask painter. The mask is an internal file of the job (an upload with
 * `purpose=mask`, kind `mask`, named by the picture's `Recipe.mask_image_id`); a user keeps the newest
 * 20 (housify_api.media.images.MASKS_KEPT), so an old picture's may be gone.
 */

import { api, call, imageSrc, type Image } from "./api";
import { Mask } from "./mask";

/** RGBA pixels of a picture drawn at width x height. */
export type Decode = (blob: Blob, width: number, height: number) => Promise<ArrayLike<number>>;

/** The browser's decoder and a canvas: the stored mask scaled to the photo's pixels (a mask of another size fits too). */
export const decodeRgba: Decode = async (blob, width, height) => {
  const bitmap = await createImageBitmap(blob);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2D canvas");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  return ctx.getImageData(0, 0, width, height).data;
};

/**
 * The stored mask `maskId` as a Mask over `photo`'s pixels, or null when it is no longer kept or
 * cannot be read (the recall then asks the user to paint again).
 */
export async function recallMask(
  maskId: string,
  photo: Pick<Image, "width" | "height">,
  decode: Decode = decodeRgba,
): Promise<Mask | null> {
  try {
    const stored = await call(api.GET("/images/{image_id}", { params: { path: { image_id: maskId } } }));
    const file = await fetch(imageSrc(stored));
    if (!file.ok) return null;
    return Mask.fromRgba(photo.width, photo.height, await decode(await file.blob(), photo.width, photo.height));
  } catch {
    return null;
  }
}
