// The web app's JobEvent type from the API's JSON Schema of job-events messages (job-events.schema.json,
// the committed copy of GET /schema/job-events.json): openapi-typescript over that schema's $defs as
// OpenAPI components, written to src/lib/job-events.d.ts (generated, not committed; `npm run gen` runs it).
import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import openapiTS, { astToString } from "openapi-typescript";

const [input = "job-events.schema.json", output = "src/lib/job-events.d.ts"] = process.argv.slice(2);
const schema = JSON.parse(readFileSync(input, "utf8"));
const components = JSON.parse(JSON.stringify(schema.$defs).replaceAll('"#/$defs/', '"#/components/schemas/'));
const document = { openapi: "3.1.0", info: { title: "job events", version: "1" }, paths: {}, components: { schemas: components } };
const ast = await openapiTS(document, { defaultNonNullable: false });
const root = schema.$ref.replace("#/$defs/", "");
writeFileSync(
  output,
  `${astToString(ast)}\n/** One message of the job-events WebSocket (GET /schema/job-events.json). */\n` +
    `export type JobEvent = components["schemas"]["${root}"];\n`,
);
