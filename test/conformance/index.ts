/**
 * The conformance suites every source and sink passes, for Ferry's own connectors and
 * for plugins: see docs/plugins.md.
 */
export * from "./SinkConformance.js"
export * from "./SourceConformance.js"
export * from "./Tables.js"
