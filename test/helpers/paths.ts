// Absolute paths tests use, so a test file can move without its relative paths breaking.
import * as path from "path";

/** The repository root (Pulumi.yaml, Pulumi.dev.yaml, package.json). */
export const ROOT = path.join(__dirname, "..", "..");
/** test/fixtures. */
export const FIXTURES = path.join(ROOT, "test", "fixtures");
