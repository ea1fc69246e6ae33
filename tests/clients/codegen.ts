// Typed TypeScript documents for the example operations, generated from the committed
// schema: a breaking change to schema.graphql fails generation or `tsc --strict`.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  // IMGFLOW_SCHEMA: another schema file, for the test proving a breaking change fails.
  schema: process.env.IMGFLOW_SCHEMA ?? "../../schema.graphql",
  documents: ["operations/*.graphql"],
  generates: {
    "generated/": {
      preset: "client",
      config: { strictScalars: true, scalars: { DateTime: "string", Upload: "File" } },
    },
  },
  // ".js" on relative imports, as Node's ES modules (and tsc's nodenext) require.
  emitLegacyCommonJSImports: false,
};

export default config;
