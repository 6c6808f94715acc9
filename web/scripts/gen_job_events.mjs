// The web app's JobEvent types from the API's JSON Schema of job-events messages (job-events.schema.json,
// the committed copy of GET /schema/job-events.json): openapi-typescript over that schema's $defs as
// OpenAPI components, the root (oneOf the event types, discriminated by `type`) as the component
// `JobEvent`; written to src/lib/job-events.d.ts (generated, not committed; `npm run gen` runs it).
import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import openapiTS, { astToString } from "openapi-typescript";

const [input = "job-events.schema.json", output = "src/lib/job-events.d.ts"] = process.argv.slice(2);
const { $defs, $schema: _dialect, title: _title, ...root } = JSON.parse(readFileSync(input, "utf8"));
if (!root.oneOf || root.discriminator?.propertyName !== "type") throw new Error(`${input}: expected oneOf with a discriminator on type`);
if ("JobEvent" in $defs) throw new Error(`${input}: a member is named JobEvent, the union's own name`);
const schemas = JSON.parse(JSON.stringify({ ...$defs, JobEvent: root }).replaceAll('"#/$defs/', '"#/components/schemas/'));
const document = { openapi: "3.1.0", info: { title: "job events", version: "1" }, paths: {}, components: { schemas } };
const ast = await openapiTS(document, { defaultNonNullable: false });
const members = Object.keys(root.discriminator.mapping)
  .map((type) => `  ${JSON.stringify(type)}: components["schemas"]["${root.discriminator.mapping[type].replace("#/$defs/", "")}"];`)
  .join("\n");
writeFileSync(
  output,
  `${astToString(ast)}\n/** One message of the job-events WebSocket (GET /schema/job-events.json): switch on \`type\`. */\n` +
    `export type JobEvent = components["schemas"]["JobEvent"];\n\n` +
    `/** Each event type's message, by its \`type\`. */\nexport interface JobEventOf {\n${members}\n}\n`,
);
