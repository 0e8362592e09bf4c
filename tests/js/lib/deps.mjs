// Re-exports of the npm packages that tests/integration/*.test.mjs need besides the harness: bare
// package names resolve only from tests/js, so tests import them from here by relative path.
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

export { default as OpenAI, APIError } from 'openai';

/** Ajv for JSON Schema draft 2020-12 (new Ajv2020({strict: false}) as TESTING.md asks). */
export const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
/** ajv-formats: addFormats(ajv) adds "date-time", "uri", … */
export const addFormats = addFormatsModule.default ?? addFormatsModule;
