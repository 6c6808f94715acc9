/**
 * Room types and styles to offer on Create. From GET /presets when the API has it (read loosely:
 * a list of names or of objects with `name`/`label`/`id`, grouped by room/style), else suggestions.
 */

import { tokens } from "./api";

export interface Choices {
  rooms: string[];
  styles: string[];
  fromApi: boolean;
}

export const SUGGESTED: Choices = {
  rooms: ["living room", "bedroom", "kitchen", "bathroom", "home office", "dining room", "children's room", "facade", "garden"],
  styles: ["scandinavian", "japandi", "industrial", "mid-century modern", "minimalist", "bohemian", "rustic", "art deco", "coastal"],
  fromApi: false,
};

function names(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value
    .map((v) => (typeof v === "string" ? v : v && typeof v === "object" ? (v.label ?? v.name ?? v.id ?? "") : ""))
    .filter((v): v is string => typeof v === "string" && v.length > 0);
}

export function parsePresets(body: unknown): Choices | null {
  if (!body || typeof body !== "object") return null;
  const b = body as Record<string, unknown>;
  const rooms = names(b.rooms ?? b.room_types ?? b.room);
  const styles = names(b.styles ?? b.style);
  if (!rooms.length && !styles.length) return null;
  return { rooms: rooms.length ? rooms : SUGGESTED.rooms, styles: styles.length ? styles : SUGGESTED.styles, fromApi: true };
}

export async function loadChoices(): Promise<Choices> {
  if (!__HAS_PRESETS__) return SUGGESTED;
  try {
    const response = await tokens.fetch(new Request(new URL("/presets", location.origin)));
    return (response.ok && parsePresets(await response.json())) || SUGGESTED;
  } catch {
    return SUGGESTED;
  }
}
