// Validates an OpenAPI document with @apidevtools/swagger-parser (a second,
// independent validator beside Redocly): node validate.mjs FILE
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2];
try {
  const api = await SwaggerParser.validate(file);
  console.log(`${file}: valid ${api.openapi ? "OpenAPI " + api.openapi : "Swagger " + api.swagger}, ${Object.keys(api.paths).length} paths`);
} catch (err) {
  console.error(`${file}: invalid: ${err.message}`);
  process.exit(1);
}
