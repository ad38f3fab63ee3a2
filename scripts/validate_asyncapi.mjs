// Validate an AsyncAPI document with the official parser (@asyncapi/parser) and its Avro schema parser.
//
//   node scripts/validate_asyncapi.mjs docs/asyncapi.yaml
//
// Prints one JSON object: {"valid": bool, "diagnostics": [{"severity", "code", "message", "path"}]}.
// Severity 0 is an error (exit status 1), 1 a warning, 2 information, 3 a hint; only errors fail.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/validate_asyncapi.mjs FILE');
  process.exit(2);
}
const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser());
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'));
const errors = diagnostics.filter((d) => d.severity === 0);
const report = {
  valid: document !== undefined && errors.length === 0,
  diagnostics: diagnostics.map((d) => ({
    severity: d.severity, code: d.code, message: d.message, path: d.path.join('/'),
  })),
};
console.log(JSON.stringify(report));
process.exit(report.valid ? 0 : 1);
