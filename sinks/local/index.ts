export * from "./LocalSink.js"
